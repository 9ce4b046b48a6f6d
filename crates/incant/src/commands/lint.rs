//! `incant lint`: prompt files checked before they run (rules live in `incant-lint`); this
//! module only reads the flags, prints findings, docs and the rule list, and sets the exit
//! code (1 when an error-level finding exists, 2 when the input cannot be read).

use crate::cli::LintArgs;
use crate::report::input_error;
use anyhow::Result;
use incant_lint::{lint_paths, parse_rules, Level, LintError, Options, Rule, RULES};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

fn usage(e: LintError) -> anyhow::Error {
    input_error(e.to_string(), e.hint().as_deref())
}

/// Runs `incant lint`.
pub fn run(models_dir: &Path, args: LintArgs) -> Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    if args.list {
        for r in RULES {
            writeln!(
                stdout,
                "{}  {:<31} {:<7} {}",
                r.code,
                r.name,
                r.level.to_string(),
                r.summary
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(code) = &args.explain {
        let rule =
            Rule::from_code(code).ok_or_else(|| usage(LintError::UnknownRule(code.clone())))?;
        let info = rule.info();
        write!(stdout, "{}", info.doc)?;
        writeln!(stdout, "\nLevel: {}", info.level)?;
        return Ok(ExitCode::SUCCESS);
    }
    let opts = Options {
        select: parse_rules(&args.select).map_err(usage)?,
        ignore: parse_rules(&args.ignore).map_err(usage)?,
        models_dir: models_dir.to_path_buf(),
    };
    let found = lint_paths(&args.paths, &opts).map_err(usage)?;
    let errors = found
        .iter()
        .filter(|d| d.rule.level() == Level::Error)
        .count();
    let warnings = found.len() - errors;
    if args.json {
        let all: Vec<serde_json::Value> = found.iter().map(|d| d.to_json()).collect();
        writeln!(stdout, "{}", serde_json::to_string_pretty(&all)?)?;
    } else {
        for d in &found {
            writeln!(stdout, "{}", d.to_line())?;
        }
        if found.is_empty() {
            eprintln!("All checks passed.");
        } else {
            eprintln!("Found {errors} error(s) and {warnings} warning(s); `incant lint --explain CODE` says why and how to fix each.");
        }
    }
    Ok(if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
