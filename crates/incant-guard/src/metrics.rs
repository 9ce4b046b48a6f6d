//! Detection quality on the labelled evaluation set: TPR, FPR and ROC AUC.
//!
//! The set lives in `data/eval/` (built by `data/eval/build.py`): `train.jsonl`, on which
//! rules and constants were tuned, and `test.jsonl`, held out. [`quality`] turns any
//! detector's scores on a split into figures, so the `evaluate` example, the regression
//! test and the CLI all measure the same way. ROC AUC is the Mann-Whitney statistic (ties count one half),
//! which is what scikit-learn's `roc_auc_score` computes; a test checks it against
//! reference values from torchmetrics.

use crate::GuardError;
use serde::{Deserialize, Serialize};

/// One labelled text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// The text.
    pub text: String,
    /// 1 for an attack, 0 for benign.
    pub label: u8,
    /// Attack family or kind of hard negative.
    pub category: String,
}

/// The training split (tune on it).
pub fn train_split() -> Vec<Example> {
    parse_split("train.jsonl", include_str!("../data/eval/train.jsonl"))
        .expect("the built-in train split parses (checked by a test)")
}

/// The held-out split (never tune on it).
pub fn test_split() -> Vec<Example> {
    parse_split("test.jsonl", include_str!("../data/eval/test.jsonl"))
        .expect("the built-in test split parses (checked by a test)")
}

/// Parses a JSON Lines split.
pub fn parse_split(name: &str, text: &str) -> Result<Vec<Example>, GuardError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| GuardError::Data {
                file: name.to_string(),
                line: i + 1,
                reason: e.to_string(),
            })
        })
        .collect()
}

/// Quality figures of one detector on one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// Attacks in the split.
    pub positives: usize,
    /// Benign texts in the split.
    pub negatives: usize,
    /// The threshold the rates are taken at.
    pub threshold: f32,
    /// True-positive rate at the threshold.
    pub tpr: f64,
    /// False-positive rate at the threshold.
    pub fpr: f64,
    /// Area under the ROC curve.
    pub roc_auc: f64,
    /// Best TPR among thresholds with FPR at most 0.05 (how good the ranking is).
    pub tpr_at_fpr_05: f64,
}

/// ROC AUC of `scores` against `labels` (1 = positive). `None` without both classes.
pub fn roc_auc(scores: &[f32], labels: &[u8]) -> Option<f64> {
    let pos: Vec<f32> = scores
        .iter()
        .zip(labels)
        .filter(|(_, &l)| l == 1)
        .map(|(s, _)| *s)
        .collect();
    let neg: Vec<f32> = scores
        .iter()
        .zip(labels)
        .filter(|(_, &l)| l != 1)
        .map(|(s, _)| *s)
        .collect();
    if pos.is_empty() || neg.is_empty() {
        return None;
    }
    let mut wins = 0.0f64;
    for p in &pos {
        for n in &neg {
            wins += match p.total_cmp(n) {
                std::cmp::Ordering::Greater => 1.0,
                std::cmp::Ordering::Equal => 0.5,
                std::cmp::Ordering::Less => 0.0,
            };
        }
    }
    Some(wins / (pos.len() as f64 * neg.len() as f64))
}

/// TPR and FPR when `score >= threshold` is flagged.
pub fn rates(scores: &[f32], labels: &[u8], threshold: f32) -> (f64, f64) {
    let (mut tp, mut fp, mut p, mut n) = (0usize, 0usize, 0usize, 0usize);
    for (s, &l) in scores.iter().zip(labels) {
        let flagged = *s >= threshold;
        if l == 1 {
            p += 1;
            tp += usize::from(flagged);
        } else {
            n += 1;
            fp += usize::from(flagged);
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    (ratio(tp, p), ratio(fp, n))
}

/// Quality of `scores` on `examples` at `threshold`.
pub fn quality(examples: &[Example], scores: &[f32], threshold: f32) -> Quality {
    let labels: Vec<u8> = examples.iter().map(|e| e.label).collect();
    let (tpr, fpr) = rates(scores, &labels, threshold);
    let mut cuts: Vec<f32> = scores.to_vec();
    cuts.push(f32::INFINITY);
    let tpr_at_fpr_05 = cuts
        .iter()
        .map(|&t| rates(scores, &labels, t))
        .filter(|(_, f)| *f <= 0.05)
        .map(|(t, _)| t)
        .fold(0.0, f64::max);
    Quality {
        positives: labels.iter().filter(|&&l| l == 1).count(),
        negatives: labels.iter().filter(|&&l| l != 1).count(),
        threshold,
        tpr,
        fpr,
        roc_auc: roc_auc(scores, &labels).unwrap_or(f64::NAN),
        tpr_at_fpr_05,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_parse_and_hold_both_classes_of_every_kind() {
        for split in [train_split(), test_split()] {
            assert!(split.iter().filter(|e| e.label == 1).count() >= 50);
            assert!(split.iter().filter(|e| e.label == 0).count() >= 40);
            for cat in [
                "encoding",
                "chinese",
                "indirect-injection",
                "ascii-smuggling",
                "code",
                "long-document",
                "hard-roleplay",
            ] {
                assert!(split.iter().any(|e| e.category == cat), "{cat}");
            }
        }
        let train: std::collections::HashSet<_> =
            train_split().into_iter().map(|e| e.text).collect();
        assert!(
            test_split().iter().all(|e| !train.contains(&e.text)),
            "a test text is also in train"
        );
    }

    #[test]
    fn rates_and_auc_on_a_small_case() {
        let scores = [0.9, 0.8, 0.4, 0.6, 0.1, 0.4];
        let labels = [1, 1, 1, 0, 0, 0];
        let (tpr, fpr) = rates(&scores, &labels, 0.5);
        assert!((tpr - 2.0 / 3.0).abs() < 1e-12 && (fpr - 1.0 / 3.0).abs() < 1e-12);
        // Pairs: 0.9 and 0.8 beat all three (6), 0.4 beats 0.1, ties 0.4, loses to 0.6.
        assert!((roc_auc(&scores, &labels).unwrap() - 7.5 / 9.0).abs() < 1e-12);
        assert_eq!(roc_auc(&[0.1], &[1]), None);
    }
}
