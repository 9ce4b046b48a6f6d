//! Sentence-embedding throughput of the embedder the guard uses, alone: sentences/s at
//! batch 32 over a file of sentences (one per line), best of `--repeat`, with the process's
//! CPU time, which other load on the machine disturbs less than wall time.
//!
//! `cargo run --release -p incant-guard --example embed_speed -- FILE [--repeat 3]
//! [--models-dir DIR] [--bf16]`: f32 (sentence-transformers' vectors, what `incant embed`
//! and `incant bench engine` run) unless `--bf16` asks for the guard's precision.
//! `scripts/bench-engine` writes the sentences it uses.

use incant_engine::embed::Precision;
use incant_engine::EmbedOptions;
use incant_guard::Guard;
use std::time::Instant;

fn cpu_seconds() -> f64 {
    // utime + stime of this process, from /proc (Linux); 0 elsewhere.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, r)| r.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut file = None;
    let mut repeat = 3;
    let mut models = incant_models::models_dir(None);
    let mut precision = Precision::F32;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--repeat" => {
                repeat = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--repeat N")
            }
            "--models-dir" => models = args.next().expect("--models-dir DIR").into(),
            "--bf16" => precision = Precision::Bf16,
            other => file = Some(other.to_string()),
        }
    }
    let file = file.expect("a sentences file");
    let text = std::fs::read_to_string(&file).expect("read the sentences file");
    let sentences: Vec<&str> = text.lines().collect();
    let embedder = Guard::load_embedder_with_precision(&models, "minilm", precision)
        .expect("minilm installed");
    let opts = EmbedOptions { batch_size: 32 };
    embedder
        .embed(&sentences[..64.min(sentences.len())], opts)
        .expect("embeds");
    for _ in 0..repeat {
        let (t, c) = (Instant::now(), cpu_seconds());
        embedder.embed(&sentences, opts).expect("embeds");
        let (wall, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
        println!(
            "{} sentences: {:.0} sentences/s wall, {:.2} s wall, {:.2} s CPU",
            sentences.len(),
            sentences.len() as f64 / wall,
            wall,
            cpu
        );
    }
}
