//! The llama-family transformer on incant's kernels ([`crate::kernels`]).
//!
//! Shaped like candle's own models (`Config` from the file, `Model::load`, `forward`), but
//! written for incant's needs: the KV cache lives outside the weights (one model, many
//! sequences), positions run to the model's whole context length (candle's bundled
//! `quantized_llama` stops at 4,096), and `forward` can return the logits of every position
//! (teacher forcing, perplexity) or only the last one (decoding).
//!
//! The math and its rounding are llama.cpp's (see [`crate::kernels`]): RMSNorm, interleaved
//! ("normal", non-NeoX) rotary embeddings as GGUF conversion lays out the query/key heads,
//! grouped-query attention over an f16 cache, SwiGLU, 8-bit quantised activations.

use crate::gguf::GgufFile;
use crate::kernels::matmul::{matmul_many, Input, Weight};
use crate::kernels::ops::{self, Heads, LayerCache};
use crate::kernels::prepared::{Format, Quantised};
use crate::{bad_model, EngineError};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use std::sync::Arc;

/// The hyper-parameters of a llama model, from GGUF metadata.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LlamaConfig {
    /// Transformer blocks.
    pub n_layer: usize,
    /// Hidden size.
    pub n_embd: usize,
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads (grouped-query attention).
    pub n_kv_head: usize,
    /// Feed-forward size.
    pub n_ff: usize,
    /// Size of one head.
    pub head_dim: usize,
    /// Rotary base frequency.
    pub rope_base: f32,
    /// RMSNorm epsilon.
    pub rms_eps: f64,
    /// The context window the model was trained for.
    pub context_length: usize,
    /// Vocabulary size (rows of the embedding table).
    pub vocab_size: usize,
}

impl LlamaConfig {
    /// Reads the configuration from `{arch}.*` metadata keys.
    pub fn from_gguf(file: &GgufFile) -> Result<Self, EngineError> {
        let arch = file.string("general.architecture")?;
        if arch != "llama" {
            return Err(bad_model(
                &file.path,
                format!("architecture `{arch}` is not supported (supported: llama)"),
            ));
        }
        if file.has("llama.expert_count") && file.uint("llama.expert_count")? > 0 {
            return Err(bad_model(
                &file.path,
                "mixture-of-experts models are not supported",
            ));
        }
        let key = |k: &str| format!("llama.{k}");
        let n_head = file.uint(&key("attention.head_count"))? as usize;
        let n_embd = file.uint(&key("embedding_length"))? as usize;
        let n_kv_head = if file.has(&key("attention.head_count_kv")) {
            file.uint(&key("attention.head_count_kv"))? as usize
        } else {
            n_head
        };
        if n_head == 0
            || n_kv_head == 0
            || !n_embd.is_multiple_of(n_head)
            || !n_head.is_multiple_of(n_kv_head)
        {
            return Err(bad_model(
                &file.path,
                format!("inconsistent head counts: {n_head} heads, {n_kv_head} kv heads, {n_embd} hidden"),
            ));
        }
        let head_dim = n_embd / n_head;
        if file.has(&key("rope.dimension_count"))
            && file.uint(&key("rope.dimension_count"))? as usize != head_dim
        {
            return Err(bad_model(
                &file.path,
                "partial rotary embeddings are not supported",
            ));
        }
        let rope_base = if file.has(&key("rope.freq_base")) {
            file.float(&key("rope.freq_base"))? as f32
        } else {
            10_000.0
        };
        let embd = file
            .content
            .tensor_infos
            .get("token_embd.weight")
            .ok_or_else(|| bad_model(&file.path, "tensor `token_embd.weight` is missing"))?;
        let vocab_size = embd.shape.dims().first().copied().unwrap_or(0);
        Ok(Self {
            n_layer: file.uint(&key("block_count"))? as usize,
            n_embd,
            n_head,
            n_kv_head,
            n_ff: file.uint(&key("feed_forward_length"))? as usize,
            head_dim,
            rope_base,
            rms_eps: file.float(&key("attention.layer_norm_rms_epsilon"))?,
            context_length: file.uint(&key("context_length"))? as usize,
            vocab_size,
        })
    }
}

