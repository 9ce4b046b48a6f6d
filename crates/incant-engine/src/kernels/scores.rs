//! The softmax of one attention head's scores, with an AVX-512 path.
//!
//! For every cached position `j`: `s_j = (q · k_j) * scale`, summed in ggml's order
//! ([`SumOrder`]), then `e_j = exp(s_j - max)` with ggml's `exp`, and the total of the `e_j`
//! in partial sums of sixteen (f32, `reduce16`'s order) added up in f64. Written as scalar
//! Rust, the compiler keeps the sums' order and therefore stays scalar; the AVX-512 path
//! keeps sixteen slots per register, which is the same order, so both give the same bits.

// The AVX-512 path calls a function compiled for AVX-512F after checking the CPU, and loads
// through raw pointers into slices of known length; each block says why.
#![allow(unsafe_code)]

use super::ops::{reduce16, SumOrder};

/// Where one head's keys are: position `j` starts at `offset + j * stride` in `k`.
#[derive(Debug, Clone, Copy)]
pub struct Keys<'a> {
    /// The cache's keys.
    pub k: &'a [f32],
    /// Values per head.
    pub head_dim: usize,
    /// Values per position.
    pub stride: usize,
    /// Where this head's key starts in a position.
    pub offset: usize,
}

/// Fills `scores` with `exp(s_j - max)` for the first `n` positions and returns their total.
pub fn softmax_scores(
    order: SumOrder,
    q: &[f32],
    keys: Keys<'_>,
    n: usize,
    scale: f32,
    scores: &mut Vec<f32>,
) -> f64 {
    assert_eq!(q.len(), keys.head_dim, "query and key sizes");
    assert!(n == 0 || keys.offset + (n - 1) * keys.stride + keys.head_dim <= keys.k.len());
    scores.clear();
    #[cfg(target_arch = "x86_64")]
    if keys.head_dim <= 256 && std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU was just checked to support AVX-512F; the bounds were checked.
        return unsafe { softmax_avx512(order, q, keys, n, scale, scores) };
    }
    let key = |j: usize| &keys.k[keys.offset + j * keys.stride..][..keys.head_dim];
    scores.extend((0..n).map(|j| order.dot(q, key(j)) * scale));
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
    sum
}

/// # Safety
/// The CPU must support AVX-512F, `keys` must hold `n` positions, and the head size be at
/// most 256.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn softmax_avx512(
    order: SumOrder,
    q: &[f32],
    keys: Keys<'_>,
    n: usize,
    scale: f32,
    scores: &mut Vec<f32>,
) -> f64 {
    use std::arch::x86_64::*;
    let hd = keys.head_dim;
    // Lane masks of the sixteen-value chunks of a head (the last may be partial).
    let mask = |at: usize| -> __mmask16 {
        let left = hd.saturating_sub(at).min(16);
        ((1u32 << left) - 1) as u16
    };
    // Masked-off lanes add `0 * 0`: a partial sum is never -0 (it starts at +0 and adds
    // products of f16 values, which never round to zero), so adding +0 leaves it unchanged.
    let load = |p: &[f32], at: usize| -> __m512 {
        // SAFETY: the mask covers only values inside `p`'s first `hd` (`at < hd`).
        unsafe { _mm512_maskz_loadu_ps(mask(at), p.as_ptr().add(at)) }
    };
    // The query in registers, sixteen values each (at most 256 values).
    let chunks = hd.div_ceil(16);
    let qv: [__m512; 16] = std::array::from_fn(|c| {
        if c < chunks {
            load(q, 16 * c)
        } else {
            _mm512_setzero_ps()
        }
    });
    scores.resize(n, 0.0);
    for (j, score) in scores.iter_mut().enumerate() {
        let k = &keys.k[keys.offset + j * keys.stride..][..hd];
        let folded = match order {
            SumOrder::Vector => {
                // Slots 0..64 in four registers; slot `l` takes elements l, l + 64, ...
                let mut acc = [_mm512_setzero_ps(); 4];
                for (c, q) in qv[..chunks].iter().enumerate() {
                    acc[c % 4] = _mm512_fmadd_ps(*q, load(k, 16 * c), acc[c % 4]);
                }
                // (acc(l) + acc(32 + l)) + (acc(16 + l) + acc(48 + l))
                _mm512_add_ps(_mm512_add_ps(acc[0], acc[2]), _mm512_add_ps(acc[1], acc[3]))
            }
            SumOrder::Tiled => {
                let mut acc = _mm512_setzero_ps();
                for (c, q) in qv[..chunks].iter().enumerate() {
                    acc = _mm512_fmadd_ps(*q, load(k, 16 * c), acc);
                }
                acc
            }
        };
        *score = reduce16_avx512(folded) * scale;
    }
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let m = _mm512_set1_ps(max);
    let mut sum = 0f64;
    for c in scores.chunks_mut(16) {
        let lanes: __mmask16 = ((1u32 << c.len()) - 1) as u16;
        // SAFETY: the mask covers exactly the `c.len() <= 16` floats of `c`.
        let v = unsafe { _mm512_maskz_loadu_ps(lanes, c.as_ptr()) };
        let e = _mm512_maskz_mov_ps(lanes, super::expf::expf_avx512::<true>(_mm512_sub_ps(v, m)));
        // SAFETY: as the load.
        unsafe { _mm512_mask_storeu_ps(c.as_mut_ptr(), lanes, e) };
        sum += f64::from(reduce16_avx512(e));
    }
    sum
}

