//! The x86 paths of [`super`]: AVX2 (`vpmaddubsw` + `vpmaddwd`) and AVX-512 VNNI
//! (`vpdpbusd`), each a function compiled for its instruction set.

// Every function here is compiled for an instruction set that `Isa::supported` verified
// before any is called, and loads blocks through raw pointers; each block says why.
#![allow(unsafe_code)]

use super::super::quant::{hsum8, BlockQ4_1, BlockQ8_0, BlockQ8_1};
use super::{Strides, MAX_TOKENS};
use std::arch::x86_64::*;

/// Sums of four u8 x i8 products per i32 lane (`vpmaddubsw` cannot saturate here: the
/// unsigned side is at most 128 and the signed side at least -127 in magnitude).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn isum_avx2(u: __m256i, s: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1))
}

#[target_feature(enable = "avx2,fma,avx512f,avx512vl,avx512vnni")]
#[inline]
fn isum_vnni(u: __m256i, s: __m256i) -> __m256i {
    _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s)
}

/// The eight lanes summed in ggml's order.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn reduce(acc: __m256) -> f32 {
    let mut lanes = [0f32; 8];
    // SAFETY: `lanes` is 8 writable f32s; the store is unaligned.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
    hsum8(&lanes)
}

/// Runs `row_kernel` on each weight row of `w` (`nb` blocks each) and writes its first `n`
/// results through the strides.
#[inline(always)]
fn each_row<W>(
    w: &[W],
    nb: usize,
    n: usize,
    out: &mut [f32],
    s: Strides,
    mut row_kernel: impl FnMut(&[W], &mut [f32; MAX_TOKENS]),
) {
    let mut tmp = [0f32; MAX_TOKENS];
    for (i, row) in w.chunks_exact(nb).enumerate() {
        row_kernel(row, &mut tmp);
        for (t, v) in tmp[..n].iter().enumerate() {
            out[i * s.row + t * s.token] = *v;
        }
    }
}

