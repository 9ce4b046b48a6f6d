//! ROC AUC parity with torchmetrics' `binary_auroc` on 40 generated cases with many ties
//! (reference values from `scripts/reference/make_guard_auc_reference.py`).

use incant_guard::metrics::roc_auc;

#[derive(serde::Deserialize)]
struct Case {
    scores: Vec<f32>,
    labels: Vec<u8>,
    auc: f64,
}

#[test]
fn roc_auc_matches_torchmetrics() {
    let cases: Vec<Case> = serde_json::from_str(include_str!("data/auc_reference.json")).unwrap();
    assert_eq!(cases.len(), 40);
    for (i, c) in cases.iter().enumerate() {
        let ours = roc_auc(&c.scores, &c.labels).unwrap();
        // torchmetrics computes in float32.
        assert!(
            (ours - c.auc).abs() < 1e-6,
            "case {i}: ours {ours}, torchmetrics {}",
            c.auc
        );
    }
}
