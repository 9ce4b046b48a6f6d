//! `incant eval`: run a suite and show the matrix.

use crate::cli::EvalArgs;
use crate::report::{input_error, paint};
use anyhow::{Context as _, Result};
use incant_eval::runner::{self, CaseResult, Target};
use incant_prompt::{PromptError, PromptFile, Suite};
use incant_provider::{from_spec, Provider, ProviderError};
use incant_store::{Store, StoredCase};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

/// The response cache on its own connection to the store (workers share it).
struct StoreCache(std::sync::Mutex<Store>);

impl runner::ResponseCache for StoreCache {
    fn get(&self, key: &str) -> Option<String> {
        self.0.lock().ok()?.cache_get(key).ok().flatten()
    }

    fn put(&self, key: &str, value: &str) {
        if let Ok(s) = self.0.lock() {
            // A cache that cannot be written only costs a repeated call later.
            let _ = s.cache_put(key, value);
        }
    }
}

fn prompt_error(e: PromptError) -> anyhow::Error {
    input_error(e.to_string(), e.hint.as_deref())
}

/// The run being resumed: its id, its stored results, and the suite it ran.
struct Resumed {
    id: String,
    results: Vec<CaseResult>,
    suite: std::path::PathBuf,
    repeat: usize,
    total: usize,
}

fn resumed(store: &Store, run: &str) -> Result<Resumed> {
    let summary = store.run(run).map_err(|e| {
        input_error(
            e.to_string(),
            Some("`incant runs list` shows the stored runs"),
        )
    })?;
    let config: serde_json::Value = serde_json::from_str(&store.run_config(&summary.id)?)?;
    let mut results = Vec::new();
    store.for_each_case(&summary.id, |c| {
        if let Ok(r) = serde_json::from_str::<CaseResult>(&c.result) {
            results.push(r);
        }
    })?;
    Ok(Resumed {
        id: summary.id,
        results,
        suite: config["suite"].as_str().unwrap_or(&summary.suite).into(),
        repeat: config["repeat"].as_u64().unwrap_or(1) as usize,
        total: summary.total,
    })
}