macro_rules! kernels {
    (
        $q4:ident, $q8:ident, $q4rows:ident, $q8rows:ident, $q4block:ident, $q8block:ident,
        $features:literal, $isum:ident
    ) => {
        /// Q4_1 x Q8_1 for up to four activation rows.
        ///
        /// # Safety
        /// The CPU must support the enabled features.
        #[target_feature(enable = $features)]
        #[inline]
        pub(super) unsafe fn $q4(w: &[BlockQ4_1], xs: &[&[BlockQ8_1]], out: &mut [f32]) {
            let n = xs.len();
            let mut acc = [_mm256_setzero_ps(); MAX_TOKENS];
            let mut summs = [0f32; MAX_TOKENS];
            let mask = _mm256_set1_epi8(0x0F);
            for (b, blk) in w.iter().enumerate() {
                // SAFETY: `qs` is 16 readable bytes; the load is unaligned.
                let q = unsafe { _mm_loadu_si128(blk.qs.as_ptr().cast()) };
                // Low nibbles are values 0..16, high nibbles 16..32.
                let qw = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), mask);
                for t in 0..n {
                    let x = &xs[t][b];
                    summs[t] += blk.m * x.s;
                    let d = _mm256_set1_ps(blk.d * x.d);
                    // SAFETY: `x.qs` is 32 readable bytes; the load is unaligned.
                    let qx = unsafe { _mm256_loadu_si256(x.qs.as_ptr().cast()) };
                    let p = _mm256_cvtepi32_ps($isum(qw, qx));
                    acc[t] = _mm256_fmadd_ps(d, p, acc[t]);
                }
            }
            for t in 0..n {
                out[t] = reduce(acc[t]) + summs[t];
            }
        }

        /// Q8_0 x Q8_0 for up to four activation rows.
        ///
        /// # Safety
        /// The CPU must support the enabled features.
        #[target_feature(enable = $features)]
        #[inline]
        pub(super) unsafe fn $q8(w: &[BlockQ8_0], xs: &[&[BlockQ8_0]], out: &mut [f32]) {
            let n = xs.len();
            let mut acc = [_mm256_setzero_ps(); MAX_TOKENS];
            for (b, blk) in w.iter().enumerate() {
                // SAFETY: `qs` is 32 readable bytes; the load is unaligned.
                let qw = unsafe { _mm256_loadu_si256(blk.qs.as_ptr().cast()) };
                // |w| times x with w's sign: the same products, unsigned on one side.
                let aw = _mm256_sign_epi8(qw, qw);
                for t in 0..n {
                    let x = &xs[t][b];
                    let d = _mm256_set1_ps(blk.d * x.d);
                    // SAFETY: `x.qs` is 32 readable bytes; the load is unaligned.
                    let qx = unsafe { _mm256_loadu_si256(x.qs.as_ptr().cast()) };
                    let p = _mm256_cvtepi32_ps($isum(aw, _mm256_sign_epi8(qx, qw)));
                    acc[t] = _mm256_fmadd_ps(d, p, acc[t]);
                }
            }
            for t in 0..n {
                out[t] = reduce(acc[t]);
            }
        }

        /// Q4_1 x Q8_1, one activation row against consecutive weight rows, row after
        /// row (rows side by side, sharing each activation load, measured slower: the
        /// weights come from memory, and one stream per thread is what it reads best).
        ///
        /// # Safety
        /// The CPU must support the enabled features; `w.len() == out.len() * x.len()`.
        #[target_feature(enable = $features)]
        pub(super) unsafe fn $q4rows(w: &[BlockQ4_1], x: &[BlockQ8_1], out: &mut [f32]) {
            let mask = _mm256_set1_epi8(0x0F);
            for (o, row) in out.iter_mut().zip(w.chunks_exact(x.len())) {
                let mut acc = _mm256_setzero_ps();
                let mut summs = 0f32;
                for (blk, xb) in row.iter().zip(x) {
                    summs += blk.m * xb.s;
                    // SAFETY: `qs` is 16 readable bytes; the load is unaligned.
                    let q = unsafe { _mm_loadu_si128(blk.qs.as_ptr().cast()) };
                    let qw = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), mask);
                    // SAFETY: `qs` is 32 readable bytes; the load is unaligned.
                    let qx = unsafe { _mm256_loadu_si256(xb.qs.as_ptr().cast()) };
                    let d = _mm256_set1_ps(blk.d * xb.d);
                    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps($isum(qw, qx)), acc);
                }
                *o = reduce(acc) + summs;
            }
        }

        /// Q8_0 x Q8_0, one activation row against consecutive weight rows.
        ///
        /// # Safety
        /// As the Q4_1 version.
        #[target_feature(enable = $features)]
        pub(super) unsafe fn $q8rows(w: &[BlockQ8_0], x: &[BlockQ8_0], out: &mut [f32]) {
            for (o, row) in out.iter_mut().zip(w.chunks_exact(x.len())) {
                let mut acc = _mm256_setzero_ps();
                for (blk, xb) in row.iter().zip(x) {
                    // SAFETY: both `qs` are 32 readable bytes; the loads are unaligned.
                    let (qw, qx) = unsafe {
                        (
                            _mm256_loadu_si256(blk.qs.as_ptr().cast()),
                            _mm256_loadu_si256(xb.qs.as_ptr().cast()),
                        )
                    };
                    let aw = _mm256_sign_epi8(qw, qw);
                    let d = _mm256_set1_ps(blk.d * xb.d);
                    let p = _mm256_cvtepi32_ps($isum(aw, _mm256_sign_epi8(qx, qw)));
                    acc = _mm256_fmadd_ps(d, p, acc);
                }
                *o = reduce(acc);
            }
        }

        /// Consecutive weight rows times a few activation rows, written through strides.
        ///
        /// # Safety
        /// The CPU must support the enabled features; `w` holds whole rows of
        /// `xs[0].len()` blocks and `out` covers every strided index.
        #[target_feature(enable = $features)]
        pub(super) unsafe fn $q4block(
            w: &[BlockQ4_1],
            xs: &[&[BlockQ8_1]],
            out: &mut [f32],
            s: Strides,
        ) {
            // SAFETY: the features are enabled here.
            each_row(w, xs[0].len(), xs.len(), out, s, |row, tmp| unsafe {
                $q4(row, xs, tmp)
            });
        }

        /// As the Q4_1 version.
        ///
        /// # Safety
        /// As the Q4_1 version.
        #[target_feature(enable = $features)]
        pub(super) unsafe fn $q8block(
            w: &[BlockQ8_0],
            xs: &[&[BlockQ8_0]],
            out: &mut [f32],
            s: Strides,
        ) {
            // SAFETY: the features are enabled here.
            each_row(w, xs[0].len(), xs.len(), out, s, |row, tmp| unsafe {
                $q8(row, xs, tmp)
            });
        }
    };
}

