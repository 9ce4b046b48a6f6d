//! `incant bench engine`: the figures the engine is judged by.
//!
//! Decode tokens/s (greedy, exactly N tokens after a ~20-token prompt), batched decoding
//! (eight such sequences stepped together: aggregate tokens/s and its ratio to one sequence,
//! what a server's batching buys), prefill tokens/s
//! (one prompt of exactly N tokens), embedding sentences/s (batched), load times and the
//! process's peak resident memory. Each measurement is repeated and the best run is kept,
//! as llama-bench does. `scripts/bench-engine` runs the peers on the same inputs.

use super::{load_chat, load_embedder, utf8};
use crate::cli::BenchEngineArgs;
use crate::report::input_error;
use anyhow::Result;
use incant_engine::generate::GenerateRequest;
use incant_engine::llama::{KvCache, Logits};
use incant_engine::{ChatModel, EmbedOptions, SamplingParams};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

/// The decode prompt: about 20 tokens with SmolLM2's tokenizer.
pub const DECODE_PROMPT: &str =
    "The history of the printing press begins in the fifteenth century, when Johannes";

const FILLER: &str =
    "Prompt engineering is software engineering: prompts deserve versions, tests, \
reviews and reproducible builds. When a model changes, every prompt built on it may change \
meaning, and teams need to measure what broke before their users notice. ";

const WORDS: &[&str] = &[
    "the", "model", "prompt", "answer", "quickly", "river", "bright", "seven", "under", "market",
    "history", "garden", "compile", "token", "window", "silver", "people", "travel", "music",
    "winter", "science", "simple", "engine", "little", "yellow", "mountain", "question", "paper",
    "change", "careful", "server", "network", "coffee", "window", "friend", "reason", "city",
];