struct Block {
    attn_norm: Vec<f32>,
    wq: Weight,
    wk: Weight,
    wv: Weight,
    wo: Weight,
    ffn_norm: Vec<f32>,
    gate: Weight,
    up: Weight,
    down: Weight,
}

/// The attention state of one sequence: keys and values of every position seen so far.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    layers: Vec<LayerCache>,
    len: usize,
}

impl KvCache {
    /// Positions already in the cache.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been processed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets everything (start a new sequence).
    pub fn clear(&mut self) {
        self.layers.clear();
        self.len = 0;
    }

    /// Keeps only the first `len` positions (no-op when the cache is shorter), so a new
    /// sequence that shares a prefix with this one reuses its work instead of reading the
    /// prefix again.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        for layer in &mut self.layers {
            let per_pos = layer.k.len() / self.len; // self.len > len >= 0
            layer.k.truncate(len * per_pos);
            layer.v.truncate(len * per_pos);
        }
        self.len = len;
    }
}

/// Which logits `forward` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logits {
    /// Only the last position's (decoding).
    Last,
    /// Every position's (teacher forcing, perplexity).
    All,
}

enum Embeddings {
    /// A weight type the kernels read directly (shared with the output when tied).
    Native(Arc<Weight>),
    /// Any other GGUF type, looked up through candle.
    Candle(QTensor),
}

/// A loaded llama model; immutable and shareable between sequences.
pub struct Llama {
    cfg: LlamaConfig,
    embeddings: Embeddings,
    blocks: Vec<Block>,
    norm: Vec<f32>,
    output: Arc<Weight>,
}

fn norm(file: &GgufFile, name: &str) -> Result<Vec<f32>, EngineError> {
    let t = file.qtensor(name)?;
    Ok(t.dequantize(&Device::Cpu)?.flatten_all()?.to_vec1()?)
}

