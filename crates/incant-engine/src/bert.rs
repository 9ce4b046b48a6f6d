//! The BERT encoder on incant's own kernels, for sentence embedders.
//!
//! candle's `BertModel` spends much of a small model's time outside the matrix products
//! (a spinning thread barrier per element-wise op, padded batches). This encoder runs a
//! batch as one sequence of real tokens: no padding at all (each text attends only to its
//! own tokens, which is what the attention mask does), the four matrix products per layer
//! on [`PackedWeight`] (query, key and value fused into one), and the element-wise work
//! in the same parallel passes. It covers post-norm BERT with absolute positions and erf
//! GELU, which is what sentence-transformers' BERT models use; [`crate::embed`] falls back
//! to candle for anything else.

use crate::kernels::encoder::{self, Path};
use crate::kernels::gemm::{PackedWeight, Precision};
use candle_core::Tensor;
use candle_transformers::models::bert::{Config, HiddenAct, PositionEmbeddingType};
use rayon::prelude::*;
use std::collections::HashMap;

struct Layer {
    qkv: PackedWeight,
    out: PackedWeight,
    ln1: (Vec<f32>, Vec<f32>),
    up: PackedWeight,
    down: PackedWeight,
    ln2: (Vec<f32>, Vec<f32>),
}

/// A loaded BERT encoder.
pub struct Bert {
    word: Vec<f32>,
    position: Vec<f32>,
    token_type0: Vec<f32>,
    ln: (Vec<f32>, Vec<f32>),
    layers: Vec<Layer>,
    hidden: usize,
    heads: usize,
    ff: usize,
    eps: f32,
    vocab: usize,
    max_pos: usize,
    path: Path,
}

/// Why a model cannot run here (the caller falls back to candle).
pub type Unsupported = String;

impl Bert {
    /// Builds the encoder from safetensors tensors (names with or without a `bert.` prefix).
    pub fn new(cfg: &Config, tensors: &HashMap<String, Tensor>) -> Result<Self, Unsupported> {
        Self::with_precision(cfg, tensors, Precision::F32)
    }

