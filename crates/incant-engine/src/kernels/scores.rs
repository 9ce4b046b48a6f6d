//! The two products of one attention head over the f16 cache, with AVX-512 paths.
//!
//! [`softmax_scores`]: for every cached position `j`, `s_j = (q · k_j) * scale` summed in
//! ggml's order ([`SumOrder`]), then `e_j = exp(s_j - max)` with ggml's `exp`, and the total
//! of the `e_j` in partial sums of sixteen (f32, `reduce16`'s order) added up in f64.
//! [`weighted_values`]: `V·p` into per-slot partial sums, which the caller folds; on AVX-512,
//! [`folded_values`] folds them as it goes, straight into the head's output. Written as
//! scalar Rust, the compiler keeps the sums' order and therefore stays scalar; the AVX-512
//! paths keep sixteen lanes per register and widen sixteen f16 values per instruction, the
//! same operations in the same order, so every path gives the same bits. The scores of
//! sixteen positions are reduced together by one transposing tree of shuffles and adds,
//! the additions of `reduce16` for each.

// The AVX-512 path calls a function compiled for AVX-512F after checking the CPU, and loads
// through raw pointers into slices of known length; each block says why.
#![allow(unsafe_code)]

use super::ops::{reduce16, SumOrder};

/// Where one head's keys (or values) are: position `j` starts at `offset + j * stride`.
#[derive(Debug, Clone, Copy)]
pub struct CacheRows<'a> {
    /// The cache's keys or values.
    pub rows: &'a [half::f16],
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
    keys: CacheRows<'_>,
    n: usize,
    scale: f32,
    scores: &mut Vec<f32>,
) -> f64 {
    assert_eq!(q.len(), keys.head_dim, "query and key sizes");
    keys.check(n);
    scores.clear();
    #[cfg(target_arch = "x86_64")]
    if keys.wide() {
        // SAFETY: `wide` checked AVX-512F, F16C and the head size; `check` the bounds.
        return unsafe { softmax_avx512(order, q, keys, n, scale, scores) };
    }
    let mut key = vec![0f32; keys.head_dim];
    scores.extend((0..n).map(|j| {
        super::f16::widen(keys.row(j), &mut key);
        order.dot(q, &key) * scale
    }));
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

impl CacheRows<'_> {
    fn row(&self, j: usize) -> &[half::f16] {
        &self.rows[self.offset + j * self.stride..][..self.head_dim]
    }

    fn check(&self, n: usize) {
        assert!(n == 0 || self.offset + (n - 1) * self.stride + self.head_dim <= self.rows.len());
    }

    /// Whether the AVX-512 paths run: the CPU has AVX-512F and F16C, and the head is whole
    /// registers (at most sixteen).
    #[cfg(target_arch = "x86_64")]
    fn wide(&self) -> bool {
        self.head_dim.is_multiple_of(16)
            && self.head_dim <= 256
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("f16c")
    }
}

/// `acc[j % slots] += p_j * v_j` (rows of `head_dim`, fused multiply-adds) for every
/// position `j < p.len()` in increasing order: the `V·p` of one head, by slot. `acc` holds
/// `min(p.len(), slots)` rows.
pub fn weighted_values(slots: usize, p: &[f32], values: CacheRows<'_>, acc: &mut [f32]) {
    let hd = values.head_dim;
    values.check(p.len());
    assert_eq!(acc.len(), p.len().min(slots) * hd, "one row per used slot");
    #[cfg(target_arch = "x86_64")]
    if values.wide() {
        // SAFETY: `wide` checked AVX-512F, F16C and the head size; `check` the bounds.
        return unsafe { weighted_values_avx512(slots, p, values, acc) };
    }
    let mut v = vec![0f32; hd];
    for (j, &pj) in p.iter().enumerate() {
        super::f16::widen(values.row(j), &mut v);
        let slot = &mut acc[(j % slots) * hd..][..hd];
        for (a, v) in slot.iter_mut().zip(&v) {
            *a = pj.mul_add(*v, *a);
        }
    }
}

