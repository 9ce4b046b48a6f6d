//! `incant lock`, `incant check` and the guard behind `incant eval --locked`.
//!
//! The lock itself (what is pinned, how it is hashed and written, how drift is found) lives
//! in `incant-lock`; this module loads the suite, prints findings as `path: message` lines or
//! JSON, and maps outcomes to exit codes: `check` exits 1 on drift, and `eval --locked`
//! refuses to run (exit 2) with every finding listed, as `cargo --locked` does.

use crate::cli::LockArgs;
use crate::report::input_error;
use anyhow::Result;
use incant_lock::{Finding, Lock, LockError};
use incant_prompt::Suite;
use std::path::Path;
use std::process::ExitCode;

/// `incant lock`: writes (or confirms) the suite's incant.lock.
pub fn lock(models_dir: &Path, args: LockArgs) -> Result<ExitCode> {
    let suite = load_suite(&args)?;
    let path = incant_lock::lock_path(&suite.path);
    let current = incant_lock::compute(&suite, models_dir).map_err(lock_error)?;
    // What the new lock accepts, when an older readable lock exists.
    let accepted = incant_lock::read(&path)
        .ok()
        .map(|old| findings(&old, &current, &suite, models_dir))
        .unwrap_or_default();
    let written = incant_lock::write(&path, &current).map_err(lock_error)?;
    let shown = show(&path);
    if args.json {
        let out = serde_json::json!({
            "lock": shown,
            "written": written,
            "prompts": current.prompts.len(),
            "providers": current.providers.len(),
            "accepted": accepted,
        });
        println!("{out}");
    } else if written {
        println!(
            "wrote {shown} ({} prompts, {} providers)",
            current.prompts.len(),
            current.providers.len()
        );
        for f in &accepted {
            println!("  {}: {}", f.path, f.message);
        }
    } else {
        println!("{shown} is up to date");
    }
    Ok(ExitCode::SUCCESS)
}

/// `incant check`: reports drift against the lock without running anything.
pub fn check(models_dir: &Path, args: LockArgs) -> Result<ExitCode> {
    let suite = load_suite(&args)?;
    let (path, found) = drift(&suite, models_dir)?;
    let shown = show(&path);
    if args.json {
        let out = serde_json::json!({
            "lock": shown,
            "up_to_date": found.is_empty(),
            "findings": found,
        });
        println!("{out}");
    } else if found.is_empty() {
        println!("{shown} is up to date");
    } else {
        for f in &found {
            println!("{}: {}", f.path, f.message);
        }
        eprintln!(
            "{} change{} since {shown}; run `incant lock` to accept {}",
            found.len(),
            if found.len() == 1 { "" } else { "s" },
            if found.len() == 1 { "it" } else { "them" }
        );
    }
    Ok(if found.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// For `incant eval --locked`: an input error (exit 2) listing every drift, if any.
pub fn ensure_locked(suite: &Suite, models_dir: &Path) -> Result<()> {
    let (path, found) = drift(suite, models_dir)?;
    if found.is_empty() {
        return Ok(());
    }
    let lines: String = found
        .iter()
        .map(|f| format!("\n  {}: {}", f.path, f.message))
        .collect();
    Err(input_error(
        format!("--locked: the suite drifted from {}:{lines}", show(&path)),
        Some("run `incant lock` to accept the changes"),
    ))
}

/// The lock's path and what differs from it now.
fn drift(suite: &Suite, models_dir: &Path) -> Result<(std::path::PathBuf, Vec<Finding>)> {
    let path = incant_lock::lock_path(&suite.path);
    let locked = incant_lock::read(&path).map_err(lock_error)?;
    let current = incant_lock::compute_present(suite, models_dir).map_err(lock_error)?;
    let found = findings(&locked, &current, suite, models_dir);
    Ok((path, found))
}

fn findings(locked: &Lock, current: &Lock, suite: &Suite, models_dir: &Path) -> Vec<Finding> {
    let dir = suite.path.parent().unwrap_or(Path::new(""));
    incant_lock::compare(locked, current, dir, models_dir)
}

fn load_suite(args: &LockArgs) -> Result<Suite> {
    let path = args.config.as_ref().unwrap_or(&args.suite);
    Suite::load(path).map_err(|e| input_error(e.to_string(), e.hint.as_deref()))
}

fn lock_error(e: LockError) -> anyhow::Error {
    match e {
        LockError::Io { .. } => e.into(),
        e => input_error(e.to_string(), e.hint().as_deref()),
    }
}

fn show(path: &Path) -> String {
    incant_lock::compute::relative(Path::new(""), path)
}
