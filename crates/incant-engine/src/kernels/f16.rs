//! f32 to f16 and back, a slice at a time.
//!
//! The KV cache is kept in f16 as llama.cpp's default cache is, and the attention query and
//! weights are rounded to f16: over a thousand values per layer and token. `half` converts
//! one value per call and checks the CPU each time; here a slice is converted eight values
//! per instruction with F16C (`vcvtps2ph` with round-to-nearest-even, `vcvtph2ps`), the
//! same bits as `half` (the tests compare them).

// The F16C path calls a function compiled for F16C after checking the CPU, and loads and
// stores through raw pointers into slices of known length; each block says why.
#![allow(unsafe_code)]

use half::f16;

/// `x` rounded to the nearest f16 (ties to even), as an f32.
#[inline]
pub fn round(x: f32) -> f32 {
    f16::from_f32(x).to_f32()
}

/// Rounds every value of `x` to the nearest f16, in place.
pub fn round_in_place(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("f16c") && std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU was just checked to support F16C and AVX.
        return unsafe { round_in_place_f16c(x) };
    }
    x.iter_mut().for_each(|v| *v = round(*v));
}

/// Appends every value of `src`, rounded to the nearest f16, to `dst`.
pub fn extend_rounded(dst: &mut Vec<f32>, src: &[f32]) {
    let start = dst.len();
    dst.extend_from_slice(src);
    round_in_place(&mut dst[start..]);
}

/// Appends every value of `src`, converted to f16, to `dst`.
pub fn extend_f16(dst: &mut Vec<f16>, src: &[f32]) {
    let start = dst.len();
    dst.resize(start + src.len(), f16::ZERO);
    let out = &mut dst[start..];
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("f16c") && std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU was just checked to support F16C and AVX.
        return unsafe { narrow_f16c(src, out) };
    }
    out.iter_mut()
        .zip(src)
        .for_each(|(o, &v)| *o = f16::from_f32(v));
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,f16c")]
fn narrow_f16c(src: &[f32], dst: &mut [f16]) {
    use std::arch::x86_64::*;
    let (mut s, mut d) = (src.chunks_exact(8), dst.chunks_exact_mut(8));
    for (s, d) in (&mut s).zip(&mut d) {
        // SAFETY: `s` is 8 floats and `d` 8 f16s (16 bytes; `f16` is a transparent u16);
        // the load and the store are unaligned.
        unsafe {
            let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm256_loadu_ps(s.as_ptr()));
            _mm_storeu_si128(d.as_mut_ptr().cast(), h);
        }
    }
    for (o, &v) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *o = f16::from_f32(v);
    }
}

/// `dst[i] = src[i]` as f32 (exact).
pub fn widen(src: &[f16], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len(), "widen: lengths");
    dst.iter_mut().zip(src).for_each(|(o, v)| *o = v.to_f32());
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,f16c")]
fn round_in_place_f16c(x: &mut [f32]) {
    use std::arch::x86_64::*;
    let mut chunks = x.chunks_exact_mut(8);
    for c in &mut chunks {
        // SAFETY: `c` is 8 floats; the load and the store are unaligned.
        unsafe {
            let v = _mm256_loadu_ps(c.as_ptr());
            let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v);
            _mm256_storeu_ps(c.as_mut_ptr(), _mm256_cvtph_ps(h));
        }
    }
    chunks
        .into_remainder()
        .iter_mut()
        .for_each(|v| *v = round(*v));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_round_as_half_does() {
        let mut values = vec![
            0.0,
            -0.0,
            1.0,
            65504.0,
            65520.0,
            1e9,
            -1e9,
            f32::INFINITY,
            f32::NEG_INFINITY,
            6e-8,
            3e-8,
            1e-10,
            f32::MIN_POSITIVE,
            1.000_488_3, // halfway between two f16 values: ties to even
            1.001_464_8,
        ];
        let mut rng = crate::rng::Rng::new(9);
        for _ in 0..5000 {
            values.push(f32::from_bits((rng.next_u64() >> 32) as u32));
        }
        values.retain(|v| !v.is_nan());
        let want: Vec<u32> = values.iter().map(|&v| round(v).to_bits()).collect();
        for len in [values.len(), 7, 8, 9] {
            let mut got = values[..len].to_vec();
            round_in_place(&mut got);
            let bits: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
            assert_eq!(bits, want[..len]);
        }
        let mut halves = vec![f16::ONE];
        extend_f16(&mut halves, &values);
        let mut back = vec![0f32; values.len()];
        widen(&halves[1..], &mut back);
        assert_eq!(back.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want);
        let mut appended = vec![2.0];
        extend_rounded(&mut appended, &values[..20]);
        assert_eq!(appended.len(), 21);
        assert_eq!(
            appended[1..]
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>(),
            want[..20]
        );
    }
}
