//! `incant runs list|show|export`: the stored history of eval runs.

use crate::cli::{ExportFormat, RunsCommand};
use crate::report::input_error;
use anyhow::{Context as _, Result};
use incant_eval::runner::CaseResult;
use incant_report::{Format, ReportWriter, RunInfo};
use incant_store::{Store, StoreError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The store file: the flag, else `.incant/incant.db` in the current folder.
pub fn db_path(explicit: Option<PathBuf>) -> PathBuf {
    explicit.unwrap_or_else(|| PathBuf::from(".incant").join("incant.db"))
}

pub(super) fn open(path: &Path) -> Result<Store> {
    if !path.exists() {
        return Err(input_error(
            format!("no run store at {}", path.display()),
            Some("run `incant eval SUITE` first, or pass --db FILE"),
        ));
    }
    Ok(Store::open(path)?)
}

pub(super) fn no_such_run(e: StoreError) -> anyhow::Error {
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
        RunsCommand::Export {
            run,
            format,
            output,
        } => {
            let summary = store.run(&run).map_err(no_such_run)?;
            let format = match format {
                ExportFormat::Jsonl => Format::Jsonl,
                ExportFormat::Json => Format::Json,
                ExportFormat::Csv => Format::Csv,
                ExportFormat::Junit => Format::Junit,
                ExportFormat::Html => Format::Html,
            };
            let config: serde_json::Value =
                serde_json::from_str(&store.run_config(&summary.id)?).unwrap_or_default();
            let names = |key: &str| -> Vec<String> {
                config[key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().or_else(|| v["name"].as_str()))
                    .map(str::to_string)
                    .collect()
            };
            let info = RunInfo {
                run_id: Some(summary.id.clone()),
                suite: summary.suite.clone(),
                description: summary.description.clone(),
                started_at: Some(summary.started_at),
                prompts: names("prompts"),
                providers: names("providers"),
            };
            let sink: Box<dyn Write> = match &output {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("cannot write {}", p.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout())),
            };
            let mut report = ReportWriter::new(format, info, sink)?;
            let mut err = None;
            store.for_each_case(&summary.id, |c| {
                match serde_json::from_str::<CaseResult>(&c.result) {
                    Ok(case) => {
                        if let Err(e) = report.case(&case) {
                            err.get_or_insert(anyhow::Error::from(e));
                        }
                    }
                    Err(e) => {
                        err.get_or_insert(anyhow::anyhow!(
                            "case {} of run {} is unreadable: {e}",
                            c.idx,
                            summary.id
                        ));
                    }
                }
            })?;
            if let Some(e) = err {
                return Err(e);
            }
            report.finish()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