/// `V·p` of one head straight into `out` (`head_dim` values), on AVX-512: the slot sums of
/// [`weighted_values`] folded as `SumOrder::finish_rows` folds them (`slots` 64: pairs of
/// slots 32 apart, then 16 apart, then `reduce16`'s halves; 16: `reduce16`'s halves).
/// Sixteen output dimensions live in each register and the folding runs as the slots are
/// summed, so no slot rows are written, cleared or read back.
/// Returns `false`, touching nothing, where the AVX-512 path does not run.
pub fn folded_values(slots: usize, p: &[f32], values: CacheRows<'_>, out: &mut [f32]) -> bool {
    assert!(
        slots == 16 || slots == 64,
        "ggml's orders use 16 or 64 slots"
    );
    assert_eq!(out.len(), values.head_dim, "one head of output");
    values.check(p.len());
    #[cfg(target_arch = "x86_64")]
    if values.wide() {
        // SAFETY: `wide` checked AVX-512F, F16C and the head size; `check` the bounds.
        unsafe { folded_values_avx512(slots, p, values, out) };
        return true;
    }
    false
}

/// # Safety
/// As [`softmax_avx512`]; `out` holds `head_dim` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,f16c")]
unsafe fn folded_values_avx512(slots: usize, p: &[f32], values: CacheRows<'_>, out: &mut [f32]) {
    // Up to four registers of output dimensions at a time.
    let mut c0 = 0;
    while c0 < values.head_dim {
        // SAFETY (every arm): forwarded; `c0 + 16 * CH <= head_dim`.
        unsafe {
            match (values.head_dim - c0) / 16 {
                1 => folded_chunks::<1>(slots, p, values, c0, out),
                2 => folded_chunks::<2>(slots, p, values, c0, out),
                3 => folded_chunks::<3>(slots, p, values, c0, out),
                _ => folded_chunks::<4>(slots, p, values, c0, out),
            }
        }
        c0 += 64.min(values.head_dim - c0);
    }
}

#[cfg(target_arch = "x86_64")]
type Chunks<const CH: usize> = [std::arch::x86_64::__m512; CH];

/// Output dimensions `c0..c0 + 16 * CH` of [`folded_values`]. A slot no position reaches
/// adds zeros, which leaves every sum's bits as leaving the slot out would: a slot's sum
/// starts at `+0` and adds exact, nonzero products of f16 values (or cancels to `+0`), so no
/// partial sum is ever `-0`, the one value adding `+0` would change.
///
/// # Safety
/// As [`folded_values_avx512`], and `c0 + 16 * CH <= head_dim`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,f16c")]
#[inline]
unsafe fn folded_chunks<const CH: usize>(
    slots: usize,
    p: &[f32],
    values: CacheRows<'_>,
    c0: usize,
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    let n = p.len();
    let add = |a: Chunks<CH>, b: Chunks<CH>| -> Chunks<CH> {
        std::array::from_fn(|c| _mm512_add_ps(a[c], b[c]))
    };
    // reduce16's lane `l`: (slot l + slot 32 + l) + (slot 16 + l + slot 48 + l) with 64
    // slots, slot `l` with 16; slot `s` is fused multiply-adds over positions s, s + slots,
    // ... in increasing order.
    let per_lane = slots / 16;
    let mut lanes = [[_mm512_setzero_ps(); CH]; 16];
    for (l, lane) in lanes.iter_mut().enumerate() {
        let mut sums = [[_mm512_setzero_ps(); CH]; 4];
        for (i, sum) in sums.iter_mut().enumerate().take(per_lane) {
            let mut j = l + 16 * i;
            while j < n {
                let row = values.row(j)[c0..].as_ptr();
                let pj = _mm512_set1_ps(p[j]);
                for (c, a) in sum.iter_mut().enumerate() {
                    // SAFETY: `c0 + 16 * CH <= head_dim` and the row holds `head_dim` f16
                    // values (a transparent u16); the load is unaligned.
                    let v = unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(row.add(16 * c).cast())) };
                    *a = _mm512_fmadd_ps(pj, v, *a);
                }
                j += slots;
            }
        }
        *lane = if per_lane == 4 {
            add(add(sums[0], sums[2]), add(sums[1], sums[3]))
        } else {
            sums[0]
        };
    }
    // reduce16's tree: lanes i + 8 onto i, then i + 4, i + 2, i + 1.
    for half in [8, 4, 2, 1] {
        for i in 0..half {
            lanes[i] = add(lanes[i], lanes[i + half]);
        }
    }
    let r = lanes[0];
    for (c, v) in r.iter().enumerate() {
        // SAFETY: `c0 + 16 * (c + 1) <= head_dim = out.len()`; the store is unaligned.
        unsafe { _mm512_storeu_ps(out.as_mut_ptr().add(c0 + 16 * c), *v) };
    }
}

