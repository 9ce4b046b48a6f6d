//! The deterministic feature generator shared with scripts/reference/make_fid_reference.py,
//! and the reference files it wrote.

#![allow(dead_code)]

use std::path::PathBuf;

use incant_image_metrics::{Features, SplitMix64};
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

/// The script's `features(seed, n, d, rho, shift)`, as `f32` values widened to `f64`.
pub fn features(p: SetParams, d: usize) -> Features {
    let u = uniforms(p.seed, p.n * (d + 1));
    let mut data = Vec::with_capacity(p.n * d);
    for row in u.chunks_exact(d + 1) {
        let common = row[d] - 0.5;
        for j in 0..d {
            let z = row[j] - 0.5;
            let left = row[(j + d - 1) % d] - 0.5;
            let scale = 1.0 + (j % 3) as f64 * 0.5;
            let offset = p.shift * ((j % 5) as f64 - 2.0);
            let x = (z + p.rho * left + 0.25 * common) * scale + offset;
            data.push(f64::from(x as f32));
        }
    }
    Features::from_flat("generated", data, d).unwrap()
}

pub fn read<T: for<'de> Deserialize<'de>>(file: &str) -> T {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}
