//! The non-matmul operations of a llama layer, with ggml's rounding.

use super::scores::CacheRows;

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
    assert_eq!(gate.len(), up.len(), "swiglu: gate and up lengths");
    // Several tokens' worth (a batch of sequences, a prompt): one share per thread.
    if gate.len() >= 4096 {
        let share = gate
            .len()
            .div_ceil(crate::pool::Pool::global().threads())
            .next_multiple_of(16);
        let mut parts: Vec<_> = gate.chunks_mut(share).zip(up.chunks(share)).collect();
        crate::pool::for_each_mut(&mut parts, |_, (g, u)| super::expf::swiglu(g, u));
    } else {
        super::expf::swiglu(gate, up);
    }
}

/// The keys and values of one sequence, in f16 as llama.cpp's default cache.
#[derive(Debug, Clone, Default)]
pub struct LayerCache {
    /// `[pos][kv_head][head_dim]`.
    pub k: Vec<half::f16>,
    /// `[pos][kv_head][head_dim]`.
    pub v: Vec<half::f16>,
}

impl LayerCache {
    /// Appends keys and values (`[kv_head][head_dim]` per position), rounding to f16.
    pub fn push(&mut self, k: &[f32], v: &[f32]) {
        super::f16::extend_f16(&mut self.k, k);
        super::f16::extend_f16(&mut self.v, v);
    }
}

/// `x` rounded to the nearest f16 (ties to even), as an f32.
pub fn round_f16(x: f32) -> f32 {
    super::f16::round(x)
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

/// Sums 16 lanes in the order of `_mm512_reduce_add_ps` (halves, then quarters ...).
pub(crate) fn reduce16(v: &[f32; 16]) -> f32 {
    let mut h = [0f32; 8];
    for i in 0..8 {
        h[i] = v[i + 8] + v[i];
    }
    let q = [h[4] + h[0], h[5] + h[1], h[6] + h[2], h[7] + h[3]];
    let p = [q[0] + q[2], q[1] + q[3]];
    p[0] + p[1]
}

/// The two summation orders ggml uses for f16 matrix products on AVX-512 machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SumOrder {
    /// `ggml_vec_dot_f16` (one new token): four accumulators of 16 lanes over steps of 64,
    /// folded pairwise, then `reduce16`. llama.cpp pads the attention length to a multiple
    /// of 256 with zeros, so its scalar tail never runs, and none runs here.
    Vector,
    /// The tiled f16 GEMM (a batch of tokens): 16 lanes, one fused multiply-add per lane
    /// and step, then `reduce16`.
    Tiled,
}

impl SumOrder {
    const fn slots(self) -> usize {
        match self {
            Self::Vector => 64,
            Self::Tiled => 16,
        }
    }

    /// Folds per-slot partial sums into the result.
    fn finish(self, acc: impl Fn(usize) -> f32) -> f32 {
        match self {
            Self::Vector => {
                let mut folded = [0f32; 16];
                for (l, f) in folded.iter_mut().enumerate() {
                    *f = (acc(l) + acc(32 + l)) + (acc(16 + l) + acc(48 + l));
                }
                reduce16(&folded)
            }
            Self::Tiled => {
                let mut lanes = [0f32; 16];
                for (l, v) in lanes.iter_mut().enumerate() {
                    *v = acc(l);
                }
                reduce16(&lanes)
            }
        }
    }

    /// [`Self::finish`] of every dimension at once: `acc` holds `used` slot rows of `hd`
    /// dimensions (the slots after them are zero), and the same additions run in the same
    /// order, a whole row of dimensions at a time. A missing (zero) row is skipped rather
    /// than added: `x + 0 = x` for every partial sum here, as they start at `+0` and
    /// accumulate products of f16 values, which never round to `-0`.
    fn finish_rows(
        self,
        acc: &[f32],
        used: usize,
        hd: usize,
        lanes: &mut Vec<f32>,
        dst: &mut [f32],
    ) {
        lanes.clear();
        lanes.resize(17 * hd, 0.0);
        let (rows, tmp) = lanes.split_at_mut(16 * hd);
        let slot = |s: usize| (s < used).then(|| &acc[s * hd..(s + 1) * hd]);
        let mut have = [false; 16];
        for (l, have) in have.iter_mut().enumerate() {
            let row = &mut rows[l * hd..(l + 1) * hd];
            *have = match self {
                // (acc(l) + acc(32 + l)) + (acc(16 + l) + acc(48 + l))
                Self::Vector => {
                    let left = sum_rows(slot(l), slot(32 + l), row);
                    let right = sum_rows(slot(16 + l), slot(48 + l), tmp);
                    add_row(row, left, &*tmp, right)
                }
                Self::Tiled => sum_rows(slot(l), None, row),
            };
        }
        // reduce16, row-wise: lanes i + 8 onto i, then i + 4 onto i, i + 2, i + 1.
        for half in [8, 4, 2, 1] {
            for i in 0..half {
                let (lo, hi) = rows.split_at_mut((i + half) * hd);
                let src = &hi[..hd];
                have[i] = add_row(&mut lo[i * hd..(i + 1) * hd], have[i], src, have[i + half]);
            }
        }
        if have[0] {
            dst.copy_from_slice(&rows[..hd]);
        } else {
            dst.fill(0.0);
        }
    }