impl Llama {
    /// Loads a llama GGUF. Q4_1 and Q8_0 weights stay in the file's mapping (nothing is
    /// copied); norms, and weights of other types, are read into memory.
    pub fn load(file: &mut GgufFile) -> Result<Self, EngineError> {
        let file = &*file;
        let cfg = LlamaConfig::from_gguf(file)?;
        let embd_name = "token_embd.weight";
        let embd_native = matches!(
            file.tensor_info(embd_name)?.ggml_dtype,
            GgmlDType::Q8_0 | GgmlDType::Q4_1 | GgmlDType::F32 | GgmlDType::F16
        );
        let embeddings = if embd_native {
            Embeddings::Native(Arc::new(Weight::from_gguf(file, embd_name)?))
        } else {
            Embeddings::Candle(file.qtensor(embd_name)?)
        };
        let output = if file.content.tensor_infos.contains_key("output.weight") {
            Arc::new(Weight::from_gguf(file, "output.weight")?)
        } else {
            // Tied embeddings (SmolLM2): the output projection is the embedding table.
            match &embeddings {
                Embeddings::Native(w) => w.clone(),
                Embeddings::Candle(_) => Arc::new(Weight::from_gguf(file, embd_name)?),
            }
        };
        let mut blocks = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let w = |n: &str| Weight::from_gguf(file, &format!("blk.{i}.{n}.weight"));
            blocks.push(Block {
                attn_norm: norm(file, &format!("blk.{i}.attn_norm.weight"))?,
                ffn_norm: norm(file, &format!("blk.{i}.ffn_norm.weight"))?,
                wq: w("attn_q")?,
                wk: w("attn_k")?,
                wv: w("attn_v")?,
                wo: w("attn_output")?,
                gate: w("ffn_gate")?,
                up: w("ffn_up")?,
                down: w("ffn_down")?,
            });
        }
        let model = Self {
            norm: norm(file, "output_norm.weight")?,
            cfg,
            embeddings,
            blocks,
            output,
        };
        model.check_shapes(&file.path)?;
        Ok(model)
    }

    fn check_shapes(&self, path: &std::path::Path) -> Result<(), EngineError> {
        let c = &self.cfg;
        let (d, kv) = (c.n_embd, c.n_kv_head * c.head_dim);
        for (i, b) in self.blocks.iter().enumerate() {
            let expect = [
                ("attn_q", &b.wq, d, d),
                ("attn_k", &b.wk, kv, d),
                ("attn_v", &b.wv, kv, d),
                ("attn_output", &b.wo, d, d),
                ("ffn_gate", &b.gate, c.n_ff, d),
                ("ffn_up", &b.up, c.n_ff, d),
                ("ffn_down", &b.down, d, c.n_ff),
            ];
            for (name, w, rows, cols) in expect {
                if (w.rows(), w.cols()) != (rows, cols) {
                    return Err(bad_model(
                        path,
                        format!(
                            "blk.{i}.{name} is {}x{}, the metadata implies {rows}x{cols}",
                            w.rows(),
                            w.cols()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The model's configuration.
    pub fn config(&self) -> &LlamaConfig {
        &self.cfg
    }

    fn embed(&self, tokens: &[u32]) -> Result<Vec<f32>, EngineError> {
        let d = self.cfg.n_embd;
        match &self.embeddings {
            Embeddings::Native(w) => {
                let mut x = vec![0f32; tokens.len() * d];
                for (&t, row) in tokens.iter().zip(x.chunks_exact_mut(d)) {
                    w.row_f32(t as usize, row)?;
                }
                Ok(x)
            }
            Embeddings::Candle(q) => {
                let ids = Tensor::new(tokens, &Device::Cpu)?;
                Ok(q.embedding(&ids)?.flatten_all()?.to_vec1()?)
            }
        }
    }

    fn check_step(&self, tokens: &[u32], cache: &mut KvCache) -> Result<(), EngineError> {
        let (m, pos) = (tokens.len(), cache.len);
        if m == 0 {
            return Err(EngineError::InvalidParam {
                name: "tokens",
                reason: "nothing to run".into(),
            });
        }
        if pos + m > self.cfg.context_length {
            return Err(EngineError::ContextOverflow {
                prompt_tokens: pos + m,
                max_tokens: 0,
                context: self.cfg.context_length,
            });
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= self.cfg.vocab_size) {
            return Err(EngineError::InvalidParam {
                name: "tokens",
                reason: format!("token id {bad} is outside the vocabulary"),
            });
        }
        if cache.layers.len() != self.blocks.len() {
            cache.layers = vec![LayerCache::default(); self.blocks.len()];
        }
        Ok(())
    }

    /// Runs `tokens` (the positions after those in `cache`) and returns logits, row-major:
    /// one row of `vocab_size` for [`Logits::Last`], one per token for [`Logits::All`].
    pub fn forward(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        logits: Logits,
    ) -> Result<Vec<f32>, EngineError> {
        self.check_step(tokens, cache)?;
        let m = tokens.len();
        let x = self.layers(tokens, &mut [(cache, m)])?;
        let d = self.cfg.n_embd;
        let rows = match logits {
            Logits::Last => &x[(m - 1) * d..],
            Logits::All => &x[..],
        };
        self.logits(rows)
    }

    /// One decoding step of several independent sequences at once: `steps[i]` is the next
    /// token of the sequence whose state is the cache beside it. Returns one row of logits
    /// per sequence, bit for bit what [`Self::forward`] gives for each on its own; the
    /// weights are read once for all of them, which is what makes a batch cheap.
    pub fn forward_batch(
        &self,
        steps: &mut [(u32, &mut KvCache)],
    ) -> Result<Vec<f32>, EngineError> {
        if steps.is_empty() {
            return Err(EngineError::InvalidParam {
                name: "steps",
                reason: "nothing to run".into(),
            });
        }
        let tokens: Vec<u32> = steps.iter().map(|(t, _)| *t).collect();
        let mut groups = Vec::with_capacity(steps.len());
        for (t, cache) in steps.iter_mut() {
            self.check_step(std::slice::from_ref(t), cache)?;
            groups.push((&mut **cache, 1));
        }
        let x = self.layers(&tokens, &mut groups)?;
        self.logits(&x)
    }

    /// The final norm and the output projection of hidden rows.
    fn logits(&self, rows: &[f32]) -> Result<Vec<f32>, EngineError> {
        let n = rows.len() / self.cfg.n_embd;
        let mut normed = vec![0f32; rows.len()];
        let eps = self.cfg.rms_eps as f32;
        let d = self.cfg.n_embd;
        let input = pairs_step(
            &mut normed,
            n,
            self.output.format(),
            rows.chunks(2 * d),
            |out, x| ops::rms_norm(x, &self.norm, eps, out),
        );
        let mut out = vec![0f32; n * self.output.rows()];
        self.output.matmul(&input, &mut out)?;
        Ok(out)
    }

    /// The transformer blocks over `tokens`, which are split into consecutive groups, each
    /// `(cache, count)` continuing its own sequence; returns the hidden rows.
    fn layers(
        &self,
        tokens: &[u32],
        groups: &mut [(&mut KvCache, usize)],
    ) -> Result<Vec<f32>, EngineError> {
        let m = tokens.len();
        let c = &self.cfg;
        let (d, hd) = (c.n_embd, c.head_dim);
        let heads = Heads {
            n_head: c.n_head,
            n_kv_head: c.n_kv_head,
            head_dim: hd,
        };
        let eps = c.rms_eps as f32;
        let (qd, kvd) = (c.n_head * hd, c.n_kv_head * hd);
        // Row ranges and start positions of the groups.
        let mut spans = Vec::with_capacity(groups.len());
        let mut row = 0;
        for (cache, n) in groups.iter() {
            spans.push((row, *n, cache.len));
            row += n;
        }
        assert_eq!(row, m, "groups cover the tokens");
        let mut cos = vec![0f32; m * hd / 2];
        let mut sin = vec![0f32; m * hd / 2];
        for &(r0, n, pos) in &spans {
            for t in 0..n {
                let r = (r0 + t) * hd / 2..(r0 + t + 1) * hd / 2;
                ops::rope_angles(pos + t, hd, c.rope_base, &mut cos[r.clone()], &mut sin[r]);
            }
        }
        let mut x = self.embed(tokens)?;
        let mut h = vec![0f32; m * d];
        let (mut q, mut k, mut v) = (vec![0f32; m * qd], vec![0f32; m * kvd], vec![0f32; m * kvd]);
        let mut att = vec![0f32; m * qd];
        let mut o = vec![0f32; m * d];
        let (mut g, mut u) = (vec![0f32; m * c.n_ff], vec![0f32; m * c.n_ff]);
        for (l, b) in self.blocks.iter().enumerate() {
            // The previous block's feed-forward output joins the residual here, in the
            // norm's own parallel step.
            let added = (l > 0).then_some(&o[..]);
            let input = norm_step(&mut x, added, &b.attn_norm, eps, &mut h, b.wq.format());
            matmul_many(
                &input,
                &mut [(&b.wq, &mut q), (&b.wk, &mut k), (&b.wv, &mut v)],
            )?;
            // Each sequence attends over its own cache: several sequences run in parallel.
            let mut work = Vec::with_capacity(spans.len());
            let (mut qs, mut ks, mut vs, mut outs) = (&mut q[..], &mut k[..], &v[..], &mut att[..]);
            for ((cache, _), &span) in groups.iter_mut().zip(&spans) {
                let n = span.1;
                let (q1, q2) = std::mem::take(&mut qs).split_at_mut(n * qd);
                let (k1, k2) = std::mem::take(&mut ks).split_at_mut(n * kvd);
                let (v1, v2) = vs.split_at(n * kvd);
                let (a1, a2) = std::mem::take(&mut outs).split_at_mut(n * qd);
                (qs, ks, vs, outs) = (q2, k2, v2, a2);
                work.push(SeqAttention {
                    layer: &mut cache.layers[l],
                    span,
                    q: q1,
                    k: k1,
                    v: v1,
                    out: a1,
                });
            }
            if work.len() > 1 {
                crate::pool::for_each_mut(&mut work, |_, w| w.run(&cos, &sin, heads));
            } else {
                work.iter_mut().for_each(|w| w.run(&cos, &sin, heads));
            }
            drop(work);
            let input = quantise_step(&mut att, m, b.wo.format());
            b.wo.matmul(&input, &mut o)?;
            let input = norm_step(&mut x, Some(&o), &b.ffn_norm, eps, &mut h, b.gate.format());
            matmul_many(&input, &mut [(&b.gate, &mut g), (&b.up, &mut u)])?;
            let input = pairs_step(&mut g, m, b.down.format(), u.chunks(2 * c.n_ff), |g, u| {
                ops::swiglu(g, u)
            });
            b.down.matmul(&input, &mut o)?;
        }
        x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);
        for (cache, n) in groups.iter_mut() {
            cache.len += *n;
        }
        Ok(x)
    }
}

/// One sequence's part of a block's attention step: its rows of the queries, keys and
/// values (rotated, then the keys and values appended to its cache) and of the output.
struct SeqAttention<'a> {
    layer: &'a mut LayerCache,
    /// First row, rows, and the position of the first row.
    span: (usize, usize, usize),
    q: &'a mut [f32],
    k: &'a mut [f32],
    v: &'a [f32],
    out: &'a mut [f32],
}

impl SeqAttention<'_> {
    /// Rotates the rows' queries and keys (`cos`/`sin`: the rotary tables of every row of
    /// the step), appends the keys and values to the cache and attends.
    fn run(&mut self, cos: &[f32], sin: &[f32], heads: Heads) {
        let (r0, n, pos) = self.span;
        let hd = heads.head_dim;
        let (qd, kvd) = (heads.n_head * hd, heads.n_kv_head * hd);
        for t in 0..n {
            let at = (r0 + t) * hd / 2..(r0 + t + 1) * hd / 2;
            let (cs, sn) = (&cos[at.clone()], &sin[at]);
            for head in self.q[t * qd..(t + 1) * qd].chunks_exact_mut(hd) {
                ops::rope_head(head, cs, sn);
            }
            for head in self.k[t * kvd..(t + 1) * kvd].chunks_exact_mut(hd) {
                ops::rope_head(head, cs, sn);
            }
        }
        self.layer.push(self.k, self.v);
        ops::attention(self.q, self.layer, pos, heads, self.out);
    }
}

/// Runs `f(rows, extra)` on each pair of rows of `rows` (`m` rows; the last pair may be one
/// row) in parallel, each with the next item of `extra`, and quantises every pair for
/// `format` in the same task, while it is in cache ([`crate::kernels::prepared`]).
fn pairs_step<'r, T: Send>(
    rows: &'r mut [f32],
    m: usize,
    format: Option<Format>,
    extra: impl Iterator<Item = T>,
    f: impl Fn(&mut [f32], T) + Sync,
) -> Input<'r> {
    let k = rows.len() / m;
    let mut quantised = format.map(|f| Quantised::new(f, m, k));
    let mut slots: Vec<_> = match &mut quantised {
        Some(q) => q.slots().into_iter().map(Some).collect(),
        None => (0..m.div_ceil(2)).map(|_| None).collect(),
    };
    let mut tasks: Vec<_> = rows
        .chunks_mut(2 * k)
        .zip(extra.map(Some))
        .zip(slots.iter_mut())
        .collect();
    crate::pool::for_each_mut(&mut tasks, |_, ((rows, extra), slot)| {
        if let Some(e) = extra.take() {
            f(rows, e);
        }
        if let Some(slot) = slot {
            slot.quantise(rows);
        }
    });
    drop(tasks);
    drop(slots);
    let rows: &'r [f32] = rows;
    match quantised {
        Some(q) => Input::prepared(rows, q),
        None => Input::new(rows, m),
    }
}

/// `rows` quantised for `format`, a pair of rows per task.
fn quantise_step(rows: &mut [f32], m: usize, format: Option<Format>) -> Input<'_> {
    pairs_step(rows, m, format, std::iter::repeat(()), |_, ()| {})
}

