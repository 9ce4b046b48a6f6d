//! FID speed on generated features: `cargo run [--release] -p incant-image-metrics --example
//! fid_bench -- [N] [DIMS]` (defaults 10000 2048). Prints one JSON line with the value and
//! the seconds spent on statistics, on the distance and on KID (100 subsets of 1,000); scripts/reference/bench_fid.py runs
//! pytorch-fid on the same features for comparison.

use std::time::Instant;

use incant_image_metrics::{
    frechet_distance, kernel_inception_distance, synthetic_features, FeatureStats, KidOptions,
    SyntheticSet,
};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("N and DIMS are numbers"))
        .collect();
    let n = args.first().copied().unwrap_or(10_000);
    let d = args.get(1).copied().unwrap_or(2048);
    let a = synthetic_features(
        SyntheticSet {
            seed: 101,
            n,
            rho: 0.3,
            shift: 0.0,
        },
        d,
    );
    let b = synthetic_features(
        SyntheticSet {
            seed: 102,
            n,
            rho: 0.35,
            shift: 0.01,
        },
        d,
    );
    let t = Instant::now();
    let sa = FeatureStats::from_matrix(&a).unwrap();
    let sb = FeatureStats::from_matrix(&b).unwrap();
    let stats_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let fid = frechet_distance(&sa, &sb).unwrap();
    let fid_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let kid = kernel_inception_distance(&a, &b, &KidOptions::default()).unwrap();
    let kid_s = t.elapsed().as_secs_f64();
    println!(
        "{{\"n\": {n}, \"dims\": {d}, \"fid\": {:.17e}, \"stats_s\": {stats_s:.3}, \"fid_s\": {fid_s:.3}, \"kid\": {:.6e}, \"kid_std\": {:.3e}, \"kid_s\": {kid_s:.3}, \"threads\": {}}}",
        fid.value,
        kid.mean,
        kid.std,
        faer::get_global_parallelism().degree()
    );
}
