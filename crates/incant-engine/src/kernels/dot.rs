//! Block dot products with the CPU's integer vector instructions, chosen at run time.
//!
//! [`super::quant`] defines the numbers (ggml's lane order: eight float lanes, lane `l` of a
//! block holding the exact integer sum of products `4l..4l+4`, scaled and accumulated with
//! a fused multiply-add). This module computes the same numbers faster:
//!
//! - AVX-512 VNNI: `vpdpbusd` (AVX-512 VNNI on 256-bit registers) does the four
//!   products and their sum per lane in one instruction;
//! - AVX2: `vpmaddubsw` + `vpmaddwd`, as ggml's AVX2 kernels;
//! - [`Isa::portable()`]: the scalar reference in [`super::quant`].
//!
//! The integer sums are exact on every path and the float operations are the same ones in
//! the same order, so all paths give identical bits (the tests check it on random data).
//! Each kernel takes one weight row and up to [`MAX_TOKENS`] activation rows, so a weight
//! block is unpacked once for several tokens during prefill.

// The vector paths need `unsafe` to load blocks through raw pointers and to call functions
// compiled for instruction sets that [`Isa::detected`] has verified; every block says why.
#![allow(unsafe_code)]

use super::quant::{self, BlockQ4_1, BlockQ8_0, BlockQ8_1};

/// Activation rows one kernel call handles at most (a weight block is unpacked once for
/// all of them: eight covers a server's batch of eight sequences in one pass).
pub const MAX_TOKENS: usize = 8;

/// An instruction-set path. Only paths the running CPU supports can be obtained, which is
/// what makes calling the vector kernels sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Isa(Path);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512Vnni,
}

impl Isa {
    /// The plain-Rust path (every CPU).
    pub const fn portable() -> Isa {
        Isa(Path::Portable)
    }

    /// The fastest path this CPU supports.
    pub fn detected() -> Isa {
        *Self::supported()
            .last()
            .expect("portable is always supported")
    }

    /// Every path this CPU supports, slowest first (tests run them all).
    pub fn supported() -> Vec<Isa> {
        #[allow(unused_mut)]
        let mut v = vec![Isa(Path::Portable)];
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx2") && has!("fma") {
                v.push(Isa(Path::Avx2));
                if has!("avx512vnni") && has!("avx512vl") && has!("avx512f") {
                    v.push(Isa(Path::Avx512Vnni));
                }
            }
        }
        v
    }

    /// Whether [`q4_1_q8_1_paired`] reads its pairs on this path (worth building them).
    pub fn reads_pairs(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        if self.0 == Path::Avx512Vnni {
            return true;
        }
        false
    }

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self.0 {
            Path::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => "avx2",
            #[cfg(target_arch = "x86_64")]
            Path::Avx512Vnni => "avx512vnni",
        }
    }
}

/// `out[t] = w · xs[t]` (Q4_1 weights, Q8_1 activations) for every `t < xs.len() <= 8`.
#[inline]
pub fn q4_1_q8_1(isa: Isa, w: &[BlockQ4_1], xs: &[&[BlockQ8_1]], out: &mut [f32]) {
    assert!(xs.len() <= MAX_TOKENS && out.len() >= xs.len());
    assert!(xs.iter().all(|x| x.len() == w.len()), "block counts differ");
    match isa.0 {
        Path::Portable => {
            for (o, x) in out.iter_mut().zip(xs) {
                *o = quant::dot_q4_1_q8_1(w, x);
            }
        }
        // SAFETY: an `Isa` with this path exists only when `supported` found AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => unsafe { x86::q4_1_avx2(w, xs, out) },
        // SAFETY: this path exists only when `supported` found AVX2, FMA, AVX-512F/VL/VNNI.
        #[cfg(target_arch = "x86_64")]
        Path::Avx512Vnni => unsafe { x86::q4_1_vnni(w, xs, out) },
    }
}

/// `out[t] = w · xs[t]` (Q8_0 weights and activations) for every `t < xs.len() <= 8`.
#[inline]
pub fn q8_0_q8_0(isa: Isa, w: &[BlockQ8_0], xs: &[&[BlockQ8_0]], out: &mut [f32]) {
    assert!(xs.len() <= MAX_TOKENS && out.len() >= xs.len());
    assert!(xs.iter().all(|x| x.len() == w.len()), "block counts differ");
    match isa.0 {
        Path::Portable => {
            for (o, x) in out.iter_mut().zip(xs) {
                *o = quant::dot_q8_0_q8_0(w, x);
            }
        }
        // SAFETY: an `Isa` with this path exists only when `supported` found AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => unsafe { x86::q8_0_avx2(w, xs, out) },
        // SAFETY: this path exists only when `supported` found AVX2, FMA, AVX-512F/VL/VNNI.
        #[cfg(target_arch = "x86_64")]
        Path::Avx512Vnni => unsafe { x86::q8_0_vnni(w, xs, out) },
    }
}