kernels!(
    q4_1_avx2,
    q8_0_avx2,
    q4_1_rows_avx2,
    q8_0_rows_avx2,
    q4_1_block_avx2,
    q8_0_block_avx2,
    "avx2,fma",
    isum_avx2
);
kernels!(
    q4_1_vnni,
    q8_0_vnni,
    q4_1_rows_vnni,
    q8_0_rows_vnni,
    q4_1_block_vnni,
    q8_0_block_vnni,
    "avx2,fma,avx512f,avx512vl,avx512vnni",
    isum_vnni
);

/// Q4_1 x Q8_1 for consecutive weight rows against up to four pairs of activation rows,
/// two tokens per 512-bit register, written through strides.
///
/// # Safety
/// The CPU must support AVX2, FMA and AVX-512F/VL/VNNI; `pairs` (`1..=4` of them) and
/// `sums` hold `nb` blocks each, `w` whole rows of `nb` blocks, `n <= 2 * pairs.len()`, and
/// `out` covers every strided index.
#[target_feature(enable = "avx2,fma,avx512f,avx512vl,avx512vnni")]
pub(super) unsafe fn q4_1_pairs_block_vnni(
    w: &[BlockQ4_1],
    pairs: &[&[super::PairBlock]],
    sums: &[[f32; MAX_TOKENS]],
    n: usize,
    out: &mut [f32],
    s: Strides,
) {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        match pairs.len() {
            1 => pairs_rows::<1>(w, [pairs[0]], sums, n, out, s),
            2 => pairs_rows::<2>(w, [pairs[0], pairs[1]], sums, n, out, s),
            3 => pairs_rows::<3>(w, [pairs[0], pairs[1], pairs[2]], sums, n, out, s),
            _ => pairs_rows::<4>(w, [pairs[0], pairs[1], pairs[2], pairs[3]], sums, n, out, s),
        }
    }
}

/// # Safety
/// As [`q4_1_pairs_block_vnni`], with exactly `NP` pairs.
#[target_feature(enable = "avx2,fma,avx512f,avx512vl,avx512vnni")]
#[inline]
unsafe fn pairs_rows<const NP: usize>(
    w: &[BlockQ4_1],
    pairs: [&[super::PairBlock]; NP],
    sums: &[[f32; MAX_TOKENS]],
    n: usize,
    out: &mut [f32],
    s: Strides,
) {
    // A missing odd token is computed from a repeated row; `each_row` drops its result.
    // SAFETY: forwarded from the caller's contract.
    each_row(w, sums.len(), n, out, s, |row, all| unsafe {
        pairs_n::<NP>(row, pairs, sums, all)
    });
}

/// # Safety
/// As [`q4_1_pairs_block_vnni`], with exactly `NP` pairs, for one weight row.
#[target_feature(enable = "avx2,fma,avx512f,avx512vl,avx512vnni")]
#[inline]
unsafe fn pairs_n<const NP: usize>(
    w: &[BlockQ4_1],
    pairs: [&[super::PairBlock]; NP],
    sums: &[[f32; MAX_TOKENS]],
    out: &mut [f32; MAX_TOKENS],
) {
    let mut acc = [_mm512_setzero_ps(); NP];
    // Lane `t`: `summs[t] += m * s[t]`, a multiply then an add, as the scalar kernel.
    let mut summs = _mm256_setzero_ps();
    let mask = _mm256_set1_epi8(0x0F);
    for (b, blk) in w.iter().enumerate() {
        // SAFETY: `qs` is 16 readable bytes; the load is unaligned.
        let q = unsafe { _mm_loadu_si128(blk.qs.as_ptr().cast()) };
        let qw = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), mask);
        let qw = _mm512_broadcast_i64x4(qw);
        let dw = _mm512_set1_ps(blk.d);
        for p in 0..NP {
            // SAFETY: the caller guarantees `b < pairs[p].len()`.
            let (xq, dx) = unsafe { load_pair(pairs[p], b) };
            let f = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), qw, xq));
            acc[p] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dx), f, acc[p]);
        }
        // SAFETY: the caller guarantees `b < sums.len()`; an entry is 8 readable f32s.
        let s = unsafe { _mm256_loadu_ps(sums.get_unchecked(b).as_ptr()) };
        summs = _mm256_add_ps(summs, _mm256_mul_ps(_mm256_set1_ps(blk.m), s));
    }
    let sums = token_sums(acc, Some(summs));
    // SAFETY: `out` is 8 writable f32s; the store is unaligned.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), sums) };
}

