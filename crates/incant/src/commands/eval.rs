//! `incant eval`: run a suite and show the matrix.

use super::tally::{truncate, Tally};
use crate::cli::EvalArgs;
use crate::report::input_error;
use anyhow::{Context as _, Result};
use incant_eval::runner::{self, CaseResult, Target};
use incant_prompt::{PromptError, PromptFile, Suite};
use incant_provider::{from_spec, Provider, ProviderError};
use incant_report::{Format, ReportWriter, RunInfo};
use incant_store::{Store, StoredCase};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc;

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

pub(super) fn prompt_error(e: PromptError) -> anyhow::Error {
    input_error(e.to_string(), e.hint.as_deref())
}

/// The run being resumed: its id and the suite it ran (its stored cases are read back as
/// the run starts).
struct Resumed {
    id: String,
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
    Ok(Resumed {
        id: summary.id,
        suite: config["suite"].as_str().unwrap_or(&summary.suite).into(),
        repeat: config["repeat"].as_u64().unwrap_or(1) as usize,
        total: summary.total,
    })
}

pub fn run(models_dir: &Path, args: EvalArgs) -> Result<ExitCode> {
    Ok(run_suite(models_dir, args, None)?.code)
}

/// How a run through [`run_suite`] ended.
pub(super) struct Outcome {
    /// What `incant eval` exits with (1: a case failed, 130: interrupted).
    pub code: ExitCode,
    /// The stored run (`None` with --no-store).
    pub run_id: Option<String>,
    /// Whether Ctrl-C stopped it before every case ran.
    pub interrupted: bool,
    /// Cases run and cases failed.
    pub cases: usize,
    pub failed: usize,
}