    /// As [`Bert::new`], with the matrix products' weights and inputs in `precision`
    /// (embeddings, layer norms and attention stay f32).
    pub fn with_precision(
        cfg: &Config,
        tensors: &HashMap<String, Tensor>,
        precision: Precision,
    ) -> Result<Self, Unsupported> {
        if !matches!(cfg.hidden_act, HiddenAct::Gelu) {
            return Err("only erf GELU runs natively".into());
        }
        if !matches!(cfg.position_embedding_type, PositionEmbeddingType::Absolute) {
            return Err("only absolute positions run natively".into());
        }
        if cfg.num_attention_heads == 0 || !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads)
        {
            return Err("hidden size is not a multiple of the head count".into());
        }
        let get = |name: &str| -> Result<Vec<f32>, Unsupported> {
            let t = tensors
                .get(name)
                .or_else(|| tensors.get(&format!("bert.{name}")))
                .ok_or_else(|| format!("tensor `{name}` is missing"))?;
            t.to_dtype(candle_core::DType::F32)
                .and_then(|t| t.flatten_all())
                .and_then(|t| t.to_vec1())
                .map_err(|e| format!("tensor `{name}`: {e}"))
        };
        let ln = |p: &str| -> Result<(Vec<f32>, Vec<f32>), Unsupported> {
            Ok((get(&format!("{p}.weight"))?, get(&format!("{p}.bias"))?))
        };
        let (d, ff) = (cfg.hidden_size, cfg.intermediate_size);
        let linear = |p: &str, rows: usize, cols: usize| -> Result<PackedWeight, Unsupported> {
            let w = get(&format!("{p}.weight"))?;
            let b = get(&format!("{p}.bias"))?;
            if w.len() != rows * cols || b.len() != rows {
                return Err(format!("`{p}` is not {rows}x{cols}"));
            }
            Ok(PackedWeight::with_precision(
                &w,
                rows,
                cols,
                Some(&b),
                precision,
            ))
        };
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let (mut w, mut b) = (Vec::with_capacity(3 * d * d), Vec::with_capacity(3 * d));
            for part in ["query", "key", "value"] {
                w.extend(get(&format!("{p}.attention.self.{part}.weight"))?);
                b.extend(get(&format!("{p}.attention.self.{part}.bias"))?);
            }
            if w.len() != 3 * d * d || b.len() != 3 * d {
                return Err(format!("{p}: attention weights are not {d}x{d}"));
            }
            layers.push(Layer {
                qkv: PackedWeight::with_precision(&w, 3 * d, d, Some(&b), precision),
                out: linear(&format!("{p}.attention.output.dense"), d, d)?,
                ln1: ln(&format!("{p}.attention.output.LayerNorm"))?,
                up: linear(&format!("{p}.intermediate.dense"), ff, d)?,
                down: linear(&format!("{p}.output.dense"), d, ff)?,
                ln2: ln(&format!("{p}.output.LayerNorm"))?,
            });
        }
        let word = get("embeddings.word_embeddings.weight")?;
        let position = get("embeddings.position_embeddings.weight")?;
        let types = get("embeddings.token_type_embeddings.weight")?;
        if word.len() % d != 0 || position.len() % d != 0 || types.len() < d {
            return Err("embedding tables do not match the hidden size".into());
        }
        Ok(Self {
            vocab: word.len() / d,
            max_pos: position.len() / d,
            word,
            position,
            token_type0: types[..d].to_vec(),
            ln: ln("embeddings.LayerNorm")?,
            layers,
            hidden: d,
            heads: cfg.num_attention_heads,
            ff,
            eps: cfg.layer_norm_eps as f32,
            path: Path::detect(),
        })
    }

    /// The matrix products' precision.
    pub fn precision(&self) -> Precision {
        self.layers
            .first()
            .map_or(Precision::F32, |l| l.qkv.precision())
    }

    /// Hidden states (`[token][hidden]`) of texts given as token ids, concatenated.
    pub fn forward(&self, texts: &[&[u32]]) -> Result<Vec<f32>, String> {
        let d = self.hidden;
        let total: usize = texts.iter().map(|t| t.len()).sum();
        let mut starts = Vec::with_capacity(texts.len());
        let mut x = vec![0f32; total * d];
        let mut at = 0;
        for ids in texts {
            if ids.len() > self.max_pos {
                return Err(format!(
                    "{} tokens exceed {} positions",
                    ids.len(),
                    self.max_pos
                ));
            }
            starts.push(at);
            for (p, &id) in ids.iter().enumerate() {
                let id = id as usize;
                if id >= self.vocab {
                    return Err(format!("token id {id} is outside the vocabulary"));
                }
                let row = &mut x[(at + p) * d..(at + p + 1) * d];
                let (w, pos) = (&self.word[id * d..][..d], &self.position[p * d..][..d]);
                for (j, v) in row.iter_mut().enumerate() {
                    *v = w[j] + self.token_type0[j] + pos[j];
                }
            }
            at += ids.len();
        }
        layer_norm(&mut x, &self.ln, self.eps);
        let mut qkv = vec![0f32; total * 3 * d];
        let mut ctx = vec![0f32; total * d];
        let mut o = vec![0f32; total * d];
        let mut h = vec![0f32; total * self.ff];
        let spans: Vec<(usize, usize)> = starts
            .iter()
            .zip(texts)
            .map(|(&s, t)| (s, t.len()))
            .collect();
        for l in &self.layers {
            l.qkv.matmul(&x, total, &mut qkv);
            self.attention(&qkv, &spans, &mut ctx);
            l.out.matmul(&ctx, total, &mut o);
            add_norm(&mut x, &o, &l.ln1, self.eps);
            l.up.matmul(&x, total, &mut h);
            h.par_chunks_mut(4096)
                .for_each(|c| encoder::gelu(c, self.path));
            l.down.matmul(&h, total, &mut o);
            add_norm(&mut x, &o, &l.ln2, self.eps);
        }
        Ok(x)
    }

    /// Softmax attention of every head of every text over that text's own tokens.
    fn attention(&self, qkv: &[f32], spans: &[(usize, usize)], ctx: &mut [f32]) {
        let (d, heads, path) = (self.hidden, self.heads, self.path);
        // One task per text, so each task writes its own rows of `ctx`.
        let mut rows: Vec<(&[f32], &mut [f32])> = Vec::with_capacity(spans.len());
        let mut rest = ctx;
        for &(start, len) in spans {
            let (a, b) = rest.split_at_mut(len * d);
            rows.push((&qkv[start * 3 * d..(start + len) * 3 * d], a));
            rest = b;
        }
        rows.into_par_iter()
            .for_each_init(Vec::new, |scratch, (qkv, out)| {
                encoder::attend(qkv, d, heads, out, scratch, path)
            });
    }
}

/// `x = LayerNorm(x + y)`, row by row, in parallel.
fn add_norm(x: &mut [f32], y: &[f32], ln: &(Vec<f32>, Vec<f32>), eps: f32) {
    let d = ln.0.len();
    x.par_chunks_mut(d * 16)
        .zip(y.par_chunks(d * 16))
        .for_each(|(x, y)| {
            x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
            norm_rows(x, ln, eps);
        });
}

fn layer_norm(x: &mut [f32], ln: &(Vec<f32>, Vec<f32>), eps: f32) {
    let d = ln.0.len();
    x.par_chunks_mut(d * 16).for_each(|x| norm_rows(x, ln, eps));
}

fn norm_rows(x: &mut [f32], (w, b): &(Vec<f32>, Vec<f32>), eps: f32) {
    let d = w.len();
    for row in x.chunks_exact_mut(d) {
        let mean = row.iter().sum::<f32>() / d as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, w), b) in row.iter_mut().zip(w).zip(b) {
            *v = (*v - mean) * inv * w + b;
        }
    }
}