/// `out = rms_norm(x)` (with `added` added to `x` first), a pair of rows per task, each
/// pair quantised for `format` as it is written.
fn norm_step<'o>(
    x: &mut [f32],
    added: Option<&[f32]>,
    weight: &[f32],
    eps: f32,
    out: &'o mut [f32],
    format: Option<Format>,
) -> Input<'o> {
    let d = weight.len();
    let m = x.len() / d;
    let adds =
        (0..m.div_ceil(2)).map(|p| added.map(|a| &a[2 * p * d..((2 * p + 2) * d).min(a.len())]));
    pairs_step(
        out,
        m,
        format,
        x.chunks_mut(2 * d).zip(adds),
        |out, (x, added)| {
            if let Some(a) = added {
                x.iter_mut().zip(a).for_each(|(x, a)| *x += a);
            }
            ops::rms_norm(x, weight, eps, out);
        },
    )
}

/// The index of the largest value (the first on ties, as llama.cpp's greedy sampler).
///
/// Two passes: the largest value, in sixteen independent lanes the compiler vectorises,
/// then its first position; five times faster than one pass that tracks the index, over
/// 49,152 logits. NaN is never the largest (as in a `>` scan), unless it comes first.
pub fn argmax(logits: &[f32]) -> u32 {
    let Some(&first) = logits.first() else {
        return 0;
    };
    let bigger = |m: f32, v: f32| if v > m { v } else { m };
    let mut lanes = [first; 16];
    let chunks = logits.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for (m, &v) in lanes.iter_mut().zip(c) {
            *m = bigger(*m, v);
        }
    }
    let top = rest
        .iter()
        .fold(lanes.into_iter().fold(first, bigger), |m, &v| bigger(m, v));
    logits.iter().position(|&v| v == top).unwrap_or(0) as u32
}

#[cfg(test)]
mod tests {
    use super::argmax;

    /// What a one-pass `>` scan (llama.cpp's greedy choice) returns.
    fn scan(logits: &[f32]) -> u32 {
        let mut best = 0;
        for (i, &v) in logits.iter().enumerate() {
            if v > logits[best] {
                best = i;
            }
        }
        best as u32
    }

    #[test]
    fn argmax_is_the_first_largest_as_a_scan_finds_it() {
        let mut next = crate::kernels::test_data::uniform_draws(9, 8.0);
        let mut cases: Vec<Vec<f32>> = vec![
            vec![],
            vec![1.0],
            vec![f32::NAN, 3.0, 2.0],
            vec![1.0, f32::NAN, 3.0, 3.0],
            vec![-0.0, 0.0, -1.0],
            vec![0.0, -0.0],
            vec![f32::NEG_INFINITY; 20],
            vec![2.0; 33],
        ];
        for n in [15usize, 16, 17, 100, 49_152] {
            // Few distinct values, so ties are common.
            cases.push((0..n).map(|_| next().round()).collect());
        }
        for c in &cases {
            assert_eq!(argmax(c), scan(c), "{:?}", &c[..c.len().min(8)]);
        }
    }
}