/// `reduce16` in registers: lanes i + 8 onto i, then i + 4, i + 2 and i + 1, the same
/// additions (each commutes) in the same order.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn reduce16_avx512(v: std::arch::x86_64::__m512) -> f32 {
    use std::arch::x86_64::*;
    let high = _mm512_shuffle_f32x4::<0b11_10_11_10>(v, v);
    let h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_castps512_ps256(high));
    let q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps::<1>(h));
    let p = _mm_add_ps(q, _mm_movehl_ps(q, q));
    _mm_cvtss_f32(_mm_add_ss(p, _mm_movehdup_ps(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scalar definition, whatever the CPU.
    fn reference(order: SumOrder, q: &[f32], keys: Keys<'_>, n: usize, scale: f32) -> Vec<u32> {
        let key = |j: usize| &keys.k[keys.offset + j * keys.stride..][..keys.head_dim];
        let s: Vec<f32> = (0..n).map(|j| order.dot(q, key(j)) * scale).collect();
        let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut out: Vec<u32> = s
            .iter()
            .map(|v| super::super::expf::expf(v - max).to_bits())
            .collect();
        let mut sum = 0f64;
        for c in out.chunks(16) {
            let mut lanes = [0f32; 16];
            for (l, b) in lanes.iter_mut().zip(c) {
                *l = f32::from_bits(*b);
            }
            sum += f64::from(reduce16(&lanes));
        }
        out.push(sum.to_bits() as u32);
        out.push((sum.to_bits() >> 32) as u32);
        out
    }

    #[test]
    fn every_path_gives_the_scalar_bits() {
        let mut seed = 3u64;
        let mut f16 = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            half::f16::from_f32(((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0).to_f32()
        };
        for hd in [8usize, 16, 40, 64, 80, 128] {
            for n in [1usize, 5, 16, 17, 70] {
                let (stride, offset) = (3 * hd, hd);
                let k: Vec<f32> = (0..n * stride).map(|_| f16()).collect();
                let q: Vec<f32> = (0..hd).map(|_| f16()).collect();
                let keys = Keys {
                    k: &k,
                    head_dim: hd,
                    stride,
                    offset,
                };
                for order in [SumOrder::Vector, SumOrder::Tiled] {
                    let mut scores = Vec::new();
                    let sum = softmax_scores(order, &q, keys, n, 0.125, &mut scores);
                    let mut got: Vec<u32> = scores.iter().map(|v| v.to_bits()).collect();
                    got.push(sum.to_bits() as u32);
                    got.push((sum.to_bits() >> 32) as u32);
                    assert_eq!(
                        got,
                        reference(order, &q, keys, n, 0.125),
                        "{order:?} hd={hd} n={n}"
                    );
                }
            }
        }
    }
}
