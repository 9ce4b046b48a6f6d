//! Quick engine timings for kernel work: decode, prefill and embeddings on the real models.
//!
//! `cargo run --release -p incant-engine --example engine_speed -- MODELS_DIR [decode|prefill|embed|all]`
//! (`scripts/bench-engine` is the side-by-side benchmark; this is the fast inner loop.)

use incant_engine::generate::GenerateRequest;
use incant_engine::llama::{KvCache, Logits};
use incant_engine::{ChatModel, EmbedOptions, SamplingParams, SentenceEmbedder};
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().expect("usage: engine_speed MODELS_DIR [what]"));
    let what = args.next().unwrap_or_else(|| "all".into());
    let reps: usize = args.next().map_or(3, |s| s.parse().expect("repetitions"));
    if what != "embed" {
        let t = Instant::now();
        let chat = ChatModel::load(&dir.join("SmolLM2-135M-Instruct.Q4_1.gguf")).expect("load");
        println!("load {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
        if what == "all" || what == "decode" {
            let prompt = chat.encode(
                "The history of the printing press begins in the fifteenth century, when Johannes",
                false,
            );
            let req = GenerateRequest {
                sampling: SamplingParams::greedy(),
                max_tokens: 64,
                ignore_eos: true,
                ..GenerateRequest::default()
            };
            for _ in 0..reps {
                let g = chat.generate(&prompt, &req, &mut |_| {}).expect("generate");
                println!(
                    "decode {:.1} tok/s (first token {:.1} ms)",
                    g.timings.decode_tokens_per_s, g.timings.prefill_ms
                );
            }
        }
        if what == "all" || what == "batch" {
            // Eight sequences decoded together, as a server batches them.
            let prompt = chat.encode("Tell me a story about a lighthouse keeper", false);
            for _ in 0..reps {
                let mut caches: Vec<KvCache> = (0..8).map(|_| KvCache::default()).collect();
                let mut toks = Vec::new();
                for c in caches.iter_mut() {
                    let l = chat
                        .llama()
                        .forward(&prompt, c, Logits::Last)
                        .expect("prefill");
                    toks.push(incant_engine::llama::argmax(&l));
                }
                let t = Instant::now();
                let steps = 32;
                for _ in 0..steps {
                    let mut batch: Vec<(u32, &mut KvCache)> =
                        toks.iter().copied().zip(caches.iter_mut()).collect();
                    let l = chat.llama().forward_batch(&mut batch).expect("batch");
                    let v = l.len() / 8;
                    toks = l
                        .chunks_exact(v)
                        .map(incant_engine::llama::argmax)
                        .collect();
                }
                println!(
                    "batch of 8: {:.1} tok/s aggregate",
                    (8 * steps) as f64 / t.elapsed().as_secs_f64()
                );
            }
        }
        if what == "all" || what == "prefill" {
            let filler =
                "Prompt engineering is software engineering: prompts deserve versions, tests, \
reviews and reproducible builds. When a model changes, every prompt built on it may change \
meaning, and teams need to measure what broke before their users notice. ";
            let mut ids = Vec::new();
            while ids.len() < 512 {
                ids.extend(chat.encode(filler, false));
            }
            ids.truncate(512);
            for _ in 0..reps {
                let mut cache = KvCache::default();
                let t = Instant::now();
                chat.llama()
                    .forward(&ids, &mut cache, Logits::Last)
                    .expect("forward");
                println!("prefill {:.1} tok/s", 512.0 / t.elapsed().as_secs_f64());
            }
        }
    }
    if what == "all" || what == "embed" {
        let e = SentenceEmbedder::load(&dir.join("all-MiniLM-L6-v2")).expect("load embedder");
        let words =
            "the model prompt answer quickly river bright seven under market history garden \
compile token window silver people travel music winter science simple engine little yellow"
                .split(' ')
                .collect::<Vec<_>>();
        let mut s = 7u64;
        let texts: Vec<String> = (0..2000)
            .map(|_| {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let n = 8 + (s >> 33) as usize % 13;
                (0..n)
                    .map(|i| words[((s >> (i % 40)) as usize + i * 7) % words.len()])
                    .collect::<Vec<_>>()
                    .join(" ")
                    + "."
            })
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        for _ in 0..reps {
            let t = Instant::now();
            e.embed(&refs, EmbedOptions { batch_size: 32 })
                .expect("embed");
            println!(
                "embed {:.1} sentences/s",
                refs.len() as f64 / t.elapsed().as_secs_f64()
            );
        }
    }
}
