//! Detection quality of the guard on the held-out split of `data/eval/`: TPR, FPR and ROC
//! AUC for rules only and, when MiniLM is installed, for rules plus embeddings.
//!
//! `cargo run --release -p incant-guard --example evaluate [-- --split train|test] [--misses]
//! [--json FILE] [--models-dir DIR] [--f32]`. `--misses` lists misclassified texts (use
//! it on train only: the test split is for measuring, not tuning). The embedder runs in
//! the guard's precision (`EMBEDDER_PRECISION`) unless `--f32` asks for f32.

use incant_engine::embed::Precision;
use incant_guard::guard::EMBEDDER_PRECISION;
use incant_guard::metrics::{quality, test_split, train_split, Example, Quality};
use incant_guard::{Guard, GuardConfig};
use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut split = "test".to_string();
    let mut misses = false;
    let mut json: Option<PathBuf> = None;
    let mut models = incant_models::models_dir(None);
    let mut precision = EMBEDDER_PRECISION;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--split" => split = args.next().expect("--split train|test"),
            "--misses" => misses = true,
            "--json" => json = Some(args.next().expect("--json FILE").into()),
            "--models-dir" => models = args.next().expect("--models-dir DIR").into(),
            "--f32" => precision = Precision::F32,
            other => panic!("unknown argument {other}"),
        }
    }
    let examples = match split.as_str() {
        "train" => train_split(),
        "test" => test_split(),
        other => panic!("unknown split {other}"),
    };
    let mut report = serde_json::Map::new();
    let rules = Guard::new(GuardConfig::default());
    let q = run("rules only", &rules, &examples, misses);
    report.insert("rules".into(), serde_json::to_value(q).unwrap());
    match Guard::load_embedder_with_precision(&models, "minilm", precision) {
        Ok(e) => {
            let guard = Guard::with_embedder(GuardConfig::default(), e).expect("corpus embeds");
            let name = format!("rules + embeddings ({precision:?})");
            let q = run(&name, &guard, &examples, misses);
            report.insert("rules_embeddings".into(), serde_json::to_value(q).unwrap());
        }
        Err(e) => println!("rules + embeddings: skipped ({e})"),
    }
    if let Some(path) = json {
        let mut text = serde_json::to_string_pretty(&report).unwrap();
        text.push('\n');
        std::fs::write(&path, text).expect("write --json file");
    }
}

fn run(name: &str, guard: &Guard, examples: &[Example], misses: bool) -> Quality {
    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    let scans = guard.scan_inputs(&texts);
    let scores: Vec<f32> = scans.iter().map(|s| s.score).collect();
    let q = quality(examples, &scores, guard.config().threshold);
    println!(
        "{name:<28} n={}+{}  TPR {:.3}  FPR {:.3}  ROC AUC {:.3}  (TPR at FPR<=0.05: {:.3}, threshold {})",
        q.positives, q.negatives, q.tpr, q.fpr, q.roc_auc, q.tpr_at_fpr_05, q.threshold
    );
    // Share flagged per category: recall for attack families, false-positive rate for
    // the kinds of hard negatives.
    let mut cats: std::collections::BTreeMap<(u8, &str), (usize, usize)> = Default::default();
    for (e, s) in examples.iter().zip(&scores) {
        let c = cats.entry((e.label, e.category.as_str())).or_default();
        c.0 += usize::from(*s >= q.threshold);
        c.1 += 1;
    }
    let line: Vec<String> = cats
        .iter()
        .map(|((l, c), (f, n))| format!("{}{c} {f}/{n}", if *l == 1 { "+" } else { "-" }))
        .collect();
    println!("  flagged per category: {}", line.join(", "));
    if misses {
        for ((e, s), scan) in examples.iter().zip(&scores).zip(&scans) {
            if (e.label == 1) != (*s >= q.threshold) {
                let text: String = e.text.chars().take(100).collect();
                println!(
                    "  miss label={} score={s:.2} [{}] {text:?}",
                    e.label, e.category
                );
                for r in &scan.reasons {
                    println!("      {} {:.2} {}", r.detector, r.score, r.detail);
                }
            }
        }
    }
    q
}
