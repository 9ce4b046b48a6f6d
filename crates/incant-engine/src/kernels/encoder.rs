//! Element-wise and attention kernels of the BERT encoder ([`crate::bert`]).
//!
//! After the matrix products ([`super::gemm`]), a small encoder spends its time in erf GELU
//! (one `exp` per element of the 4x wide feed-forward activations) and in attention over
//! short texts (head size 32, a few dozen tokens). Written as plain scalar Rust, both stay
//! scalar: the compiler neither vectorises [`expf`]'s range checks nor reorders the dot
//! products' sums. Here each has an AVX-512 path, chosen at run time, and a portable one
//! (compiled for AVX2/FMA through [`super::simd::run`] where the CPU has them):
//!
//! - [`gelu`]: the AVX-512 path evaluates the same operations as [`gelu_scalar`] in the
//!   same order, lane by lane, so both paths give the same bits.
//! - [`attend`]: softmax attention of one text over its own tokens, every head. Scores are
//!   computed sixteen keys at a time from a transposed copy of the keys (on AVX-512 in
//!   register tiles of eight queries), `exp` is [`expf`] vectorised (bit for bit), and the
//!   weighted sum of values runs over the head dimension (tiles of four queries). Both
//!   paths sum in the same order except the softmax's denominator.

// The AVX-512 paths call functions compiled for AVX-512F and load through raw pointers
// into slices whose bounds are checked first; each unsafe block says why it holds.
#![allow(unsafe_code)]

use super::expf::expf;
#[cfg(target_arch = "x86_64")]
use super::expf::expf_avx512;

/// Which implementation runs: the caller's CPU decides, tests force each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// AVX-512F intrinsics.
    Avx512,
    /// Plain Rust (vectorised for AVX2/FMA where the CPU has them).
    Portable,
}

impl Path {
    /// The fastest path this CPU supports.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Path::Avx512;
        }
        Path::Portable
    }
}

/// `x · Φ(x)` with erf from Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7).
#[inline(always)]
pub fn gelu_scalar(x: f32) -> f32 {
    let z = (x * std::f32::consts::FRAC_1_SQRT_2).abs();
    let t = 1.0 / ERF_P.mul_add(z, 1.0);
    let poly = t * ERF_A[4]
        .mul_add(t, ERF_A[3])
        .mul_add(t, ERF_A[2])
        .mul_add(t, ERF_A[1])
        .mul_add(t, ERF_A[0]);
    let erf_abs = 1.0 - poly * expf(-z * z);
    let erf = erf_abs.copysign(x);
    0.5 * x * (1.0 + erf)
}

const ERF_P: f32 = 0.327_591_1;
const ERF_A: [f32; 5] = [
    0.254_829_6,
    -0.284_496_74,
    1.421_413_7,
    -1.453_152_1,
    1.061_405_4,
];

/// GELU of every element, in place.
pub fn gelu(x: &mut [f32], path: Path) {
    match path {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Path::Avx512` is only chosen when the CPU has AVX-512F.
        Path::Avx512 => unsafe { gelu_avx512(x) },
        _ => super::simd::run(|| x.iter_mut().for_each(|v| *v = gelu_scalar(*v))),
    }
}

/// Softmax attention of one text over its own tokens, all heads.
///
/// `qkv` holds the text's `len` rows of `[query | key | value]` (`3 * d` each, heads
/// side by side inside each part), `out` its `len` context rows (`d` each). `scratch` is
/// reused between calls.
pub fn attend(
    qkv: &[f32],
    d: usize,
    heads: usize,
    out: &mut [f32],
    scratch: &mut Vec<f32>,
    path: Path,
) {
    let len = qkv.len() / (3 * d);
    assert_eq!(qkv.len(), len * 3 * d, "attend: qkv size");
    assert_eq!(out.len(), len * d, "attend: output size");
    assert!(heads > 0 && d.is_multiple_of(heads), "attend: head size");
    match path {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Path::Avx512` is only chosen when the CPU has AVX-512F.
        Path::Avx512 => unsafe { attend_avx512(qkv, d, heads, out, scratch) },
        _ => super::simd::run(|| attend_body(qkv, d, heads, out, scratch, exp_shifted_scalar)),
    }
}

