//! `incant generate`: one chat reply (or raw continuation), streamed.

use super::{load_chat, read_text_arg};
use crate::cli::GenerateArgs;
use crate::report::paint;
use anyhow::Result;
use incant_engine::generate::GenerateRequest;
use incant_engine::{ChatMessage, SamplingParams};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

pub fn run(models_dir: &Path, args: GenerateArgs) -> Result<ExitCode> {
    let prompt = read_text_arg(args.prompt.clone(), "the prompt")?;
    let model = load_chat(models_dir, &args.model)?;
    let (text, parse_special) = if args.raw {
        (prompt, false)
    } else {
        let mut messages = Vec::new();
        if let Some(system) = &args.system {
            messages.push(ChatMessage::new("system", system));
        }
        messages.push(ChatMessage::new("user", prompt));
        (model.render_chat(&messages)?, true)
    };
    let ids = model.encode(&text, parse_special);
    let req = GenerateRequest {
        sampling: SamplingParams {
            temperature: args.temperature,
            top_k: args.top_k,
            top_p: args.top_p,
            min_p: args.min_p,
            repeat_penalty: args.repeat_penalty,
            repeat_last_n: 64,
            seed: args.seed,
        },
        max_tokens: args.max_tokens,
        stop: args.stop.clone(),
        logprobs: args.logprobs,
        ignore_eos: false,
    };
    let mut stdout = std::io::stdout().lock();
    let mut write_err = None;
    let mut stream = |piece: &str| {
        if args.json || write_err.is_some() {
            return;
        }
        if let Err(e) = stdout
            .write_all(piece.as_bytes())
            .and_then(|()| stdout.flush())
        {
            write_err = Some(e);
        }
    };
    let mut out = model.generate(&ids, &req, &mut stream)?;
    if let Some(e) = write_err {
        return Err(e.into());
    }
    out.timings.load_ms = model.load_ms();
    if args.json {
        let mut v = serde_json::json!({
            "model": args.model,
            "text": out.text,
            "token_ids": out.token_ids,
            "finish_reason": out.finish_reason,
            "usage": {"prompt_tokens": out.prompt_tokens, "completion_tokens": out.token_ids.len()},
            "timings": {
                "load_ms": round(out.timings.load_ms),
                "prefill_ms": round(out.timings.prefill_ms),
                "decode_ms": round(out.timings.decode_ms),
                "prefill_tokens_per_s": round(out.timings.prefill_tokens_per_s),
                "decode_tokens_per_s": round(out.timings.decode_tokens_per_s),
            },
        });
        if let Some(lp) = &out.logprobs {
            v["logprobs"] = serde_json::json!(lp);
        }
        writeln!(stdout, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        if !out.text.ends_with('\n') {
            writeln!(stdout)?;
        }
        if std::io::stderr().is_terminal() {
            let t = &out.timings;
            eprintln!(
                "{}",
                paint(
                    &format!(
                        "{} prompt + {} new tokens · load {:.0} ms · prefill {:.0} tok/s · decode {:.1} tok/s",
                        out.prompt_tokens,
                        out.token_ids.len(),
                        t.load_ms,
                        t.prefill_tokens_per_s,
                        t.decode_tokens_per_s
                    ),
                    "2"
                )
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