/// Deterministic sentences of 8 to 20 words.
pub fn sentences(n: usize) -> Vec<String> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|_| {
            let len = 8 + (next() % 13) as usize;
            let words: Vec<&str> = (0..len)
                .map(|_| WORDS[(next() % WORDS.len() as u64) as usize])
                .collect();
            let mut s = words.join(" ");
            s.push('.');
            s
        })
        .collect()
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub fn engine(models_dir: &Path, args: BenchEngineArgs) -> Result<ExitCode> {
    if args.repeat == 0 || args.decode_tokens == 0 || args.prefill_tokens == 0 {
        return Err(input_error(
            "--repeat, --decode-tokens and --prefill-tokens must be at least 1",
            None,
        ));
    }
    let threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let start = Instant::now();
    let chat = load_chat(models_dir, &args.model)?;
    let chat_load_ms = start.elapsed().as_secs_f64() * 1e3;

    // Decode: exactly `decode_tokens` greedy tokens.
    let prompt = chat.encode(DECODE_PROMPT, false);
    let req = GenerateRequest {
        sampling: SamplingParams::greedy(),
        max_tokens: args.decode_tokens,
        ignore_eos: true,
        ..GenerateRequest::default()
    };
    // One sequence, then eight stepping together as the server batches them; the aggregate
    // rate against one sequence's is what batching buys. The two alternate, repetition by
    // repetition, so a machine that speeds up or slows down meanwhile moves both alike.
    const BATCH: usize = 8;
    let (mut decode, mut batch) = (0f64, 0f64);
    let mut first_token_ms = f64::MAX;
    for _ in 0..args.repeat {
        let g = chat.generate(&prompt, &req, &mut |_| {})?;
        decode = decode.max(g.timings.decode_tokens_per_s);
        first_token_ms = first_token_ms.min(g.timings.prefill_ms);
        batch = batch.max(batched_decode(&chat, &prompt, BATCH, &req)?);
    }

    // Prefill: one prompt of exactly `prefill_tokens` tokens.
    let mut ids = Vec::new();
    while ids.len() < args.prefill_tokens {
        ids.extend(chat.encode(FILLER, false));
    }
    ids.truncate(args.prefill_tokens);
    let mut prefill = 0f64;
    for _ in 0..args.repeat {
        let mut cache = KvCache::default();
        let t = Instant::now();
        for chunk in ids.chunks(512) {
            chat.llama().forward(chunk, &mut cache, Logits::Last)?;
        }
        prefill = prefill.max(ids.len() as f64 / t.elapsed().as_secs_f64());
    }

    // Embeddings.
    let mut embed = None;
    let mut embed_load_ms = 0.0;
    if args.sentences > 0 || args.sentences_file.is_some() {
        let texts = match &args.sentences_file {
            Some(f) => utf8(
                std::fs::read(f).map_err(|e| input_error(format!("{}: {e}", f.display()), None))?,
                "the sentences",
            )?
            .lines()
            .map(str::to_string)
            .collect(),
            None => sentences(args.sentences),
        };
        let t = Instant::now();
        let embedder = load_embedder(models_dir, &args.embed_model)?;
        embed_load_ms = t.elapsed().as_secs_f64() * 1e3;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let mut best = 0f64;
        for _ in 0..args.repeat {
            let t = Instant::now();
            embedder.embed(
                &refs,
                EmbedOptions {
                    batch_size: args.batch_size,
                },
            )?;
            best = best.max(refs.len() as f64 / t.elapsed().as_secs_f64());
        }
        embed = Some((refs.len(), best));
    }
    let rss = peak_rss_mb();
    let r1 = |x: f64| (x * 10.0).round() / 10.0;
    if args.json {
        let v = serde_json::json!({
            "threads": threads,
            "model": args.model,
            "load_ms": r1(chat_load_ms),
            "decode_prompt_tokens": prompt.len(),
            "decode_tokens": args.decode_tokens,
            "decode_tokens_per_s": r1(decode),
            "batch8_decode_tokens_per_s": r1(batch),
            "batch8_speedup": (batch / decode * 100.0).round() / 100.0,
            "first_token_ms": r1(first_token_ms),
            "prefill_tokens": ids.len(),
            "prefill_tokens_per_s": r1(prefill),
            "embed_model": args.embed_model,
            "embed_load_ms": r1(embed_load_ms),
            "embed_sentences": embed.map(|e| e.0),
            "embed_sentences_per_s": embed.map(|e| r1(e.1)),
            "peak_rss_mb": rss.map(r1),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "incant engine benchmark ({threads} threads, best of {})",
            args.repeat
        );
        println!(
            "  {:<28} {:>10.1} ms",
            format!("load {}", args.model),
            chat_load_ms
        );
        println!(
            "  {:<28} {:>10.1} tok/s",
            format!("decode {} tokens", args.decode_tokens),
            decode
        );
        println!(
            "  {:<28} {:>10.1} tok/s ({:.2}x one)",
            format!("decode x{BATCH} (aggregate)"),
            batch,
            batch / decode
        );
        println!(
            "  {:<28} {:>10.1} ms",
            format!("first token ({}-token prompt)", prompt.len()),
            first_token_ms
        );
        println!(
            "  {:<28} {:>10.1} tok/s",
            format!("prefill {} tokens", ids.len()),
            prefill
        );
        if let Some((n, s)) = embed {
            println!(
                "  {:<28} {:>10.1} sentences/s",
                format!("embed {n} (batch {})", args.batch_size),
                s
            );
        }
        if let Some(rss) = rss {
            println!("  {:<28} {:>10.1} MB", "peak RSS", rss);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Aggregate tokens/s of `n` sequences each generating `req` after `prompt`, stepped
/// together as the server steps them ([`ChatModel::step`]: sampling, text and one batched
/// forward pass a step). Counted as [`ChatModel::generate`] counts one sequence: forward
/// passes per second of decoding.
fn batched_decode(
    chat: &ChatModel,
    prompt: &[u32],
    n: usize,
    req: &GenerateRequest,
) -> Result<f64> {
    let mut seqs = (0..n)
        .map(|_| chat.start(prompt, req.clone(), None))
        .collect::<Result<Vec<_>, _>>()?;
    let t = Instant::now();
    let mut forwards = 0;
    loop {
        let mut refs: Vec<_> = seqs.iter_mut().collect();
        if !chat.step(&mut refs, &mut |_, _| {})? {
            break;
        }
        forwards += n;
    }
    Ok(forwards as f64 / t.elapsed().as_secs_f64())
}
