//! Reading the reference files that scripts/reference/make_fid_reference.py wrote, and the
//! generator parameters they name.

#![allow(dead_code)]

use std::path::PathBuf;

use incant_image_metrics::{synthetic_features, Features, SplitMix64, SyntheticSet};
use serde::Deserialize;

/// `count` uniforms in `[0, 1)`: splitmix64 from `seed`, as the script's `splitmix_uniform`.
pub fn uniforms(seed: u64, count: usize) -> Vec<f64> {
    let mut r = SplitMix64::new(seed);
    (0..count).map(|_| r.next_f64()).collect()
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct SetParams {
    pub seed: u64,
    pub n: usize,
    pub rho: f64,
    pub shift: f64,
}

/// The script's `features(seed, n, d, rho, shift)`.
pub fn features(p: SetParams, d: usize) -> Features {
    let set = SyntheticSet {
        seed: p.seed,
        n: p.n,
        rho: p.rho,
        shift: p.shift,
    };
    synthetic_features(set, d)
}

pub fn read<T: for<'de> Deserialize<'de>>(file: &str) -> T {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}
