//! `incant embed`: sentence vectors for texts or stdin lines.

use super::{load_embedder, utf8};
use crate::cli::EmbedArgs;
use anyhow::{Context, Result};
use incant_engine::EmbedOptions;
use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;

pub fn run(models_dir: &Path, args: EmbedArgs) -> Result<ExitCode> {
    let texts = if args.texts.is_empty() {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("could not read stdin")?;
        utf8(bytes, "the text")?
            .lines()
            .map(str::to_string)
            .collect()
    } else {
        args.texts.clone()
    };
    let model = load_embedder(models_dir, &args.model)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = model.embed(
        &refs,
        EmbedOptions {
            batch_size: usize::from(args.batch_size),
        },
    )?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let items: Vec<_> = texts
            .iter()
            .zip(&vectors)
            .map(|(t, v)| serde_json::json!({"text": t, "embedding": v}))
            .collect();
        let v = serde_json::json!({"model": args.model, "dim": model.dim(), "data": items});
        writeln!(out, "{}", serde_json::to_string(&v)?)?;
    } else if std::io::stdout().is_terminal() {
        for (t, v) in texts.iter().zip(&vectors) {
            let head: Vec<String> = v.iter().take(4).map(|x| format!("{x:+.4}")).collect();
            let label: String = t.chars().take(40).collect();
            writeln!(
                out,
                "{label:<40}  [{}, …] ({} dims)",
                head.join(", "),
                v.len()
            )?;
        }
    } else {
        for v in &vectors {
            let line: Vec<String> = v.iter().map(|x| x.to_string()).collect();
            writeln!(out, "{}", line.join(" "))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
