//! `incant tokenize`: token ids and pieces of a text, from the model's own tokenizer.

use super::{load_chat, read_text_arg};
use crate::cli::TokenizeArgs;
use anyhow::Result;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

pub fn run(models_dir: &Path, args: TokenizeArgs) -> Result<ExitCode> {
    let text = read_text_arg(args.text, "the text")?;
    let model = load_chat(models_dir, &args.model)?;
    let tok = model.tokenizer();
    let ids = tok.encode(&text, true, args.parse_special);
    let pieces: Vec<String> = ids
        .iter()
        .map(|&id| {
            let mut b = Vec::new();
            tok.token_bytes(id, true, &mut b)
                .map(|()| String::from_utf8_lossy(&b).into_owned())
        })
        .collect::<Result<_, _>>()?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let v = serde_json::json!({"model": args.model, "count": ids.len(), "ids": ids, "pieces": pieces});
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        writeln!(out, "{} tokens", ids.len())?;
        for (id, piece) in ids.iter().zip(&pieces) {
            writeln!(out, "{id:>7}  {piece:?}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
