//! Seeded Gaussian noise, the same on every machine and every version of incant.
//!
//! candle's CPU device cannot be seeded (`set_seed` is refused and `randn` draws from the
//! thread RNG), so a pipeline built on it would give a different picture each run. The
//! noise of a generation comes from here instead: xoshiro256++ seeded through SplitMix64
//! (the seeding its authors recommend), turned into normal samples with the Box-Muller
//! transform in f64. A batch gives image `i` the seed `seed + i`, as AUTOMATIC1111 does,
//! so the first image of a batch is the image a batch of one gives.

/// A xoshiro256++ generator.
#[derive(Debug, Clone)]
pub struct NoiseRng {
    s: [u64; 4],
    /// The second Box-Muller sample, kept for the next call.
    spare: Option<f64>,
}

impl NoiseRng {
    /// A generator whose whole stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut splitmix = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let s = [splitmix(), splitmix(), splitmix(), splitmix()];
        NoiseRng { s, spare: None }
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform sample in (0, 1]: never 0, so its logarithm is finite.
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) * (1.0 / (1u64 << 53) as f64)
    }

    /// One standard normal sample.
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let r = (-2.0 * self.uniform().ln()).sqrt();
        let theta = std::f64::consts::TAU * self.uniform();
        self.spare = Some(r * theta.sin());
        r * theta.cos()
    }

    /// `n` standard normal samples as f32.
    pub fn normals(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.normal() as f32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_other_seed_other_stream() {
        let a = NoiseRng::new(42).normals(64);
        assert_eq!(a, NoiseRng::new(42).normals(64));
        assert_ne!(a, NoiseRng::new(43).normals(64));
    }

    #[test]
    fn samples_are_standard_normal() {
        let xs = NoiseRng::new(7).normals(200_000);
        let n = xs.len() as f64;
        let mean = xs.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = xs.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        let within_one = xs.iter().filter(|x| x.abs() < 1.0).count() as f64 / n;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
        // P(|Z| < 1) = 0.6827 for a standard normal.
        assert!(
            (within_one - 0.6827).abs() < 0.01,
            "P(|z|<1) = {within_one}"
        );
    }
}
