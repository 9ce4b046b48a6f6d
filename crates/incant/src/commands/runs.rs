//! `incant runs list|show|export`: the stored history of eval runs.

use crate::cli::{ExportFormat, RunsCommand};
use crate::report::input_error;
use anyhow::Result;
use incant_store::{Store, StoreError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The store file: the flag, else `.incant/incant.db` in the current folder.
pub fn db_path(explicit: Option<PathBuf>) -> PathBuf {
    explicit.unwrap_or_else(|| PathBuf::from(".incant").join("incant.db"))
}

fn open(path: &Path) -> Result<Store> {
    if !path.exists() {
        return Err(input_error(
            format!("no run store at {}", path.display()),
            Some("run `incant eval SUITE` first, or pass --db FILE"),
        ));
    }
    Ok(Store::open(path)?)
}

fn no_such_run(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::NoSuchRun(id) => input_error(
            format!("no run `{id}` in the store"),
            Some("`incant runs list` shows the stored runs; `latest` is the newest"),
        ),
        other => other.into(),
    }
}

/// `incant cache clear`.
pub fn clear_cache(db: &Path) -> Result<ExitCode> {
    if !db.exists() {
        println!("no cache at {} (nothing to clear)", db.display());
        return Ok(ExitCode::SUCCESS);
    }
    let n = Store::open(db)?.cache_clear()?;
    println!("removed {n} cached responses from {}", db.display());
    Ok(ExitCode::SUCCESS)
}

pub fn run(db: &Path, command: RunsCommand) -> Result<ExitCode> {
    let store = open(db)?;
    let mut out = std::io::stdout().lock();
    match command {
        RunsCommand::List { json } => {
            let runs = store.list_runs()?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&runs)?)?;
            } else {
                for r in &runs {
                    writeln!(
                        out,
                        "{:<16} {:<11} {:>5}/{:<5} passed {:>5}  {}",
                        r.id, r.status, r.done, r.total, r.passed, r.suite
                    )?;
                }
                if runs.is_empty() {
                    writeln!(out, "no runs yet")?;
                }
            }
        }
        RunsCommand::Show { run, json } => {
            let summary = store.run(&run).map_err(no_such_run)?;
            let mut cases = Vec::new();
            store.for_each_case(&summary.id, |c| cases.push(c))?;
            if json {
                let results: Vec<serde_json::Value> = cases
                    .iter()
                    .filter_map(|c| serde_json::from_str(&c.result).ok())
                    .collect();
                let v = serde_json::json!({"run": summary, "results": results});
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                writeln!(
                    out,
                    "run {} ({}) of {}",
                    summary.id, summary.status, summary.suite
                )?;
                writeln!(
                    out,
                    "{}/{} cases stored, {} passed",
                    summary.done, summary.total, summary.passed
                )?;
                for c in cases.iter().filter(|c| !c.pass) {
                    let v: serde_json::Value = serde_json::from_str(&c.result).unwrap_or_default();
                    let reason = v["error"].as_str().map(str::to_string).unwrap_or_else(|| {
                        v["assertions"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter(|a| a["pass"] == false)
                            .map(|a| {
                                format!(
                                    "{}: {}",
                                    a["type"].as_str().unwrap_or("?"),
                                    a["reason"].as_str().unwrap_or("")
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("; ")
                    });
                    writeln!(
                        out,
                        "FAIL #{} {} × {}: {}",
                        c.idx, c.prompt, c.provider, reason
                    )?;
                }
            }
        }
        RunsCommand::Export { run, format } => {
            let summary = store.run(&run).map_err(no_such_run)?;
            let mut first = true;
            if matches!(format, ExportFormat::Json) {
                write!(out, "[")?;
            }
            let mut err = None;
            store.for_each_case(&summary.id, |c| {
                let line = match format {
                    ExportFormat::Jsonl => format!("{}\n", c.result),
                    ExportFormat::Json => format!("{}{}", if first { "" } else { "," }, c.result),
                };
                first = false;
                if let Err(e) = out.write_all(line.as_bytes()) {
                    err.get_or_insert(e);
                }
            })?;
            if let Some(e) = err {
                return Err(e.into());
            }
            if matches!(format, ExportFormat::Json) {
                writeln!(out, "]")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
