//! The per-subset unbiased MMD² against torchmetrics' `poly_mmd` and clean-fid's
//! `kernel_distance` on fixed subsets (the first m rows of each generated set).

mod common;

use incant_image_metrics::{kernel_inception_distance, polynomial_mmd2, Features, KidOptions};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    name: String,
    dims: usize,
    a: common::SetParams,
    b: common::SetParams,
    subset_size: usize,
    mmd_torchmetrics: f64,
    mmd_cleanfid: f64,
}

fn first_rows(f: &Features, m: usize) -> Features {
    Features::from_flat(
        "first rows",
        f.as_slice()[..m * f.dims()].to_vec(),
        f.dims(),
    )
    .unwrap()
}

#[test]
fn mmd_matches_torchmetrics_and_clean_fid() {
    let cases: Vec<Case> = common::read("kid_reference.json");
    assert!(cases.len() >= 4);
    for case in cases {
        let a = first_rows(&common::features(case.a, case.dims), case.subset_size);
        let b = first_rows(&common::features(case.b, case.dims), case.subset_size);
        let ours = polynomial_mmd2(&a, &b).unwrap();
        for (peer, value) in [
            ("torchmetrics", case.mmd_torchmetrics),
            ("clean-fid", case.mmd_cleanfid),
        ] {
            let rel = (ours - value).abs() / value.abs();
            eprintln!("{}: {ours} vs {peer} {value} (rel {rel:e})", case.name);
            assert!(
                rel < 1e-9,
                "{}: {ours} vs {peer} {value} (rel {rel:e})",
                case.name
            );
        }
        // One subset holding every row is the same number (the MMD ignores row order).
        let whole = KidOptions {
            subsets: 3,
            subset_size: case.subset_size,
            seed: 5,
        };
        let kid = kernel_inception_distance(&a, &b, &whole).unwrap();
        assert!(
            (kid.mean - ours).abs() <= 1e-12 * ours.abs().max(1.0),
            "{}",
            case.name
        );
        assert!(kid.std < 1e-12 * ours.abs().max(1.0));
    }
}
