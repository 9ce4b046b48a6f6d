//! The vectorised `exp` that ggml uses for SiLU and softmax on AVX-512 machines.
//!
//! ggml does not call the C library's `expf` in these hot loops: it uses a polynomial
//! approximation adapted from Arm's optimized-routines (maximum error about 1.5 ulp). A
//! result that differs in the last bit from llama.cpp's changes which way an 8-bit
//! activation rounds a few layers later, so incant evaluates the same published algorithm,
//! step for step with fused multiply-adds: range reduction `x = n·ln2 + b` with `ln2` split
//! in two parts, a degree-5 polynomial in `b`, then scaling by `2^n`.

/// `e^x` as ggml's AVX-512 `ggml_v_expf` computes it, one lane at a time.
#[inline(always)]
pub fn expf(x: f32) -> f32 {
    const SHIFT: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
    const LOG2E: f32 = f32::from_bits(0x3FB8_AA3B); // 0x1.715476p+0
    const LN2_HI: f32 = f32::from_bits(0x3F31_7200); // 0x1.62e4p-1
    const LN2_LO: f32 = f32::from_bits(0x35BF_BE8E); // 0x1.7f7d1cp-20
    const C1: f32 = f32::from_bits(0x3F7F_FFF6); // 0x1.ffffecp-1
    const C2: f32 = f32::from_bits(0x3EFF_FEDB); // 0x1.fffdb6p-2
    const C3: f32 = f32::from_bits(0x3E2A_AF33); // 0x1.555e66p-3
    const C4: f32 = f32::from_bits(0x3D2B_9F17); // 0x1.573e2ep-5
    const C5: f32 = f32::from_bits(0x3C07_2010); // 0x1.0e4020p-7
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

#[cfg(test)]
mod tests {
    use super::*;

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