pub fn run(models_dir: &Path, args: EvalArgs) -> Result<ExitCode> {
    let store = if args.no_store {
        None
    } else {
        Some(Store::open(&super::runs::db_path(args.db.clone()))?)
    };
    let resume = match (&args.resume, &store) {
        (Some(run), Some(s)) => Some(resumed(s, run)?),
        _ => None,
    };
    let suite_path = match &resume {
        Some(r) => r.suite.clone(),
        None => args.config.clone().unwrap_or(args.suite.clone()),
    };
    let suite = Suite::load(&suite_path).map_err(prompt_error)?;
    let mut prompts = Vec::new();
    for p in &suite.prompt_files {
        prompts.push(PromptFile::load(p).map_err(prompt_error)?);
    }
    for (i, text) in suite.inline_prompts.iter().enumerate() {
        let label = format!("{}#inline-{}", suite.path.display(), i + 1);
        prompts.push(PromptFile::parse(Path::new(&label), text).map_err(prompt_error)?);
    }
    if prompts.is_empty() || suite.providers.is_empty() || suite.tests.is_empty() {
        return Err(input_error(
            format!(
                "{}: the suite needs prompts, providers and tests",
                suite.path.display()
            ),
            Some("see examples/quickstart/incant.yaml for a complete suite"),
        ));
    }
    let assertions = runner::parse_assertions(&suite.tests)
        .map_err(|e| input_error(e, Some("see `incant eval --help` for the assertion types")))?;
    let providers: Vec<Box<dyn Provider>> = suite
        .providers
        .iter()
        .map(|p| {
            from_spec(&p.id, &p.config, models_dir).map_err(|e| match e {
                ProviderError::Config(m) => {
                    input_error(format!("{}: {m}", suite.path.display()), None)
                }
                other => anyhow::anyhow!(other),
            })
        })
        .collect::<Result<_>>()?;
    let targets: Vec<Target<'_>> = suite
        .providers
        .iter()
        .zip(&providers)
        .map(|(spec, p)| Target {
            label: spec.label.clone().unwrap_or_else(|| spec.id.clone()),
            provider: p.as_ref(),
            config: spec.config.clone(),
        })
        .collect();
    let repeat = match &resume {
        Some(r) => r.repeat,
        None => args.repeat.map_or(suite.options.repeat, usize::from),
    };
    let concurrency = args
        .max_concurrency
        .map_or(suite.options.max_concurrency, usize::from);
    let cache = if args.no_cache || args.no_store || !suite.options.cache {
        None
    } else {
        Some(StoreCache(std::sync::Mutex::new(Store::open(
            &super::runs::db_path(args.db.clone()),
        )?)))
    };
    let plan = runner::Plan {
        prompts: &prompts,
        targets: &targets,
        tests: &suite.tests,
        assertions: &assertions,
        repeat,
        cache: cache.as_ref().map(|c| c as &dyn runner::ResponseCache),
        grader: None,
    };
    let total = plan.total();
    if let Some(r) = resume.as_ref().filter(|r| r.total != total) {
        return Err(input_error(
            format!(
                "run {} had {} cases but {} now expands to {total}",
                r.id,
                r.total,
                suite.path.display()
            ),
            Some("the suite changed since the run; start a new run"),
        ));
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second Ctrl-C while cases finish falls back to the default (exit at once; the
        // store keeps every finished case either way).
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, std::sync::atomic::Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("\nstopping: finishing the cases in flight (Ctrl-C again to quit now)");
        });
    }

    let mut jsonl = match &args.output {
        Some(p) if p.extension().is_some_and(|e| e == "jsonl") => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        )),
        Some(p) if p.extension().is_some_and(|e| e == "json") => None,
        Some(p) => {
            return Err(input_error(
                format!("unsupported output file {}", p.display()),
                Some("use a .jsonl or .json file"),
            ))
        }
        None => None,
    };
    let bar = if std::io::stderr().is_terminal() && !args.json {
        let b = ProgressBar::new(total as u64);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{bar:30}] {pos}/{len} cases, {msg} failed, eta {eta}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        b.set_message("0");
        b
    } else {
        ProgressBar::hidden()
    };
    let config = serde_json::json!({
        "suite": suite.path, "repeat": repeat, "concurrency": concurrency,
        "prompts": prompts.iter().map(|p| serde_json::json!({"name": p.name, "version": p.version.as_ref().map(ToString::to_string)})).collect::<Vec<_>>(),
        "providers": targets.iter().map(|t| &t.label).collect::<Vec<_>>(),
    });
    let run_id = match (&store, &resume) {
        (Some(_), Some(r)) => Some(r.id.clone()),
        (Some(s), None) => Some(s.begin_run(
            &suite.path.display().to_string(),
            suite.description.as_deref(),
            total,
            &config.to_string(),
        )?),
        (None, _) => None,
    };
    let mut store_error = None;
    let mut results: Vec<CaseResult> = resume.map(|r| r.results).unwrap_or_default();
    let skip: std::collections::HashSet<usize> = results.iter().map(|r| r.index).collect();
    let mut failed = results.iter().filter(|r| !r.pass).count();
    bar.inc(skip.len() as u64);
    let mut write_error = None;
    runner::run(&plan, concurrency, &skip, &stop, |r| {
        failed += usize::from(!r.pass);
        bar.inc(1);
        bar.set_message(failed.to_string());
        if let (Some(s), Some(id)) = (&store, &run_id) {
            let case = StoredCase {
                idx: r.index,
                prompt: r.prompt.clone(),
                provider: r.provider.clone(),
                pass: r.pass,
                score: r.score,
                result: serde_json::to_string(&r).unwrap_or_default(),
            };
            if let Err(e) = s.record(id, &case) {
                store_error.get_or_insert(e);
            }
        }
        if let Some(w) = jsonl.as_mut() {
            if let Err(e) = serde_json::to_writer(&mut *w, &r)
                .map_err(std::io::Error::from)
                .and_then(|()| w.write_all(b"\n"))
            {
                write_error.get_or_insert(e);
            }
        }
        results.push(r);
    });
    bar.finish_and_clear();
    let interrupted = stop.load(std::sync::atomic::Ordering::SeqCst) && results.len() < total;
    if let (Some(s), Some(id)) = (&store, &run_id) {
        s.finish_run(
            id,
            if interrupted {
                "interrupted"
            } else {
                "finished"
            },
        )?;
    }
    if let Some(e) = store_error {
        return Err(e).context("recording the run");
    }
    if let Some(e) = write_error {
        return Err(e).context("writing the results file");
    }
    if let Some(mut w) = jsonl {
        w.flush()?;
    }
    results.sort_by_key(|r| r.index);
    if let Some(p) = args
        .output
        .as_ref()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
    {
        std::fs::write(p, serde_json::to_string_pretty(&results)?)
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    if args.json {
        let v = serde_json::json!({
            "suite": suite.path,
            "total": results.len(),
            "planned": total,
            "passed": results.len() - failed,
            "failed": failed,
            "run_id": run_id,
            "results": results,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_matrix(&prompts, &targets, &results);
        print_failures(&results);
        if let Some(id) = &run_id {
            println!("\nrun {id} stored; `incant runs show {id}`");
        }
    }
    if interrupted {
        let how = match &run_id {
            Some(id) => format!("resume with `incant eval --resume {id}`"),
            None => "the run was not stored (--no-store); run it again".into(),
        };
        eprintln!("interrupted after {}/{total} cases; {how}", results.len());
        return Ok(ExitCode::from(130));
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_matrix(prompts: &[PromptFile], targets: &[Target<'_>], results: &[CaseResult]) {
    let mut cells: BTreeMap<(&str, &str), (usize, usize, f64)> = BTreeMap::new();
    for r in results {
        let c = cells
            .entry((r.prompt.as_str(), r.provider.as_str()))
            .or_default();
        c.0 += usize::from(r.pass);
        c.1 += 1;
        c.2 += r.latency_ms;
    }
    let width = prompts
        .iter()
        .map(|p| p.name.len())
        .max()
        .unwrap_or(6)
        .clamp(6, 30);
    let mut header = format!("{:width$}", "prompt");
    for t in targets {
        header.push_str(&format!("  {:>22}", truncate(&t.label, 22)));
    }
    println!("{}", paint(&header, "1"));
    for p in prompts {
        let mut line = format!("{:width$}", truncate(&p.name, width));
        for t in targets {
            let (pass, n, ms) = cells
                .get(&(p.name.as_str(), t.label.as_str()))
                .copied()
                .unwrap_or_default();
            let cell = format!(
                "{pass}/{n} pass, {:.0} ms",
                if n > 0 { ms / n as f64 } else { 0.0 }
            );
            let colored = if pass == n {
                paint(&format!("{cell:>22}"), "32")
            } else {
                paint(&format!("{cell:>22}"), "31")
            };
            line.push_str("  ");
            line.push_str(&colored);
        }
        println!("{line}");
    }
    let passed = results.iter().filter(|r| r.pass).count();
    println!("\n{passed}/{} cases passed", results.len());
}

fn print_failures(results: &[CaseResult]) {
    const SHOWN: usize = 10;
    let failures: Vec<&CaseResult> = results.iter().filter(|r| !r.pass).collect();
    for r in failures.iter().take(SHOWN) {
        let vars: Vec<String> = r
            .vars
            .iter()
            .map(|(k, v)| format!("{k}={}", truncate(&v.to_string(), 30)))
            .collect();
        println!(
            "\n{} {} × {} [{}]",
            paint("FAIL", "1;31"),
            r.prompt,
            r.provider,
            vars.join(", ")
        );
        if let Some(e) = &r.error {
            println!("  error: {e}");
            continue;
        }
        if let Some(o) = &r.output {
            println!("  output: {}", truncate(&o.replace('\n', " "), 100));
        }
        for a in r.assertions.iter().filter(|a| !a.grade.pass) {
            println!("  {}: {}", a.kind, a.grade.reason);
        }
    }
    if failures.len() > SHOWN {
        println!(
            "\n… and {} more failing cases (-o results.jsonl for all)",
            failures.len() - SHOWN
        );
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}
