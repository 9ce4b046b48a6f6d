//! Running the kernels with the CPU's vector instructions, chosen at run time.
//!
//! The kernels are plain Rust whose arithmetic (fused multiply-adds, exact integer sums)
//! does not depend on the instruction set, so the numbers are the same on every CPU. What
//! changes is speed: compiled for baseline x86-64, `f32::mul_add` is a library call and the
//! integer dot products stay scalar. [`run`] executes a closure inside a function compiled
//! with AVX2 and FMA when the CPU has them, so everything inlined into it is vectorised;
//! elsewhere it runs the same closure as is.

/// Runs `f`, compiled with AVX2 and FMA where the CPU supports them.
#[inline(always)]
pub fn run<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            #[target_feature(enable = "avx2,fma")]
            fn with_avx2_fma<R>(f: impl FnOnce() -> R) -> R {
                f()
            }
            // SAFETY: the CPU was just checked to support AVX2 and FMA, the only
            // requirement of a `#[target_feature(enable = "avx2,fma")]` function.
            #[allow(unsafe_code)]
            return unsafe { with_avx2_fma(f) };
        }
    }
    f()
}

#[cfg(test)]
mod tests {
    #[test]
    fn same_result_with_and_without_vector_instructions() {
        let a: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin()).collect();
        let plain: f32 = a.iter().fold(0.0, |acc, x| x.mul_add(1.5, acc));
        let fast = super::run(|| a.iter().fold(0.0, |acc, x| x.mul_add(1.5, acc)));
        assert_eq!(plain.to_bits(), fast.to_bits());
    }
}
