//! The non-matmul operations of a llama layer, with ggml's rounding.

use half::f16;
use rayon::prelude::*;

/// RMSNorm times a weight, row by row (`ggml_rms_norm` then `ggml_mul`): the sum of squares
/// in f64, the scale `1 / sqrt(mean + eps)` in f32.
pub fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let n = weight.len();
    for (row, dst) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        let sum: f64 = row.iter().map(|&v| f64::from(v * v)).sum();
        let mean = (sum / n as f64) as f32;
        let scale = 1.0 / (mean + eps).sqrt();
        for ((d, &v), &w) in dst.iter_mut().zip(row).zip(weight) {
            *d = (v * scale) * w;
        }
    }
}

/// Rotary tables for position `pos`: `cos`/`sin` of `pos * base^(-2i/dims)`, with the
/// angle built by repeated multiplication as ggml's rope cache does.
pub fn rope_angles(pos: usize, dims: usize, base: f32, cos: &mut [f32], sin: &mut [f32]) {
    let scale = base.powf(-2.0 / dims as f32);
    let mut theta = pos as f32;
    for i in 0..dims / 2 {
        cos[i] = theta.cos();
        sin[i] = theta.sin();
        theta *= scale;
    }
}

/// Applies "normal" (interleaved pairs) rotary embeddings to one head in place.
pub fn rope_head(head: &mut [f32], cos: &[f32], sin: &[f32]) {
    for (i, pair) in head.chunks_exact_mut(2).enumerate() {
        let (x0, x1) = (pair[0], pair[1]);
        // ggml's C code is compiled with FMA contraction; these are the fused forms.
        pair[0] = x0.mul_add(cos[i], -(x1 * sin[i]));
        pair[1] = x0.mul_add(sin[i], x1 * cos[i]);
    }
}

/// `silu(gate) * up`, in place in `gate`.
pub fn swiglu(gate: &mut [f32], up: &[f32]) {
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = super::expf::silu(*g) * u;
    }
}

/// Sums 16 lanes in the order of `_mm512_reduce_add_ps` (halves, then quarters ...).
fn reduce16(v: &[f32; 16]) -> f32 {
    let mut h = [0f32; 8];
    for i in 0..8 {
        h[i] = v[i + 8] + v[i];
    }
    let q = [h[4] + h[0], h[5] + h[1], h[6] + h[2], h[7] + h[3]];
    let p = [q[0] + q[2], q[1] + q[3]];
    p[0] + p[1]
}

/// Dot product of f16 values (`a` already rounded, `b` stored) accumulated as ggml's
/// AVX-512 f16 GEMM does: 16 lanes, one fused multiply-add per lane and step, then
/// [`reduce16`].
fn dot_f16(a: &[f32], b: &[f16]) -> f32 {
    let mut acc = [0f32; 16];
    for (ca, cb) in a.chunks(16).zip(b.chunks(16)) {
        for ((l, &x), y) in acc.iter_mut().zip(ca).zip(cb) {
            *l = x.mul_add(y.to_f32(), *l);
        }
    }
    reduce16(&acc)
}

/// The keys and values of one sequence, stored in f16 as llama.cpp's default cache is.
#[derive(Debug, Clone, Default)]
pub struct LayerCache {
    /// `[pos][kv_head][head_dim]`.
    pub k: Vec<f16>,
    /// `[pos][kv_head][head_dim]`.
    pub v: Vec<f16>,
}

/// Shape of the attention heads.
#[derive(Debug, Clone, Copy)]
pub struct Heads {
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads.
    pub n_kv_head: usize,
    /// Values per head.
    pub head_dim: usize,
}

/// Dot product of f16 values in the order of ggml's AVX-512 `ggml_vec_dot_f16`: four
/// accumulators of 16 lanes over steps of 64, folded pairwise, then [`reduce16`]. llama.cpp
/// pads the attention length to a multiple of 256 with zeros, so no element ever reaches
/// the scalar tail of that kernel; a short final step here is zero-padded the same way.
fn dot_f16_vec(a: &[f32], b: &[f16]) -> f32 {
    let n = a.len().min(b.len());
    let mut acc = [[0f32; 16]; 4];
    for e in 0..n {
        let (j, l) = ((e % 64) / 16, e % 16);
        acc[j][l] = a[e].mul_add(b[e].to_f32(), acc[j][l]);
    }
    let [a0, a1, a2, a3] = acc;
    let mut folded = [0f32; 16];
    for (l, f) in folded.iter_mut().enumerate() {
        *f = (a0[l] + a2[l]) + (a1[l] + a3[l]);
    }
    reduce16(&folded)
}

