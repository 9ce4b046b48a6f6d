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

use crate::kernels::expf::expf;
use crate::kernels::gemm::PackedWeight;
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
}

/// Why a model cannot run here (the caller falls back to candle).
pub type Unsupported = String;

impl Bert {
    /// Builds the encoder from safetensors tensors (names with or without a `bert.` prefix).
    pub fn new(cfg: &Config, tensors: &HashMap<String, Tensor>) -> Result<Self, Unsupported> {
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
            Ok(PackedWeight::new(&w, rows, cols, Some(&b)))
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
                qkv: PackedWeight::new(&w, 3 * d, d, Some(&b)),
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
        })
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
            h.par_chunks_mut(4096).for_each(|c| {
                crate::kernels::simd::run(|| c.iter_mut().for_each(|v| *v = gelu(*v)))
            });
            l.down.matmul(&h, total, &mut o);
            add_norm(&mut x, &o, &l.ln2, self.eps);
        }
        Ok(x)
    }

    /// Softmax attention of every head of every text over that text's own tokens.
    fn attention(&self, qkv: &[f32], spans: &[(usize, usize)], ctx: &mut [f32]) {
        let d = self.hidden;
        let hd = d / self.heads;
        let scale = 1.0 / (hd as f32).sqrt();
        // One task per text; heads inside, so each task writes its own rows of `ctx`.
        let mut rows: Vec<&mut [f32]> = Vec::with_capacity(spans.len());
        let mut rest = ctx;
        for &(_, len) in spans {
            let (a, b) = rest.split_at_mut(len * d);
            rows.push(a);
            rest = b;
        }
        rows.into_par_iter()
            .zip(spans)
            .for_each(|(out, &(start, len))| {
                crate::kernels::simd::run(|| {
                    let mut p = vec![0f32; len];
                    for head in 0..self.heads {
                        for i in 0..len {
                            let q = &qkv[(start + i) * 3 * d + head * hd..][..hd];
                            let mut max = f32::NEG_INFINITY;
                            for (j, s) in p.iter_mut().enumerate() {
                                let k = &qkv[(start + j) * 3 * d + d + head * hd..][..hd];
                                *s = q.iter().zip(k).map(|(a, b)| a * b).sum::<f32>() * scale;
                                max = max.max(*s);
                            }
                            let mut sum = 0f32;
                            for s in p.iter_mut() {
                                *s = expf(*s - max);
                                sum += *s;
                            }
                            let inv = 1.0 / sum;
                            let dst = &mut out[i * d + head * hd..][..hd];
                            dst.fill(0.0);
                            for (j, s) in p.iter().enumerate() {
                                let v = &qkv[(start + j) * 3 * d + 2 * d + head * hd..][..hd];
                                let w = s * inv;
                                for (o, v) in dst.iter_mut().zip(v) {
                                    *o = w.mul_add(*v, *o);
                                }
                            }
                        }
                    }
                })
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

/// `x · Φ(x)` with erf from Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7),
/// branch-free so it vectorises.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_7,
        -1.453_152_1,
        1.061_405_4,
    ];
    let z = (x * std::f32::consts::FRAC_1_SQRT_2).abs();
    let t = 1.0 / P.mul_add(z, 1.0);
    let poly = t * A[4]
        .mul_add(t, A[3])
        .mul_add(t, A[2])
        .mul_add(t, A[1])
        .mul_add(t, A[0]);
    let erf_abs = 1.0 - poly * expf(-z * z);
    let erf = erf_abs.copysign(x);
    0.5 * x * (1.0 + erf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gelu_matches_the_erf_definition() {
        // erf via its Taylor series in f64 for |x| <= 3, the complement's asymptotic value beyond.
        fn erf(x: f64) -> f64 {
            let mut sum = 0f64;
            let mut term = x;
            let mut n = 0f64;
            while term.abs() > 1e-17 || n < 5.0 {
                sum += term / (2.0 * n + 1.0);
                n += 1.0;
                term *= -x * x / n;
                if n > 200.0 {
                    break;
                }
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        }
        let mut x = -6.0f32;
        while x <= 6.0 {
            let want = 0.5 * f64::from(x) * (1.0 + erf(f64::from(x) / 2f64.sqrt()));
            let got = f64::from(gelu(x));
            assert!(
                (got - want).abs() < 1e-6 * (1.0 + f64::from(x.abs())),
                "gelu({x}): {got} vs {want}"
            );
            x += 0.0173;
        }
    }
}