/// `s[j] = e^(s[j] - max)` for every `j`; returns their sum.
fn exp_shifted_scalar(s: &mut [f32], max: f32) -> f32 {
    let mut sum = 0f32;
    for v in s.iter_mut() {
        *v = expf(*v - max);
        sum += *v;
    }
    sum
}

/// The attention loops, shaped so the compiler vectorises them for whatever features the
/// caller was compiled with; `exp_shifted` is the one part written per path.
#[inline(always)]
fn attend_body(
    qkv: &[f32],
    d: usize,
    heads: usize,
    out: &mut [f32],
    scratch: &mut Vec<f32>,
    exp_shifted: impl Fn(&mut [f32], f32) -> f32,
) {
    let len = qkv.len() / (3 * d);
    let hd = d / heads;
    let scale = 1.0 / (hd as f32).sqrt();
    scratch.clear();
    scratch.resize(hd * len + len, 0.0);
    let (kt, p) = scratch.split_at_mut(hd * len);
    for head in 0..heads {
        // Keys of this head transposed, `[hd][len]`: scores then run over keys in lanes.
        for (j, row) in qkv.chunks_exact(3 * d).enumerate() {
            for (c, k) in row[d + head * hd..][..hd].iter().enumerate() {
                kt[c * len + j] = *k;
            }
        }
        for i in 0..len {
            let q = &qkv[i * 3 * d + head * hd..][..hd];
            p.fill(0.0);
            for (c, &qc) in q.iter().enumerate() {
                let k = &kt[c * len..][..len];
                for (s, k) in p.iter_mut().zip(k) {
                    *s = qc.mul_add(*k, *s);
                }
            }
            let mut max = f32::NEG_INFINITY;
            for s in p.iter_mut() {
                *s *= scale;
                max = max.max(*s);
            }
            let inv = 1.0 / exp_shifted(p, max);
            let dst = &mut out[i * d + head * hd..][..hd];
            dst.fill(0.0);
            for (j, &w) in p.iter().enumerate() {
                let v = &qkv[j * 3 * d + 2 * d + head * hd..][..hd];
                let w = w * inv;
                for (o, v) in dst.iter_mut().zip(v) {
                    *o = w.mul_add(*v, *o);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn gelu_avx512(x: &mut [f32]) {
    use std::arch::x86_64::*;
    let (sign, one, half) = (
        _mm512_set1_epi32(i32::MIN),
        _mm512_set1_ps(1.0),
        _mm512_set1_ps(0.5),
    );
    let mut chunks = x.chunks_exact_mut(16);
    for c in &mut chunks {
        // SAFETY: `c` holds exactly 16 floats.
        let v = unsafe { _mm512_loadu_ps(c.as_ptr()) };
        let z = _mm512_abs_ps(_mm512_mul_ps(
            v,
            _mm512_set1_ps(std::f32::consts::FRAC_1_SQRT_2),
        ));
        let t = _mm512_div_ps(one, _mm512_fmadd_ps(_mm512_set1_ps(ERF_P), z, one));
        let mut poly = _mm512_fmadd_ps(_mm512_set1_ps(ERF_A[4]), t, _mm512_set1_ps(ERF_A[3]));
        poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(ERF_A[2]));
        poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(ERF_A[1]));
        poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(ERF_A[0]));
        poly = _mm512_mul_ps(t, poly);
        // Below e^-87 the product with `poly` vanishes against 1 whatever its exact value,
        // so clamping there changes no result and keeps `exp` in its one-step range.
        let neg_z2 = _mm512_max_ps(
            _mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), z), z),
            _mm512_set1_ps(-87.0),
        );
        let erf_abs = _mm512_sub_ps(one, _mm512_mul_ps(poly, expf_avx512::<false>(neg_z2)));
        // copysign(erf_abs, v): erf_abs >= 0, so OR in v's sign bit.
        let erf = _mm512_castsi512_ps(_mm512_or_si512(
            _mm512_castps_si512(erf_abs),
            _mm512_and_si512(_mm512_castps_si512(v), sign),
        ));
        let r = _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, erf));
        // SAFETY: as the load.
        unsafe { _mm512_storeu_ps(c.as_mut_ptr(), r) };
    }
    for v in chunks.into_remainder() {
        *v = gelu_scalar(*v);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn exp_shifted_avx512(s: &mut [f32], max: f32) -> f32 {
    use std::arch::x86_64::*;
    let m = _mm512_set1_ps(max);
    let mut sum = _mm512_setzero_ps();
    for c in s.chunks_mut(16) {
        let mask: __mmask16 = ((1u32 << c.len()) - 1) as u16;
        // SAFETY: the mask covers exactly the `c.len() <= 16` floats of `c`.
        let v = unsafe { _mm512_maskz_loadu_ps(mask, c.as_ptr()) };
        let e = _mm512_maskz_mov_ps(mask, expf_avx512::<true>(_mm512_sub_ps(v, m)));
        sum = _mm512_add_ps(sum, e);
        // SAFETY: as the load.
        unsafe { _mm512_mask_storeu_ps(c.as_mut_ptr(), mask, e) };
    }
    _mm512_reduce_add_ps(sum)
}

/// Attention with the head's keys transposed into vectors of sixteen and register tiles
/// for both products: scores for up to eight queries by sixteen keys, and outputs for up
/// to four queries by sixteen head dimensions. Head sizes that are not a multiple of
/// sixteen take the compiler-vectorised loops.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn attend_avx512(qkv: &[f32], d: usize, heads: usize, out: &mut [f32], scratch: &mut Vec<f32>) {
    let hd = d / heads;
    if !hd.is_multiple_of(16) {
        return attend_body(qkv, d, heads, out, scratch, |s, max| {
            exp_shifted_avx512(s, max)
        });
    }
    let len = qkv.len() / (3 * d);
    let lp = len.next_multiple_of(16);
    let scale = 1.0 / (hd as f32).sqrt();
    scratch.clear();
    scratch.resize(hd * lp + len * lp, 0.0);
    let (kt, s) = scratch.split_at_mut(hd * lp);
    for head in 0..heads {
        // `kt`: `[hd][lp]`, zero past `len`.
        for (j, row) in qkv.chunks_exact(3 * d).enumerate() {
            for (c, k) in row[d + head * hd..][..hd].iter().enumerate() {
                kt[c * lp + j] = *k;
            }
        }
        let mut i0 = 0;
        while i0 < len {
            let rows = (len - i0).min(8);
            let q = &qkv[i0 * 3 * d + head * hd..];
            let dst = &mut s[i0 * lp..(i0 + rows) * lp];
            match rows {
                8 => scores_avx512::<8>(q, 3 * d, hd, kt, lp, dst),
                7 => scores_avx512::<7>(q, 3 * d, hd, kt, lp, dst),
                6 => scores_avx512::<6>(q, 3 * d, hd, kt, lp, dst),
                5 => scores_avx512::<5>(q, 3 * d, hd, kt, lp, dst),
                4 => scores_avx512::<4>(q, 3 * d, hd, kt, lp, dst),
                3 => scores_avx512::<3>(q, 3 * d, hd, kt, lp, dst),
                2 => scores_avx512::<2>(q, 3 * d, hd, kt, lp, dst),
                _ => scores_avx512::<1>(q, 3 * d, hd, kt, lp, dst),
            }
            i0 += rows;
        }
        for row in s.chunks_exact_mut(lp) {
            let p = &mut row[..len];
            let mut max = f32::NEG_INFINITY;
            for v in p.iter_mut() {
                *v *= scale;
                max = max.max(*v);
            }
            let inv = 1.0 / exp_shifted_avx512(p, max);
            p.iter_mut().for_each(|v| *v *= inv);
        }
        let v = &qkv[2 * d + head * hd..];
        let mut i0 = 0;
        while i0 < len {
            let rows = (len - i0).min(4);
            let w = &s[i0 * lp..(i0 + rows) * lp];
            let o = &mut out[i0 * d + head * hd..];
            match rows {
                4 => weighted_values_avx512::<4>(w, lp, len, v, 3 * d, hd, o, d),
                3 => weighted_values_avx512::<3>(w, lp, len, v, 3 * d, hd, o, d),
                2 => weighted_values_avx512::<2>(w, lp, len, v, 3 * d, hd, o, d),
                _ => weighted_values_avx512::<1>(w, lp, len, v, 3 * d, hd, o, d),
            }
            i0 += rows;
        }
    }
}

