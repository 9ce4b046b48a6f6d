//! `incant redteam`: the guard's attack library against a suite's prompts (or one prompt
//! file) on real providers, with and without the guard; the report on the terminal, as JSON
//! or HTML, and stored as a run so `incant compare` shows whether a change made a prompt
//! more or less exposed.

use super::tally::terminal_width;
use crate::guard_cli::RedteamArgs;
use crate::report::{input_error, paint};
use anyhow::{Context, Result};
use incant_guard::{AttackLibrary, Guard, GuardConfig};
use incant_prompt::{load_prompts, PromptFile, Suite};
use incant_provider::{from_spec, Provider};
use incant_redteam::{parse_category, run, GuardMode, RedteamOptions};
use incant_store::Store;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Map, Value};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

/// A provider id with its suite config.
type ProviderSpec = (String, Map<String, Value>);

/// What the target path holds.
struct Targets {
    prompts: Vec<PromptFile>,
    providers: Vec<ProviderSpec>,
    vars: Map<String, Value>,
}

/// The prompts, provider ids and variables of the target path.
fn targets(args: &RedteamArgs) -> Result<Targets> {
    let path = &args.target;
    let is_suite = path.is_dir() || path.extension().is_some_and(|e| e == "yaml" || e == "yml");
    let prompt_error = |e: incant_prompt::PromptError| {
        let hint = e.hint.clone();
        input_error(e.to_string(), hint.as_deref())
    };
    if is_suite {
        let file = if path.is_dir() {
            path.join("incant.yaml")
        } else {
            path.clone()
        };
        let suite = Suite::load(&file).map_err(prompt_error)?;
        let mut prompts = Vec::new();
        for p in &suite.prompt_files {
            prompts.extend(load_prompts(p).map_err(prompt_error)?);
        }
        let providers = suite
            .providers
            .iter()
            .map(|p| (p.id.clone(), p.config.clone()))
            .collect();
        let vars = suite
            .tests
            .iter()
            .next()
            .map(|t| t.vars)
            .unwrap_or_default();
        return Ok(Targets {
            prompts,
            providers,
            vars,
        });
    }
    let prompts = load_prompts(path).map_err(prompt_error)?;
    let providers = prompts
        .iter()
        .filter_map(|p| p.model.clone())
        .map(|m| (m, Map::new()))
        .collect();
    Ok(Targets {
        prompts,
        providers,
        vars: Map::new(),
    })
}

/// Runs `incant redteam`.
pub fn run_command(models_dir: &Path, args: RedteamArgs) -> Result<ExitCode> {
    let Targets {
        prompts,
        providers: suite_providers,
        vars,
    } = targets(&args)?;
    let provider_ids: Vec<ProviderSpec> = if args.providers.is_empty() {
        suite_providers
    } else {
        args.providers
            .iter()
            .map(|p| (p.clone(), Map::new()))
            .collect()
    };
    if provider_ids.is_empty() {
        return Err(input_error(
            "no provider to attack",
            Some("pass -p local:smollm2 (or any provider id), or run it on a suite"),
        ));
    }
    let providers: Vec<Box<dyn Provider>> = provider_ids
        .iter()
        .map(|(id, config)| {
            from_spec(id, config, models_dir)
                .map_err(|e| input_error(format!("{id}: {e}"), Some("provider ids as in suites")))
        })
        .collect::<Result<_>>()?;
    let options = RedteamOptions {
        guard: GuardMode::parse(&args.guard).map_err(|e| input_error(e.to_string(), None))?,
        categories: args
            .categories
            .iter()
            .map(|c| parse_category(c).map_err(|e| input_error(e.to_string(), None)))
            .collect::<Result<_>>()?,
        repeats: args.repeats,
        seed: args.seed,
        max_attacks: args.max_attacks,
        input_var: args.input_var.clone(),
        vars,
        params: args
            .max_tokens
            .map(|n| Map::from_iter([("max_tokens".to_string(), json!(n))]))
            .unwrap_or_default(),
        ..Default::default()
    };
    let guard = Guard::new(GuardConfig::default());
    let library = AttackLibrary::builtin();
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} red team [{bar:30}] {pos}/{len} {elapsed}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let report = run(&prompts, &providers, &guard, &library, &options, |p| {
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
    })
    .map_err(|e| input_error(e.to_string(), Some("see `incant redteam --help`")))?;
    bar.finish_and_clear();

    let run_id = if args.no_store {
        None
    } else {
        let db = super::runs::db_path(args.db.clone());
        if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let store = Store::open(&db)?;
        let suite = format!("redteam:{}", args.target.display());
        Some(
            report
                .store(&store, &suite, None)
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        )
    };
    if let Some(out) = &args.output {
        let text = match out.extension().and_then(|e| e.to_str()) {
            Some("html") => report.to_html(),
            Some("json") => report.to_json(),
            _ => {
                return Err(input_error(
                    format!("{}: write .html or .json", out.display()),
                    None,
                ))
            }
        };
        std::fs::write(out, text).with_context(|| format!("cannot write {}", out.display()))?;
    }
    if args.json {
        println!("{}", report.to_json());
    } else {
        let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::io::stdout().is_terminal();
        print!("{}", report.to_terminal(terminal_width(), color));
        if let Some(id) = &run_id {
            println!(
                "{} {id} (compare two with `incant compare RUN_A RUN_B`)",
                paint("stored as", "2")
            );
        }
    }
    let guarded = options.guard.includes_on();
    let worst = report
        .providers
        .iter()
        .filter_map(|p| report.overall_for(p, guarded))
        .map(|c| c.success_rate)
        .fold(0.0, f64::max);
    Ok(match args.fail_above {
        Some(limit) if worst > limit => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}
