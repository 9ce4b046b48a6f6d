//! The vectorised `exp` that ggml uses for SiLU and softmax on AVX-512 machines.
//!
//! ggml does not call the C library's `expf` in these hot loops: it uses a polynomial
//! approximation adapted from Arm's optimized-routines (maximum error about 1.5 ulp). A
//! result that differs in the last bit from llama.cpp's changes which way an 8-bit
//! activation rounds a few layers later, so incant evaluates the same published algorithm,
//! step for step with fused multiply-adds: range reduction `x = n·ln2 + b` with `ln2` split
//! in two parts, a degree-5 polynomial in `b`, then scaling by `2^n`.

// The AVX-512 versions call functions compiled for AVX-512F and load through raw pointers
// into slices of known length; each unsafe block says why it holds.
#![allow(unsafe_code)]

/// The constants of ggml's `exp`, bit for bit (the scalar and the vector versions share them).
mod exp_consts {
    pub const SHIFT: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
    pub const LOG2E: f32 = f32::from_bits(0x3FB8_AA3B); // 0x1.715476p+0
    pub const LN2_HI: f32 = f32::from_bits(0x3F31_7200); // 0x1.62e4p-1
    pub const LN2_LO: f32 = f32::from_bits(0x35BF_BE8E); // 0x1.7f7d1cp-20
    pub const C1: f32 = f32::from_bits(0x3F7F_FFF6); // 0x1.ffffecp-1
    pub const C2: f32 = f32::from_bits(0x3EFF_FEDB); // 0x1.fffdb6p-2
    pub const C3: f32 = f32::from_bits(0x3E2A_AF33); // 0x1.555e66p-3
    pub const C4: f32 = f32::from_bits(0x3D2B_9F17); // 0x1.573e2ep-5
    pub const C5: f32 = f32::from_bits(0x3C07_2010); // 0x1.0e4020p-7
}

/// `e^x` as ggml's AVX-512 `ggml_v_expf` computes it, one lane at a time.
#[inline(always)]
pub fn expf(x: f32) -> f32 {
    use exp_consts::*;
    let z = x.mul_add(LOG2E, SHIFT);
    let n = z - SHIFT;
    let b = (-n).mul_add(LN2_LO, (-n).mul_add(LN2_HI, x));
    let u = b * b;
    let j = C5
        .mul_add(b, C4)
        .mul_add(u, C3.mul_add(b, C2))
        .mul_add(u, C1.mul_add(b, 1.0));
    if n.abs() <= 192.0 {
        scalef(j, n)
    } else if n > 0.0 {
        f32::INFINITY
    } else {
        0.0
    }
}

/// `j * 2^n` for integral `n`, exact where the result is representable.
#[inline(always)]
fn scalef(j: f32, n: f32) -> f32 {
    let n = n as i32;
    if n > 127 {
        // Two steps keep the intermediate finite for j < 1.
        j * 2f32.powi(127) * 2f32.powi(n - 127)
    } else if n < -126 {
        j * 2f32.powi(-126) * 2f32.powi(n + 126)
    } else {
        j * f32::from_bits(((n + 127) as u32) << 23)
    }
}

/// `x / (1 + e^-x)` as ggml's vectorised SiLU.
#[inline(always)]
pub fn silu(x: f32) -> f32 {
    x / (1.0 + expf(-x))
}

/// [`expf`] on sixteen lanes: the same operations in the same order, bit for bit. With
/// `SUBNORMAL = false` results below `2^-126` may differ from [`expf`]'s in the last bits
/// (callers that clamp their inputs above -87 never see them).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) fn expf_avx512<const SUBNORMAL: bool>(
    x: std::arch::x86_64::__m512,
) -> std::arch::x86_64::__m512 {
    use exp_consts::*;
    use std::arch::x86_64::*;
    let z = _mm512_fmadd_ps(x, _mm512_set1_ps(LOG2E), _mm512_set1_ps(SHIFT));
    let n = _mm512_sub_ps(z, _mm512_set1_ps(SHIFT));
    let neg_n = _mm512_sub_ps(_mm512_setzero_ps(), n);
    let b = _mm512_fmadd_ps(
        neg_n,
        _mm512_set1_ps(LN2_LO),
        _mm512_fmadd_ps(neg_n, _mm512_set1_ps(LN2_HI), x),
    );
    let u = _mm512_mul_ps(b, b);
    let lo = _mm512_fmadd_ps(_mm512_set1_ps(C1), b, _mm512_set1_ps(1.0));
    let mid = _mm512_fmadd_ps(_mm512_set1_ps(C3), b, _mm512_set1_ps(C2));
    let hi = _mm512_fmadd_ps(_mm512_set1_ps(C5), b, _mm512_set1_ps(C4));
    let j = _mm512_fmadd_ps(_mm512_fmadd_ps(hi, u, mid), u, lo);
    // `j · 2^n` as the scalar `scalef` computes it: in one step inside the normal range,
    // in two below and above it (the first product rounds when it is subnormal).
    let one = _mm512_set1_ps(1.0);
    let mut scaled = _mm512_scalef_ps(j, n);
    if !SUBNORMAL {
        return scaled;
    }
    let low = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(n, _mm512_set1_ps(-126.0));
    let two_step_low = _mm512_mul_ps(
        _mm512_mul_ps(j, _mm512_set1_ps(f32::from_bits(1 << 23))),
        _mm512_scalef_ps(one, _mm512_add_ps(n, _mm512_set1_ps(126.0))),
    );
    scaled = _mm512_mask_blend_ps(low, scaled, two_step_low);
    let high = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(n, _mm512_set1_ps(127.0));
    let two_step_high = _mm512_mul_ps(
        _mm512_mul_ps(j, _mm512_set1_ps(2f32.powi(127))),
        _mm512_scalef_ps(one, _mm512_sub_ps(n, _mm512_set1_ps(127.0))),
    );
    scaled = _mm512_mask_blend_ps(high, scaled, two_step_high);
    // |n| <= 192: the scaled value; beyond, infinity for n > 0 and zero otherwise (NaN
    // compares false both times, giving zero as the scalar version does).
    let abs_n = _mm512_abs_ps(n);
    let in_range = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(abs_n, _mm512_set1_ps(192.0));
    let positive = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(n, _mm512_setzero_ps());
    let outside = _mm512_maskz_mov_ps(positive, _mm512_set1_ps(f32::INFINITY));
    _mm512_mask_blend_ps(in_range, outside, scaled)
}