/// # Safety
/// As [`softmax_avx512`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,f16c")]
unsafe fn weighted_values_avx512(slots: usize, p: &[f32], values: CacheRows<'_>, acc: &mut [f32]) {
    use std::arch::x86_64::*;
    let hd = values.head_dim;
    for (j, &pj) in p.iter().enumerate() {
        let v = values.row(j);
        let slot = &mut acc[(j % slots) * hd..][..hd];
        let pv = _mm512_set1_ps(pj);
        for c in (0..hd).step_by(16) {
            // SAFETY: `c + 16 <= hd` (the head is whole registers); `v` holds `hd` f16s
            // (a transparent u16) and `slot` `hd` floats; the accesses are unaligned.
            unsafe {
                let x = _mm512_cvtph_ps(_mm256_loadu_si256(v.as_ptr().add(c).cast()));
                let a = _mm512_loadu_ps(slot.as_ptr().add(c));
                _mm512_storeu_ps(slot.as_mut_ptr().add(c), _mm512_fmadd_ps(pv, x, a));
            }
        }
    }
}

/// # Safety
/// The CPU must support AVX-512F and F16C, `keys` must hold `n` positions, and the head
/// size be a multiple of 16, at most 256.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,f16c")]
unsafe fn softmax_avx512(
    order: SumOrder,
    q: &[f32],
    keys: CacheRows<'_>,
    n: usize,
    scale: f32,
    scores: &mut Vec<f32>,
) -> f64 {
    use std::arch::x86_64::*;
    scores.resize(n, 0.0);
    macro_rules! by_chunks {
        ($($c:literal)*) => {
            match keys.head_dim / 16 {
                // SAFETY (every arm): forwarded; the head is `$c` whole registers.
                $($c => unsafe { scores_avx512::<$c>(order, q, keys, scale, scores) },)*
                _ => unreachable!("`wide` heads are 1 to 16 registers"),
            }
        };
    }
    by_chunks!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);
    // The largest score (the same value in any order: no score is NaN).
    let mut top = _mm512_set1_ps(f32::NEG_INFINITY);
    for c in scores.chunks(16) {
        let lanes: __mmask16 = ((1u32 << c.len()) - 1) as u16;
        // SAFETY: the mask covers exactly the `c.len() <= 16` floats of `c`.
        top = _mm512_max_ps(top, unsafe { _mm512_mask_loadu_ps(top, lanes, c.as_ptr()) });
    }
    let max = _mm512_reduce_max_ps(top);
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

/// `scores[j] = (q · k_j) * scale` for every position, the head `C` registers wide.
///
/// # Safety
/// As [`softmax_avx512`], with `head_dim == 16 * C` and `scores.len()` positions.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,f16c")]
unsafe fn scores_avx512<const C: usize>(
    order: SumOrder,
    q: &[f32],
    keys: CacheRows<'_>,
    scale: f32,
    scores: &mut [f32],
) {
    use std::arch::x86_64::*;
    let n = scores.len();
    // SAFETY: `q` holds `16 * C` values (checked by the caller); the loads are unaligned.
    let qv: [__m512; C] =
        std::array::from_fn(|c| unsafe { _mm512_loadu_ps(q.as_ptr().add(16 * c)) });
    // Sixteen lanes of partial sums of `q · k_j`, to be added up in `reduce16`'s order.
    let fold = |j: usize| -> __m512 {
        let k = keys.row(j).as_ptr();
        // SAFETY: the row holds `16 * C` f16 values (a transparent u16); unaligned loads.
        let load = |c: usize| unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(k.add(16 * c).cast())) };
        match order {
            SumOrder::Vector => {
                // Slots 0..64 in four registers; slot `l` takes elements l, l + 64, ...
                let mut acc = [_mm512_setzero_ps(); 4];
                for (c, q) in qv.iter().enumerate() {
                    acc[c % 4] = _mm512_fmadd_ps(*q, load(c), acc[c % 4]);
                }
                // (acc(l) + acc(32 + l)) + (acc(16 + l) + acc(48 + l))
                _mm512_add_ps(_mm512_add_ps(acc[0], acc[2]), _mm512_add_ps(acc[1], acc[3]))
            }
            SumOrder::Tiled => {
                let mut acc = _mm512_setzero_ps();
                for (c, q) in qv.iter().enumerate() {
                    acc = _mm512_fmadd_ps(*q, load(c), acc);
                }
                acc
            }
        }
    };
    // Sixteen positions at a time: their sums come out of one transposing reduction
    // instead of sixteen horizontal ones; the rest one at a time.
    let whole = n - n % 16;
    let sc = _mm512_set1_ps(scale);
    for j in (0..whole).step_by(16) {
        let sums = reduce16_x16(std::array::from_fn(|i| fold(j + i)));
        // SAFETY: `j + 16 <= n = scores.len()`; the store is unaligned.
        unsafe { _mm512_storeu_ps(scores.as_mut_ptr().add(j), _mm512_mul_ps(sums, sc)) };
    }
    for (j, score) in scores.iter_mut().enumerate().skip(whole) {
        *score = reduce16_avx512(fold(j)) * scale;
    }
}

