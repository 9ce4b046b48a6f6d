//! Throughput of `Guard::scan_inputs`: prompts per second, rules only and with embeddings.
//!
//! `cargo run --release -p incant-guard --example bench [-- --n 20000] [--models-dir DIR]
//! [--f32]` (the embedder runs in the guard's precision unless `--f32` asks for f32).
//! The prompts are the evaluation set's texts (both splits, attacks and benign, short and
//! long documents), cycled to `--n`; each configuration scans them in batches of 256, as
//! `incant guard scan --jsonl` does.

use incant_engine::embed::Precision;
use incant_guard::guard::EMBEDDER_PRECISION;
use incant_guard::metrics::{test_split, train_split};
use incant_guard::{Guard, GuardConfig};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut n = 20_000usize;
    let mut models = incant_models::models_dir(None);
    let mut precision = EMBEDDER_PRECISION;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--n" => {
                n = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--n NUMBER")
            }
            "--models-dir" => models = args.next().expect("--models-dir DIR").into(),
            "--f32" => precision = Precision::F32,
            other => panic!("unknown argument {other}"),
        }
    }
    let pool: Vec<String> = train_split()
        .into_iter()
        .chain(test_split())
        .map(|e| e.text)
        .collect();
    let texts: Vec<&str> = pool.iter().cycle().take(n).map(String::as_str).collect();
    let mean_len = texts.iter().map(|t| t.chars().count()).sum::<usize>() / texts.len().max(1);
    println!("{} prompts, mean {mean_len} characters", texts.len());

    let rules = Guard::new(GuardConfig::default());
    bench("rules only", &rules, &texts);
    match Guard::load_embedder_with_precision(&models, "minilm", precision) {
        Ok(e) => {
            let guard = Guard::with_embedder(GuardConfig::default(), e).expect("corpus embeds");
            // Embeddings are ~100x slower: a tenth of the prompts is plenty for a rate.
            let k = (texts.len() / 10).max(256).min(texts.len());
            bench(
                &format!("rules + embeddings ({precision:?})"),
                &guard,
                &texts[..k],
            );
        }
        Err(e) => println!("rules + embeddings: skipped ({e})"),
    }
}

fn bench(name: &str, guard: &Guard, texts: &[&str]) {
    let start = Instant::now();
    let mut flagged = 0;
    for chunk in texts.chunks(256) {
        flagged += guard
            .scan_inputs(chunk)
            .iter()
            .filter(|s| s.flagged)
            .count();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{name:<28} {:>8.0} prompts/s  ({} prompts in {secs:.2} s, {flagged} flagged, {} threads available)",
        texts.len() as f64 / secs,
        texts.len(),
        std::thread::available_parallelism().map_or(1, |p| p.get()),
    );
}