/// `gate[i] = silu(gate[i]) * up[i]` ([`silu`] then a product), sixteen lanes at a time on
/// AVX-512 with its vector `exp`; the same operations in the same order, so the same bits.
pub fn swiglu(gate: &mut [f32], up: &[f32]) {
    assert_eq!(gate.len(), up.len(), "swiglu: gate and up lengths");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU was just checked to support AVX-512F.
        return unsafe { swiglu_avx512(gate, up) };
    }
    super::simd::run(|| {
        for (g, &u) in gate.iter_mut().zip(up) {
            *g = silu(*g) * u;
        }
    });
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn swiglu_avx512(gate: &mut [f32], up: &[f32]) {
    use std::arch::x86_64::*;
    let sign = _mm512_set1_epi32(i32::MIN);
    let one = _mm512_set1_ps(1.0);
    let (mut gs, mut us) = (gate.chunks_exact_mut(16), up.chunks_exact(16));
    for (g, u) in (&mut gs).zip(&mut us) {
        // SAFETY: `g` and `u` are 16 floats each; loads and the store are unaligned.
        unsafe {
            let x = _mm512_loadu_ps(g.as_ptr());
            // `-x` by flipping the sign bit, as the scalar negation does (zero included).
            let neg = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(x), sign));
            let s = _mm512_div_ps(x, _mm512_add_ps(one, expf_avx512::<true>(neg)));
            _mm512_storeu_ps(
                g.as_mut_ptr(),
                _mm512_mul_ps(s, _mm512_loadu_ps(u.as_ptr())),
            );
        }
    }
    for (g, &u) in gs.into_remainder().iter_mut().zip(us.remainder()) {
        *g = silu(*g) * u;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_swiglu_gives_the_scalar_bits() {
        let gate: Vec<f32> = (0..1000)
            .map(|i| ((i * 7919) % 2001) as f32 * 0.013 - 13.0)
            .collect();
        let mut special = vec![0.0, -0.0, 90.0, -90.0, 200.0, -200.0, f32::MIN_POSITIVE];
        special.extend(&gate);
        let up: Vec<f32> = (0..special.len())
            .map(|i| (i as f32 * 0.37).sin())
            .collect();
        let want: Vec<u32> = special
            .iter()
            .zip(&up)
            .map(|(g, u)| (silu(*g) * u).to_bits())
            .collect();
        let mut got = special.clone();
        swiglu(&mut got, &up);
        assert_eq!(got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want);
    }

    #[test]
    fn constants_are_the_published_hex_floats() {
        assert_eq!(f32::from_bits(0x3FB8_AA3B), std::f32::consts::LOG2_E);
        assert!(
            (f32::from_bits(0x3F31_7200) + f32::from_bits(0x35BF_BE8E) - std::f32::consts::LN_2)
                .abs()
                < 1e-7
        );
    }

    #[test]
    fn close_to_libm_over_the_useful_range() {
        let mut x = -80.0f32;
        while x < 80.0 {
            let (a, b) = (expf(x), x.exp());
            assert!((a - b).abs() <= b * 4e-7, "exp({x}): {a} vs {b}");
            x += 0.173;
        }
        assert_eq!(expf(0.0), 1.0);
        assert_eq!(expf(-200.0), 0.0);
        assert_eq!(expf(200.0), f32::INFINITY);
    }
}
