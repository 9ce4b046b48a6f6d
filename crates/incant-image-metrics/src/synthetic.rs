//! Deterministic synthetic features for parity tests and benchmarks.
//!
//! The reference scripts (scripts/reference/make_fid_reference.py, `features`) implement the
//! same generator in numpy, so a test can rebuild thousands of 2,048-dimensional rows that
//! pytorch-fid or torchmetrics saw without committing them: only the parameters and the
//! reference numbers are stored. Every operation is a plain `f64` add or multiply (no
//! transcendental functions), so both sides produce bit-identical `f32` values.

use crate::features::Features;
use incant_rng::SplitMix64;

/// Parameters of one generated set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyntheticSet {
    pub seed: u64,
    /// Rows.
    pub n: usize,
    /// Correlation with the left neighbour dimension (wrapping around).
    pub rho: f64,
    /// Mean shift per dimension, times `(j % 5) - 2`.
    pub shift: f64,
}

/// `n x dims` features: uniform noise in `[-0.5, 0.5)` plus `rho` times its left neighbour
/// and a quarter of a per-row common factor, scaled by `1 + (j % 3) / 2`, shifted, rounded
/// to `f32` (as extractor output is) and widened back to `f64`.
pub fn synthetic_features(set: SyntheticSet, dims: usize) -> Features {
    let mut rng = SplitMix64::new(set.seed);
    let mut row = vec![0.0f64; dims + 1];
    let mut data = Vec::with_capacity(set.n * dims);
    for _ in 0..set.n {
        row.iter_mut().for_each(|v| *v = rng.next_f64() - 0.5);
        let common = row[dims];
        for j in 0..dims {
            let left = row[(j + dims - 1) % dims];
            let scale = 1.0 + (j % 3) as f64 * 0.5;
            let offset = set.shift * ((j % 5) as f64 - 2.0);
            let x = (row[j] + set.rho * left + 0.25 * common) * scale + offset;
            data.push(f64::from(x as f32));
        }
    }
    Features::from_flat("synthetic", data, dims).expect("synthetic features are finite")
}