/// One block of two activation rows side by side, for the 512-bit kernel: the quantised
/// values of row `2p` then of row `2p + 1`, and their scales repeated over eight lanes each,
/// so one register holds both tokens' lanes.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
pub struct PairBlock {
    /// Quantised values of the two rows.
    pub qs: [i8; 64],
    /// `d` of the first row eight times, then of the second.
    pub d: [f32; 16],
}

/// Pairs up `m` rows of `nb` Q8_1 blocks (`[row][block]`) as `[pair][block]`; an odd last
/// row is paired with itself.
pub fn pair_blocks(rows: &[BlockQ8_1], nb: usize, m: usize) -> Vec<PairBlock> {
    let mut out = Vec::with_capacity(m.div_ceil(2) * nb);
    for p in 0..m.div_ceil(2) {
        let (a, b) = (2 * p, (2 * p + 1).min(m - 1));
        for blk in 0..nb {
            let (x, y) = (&rows[a * nb + blk], &rows[b * nb + blk]);
            let mut qs = [0i8; 64];
            qs[..32].copy_from_slice(&x.qs);
            qs[32..].copy_from_slice(&y.qs);
            let mut d = [x.d; 16];
            d[8..].fill(y.d);
            out.push(PairBlock { qs, d });
        }
    }
    out
}

/// The `s` of up to eight rows side by side, block by block (`[group][block][row]`, rows
/// `8g..8g + 8`; missing rows repeat the last), so the minimum's term of all of them is one
/// vector multiply and add per block.
pub fn group_sums(rows: &[BlockQ8_1], nb: usize, m: usize) -> Vec<[f32; MAX_TOKENS]> {
    let mut out = Vec::with_capacity(m.div_ceil(MAX_TOKENS) * nb);
    for g in 0..m.div_ceil(MAX_TOKENS) {
        for blk in 0..nb {
            out.push(std::array::from_fn(|t| {
                rows[(g * MAX_TOKENS + t).min(m - 1) * nb + blk].s
            }));
        }
    }
    out
}