/// Scores of `R` queries (row `r` at `q[r * q_stride..][..hd]`) against every key of `kt`
/// (`[hd][lp]`), into `dst` (`[R][lp]`): `Σ_c q[c] · k[c]` by fused multiply-adds in `c`
/// order, as the portable loop sums them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn scores_avx512<const R: usize>(
    q: &[f32],
    q_stride: usize,
    hd: usize,
    kt: &[f32],
    lp: usize,
    dst: &mut [f32],
) {
    use std::arch::x86_64::*;
    assert!(q.len() >= (R - 1) * q_stride + hd && kt.len() >= hd * lp && dst.len() >= R * lp);
    assert!(lp.is_multiple_of(16));
    let (qp, kp) = (q.as_ptr(), kt.as_ptr());
    for j0 in (0..lp).step_by(16) {
        let mut acc = [_mm512_setzero_ps(); R];
        for c in 0..hd {
            // SAFETY: `c < hd` and `j0 + 16 <= lp`: inside `kt` (checked above).
            let k = unsafe { _mm512_loadu_ps(kp.add(c * lp + j0)) };
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: `r < R` and `c < hd`: inside `q` (checked above).
                let x = _mm512_set1_ps(unsafe { *qp.add(r * q_stride + c) });
                *acc = _mm512_fmadd_ps(x, k, *acc);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            // SAFETY: `r < R` and `j0 + 16 <= lp`: inside `dst` (checked above).
            unsafe { _mm512_storeu_ps(dst.as_mut_ptr().add(r * lp + j0), *acc) };
        }
    }
}