/// Causal attention of `m` new queries (positions `pos..pos+m`) over the cache, which
/// already holds their keys and values. `q` is `[m][n_head][head_dim]`, `out` likewise.
///
/// As ggml without flash attention: the query is rounded to f16 before `K·q`, the products
/// are summed in f32 (in the lane order of its AVX-512 f16 GEMM), the softmax uses ggml's
/// vectorised `exp` with partial sums of 16 in f32 and the total in f64, and the weights
/// are rounded to f16 before `V·p`.
pub fn attention(q: &[f32], cache: &LayerCache, pos: usize, h: Heads, out: &mut [f32]) {
    let (hd, nkv) = (h.head_dim, h.n_kv_head);
    let group = h.n_head / nkv;
    let scale = 1.0 / (hd as f32).sqrt();
    let row = h.n_head * hd;
    // ggml runs a single new token through its vector dot product and a batch through its
    // tiled GEMM; the two sum in different orders, and incant follows each.
    let dot: fn(&[f32], &[f16]) -> f32 = if q.len() == row { dot_f16_vec } else { dot_f16 };
    out.par_chunks_mut(hd).enumerate().for_each(|(idx, dst)| {
        let (t, head) = (idx / h.n_head, idx % h.n_head);
        let kvh = head / group;
        let q16: Vec<f32> = q[t * row + head * hd..t * row + (head + 1) * hd]
            .iter()
            .map(|&v| f16::from_f32(v).to_f32())
            .collect();
        let n_kv = pos + t + 1;
        let mut scores: Vec<f32> = (0..n_kv)
            .map(|j| {
                let k = &cache.k[(j * nkv + kvh) * hd..(j * nkv + kvh + 1) * hd];
                dot(&q16, k) * scale
            })
            .collect();
        let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0f64;
        for chunk in scores.chunks_mut(16) {
            let mut lanes = [0f32; 16];
            for (l, s) in lanes.iter_mut().zip(chunk.iter_mut()) {
                *s = super::expf::expf(*s - max);
                *l = *s;
            }
            sum += f64::from(reduce16(&lanes));
        }
        let inv = (1.0 / sum) as f32;
        // V·p: for each output dimension, a dot product over positions.
        let p16: Vec<f32> = scores
            .iter()
            .map(|&s| f16::from_f32(s * inv).to_f32())
            .collect();
        let mut column = Vec::with_capacity(n_kv);
        for (d, o) in dst.iter_mut().enumerate() {
            column.clear();
            column.extend((0..n_kv).map(|j| cache.v[(j * nkv + kvh) * hd + d]));
            *o = dot(&p16, &column);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_norm_of_a_constant_row_is_the_weight() {
        let mut out = [0f32; 4];
        rms_norm(&[2.0; 4], &[1.0, 2.0, 3.0, 4.0], 0.0, &mut out);
        assert_eq!(out, [1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn rope_at_position_zero_is_the_identity() {
        let (mut c, mut s) = ([0f32; 2], [0f32; 2]);
        rope_angles(0, 4, 10_000.0, &mut c, &mut s);
        let mut head = [1.0, 2.0, 3.0, 4.0];
        rope_head(&mut head, &c, &s);
        assert_eq!(head, [1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn attention_over_one_position_returns_its_value() {
        let h = Heads {
            n_head: 2,
            n_kv_head: 1,
            head_dim: 2,
        };
        let cache = LayerCache {
            k: [0.5, 0.25].map(f16::from_f32).to_vec(),
            v: [3.0, -1.0].map(f16::from_f32).to_vec(),
        };
        let mut out = [0f32; 4];
        attention(&[1.0, 2.0, -1.0, 0.5], &cache, 0, h, &mut out);
        assert_eq!(out, [3.0, -1.0, 3.0, -1.0]);
    }
}
