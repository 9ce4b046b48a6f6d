//! `incant guard scan`: incant-guard's input detectors on the command line, one text or one
//! per line (`--jsonl`), for scripts that screen user input before it reaches a prompt.

use crate::guard_cli::GuardScanArgs;
use crate::report::{input_error, paint};
use anyhow::{Context, Result};
use incant_guard::{Guard, GuardConfig, Scan};
use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::process::ExitCode;

fn build(models_dir: &Path, args: &GuardScanArgs) -> Result<Guard> {
    let mut config = GuardConfig::default();
    if let Some(t) = args.threshold {
        if !(0.0..=1.0).contains(&t) {
            return Err(input_error(
                format!("--threshold {t} is outside [0, 1]"),
                Some("scores are in [0, 1]; 0.5 is the default"),
            ));
        }
        config.threshold = t;
    }
    if !args.embed {
        return Ok(Guard::new(config));
    }
    let embedder = Guard::load_embedder(models_dir, "minilm").map_err(|e| {
        input_error(
            format!("--embed needs the local embedding model: {e}"),
            Some("run `incant models fetch minilm`"),
        )
    })?;
    Guard::with_embedder(config, embedder).map_err(|e| anyhow::anyhow!("{e}"))
}

fn print_scan(scan: &Scan) {
    let verdict = if scan.flagged {
        paint("flagged", "31")
    } else {
        paint("ok", "32")
    };
    println!(
        "{verdict} score {:.2} (threshold {:.2})",
        scan.score, scan.threshold
    );
    for r in &scan.reasons {
        println!("  {:<11} {:.2}  {}", r.detector, r.score, r.detail);
    }
}

/// Runs `incant guard scan`.
pub fn scan(models_dir: &Path, args: GuardScanArgs) -> Result<ExitCode> {
    let guard = build(models_dir, &args)?;
    if args.jsonl {
        let stdin = std::io::stdin();
        let mut out = std::io::stdout().lock();
        let mut flagged = false;
        let mut line = Vec::new();
        let mut reader = stdin.lock();
        loop {
            line.clear();
            if reader
                .read_until(b'\n', &mut line)
                .context("cannot read stdin")?
                == 0
            {
                break;
            }
            while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                line.pop();
            }
            let scan = guard.scan_input_bytes(&line);
            flagged |= scan.flagged;
            serde_json::to_writer(&mut out, &scan)?;
            out.write_all(b"\n")?;
        }
        return Ok(if flagged {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        });
    }
    let bytes = match (&args.file, &args.text) {
        (Some(f), _) => std::fs::read(f)
            .map_err(|e| input_error(format!("cannot read {}: {e}", f.display()), None))?,
        (None, Some(t)) if t != "-" => t.clone().into_bytes(),
        _ => {
            let mut b = Vec::new();
            std::io::stdin()
                .read_to_end(&mut b)
                .context("cannot read stdin")?;
            b
        }
    };
    let scan = guard.scan_input_bytes(&bytes);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&scan)?);
    } else {
        print_scan(&scan);
    }
    Ok(if scan.flagged {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