/// Outputs of `R` queries: `o[r][c] = Σ_j w[r][j] · v[j][c]` by fused multiply-adds in `j`
/// order, sixteen head dimensions at a time (`hd` is a multiple of sixteen).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
#[allow(clippy::too_many_arguments)]
fn weighted_values_avx512<const R: usize>(
    w: &[f32],
    w_stride: usize,
    len: usize,
    v: &[f32],
    v_stride: usize,
    hd: usize,
    o: &mut [f32],
    o_stride: usize,
) {
    use std::arch::x86_64::*;
    assert!(len > 0 && w.len() >= (R - 1) * w_stride + len);
    assert!(v.len() >= (len - 1) * v_stride + hd && o.len() >= (R - 1) * o_stride + hd);
    assert!(hd.is_multiple_of(16));
    let (wp, vp) = (w.as_ptr(), v.as_ptr());
    for c0 in (0..hd).step_by(16) {
        let mut acc = [_mm512_setzero_ps(); R];
        for j in 0..len {
            // SAFETY: `j < len` and `c0 + 16 <= hd`: inside `v` (checked above).
            let x = unsafe { _mm512_loadu_ps(vp.add(j * v_stride + c0)) };
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: `r < R` and `j < len`: inside `w` (checked above).
                let s = _mm512_set1_ps(unsafe { *wp.add(r * w_stride + j) });
                *acc = _mm512_fmadd_ps(s, x, *acc);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            // SAFETY: `r < R` and `c0 + 16 <= hd`: inside `o` (checked above).
            unsafe { _mm512_storeu_ps(o.as_mut_ptr().add(r * o_stride + c0), *acc) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u64, scale: f32) -> Vec<f32> {
        crate::kernels::test_data::uniform(n, seed, scale)
    }

    fn paths() -> Vec<Path> {
        let mut p = vec![Path::Portable];
        if Path::detect() == Path::Avx512 {
            p.push(Path::Avx512);
        }
        p
    }

    #[test]
    fn gelu_scalar_matches_the_erf_definition() {
        // erf via its Taylor series in f64.
        fn erf(x: f64) -> f64 {
            let (mut sum, mut term, mut n) = (0f64, x, 0f64);
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
            let got = f64::from(gelu_scalar(x));
            assert!(
                (got - want).abs() < 1e-6 * (1.0 + f64::from(x.abs())),
                "gelu({x}): {got} vs {want}"
            );
            x += 0.0173;
        }
    }

    #[test]
    fn gelu_paths_give_the_scalar_bits() {
        let mut x = data(1000, 7, 30.0);
        // Edge values: zeros, huge, infinite, tiny, and a tail shorter than a vector.
        x.extend([
            0.0,
            -0.0,
            1e30,
            -1e30,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1e-40,
            -13.5,
            13.5,
            -9.0,
            9.0,
        ]);
        for path in paths() {
            let mut got = x.clone();
            gelu(&mut got, path);
            for (g, v) in got.iter().zip(&x) {
                assert_eq!(g.to_bits(), gelu_scalar(*v).to_bits(), "{path:?} gelu({v})");
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_exp_gives_the_scalar_bits() {
        if Path::detect() != Path::Avx512 {
            return;
        }
        let mut x = data(4000, 3, 400.0);
        x.extend([
            0.0,
            -87.5,
            -100.0,
            -126.0,
            -150.0,
            88.7,
            89.0,
            f32::NEG_INFINITY,
        ]);
        let mut got = x.clone();
        // exp_shifted with max = 0 is exp itself.
        // SAFETY: the CPU has AVX-512F (checked above).
        unsafe { exp_shifted_avx512(&mut got, 0.0) };
        for (g, v) in got.iter().zip(&x) {
            assert_eq!(g.to_bits(), expf(*v).to_bits(), "exp({v})");
        }
    }

    /// Attention in f64, straight from the definition.
    fn naive_attention(qkv: &[f32], d: usize, heads: usize) -> Vec<f64> {
        let len = qkv.len() / (3 * d);
        let hd = d / heads;
        let at = |t: usize, part: usize, h: usize, c: usize| {
            f64::from(qkv[t * 3 * d + part * d + h * hd + c])
        };
        let mut out = vec![0f64; len * d];
        for h in 0..heads {
            for i in 0..len {
                let s: Vec<f64> = (0..len)
                    .map(|j| {
                        (0..hd)
                            .map(|c| at(i, 0, h, c) * at(j, 1, h, c))
                            .sum::<f64>()
                            / (hd as f64).sqrt()
                    })
                    .collect();
                let max = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = s.iter().map(|v| (v - max).exp()).collect();
                let sum: f64 = e.iter().sum();
                for c in 0..hd {
                    out[i * d + h * hd + c] =
                        (0..len).map(|j| e[j] / sum * at(j, 2, h, c)).sum::<f64>();
                }
            }
        }
        out
    }

    #[test]
    fn attention_paths_match_the_definition() {
        // Lengths below, at and above one vector of keys and one register tile; head sizes
        // 4 and 24 (the vectorised loops) and 32 and 64 (the register tiles).
        for (len, d, heads) in [
            (1, 8, 2),
            (9, 48, 2),
            (5, 64, 2),
            (16, 96, 3),
            (20, 128, 2),
            (37, 384, 12),
        ] {
            let qkv = data(len * 3 * d, len as u64, 4.0);
            let want = naive_attention(&qkv, d, heads);
            let mut scratch = Vec::new();
            for path in paths() {
                let mut out = vec![f32::NAN; len * d];
                attend(&qkv, d, heads, &mut out, &mut scratch, path);
                for (g, w) in out.iter().zip(&want) {
                    assert!(
                        (f64::from(*g) - w).abs() < 2e-5,
                        "{path:?} len {len} d {d}: {g} vs {w}"
                    );
                }
            }
        }
    }
}
