//! Scans each argument (or each line of stdin) and prints the verdict as JSON, one object
//! per line: a preview of `incant guard scan --jsonl`.
//!
//! `cargo run --release -p incant-guard --example scan [-- --embed] [TEXT...]`

use incant_guard::{Guard, GuardConfig};
use std::io::BufRead;

fn main() {
    let mut embed = false;
    let mut texts: Vec<String> = Vec::new();
    for a in std::env::args().skip(1) {
        if a == "--embed" {
            embed = true;
        } else {
            texts.push(a);
        }
    }
    if texts.is_empty() {
        texts = std::io::stdin()
            .lock()
            .lines()
            .map_while(Result::ok)
            .collect();
    }
    let config = GuardConfig {
        embed_flagged: true,
        ..GuardConfig::default()
    };
    let guard = if embed {
        let e = Guard::load_embedder(&incant_models::models_dir(None), "minilm")
            .unwrap_or_else(|e| panic!("{e}"));
        Guard::with_embedder(config, e).expect("corpus embeds")
    } else {
        Guard::new(config)
    };
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    for scan in guard.scan_inputs(&refs) {
        println!("{}", serde_json::to_string(&scan).expect("serialisable"));
    }
}