    /// `a · b` summed in this order (`a` and `b` hold f16-representable values).
    #[inline(always)]
    pub(crate) fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Self::Vector => self.finish(slotted::<64>(a, b)),
            Self::Tiled => self.finish(slotted::<16>(a, b)),
        }
    }
}

/// `dst = a + b` for rows that may be missing (zero); returns whether `dst` holds a row.
#[inline(always)]
fn sum_rows(a: Option<&[f32]>, b: Option<&[f32]>, dst: &mut [f32]) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => {
            for ((d, x), y) in dst.iter_mut().zip(a).zip(b) {
                *d = x + y;
            }
        }
        (Some(a), None) | (None, Some(a)) => dst.copy_from_slice(a),
        (None, None) => return false,
    }
    true
}

/// `dst += src` for rows that may be missing; returns whether `dst` now holds a row.
#[inline(always)]
fn add_row(dst: &mut [f32], have_dst: bool, src: &[f32], have_src: bool) -> bool {
    match (have_dst, have_src) {
        (true, true) => dst.iter_mut().zip(src).for_each(|(d, s)| *d += s),
        (false, true) => dst.copy_from_slice(src),
        _ => {}
    }
    have_dst || have_src
}

/// Partial sums of `a · b` in `S` slots: slot `s` accumulates elements `s, s + S, ...` with
/// fused multiply-adds in increasing order (whole chunks run lane-parallel, so the compiler
/// vectorises them; the arithmetic per slot is the same as one element at a time).
#[inline(always)]
fn slotted<const S: usize>(a: &[f32], b: &[f32]) -> impl Fn(usize) -> f32 {
    let mut acc = [0f32; S];
    let (ca, cb) = (a.chunks_exact(S), b.chunks_exact(S));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..S {
            acc[l] = x[l].mul_add(y[l], acc[l]);
        }
    }
    for (l, (x, y)) in ra.iter().zip(rb).enumerate() {
        acc[l] = x.mul_add(*y, acc[l]);
    }
    move |s| acc[s]
}

/// Causal attention of `m` new queries (positions `pos..pos+m`) over the cache, which
/// already holds their keys and values. `q` is `[m][n_head][head_dim]`, `out` likewise.
///
/// As ggml without flash attention: the query is rounded to f16 before `K·q`, the products
/// are summed in f32 in ggml's order ([`SumOrder`]: the vector kernel for one token, the
/// tiled GEMM for a batch), the softmax uses ggml's vectorised `exp` with partial sums of 16
/// in f32 and the total in f64, and the weights are rounded to f16 before `V·p`.
pub fn attention(q: &[f32], cache: &LayerCache, pos: usize, h: Heads, out: &mut [f32]) {
    let row = h.n_head * h.head_dim;
    let order = if q.len() == row {
        SumOrder::Vector
    } else {
        SumOrder::Tiled
    };
    let heads = out.len() / h.head_dim;
    let run = |first: usize, dst: &mut [f32]| {
        super::simd::run(|| {
            let mut scratch = Scratch::default();
            for (i, d) in dst.chunks_mut(h.head_dim).enumerate() {
                head(q, cache, pos, h, order, first + i, d, &mut scratch);
            }
        })
    };
    // A short step (one token over a short cache) is cheaper than a hand-off. One token:
    // one share of the heads per thread; a prompt: four, as later tokens attend further.
    let work = heads * (pos + q.len() / row);
    if work < 512 {
        run(0, out);
    } else {
        let threads = crate::pool::Pool::global().threads();
        let per = heads.div_ceil(if order == SumOrder::Vector {
            threads
        } else {
            4 * threads
        });
        crate::pool::for_each_chunk_mut(out, per * h.head_dim, |c, dst| run(c * per, dst));
    }
}

/// Buffers one thread reuses from head to head.
#[derive(Default)]
struct Scratch {
    q16: Vec<f32>,
    scores: Vec<f32>,
    acc: Vec<f32>,
    lanes: Vec<f32>,
}

