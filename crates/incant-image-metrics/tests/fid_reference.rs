//! FID against pytorch-fid's `calculate_frechet_distance` on the same generated features.

mod common;

use incant_image_metrics::{frechet_distance, FeatureStats, FidWarning};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    name: String,
    dims: usize,
    a: common::SetParams,
    b: common::SetParams,
    fid: f64,
}

#[test]
fn fid_matches_pytorch_fid() {
    let cases: Vec<Case> = common::read("fid_reference.json");
    assert!(cases.len() >= 6);
    for case in cases {
        let a = FeatureStats::from_matrix(&common::features(case.a, case.dims)).unwrap();
        let b = FeatureStats::from_matrix(&common::features(case.b, case.dims)).unwrap();
        let fid = frechet_distance(&a, &b).unwrap();
        if case.fid == 0.0 {
            // Equal sets: pytorch-fid prints 0; rounding leaves us within 1e-9 of it.
            assert!(fid.value.abs() < 1e-9, "{}: {}", case.name, fid.value);
        } else {
            let rel = (fid.value - case.fid).abs() / case.fid;
            eprintln!(
                "{}: {} vs pytorch-fid {} (rel {rel:e})",
                case.name, fid.value, case.fid
            );
            assert!(
                rel < 1e-6,
                "{}: {} vs pytorch-fid {} (rel {rel:e})",
                case.name,
                fid.value,
                case.fid
            );
        }
        let singular = case.a.n < case.dims || case.b.n < case.dims;
        let warned = fid
            .warnings
            .iter()
            .any(|w| matches!(w, FidWarning::FewerSamplesThanDims { .. }));
        assert_eq!(singular, warned, "{}: {:?}", case.name, fid.warnings);
    }
}