/// Q8_0 x Q8_0 for consecutive weight rows against up to four pairs of offset activation
/// rows ([`super::pair_blocks_offset`]), two tokens per 512-bit register, written through
/// strides.
///
/// # Safety
/// As [`q4_1_pairs_block_vnni`] (without sums; rows of `pairs[0].len()` blocks).
#[target_feature(enable = "avx2,fma,avx512f,avx512vl,avx512vnni")]
pub(super) unsafe fn q8_0_pairs_block_vnni(
    w: &[BlockQ8_0],
    pairs: &[&[super::PairBlock]],
    n: usize,
    out: &mut [f32],
    s: Strides,
) {
    let nb = pairs[0].len();
    // SAFETY (every arm): forwarded from this function's contract.
    match pairs.len() {
        1 => each_row(w, nb, n, out, s, |r, all| unsafe {
            pairs8_n::<1>(r, [pairs[0]], all)
        }),
        2 => each_row(w, nb, n, out, s, |r, all| unsafe {
            pairs8_n::<2>(r, [pairs[0], pairs[1]], all)
        }),
        3 => each_row(w, nb, n, out, s, |r, all| unsafe {
            pairs8_n::<3>(r, [pairs[0], pairs[1], pairs[2]], all)
        }),
        _ => each_row(w, nb, n, out, s, |r, all| unsafe {
            pairs8_n::<4>(r, [pairs[0], pairs[1], pairs[2], pairs[3]], all)
        }),
    }
}

/// # Safety
/// As [`q8_0_pairs_block_vnni`], with exactly `NP` pairs, for one weight row.
#[target_feature(enable = "avx2,fma,avx512f,avx512vl,avx512vnni")]
#[inline]
unsafe fn pairs8_n<const NP: usize>(
    w: &[BlockQ8_0],
    pairs: [&[super::PairBlock]; NP],
    out: &mut [f32; MAX_TOKENS],
) {
    let mut acc = [_mm512_setzero_ps(); NP];
    let offset = _mm512_set1_epi8(i8::MIN);
    for (b, blk) in w.iter().enumerate() {
        // SAFETY: `qs` is 32 readable bytes; the load is unaligned.
        let qw = _mm512_broadcast_i64x4(unsafe { _mm256_loadu_si256(blk.qs.as_ptr().cast()) });
        // Minus 128 times each lane's four weights: what the offset activations add, taken
        // off by starting each sum there (the integer results are exact).
        let start = _mm512_sub_epi32(
            _mm512_setzero_si512(),
            _mm512_dpbusd_epi32(_mm512_setzero_si512(), offset, qw),
        );
        let dw = _mm512_set1_ps(blk.d);
        for p in 0..NP {
            // SAFETY: the caller guarantees `b < pairs[p].len()`.
            let (xq, dx) = unsafe { load_pair(pairs[p], b) };
            let f = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(start, xq, qw));
            acc[p] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dx), f, acc[p]);
        }
    }
    let sums = token_sums(acc, None);
    // SAFETY: `out` is 8 writable f32s; the store is unaligned.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), sums) };
}

/// The token sums of `NP` pair registers (token 2p in lanes 0..8 of `acc[p]`, token 2p + 1
/// in lanes 8..16), each its eight lanes summed in `hsum_float_8`'s order (lanes i + 4 onto
/// i, then i + 2, then i + 1), plus `add` if given: lane `t` is token `t` (lanes past
/// `2 * NP` mean nothing). The sums of all tokens come out of one tree of shuffles and adds
/// instead of eight horizontal ones.
#[target_feature(enable = "avx512f")]
#[inline]
fn token_sums<const NP: usize>(acc: [__m512; NP], add: Option<__m256>) -> __m256 {
    let a = |p: usize| if p < NP { acc[p] } else { _mm512_setzero_ps() };
    // Lanes i + 4 onto i: 128-bit lane k holds token k (of the first two registers) or
    // token 4 + k (of the last two).
    let fold = |x: __m512, y: __m512| {
        _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x88>(x, y),
            _mm512_shuffle_f32x4::<0xDD>(x, y),
        )
    };
    let (low, high) = (fold(a(0), a(1)), fold(a(2), a(3)));
    // Then i + 2: lane k holds [token k: 2 sums, token 4 + k: 2 sums].
    let p = _mm512_add_ps(
        _mm512_shuffle_ps::<0x44>(low, high),
        _mm512_shuffle_ps::<0xEE>(low, high),
    );
    // Then i + 1: lane k holds [token k, token 4 + k] twice.
    let q = _mm512_add_ps(
        _mm512_shuffle_ps::<0x88>(p, p),
        _mm512_shuffle_ps::<0xDD>(p, p),
    );
    let order = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 13, 9, 5, 1, 12, 8, 4, 0);
    let sums = _mm512_castps512_ps256(_mm512_permutexvar_ps(order, q));
    match add {
        Some(v) => _mm256_add_ps(sums, v),
        None => sums,
    }
}