/// As [`q4_1_q8_1`], with the activation rows also given as pairs (`pairs[i]` holds rows
/// `2i` and `2i + 1` of `xs`) and their sums side by side (`sums[b]` the `s` of every row
/// of `xs` in block `b`), which the AVX-512 path reads; the other paths ignore them. Same
/// bits on every path.
#[inline]
pub fn q4_1_q8_1_paired(
    isa: Isa,
    w: &[BlockQ4_1],
    pairs: &[&[PairBlock]],
    sums: &[[f32; MAX_TOKENS]],
    xs: &[&[BlockQ8_1]],
    out: &mut [f32],
) {
    match isa.0 {
        #[cfg(target_arch = "x86_64")]
        Path::Avx512Vnni => {
            assert!(xs.len() <= MAX_TOKENS && out.len() >= xs.len());
            assert!(pairs.len() == xs.len().div_ceil(2), "pair count");
            assert!(sums.len() == w.len(), "block counts differ");
            assert!(
                pairs.iter().all(|p| p.len() == w.len()),
                "block counts differ"
            );
            // SAFETY: this path exists only when `supported` found AVX2, FMA, AVX-512F/VL/VNNI.
            unsafe { x86::q4_1_pairs_vnni(w, pairs, sums, out) }
        }
        _ => q4_1_q8_1(isa, w, xs, out),
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::super::quant::{hsum8, BlockQ4_1, BlockQ8_0, BlockQ8_1};
    use super::MAX_TOKENS;
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

    macro_rules! kernels {
        ($q4:ident, $q8:ident, $features:literal, $isum:ident) => {
            /// Q4_1 x Q8_1 for up to four activation rows.
            ///
            /// # Safety
            /// The CPU must support the enabled features.
            #[target_feature(enable = $features)]
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
        };
    }

    kernels!(q4_1_avx2, q8_0_avx2, "avx2,fma", isum_avx2);
    kernels!(
        q4_1_vnni,
        q8_0_vnni,
        "avx2,fma,avx512f,avx512vl,avx512vnni",
        isum_vnni
    );

    /// Q4_1 x Q8_1 for up to four pairs of activation rows, two tokens per 512-bit register.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and AVX-512F/VL/VNNI; `pairs` must hold `w.len()`
    /// blocks each and `sums` `w.len()` entries, `1 <= pairs.len() <= 4`, and `out` at
    /// least `2 * pairs.len() - 1` values.
    #[target_feature(enable = "avx2,fma,avx512f,avx512vl,avx512vnni")]
    pub(super) unsafe fn q4_1_pairs_vnni(
        w: &[BlockQ4_1],
        pairs: &[&[super::PairBlock]],
        sums: &[[f32; MAX_TOKENS]],
        out: &mut [f32],
    ) {
        let mut all = [0f32; MAX_TOKENS];
        // SAFETY: forwarded from this function's contract.
        unsafe {
            match pairs.len() {
                1 => pairs_n::<1>(w, [pairs[0]], sums, &mut all),
                2 => pairs_n::<2>(w, [pairs[0], pairs[1]], sums, &mut all),
                3 => pairs_n::<3>(w, [pairs[0], pairs[1], pairs[2]], sums, &mut all),
                _ => pairs_n::<4>(w, [pairs[0], pairs[1], pairs[2], pairs[3]], sums, &mut all),
            }
        }
        // A missing odd token was computed from a repeated row; its result is dropped.
        let n = out.len().min(2 * pairs.len());
        out[..n].copy_from_slice(&all[..n]);
    }

    /// # Safety
    /// As [`q4_1_pairs_vnni`], with exactly `NP` pairs.
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
                // SAFETY: the caller guarantees `b < pairs[p].len()`; blocks are 64-aligned,
                // `qs` is 64 bytes and `d` 16 floats.
                let (xq, dx) = unsafe {
                    let pb = pairs[p].get_unchecked(b);
                    (
                        _mm512_load_si512(pb.qs.as_ptr().cast()),
                        _mm512_load_ps(pb.d.as_ptr()),
                    )
                };
                let f = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), qw, xq));
                acc[p] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dx), f, acc[p]);
            }
            // SAFETY: the caller guarantees `b < sums.len()`; an entry is 8 readable f32s.
            let s = unsafe { _mm256_loadu_ps(sums.get_unchecked(b).as_ptr()) };
            summs = _mm256_add_ps(summs, _mm256_mul_ps(_mm256_set1_ps(blk.m), s));
        }
        let mut sm = [0f32; MAX_TOKENS];
        // SAFETY: `sm` is 8 writable f32s; the store is unaligned.
        unsafe { _mm256_storeu_ps(sm.as_mut_ptr(), summs) };
        for t in 0..2 * NP {
            let mut lanes = [0f32; 16];
            // SAFETY: `lanes` is 16 writable f32s; the store is unaligned.
            unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), acc[t / 2]) };
            let half: &[f32; 8] = lanes[(t % 2) * 8..][..8].try_into().expect("8 lanes");
            out[t] = hsum8(half) + sm[t];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::quant::QK;

    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (self.0 >> 33) as u32
        }
        fn f(&mut self) -> f32 {
            self.next() as f32 / (1u64 << 31) as f32 * 2.0 - 1.0
        }
        fn f16(&mut self, scale: f32) -> f32 {
            half::f16::from_f32(self.f() * scale).to_f32()
        }
        fn i8(&mut self) -> i8 {
            ((self.next() % 255) as i32 - 127) as i8
        }
    }

    fn q4_1_row(r: &mut Lcg, nb: usize) -> Vec<BlockQ4_1> {
        (0..nb)
            .map(|_| BlockQ4_1 {
                d: r.f16(0.05),
                m: r.f16(0.5),
                qs: std::array::from_fn(|_| r.next() as u8),
            })
            .collect()
    }

    fn q8_0_row(r: &mut Lcg, nb: usize) -> Vec<BlockQ8_0> {
        (0..nb)
            .map(|_| BlockQ8_0 {
                d: r.f16(0.02),
                qs: std::array::from_fn(|_| r.i8()),
            })
            .collect()
    }

    fn q8_1_row(r: &mut Lcg, nb: usize) -> Vec<BlockQ8_1> {
        q8_0_row(r, nb)
            .into_iter()
            .map(|b| {
                let sum: i32 = b.qs.iter().map(|&q| i32::from(q)).sum();
                BlockQ8_1 {
                    d: b.d,
                    s: half::f16::from_f32(b.d * sum as f32).to_f32(),
                    qs: b.qs,
                }
            })
            .collect()
    }

    /// The dot product written out from the block definitions, in f64: what every path
    /// must approximate (the paths differ from it only by f32 rounding).
    fn naive_q4_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f64 {
        let mut total = 0f64;
        for (w, x) in w.iter().zip(x) {
            for e in 0..QK {
                let q = if e < 16 {
                    w.qs[e] & 15
                } else {
                    w.qs[e - 16] >> 4
                };
                let wv = f64::from(w.d) * f64::from(q) + f64::from(w.m);
                total += wv * f64::from(x.d) * f64::from(x.qs[e]);
            }
        }
        total
    }

    fn naive_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f64 {
        let mut total = 0f64;
        for (w, x) in w.iter().zip(x) {
            for e in 0..QK {
                total += f64::from(w.d * x.d) * f64::from(w.qs[e]) * f64::from(x.qs[e]);
            }
        }
        total
    }

    #[test]
    fn every_path_gives_the_same_bits_and_the_naive_value() {
        let isas = Isa::supported();
        eprintln!(
            "paths: {:?}",
            isas.iter().map(|i| i.name()).collect::<Vec<_>>()
        );
        let mut r = Lcg(42);
        for nb in [1usize, 2, 7, 18, 48] {
            for n in 1..=MAX_TOKENS {
                let w4 = q4_1_row(&mut r, nb);
                let x1: Vec<_> = (0..n).map(|_| q8_1_row(&mut r, nb)).collect();
                let refs: Vec<&[BlockQ8_1]> = x1.iter().map(Vec::as_slice).collect();
                let w8 = q8_0_row(&mut r, nb);
                let x0: Vec<_> = (0..n).map(|_| q8_0_row(&mut r, nb)).collect();
                let refs0: Vec<&[BlockQ8_0]> = x0.iter().map(Vec::as_slice).collect();
                let (mut want4, mut want8) = ([0f32; MAX_TOKENS], [0f32; MAX_TOKENS]);
                q4_1_q8_1(Isa::portable(), &w4, &refs, &mut want4);
                q8_0_q8_0(Isa::portable(), &w8, &refs0, &mut want8);
                for t in 0..n {
                    let naive = naive_q4_1(&w4, &x1[t]);
                    let tol = 1e-4 * (nb as f64) * 40.0;
                    assert!((f64::from(want4[t]) - naive).abs() < tol, "q4_1 {nb}");
                    let naive = naive_q8_0(&w8, &x0[t]);
                    assert!((f64::from(want8[t]) - naive).abs() < 1e-3, "q8_0 {nb}");
                }
                for &isa in &isas {
                    let (mut got4, mut got8) = ([0f32; MAX_TOKENS], [0f32; MAX_TOKENS]);
                    q4_1_q8_1(isa, &w4, &refs, &mut got4);
                    q8_0_q8_0(isa, &w8, &refs0, &mut got8);
                    for t in 0..n {
                        assert_eq!(got4[t].to_bits(), want4[t].to_bits(), "{} q4_1", isa.name());
                        assert_eq!(got8[t].to_bits(), want8[t].to_bits(), "{} q8_0", isa.name());
                    }
                }
            }
        }
    }

    #[test]
    fn paired_kernel_gives_the_same_bits() {
        let mut r = Lcg(7);
        for nb in [1usize, 3, 18, 48] {
            for n in 1..=MAX_TOKENS {
                let w = q4_1_row(&mut r, nb);
                let flat: Vec<BlockQ8_1> = (0..n).flat_map(|_| q8_1_row(&mut r, nb)).collect();
                let paired = pair_blocks(&flat, nb, n);
                let sums = group_sums(&flat, nb, n);
                let xs: Vec<&[BlockQ8_1]> = flat.chunks(nb).collect();
                let ps: Vec<&[PairBlock]> = paired.chunks(nb).collect();
                let mut want = [0f32; MAX_TOKENS];
                q4_1_q8_1(Isa::portable(), &w, &xs, &mut want);
                for isa in Isa::supported() {
                    let mut got = [0f32; MAX_TOKENS];
                    q4_1_q8_1_paired(isa, &w, &ps, &sums, &xs, &mut got[..n]);
                    for t in 0..n {
                        assert_eq!(got[t].to_bits(), want[t].to_bits(), "{} n={n}", isa.name());
                    }
                }
            }
        }
    }

    #[test]
    fn extreme_values_do_not_saturate() {
        // All-15 nibbles against +-127 and -128 activations; +-127 weights against +-127.
        let w4 = vec![
            BlockQ4_1 {
                d: 1.0,
                m: 0.0,
                qs: [0xFF; 16]
            };
            3
        ];
        let w8 = vec![
            BlockQ8_0 {
                d: 1.0,
                qs: [-127; 32]
            };
            3
        ];
        for v in [127i8, -127, -128] {
            let x1 = vec![
                BlockQ8_1 {
                    d: 1.0,
                    s: 0.0,
                    qs: [v; 32]
                };
                3
            ];
            let x0 = vec![
                BlockQ8_0 {
                    d: 1.0,
                    qs: [v.max(-127); 32]
                };
                3
            ];
            for isa in Isa::supported() {
                let mut o = [0f32; 1];
                q4_1_q8_1(isa, &w4, &[&x1], &mut o);
                assert_eq!(o[0], 15.0 * f32::from(v) * 96.0, "{}", isa.name());
                q8_0_q8_0(isa, &w8, &[&x0], &mut o);
                assert_eq!(
                    o[0],
                    -127.0 * f32::from(v.max(-127)) * 96.0,
                    "{}",
                    isa.name()
                );
            }
        }
    }
}