/// Runs a suite as `incant eval` does: checks it, builds its providers, runs every case
/// (through the response cache), stores the run and writes the reports `args` ask for.
/// `given` is a suite already loaded and perhaps edited (`incant migrate` swaps its
/// providers); it runs instead of SUITE, without printing the matrix.
pub(super) fn run_suite(
    models_dir: &Path,
    args: EvalArgs,
    given: Option<Suite>,
) -> Result<Outcome> {
    let quiet = given.is_some();
    let open_store = || Store::open(&super::runs::db_path(args.db.clone()));
    // Resuming needs the store to find the suite; otherwise it is opened once the suite is
    // known to be good, so a refused run leaves nothing on disk.
    let mut store = match (&args.resume, args.no_store) {
        (Some(_), false) => Some(open_store()?),
        _ => None,
    };
    let resume = match (&args.resume, &store) {
        (Some(run), Some(s)) => Some(resumed(s, run)?),
        _ => None,
    };
    let suite_path = match &resume {
        Some(r) => r.suite.clone(),
        None => args.config.clone().unwrap_or(args.suite.clone()),
    };
    let suite = match given {
        Some(suite) => suite,
        None => Suite::load(&suite_path).map_err(prompt_error)?,
    };
    if args.locked {
        super::lock::ensure_locked(&suite, models_dir)?;
    }
    let mut prompts = Vec::new();
    for p in &suite.prompt_files {
        prompts.extend(incant_prompt::load_prompts(p).map_err(prompt_error)?);
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
    let checked = runner::check_assertions(&suite.tests, suite.path.parent())
        .map_err(|e| input_error(e, Some("see `incant eval --help` for the assertion types")))?;
    for w in &checked.warnings {
        eprintln!("{} {w}", crate::report::paint("warning:", "1;33"));
    }
    // A stray or corrupt file in `__snapshots__` stops the run before anything is written.
    let snapshots = checked
        .needs_snapshots
        .then(|| super::snapshot::open_session(&suite.path))
        .transpose()?;
    if store.is_none() && !args.no_store {
        store = Some(open_store()?);
    }
    ensure_models(
        models_dir,
        suite.providers.iter().map(|p| p.id.as_str()),
        args.json,
    )?;
    let providers: Vec<Box<dyn Provider>> = suite
        .providers
        .iter()
        .map(|p| {
            // The suite's `options.timeoutMs` is each HTTP or exec provider's default limit.
            let mut config = p.config.clone();
            if let Some(ms) = suite.options.timeout_ms {
                if !p.id.starts_with("local:") && p.id != "echo" {
                    let has = config.contains_key("timeoutMs") || config.contains_key("timeout_ms");
                    if !has {
                        config.insert("timeoutMs".into(), ms.into());
                    }
                }
            }
            if super::image::as_text::is_image_provider(&p.id) {
                let images = std::path::PathBuf::from(".incant").join("images");
                let base = suite.path.parent().unwrap_or(std::path::Path::new("."));
                return super::image::as_text::ImageAsText::new(
                    &p.id, &config, models_dir, base, images,
                )
                .map(|p| Box::new(p) as Box<dyn Provider>);
            }
            from_spec(&p.id, &config, models_dir).map_err(|e| match e {
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
            config: {
                // The suite's `options.seed` reaches every call that does not set its own.
                let mut c = spec.config.clone();
                if let Some(seed) = suite.options.seed {
                    c.entry("seed").or_insert(seed.into());
                }
                c
            },
        })
        .collect();
    // Model-graded assertions get their embedding model and judge, loaded once, only
    // when some test uses them.
    let grader = checked
        .needs_grader
        .then(|| incant_eval::ProviderGrader::new(models_dir));
    if grader.is_some() {
        ensure_models(
            models_dir,
            ["local:minilm", "local:smollm2"].into_iter(),
            args.json,
        )?;
    }
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
        base_dir: suite.path.parent(),
        repeat,
        cache: cache.as_ref().map(|c| c as &dyn runner::ResponseCache),
        grader: grader.as_ref().map(|g| g as &dyn incant_eval::Grader),
        snapshots: snapshots.as_ref(),
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
    let stop = stop_flag();

    let info = RunInfo {
        run_id: None,
        suite: suite.path.display().to_string(),
        description: suite.description.clone(),
        started_at: Some(unix_now()),
        prompts: prompts.iter().map(|p| p.name.clone()).collect(),
        providers: targets.iter().map(|t| t.label.clone()).collect(),
    };
    // Fail on a bad output path before any model is called.
    let output = args.output.clone().or_else(|| suite.output_path.clone());
    let output_format = output
        .as_deref()
        .map(Format::from_path)
        .transpose()
        .map_err(|e| input_error(e.to_string(), e.hint().as_deref()))?;
    let config = serde_json::json!({
        "suite": suite.path, "repeat": repeat, "concurrency": concurrency,
        "prompts": prompts.iter().map(|p| serde_json::json!({"name": p.name, "version": p.version.as_ref().map(ToString::to_string)})).collect::<Vec<_>>(),
        "providers": &info.providers,
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
    let info = RunInfo {
        run_id: run_id.clone(),
        ..info
    };
    let mut reports: Vec<ReportWriter<Box<dyn Write>>> = Vec::new();
    if let (Some(path), Some(format)) = (&output, output_format) {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        reports.push(ReportWriter::new(
            format,
            info.clone(),
            Box::new(std::io::BufWriter::new(file)) as Box<dyn Write>,
        )?);
    }
    if args.json {
        let out = std::io::BufWriter::new(std::io::stdout());
        reports.push(ReportWriter::new(
            Format::Json,
            info.clone(),
            Box::new(out) as Box<dyn Write>,
        )?);
    }
    let progress = Progress::new(&plan, !args.json);
    let mut tally = Tally::default();
    let mut skip = std::collections::HashSet::new();
    if let (Some(s), Some(r)) = (&store, &resume) {
        s.for_each_case(&r.id, |c| {
            if let Ok(case) = serde_json::from_str::<CaseResult>(&c.result) {
                skip.insert(case.index);
                tally.add(&case);
                progress.add(&case);
                for w in &mut reports {
                    // Write errors surface when the same writer gets the next case.
                    let _ = w.case(&case);
                }
            }
        })?;
    }
    let mut recorder = run_id
        .as_ref()
        .filter(|_| store.is_some())
        .map(|id| Recorder::spawn(super::runs::db_path(args.db.clone()), id.clone()));
    let mut failure: Option<anyhow::Error> = None;
    runner::run(&plan, concurrency, &skip, &stop, |r| {
        tally.add(&r);
        progress.add(&r);
        if let Some(rec) = recorder.as_mut() {
            if let Err(e) = rec.add(&r) {
                failure.get_or_insert(e.context("recording the run"));
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        for w in &mut reports {
            if let Err(e) = w.case(&r) {
                failure.get_or_insert(anyhow::Error::from(e).context("writing the results"));
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
    });
    progress.finish();
    if let Some(s) = snapshots {
        super::snapshot::finish_session(s, &suite.path, args.json)?;
    }
    if let Some(mut rec) = recorder {
        rec.finish().context("recording the run")?;
    }
    let interrupted = stop.load(std::sync::atomic::Ordering::SeqCst) && tally.cases < total;
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
    if let Some(e) = failure {
        return Err(e);
    }
    for w in reports {
        w.finish().context("writing the results")?;
    }
    if !args.json && !quiet {
        tally.print(&info.prompts, &info.providers);
        if let Some(id) = &run_id {
            println!("\nrun {id} stored; `incant runs show {id}`");
        }
        if let Some(p) = &output {
            println!("report written to {}", p.display());
        }
    }
    if interrupted {
        let how = match &run_id {
            Some(id) => format!("resume with `incant eval --resume {id}`"),
            None => "the run was not stored (--no-store); run it again".into(),
        };
        eprintln!("interrupted after {}/{total} cases; {how}", tally.cases);
    }
    let code = if interrupted {
        ExitCode::from(130)
    } else if tally.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    };
    Ok(Outcome {
        code,
        run_id,
        interrupted,
        cases: tally.cases,
        failed: tally.failed,
    })
}

/// The Ctrl-C flag, with its handler installed once per process (`incant migrate` runs
/// two suites). A second Ctrl-C while cases finish falls back to the default (exit at
/// once; the store keeps every finished case either way).
fn stop_flag() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    static STOP: std::sync::OnceLock<std::sync::Arc<std::sync::atomic::AtomicBool>> =
        std::sync::OnceLock::new();
    STOP.get_or_init(|| {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let _ = ctrlc::set_handler(move || {
            if flag.swap(true, std::sync::atomic::Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("\nstopping: finishing the cases in flight (Ctrl-C again to quit now)");
        });
        stop
    })
    .clone()
}

/// Fetches the known local models that the suite's `local:` providers name and that are
/// not installed yet, so a suite runs on a fresh machine without a separate step.
fn ensure_models<'a>(
    models_dir: &Path,
    ids: impl Iterator<Item = &'a str>,
    quiet: bool,
) -> Result<()> {
    let mut missing = Vec::new();
    for id in ids {
        let Some(known) = id
            .strip_prefix("local:")
            .and_then(incant_models::registry::find)
        else {
            continue;
        };
        if !incant_models::fetch::is_installed(models_dir, known)?
            && !missing.contains(&known.name.to_string())
        {
            missing.push(known.name.to_string());
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    if !quiet {
        eprintln!(
            "fetching {} into {}",
            missing.join(", "),
            models_dir.display()
        );
    }
    incant_models::fetch(&incant_models::FetchOptions {
        models_dir: models_dir.to_path_buf(),
        names: missing,
        from_wheels: None,
        progress: !quiet && std::io::stderr().is_terminal(),
    })?;
    Ok(())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Writes finished cases to the store from its own thread and connection, in small
/// transactions: whatever has arrived when the stream pauses for 10 ms, or 256 cases,
/// whichever comes first. Fast providers are not held back by one commit per case, and a
/// killed run loses at most the cases of the last few milliseconds.
struct Recorder {
    tx: Option<mpsc::SyncSender<StoredCase>>,
    thread: Option<std::thread::JoinHandle<Result<(), incant_store::StoreError>>>,
}

impl Recorder {
    fn spawn(db: std::path::PathBuf, run_id: String) -> Self {
        let (tx, rx) = mpsc::sync_channel::<StoredCase>(1024);
        let thread = std::thread::spawn(move || {
            let store = Store::open(&db)?;
            let mut pending = Vec::new();
            loop {
                match rx.recv_timeout(std::time::Duration::from_millis(10)) {
                    Ok(case) => {
                        pending.push(case);
                        if pending.len() < 256 {
                            continue;
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) if pending.is_empty() => continue,
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        return store.record_many(&run_id, &pending);
                    }
                }
                store.record_many(&run_id, &pending)?;
                pending.clear();
            }
        });
        Self {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    /// Queues a case; fails when the writer thread has stopped on an error.
    fn add(&mut self, r: &CaseResult) -> Result<()> {
        let case = StoredCase {
            idx: r.index,
            prompt: r.prompt.clone(),
            provider: r.provider.clone(),
            pass: r.pass,
            score: r.score,
            result: serde_json::to_string(r)?,
        };
        match self.tx.as_ref().map(|tx| tx.send(case)) {
            Some(Ok(())) => Ok(()),
            _ => self.finish(),
        }
    }

    /// Writes what is queued and reports the writer's error, if any.
    fn finish(&mut self) -> Result<()> {
        self.tx = None;
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(Err(e))) => Err(e.into()),
            Some(Err(_)) => Err(anyhow::anyhow!("the store writer crashed")),
            _ => Ok(()),
        }
    }
}

/// One progress bar per provider (done/total, failures, ETA), hidden when stderr is not
/// a terminal or the output is JSON.
struct Progress {
    _multi: MultiProgress,
    bars: Vec<(String, ProgressBar, std::cell::Cell<usize>)>,
}

impl Progress {
    fn new(plan: &runner::Plan<'_>, visible: bool) -> Self {
        let multi = if visible && std::io::stderr().is_terminal() {
            MultiProgress::new()
        } else {
            MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
        };
        let per_target = (plan.total() / plan.targets.len().max(1)) as u64;
        let width = plan
            .targets
            .iter()
            .map(|t| t.label.chars().count())
            .max()
            .unwrap_or(8)
            .min(24);
        let style = ProgressStyle::with_template(&format!(
            "{{prefix:{width}}} [{{bar:28}}] {{pos}}/{{len}} {{msg}} eta {{eta}}"
        ))
        .expect("static template")
        .progress_chars("=> ");
        let bars = plan
            .targets
            .iter()
            .map(|t| {
                let b = multi.add(ProgressBar::new(per_target));
                b.set_style(style.clone());
                b.set_prefix(truncate(&t.label, width));
                b.set_message("0 failed");
                (t.label.clone(), b, std::cell::Cell::new(0))
            })
            .collect();
        Self {
            _multi: multi,
            bars,
        }
    }

    fn add(&self, r: &CaseResult) {
        if let Some((_, bar, failed)) = self.bars.iter().find(|(l, _, _)| *l == r.provider) {
            bar.inc(1);
            if !r.pass {
                failed.set(failed.get() + 1);
                bar.set_message(format!("{} failed", failed.get()));
            }
        }
    }

    fn finish(&self) {
        for (_, bar, _) in &self.bars {
            bar.finish_and_clear();
        }
    }
}