/// The values and scales of block `b` of a pair row.
///
/// # Safety
/// `b < pairs.len()`.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn load_pair(pairs: &[super::PairBlock], b: usize) -> (__m512i, __m512) {
    // SAFETY: `b` is in bounds (the caller's contract); blocks are 64-aligned, `qs` is 64
    // bytes and `d` 16 floats.
    unsafe {
        let pb = pairs.get_unchecked(b);
        (
            _mm512_load_si512(pb.qs.as_ptr().cast()),
            _mm512_load_ps(pb.d.as_ptr()),
        )
    }
}

/// One block of activations quantised as ggml's AVX2 `quantize_row_q8_*` does: the largest
/// magnitude, `q = round_half_even(x * 127 / max)` packed to bytes in order. Returns the
/// scale `max / 127` and the exact sum of the values; the same numbers as
/// [`super::super::quant`]'s scalar definition.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `x` must hold 32 values.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn quantize_block_avx2(x: &[f32], qs: &mut [i8; 32]) -> (f32, i32) {
    // SAFETY: `x` holds 32 floats (the caller's contract); the loads are unaligned.
    let v: [__m256; 4] = std::array::from_fn(|i| unsafe { _mm256_loadu_ps(x.as_ptr().add(8 * i)) });
    let sign = _mm256_set1_ps(-0.0);
    let a = _mm256_max_ps(
        _mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
        _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])),
    );
    let m = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps::<1>(a));
    let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    let amax = _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
    let id = _mm256_set1_ps(if amax != 0.0 { 127.0 / amax } else { 0.0 });
    let q: [__m256i; 4] = std::array::from_fn(|i| {
        let r = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm256_mul_ps(v[i], id),
        );
        _mm256_cvttps_epi32(r)
    });
    let sum = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    let s = _mm_add_epi32(
        _mm256_castsi256_si128(sum),
        _mm256_extracti128_si256::<1>(sum),
    );
    let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<1>(s));
    let packed = _mm256_packs_epi16(
        _mm256_packs_epi32(q[0], q[1]),
        _mm256_packs_epi32(q[2], q[3]),
    );
    let ordered = _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    // SAFETY: `qs` is 32 writable bytes; the store is unaligned.
    unsafe { _mm256_storeu_si256(qs.as_mut_ptr().cast(), ordered) };
    (amax / 127.0, _mm_cvtsi128_si32(s))
}

/// A row of activations as Q8_1 blocks (length a multiple of 32).
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn quantize_q8_1_avx2(x: &[f32], out: &mut Vec<BlockQ8_1>) {
    out.clear();
    out.extend(x.chunks_exact(32).map(|c| {
        let mut qs = [0i8; 32];
        // SAFETY: the features are enabled here; `c` holds 32 values.
        let (d, sum) = unsafe { quantize_block_avx2(c, &mut qs) };
        BlockQ8_1 {
            d: half::f16::from_f32(d).to_f32(),
            s: half::f16::from_f32(d * sum as f32).to_f32(),
            qs,
        }
    }));
}

/// A row of activations as Q8_0 blocks (length a multiple of 32).
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn quantize_q8_0_avx2(x: &[f32], out: &mut Vec<BlockQ8_0>) {
    out.clear();
    out.extend(x.chunks_exact(32).map(|c| {
        let mut qs = [0i8; 32];
        // SAFETY: the features are enabled here; `c` holds 32 values.
        let (d, _) = unsafe { quantize_block_avx2(c, &mut qs) };
        BlockQ8_0 {
            d: half::f16::from_f32(d).to_f32(),
            qs,
        }
    }));
}