/// `reduce16` of sixteen registers at once: lane `i` of the result is `reduce16` of `v[i]`,
/// the same additions (each commutes) in the same tree. Each step adds two shuffles of a
/// pair of registers, which halves the lanes still to sum per register and doubles the
/// registers' share of each: lanes i + 8 onto i, then i + 4, i + 2 and i + 1.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn reduce16_x16(v: [std::arch::x86_64::__m512; 16]) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    // Halves: [a0..8 + a8..16, b0..8 + b8..16] for the pairs (v0, v1), (v2, v3), ...
    let h: [__m512; 8] = std::array::from_fn(|i| {
        let (a, b) = (v[2 * i], v[2 * i + 1]);
        _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x44>(a, b),
            _mm512_shuffle_f32x4::<0xEE>(a, b),
        )
    });
    // Quarters: 128-bit lane k of q[i] holds register 4i + k's four sums.
    let q: [__m512; 4] = std::array::from_fn(|i| {
        let (a, b) = (h[2 * i], h[2 * i + 1]);
        _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x88>(a, b),
            _mm512_shuffle_f32x4::<0xDD>(a, b),
        )
    });
    // Eighths: lane k of p[i] holds [r(8i + k) x2, r(8i + 4 + k) x2].
    let p: [__m512; 2] = std::array::from_fn(|i| {
        let (a, b) = (q[2 * i], q[2 * i + 1]);
        _mm512_add_ps(
            _mm512_shuffle_ps::<0x44>(a, b),
            _mm512_shuffle_ps::<0xEE>(a, b),
        )
    });
    // Lane k: [r(k), r(4 + k), r(8 + k), r(12 + k)], element 4k + m is register k + 4m.
    let r = _mm512_add_ps(
        _mm512_shuffle_ps::<0x88>(p[0], p[1]),
        _mm512_shuffle_ps::<0xDD>(p[0], p[1]),
    );
    let order = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
    _mm512_permutexvar_ps(order, r)
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
    fn reference(
        order: SumOrder,
        q: &[f32],
        keys: CacheRows<'_>,
        n: usize,
        scale: f32,
    ) -> Vec<u32> {
        let key = |j: usize| -> Vec<f32> { keys.row(j).iter().map(|v| v.to_f32()).collect() };
        let s: Vec<f32> = (0..n).map(|j| order.dot(q, &key(j)) * scale).collect();
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
        let mut next = crate::kernels::test_data::uniform_draws(3, 4.0);
        for hd in [8usize, 16, 40, 64, 80, 128] {
            for n in [1usize, 5, 16, 17, 70] {
                let (stride, offset) = (3 * hd, hd);
                let k: Vec<half::f16> = (0..n * stride)
                    .map(|_| half::f16::from_f32(next()))
                    .collect();
                let q: Vec<f32> = (0..hd)
                    .map(|_| half::f16::from_f32(next()).to_f32())
                    .collect();
                let keys = CacheRows {
                    rows: &k,
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
                // V·p into 64 and 16 slots against the per-element definition.
                let p: Vec<f32> = (0..n)
                    .map(|_| half::f16::from_f32(next().abs() / 4.0).to_f32())
                    .collect();
                for slots in [64usize, 16] {
                    let used = n.min(slots);
                    let mut want = vec![0f32; used * hd];
                    for (j, &pj) in p.iter().enumerate() {
                        for d in 0..hd {
                            let a = &mut want[(j % slots) * hd + d];
                            *a = pj.mul_add(keys.row(j)[d].to_f32(), *a);
                        }
                    }
                    let mut got = vec![0f32; used * hd];
                    weighted_values(slots, &p, keys, &mut got);
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&got), bits(&want), "V·p hd={hd} n={n} slots={slots}");
                }
            }
        }
    }
}