/// One query head of one token.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn head(
    q: &[f32],
    cache: &LayerCache,
    pos: usize,
    h: Heads,
    order: SumOrder,
    idx: usize,
    dst: &mut [f32],
    scratch: &mut Scratch,
) {
    let Scratch {
        q16,
        scores,
        acc,
        lanes,
    } = scratch;
    let (hd, nkv) = (h.head_dim, h.n_kv_head);
    let row = h.n_head * hd;
    let scale = 1.0 / (hd as f32).sqrt();
    let (t, head) = (idx / h.n_head, idx % h.n_head);
    let kvh = head / (h.n_head / nkv);
    q16.clear();
    super::f16::extend_rounded(q16, &q[t * row + head * hd..][..hd]);
    let n_kv = pos + t + 1;
    let keys = CacheRows {
        rows: &cache.k,
        head_dim: hd,
        stride: nkv * hd,
        offset: kvh * hd,
    };
    let sum = super::scores::softmax_scores(order, q16, keys, n_kv, scale, scores);
    let inv = (1.0 / sum) as f32;
    scores.iter_mut().for_each(|s| *s *= inv);
    super::f16::round_in_place(scores);
    // V·p, position by position: slot `j % slots` of every output dimension accumulates in
    // increasing `j`, the same sequence of fused multiply-adds as a dot product per
    // dimension. Slots no position reaches stay out (they would only add zeros).
    let slots = order.slots();
    let values = CacheRows {
        rows: &cache.v,
        ..keys
    };
    if super::scores::folded_values(slots, scores, values, dst) {
        return;
    }
    let used = n_kv.min(slots);
    acc.clear();
    acc.resize(used * hd, 0.0);
    super::scores::weighted_values(slots, scores, values, acc);
    order.finish_rows(acc, used, hd, lanes, dst);
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
    fn row_wise_finish_gives_the_bits_of_the_per_dimension_one() {
        let hd = 8;
        let mut next = crate::kernels::test_data::uniform_draws(1, 3.0);
        for order in [SumOrder::Vector, SumOrder::Tiled] {
            for used in 1..=order.slots() {
                let acc: Vec<f32> = (0..used * hd).map(|_| next()).collect();
                let mut got = vec![f32::NAN; hd];
                order.finish_rows(&acc, used, hd, &mut Vec::new(), &mut got);
                for (d, g) in got.iter().enumerate() {
                    let want = order.finish(|s| if s < used { acc[s * hd + d] } else { 0.0 });
                    assert_eq!(g.to_bits(), want.to_bits(), "{order:?} used={used} d={d}");
                }
            }
        }
    }

    #[test]
    fn folded_values_give_the_bits_of_slot_rows_folded() {
        let mut next = crate::kernels::test_data::uniform_draws(5, 4.0);
        for hd in [16usize, 64, 128] {
            for n in [1usize, 5, 16, 17, 33, 64, 65, 130, 200] {
                let stride = 3 * hd;
                let v: Vec<half::f16> = (0..n * stride)
                    .map(|_| half::f16::from_f32(next()))
                    .collect();
                let p: Vec<f32> = (0..n).map(|_| round_f16(next().abs() / 4.0)).collect();
                let values = CacheRows {
                    rows: &v,
                    head_dim: hd,
                    stride,
                    offset: hd,
                };
                for order in [SumOrder::Vector, SumOrder::Tiled] {
                    let slots = order.slots();
                    let mut got = vec![f32::NAN; hd];
                    if !super::super::scores::folded_values(slots, &p, values, &mut got) {
                        return; // no AVX-512 here: the slot rows below are the only path
                    }
                    for (d, g) in got.iter().enumerate() {
                        let slot = |s: usize| {
                            (s..n).step_by(slots).fold(0f32, |a, j| {
                                p[j].mul_add(v[hd + j * stride + d].to_f32(), a)
                            })
                        };
                        let want = order.finish(slot);
                        assert_eq!(g.to_bits(), want.to_bits(), "{order:?} hd={hd} n={n} d={d}");
                    }
                }
            }
        }
    }

    #[test]
    fn attention_over_one_position_returns_its_value() {
        let h = Heads {
            n_head: 2,
            n_kv_head: 1,
            head_dim: 2,
        };
        let mut cache = LayerCache::default();
        cache.push(&[0.5, 0.25], &[3.0, -1.0]);
        let mut out = [0f32; 4];
        attention(&[1.0, 2.0, -1.0, 0.5], &cache, 0, h, &mut out);
        assert_eq!(out, [3.0, -1.0, 3.0, -1.0]);
    }
}
