//! `incant compare RUN_A RUN_B`: what changed between two stored runs, and whether it is
//! more than noise.
//!
//! The runs are read from the store, aligned and judged by `incant-compare`; this module
//! resolves the run ids (`latest`, `latest~N`), refuses runs of different suites, measures
//! output drift with an embedding model when asked, prints the summary and the worst cases
//! (or JSON), writes the HTML/JSON report and turns `--fail-on` into the exit code.

use super::runs::{no_such_run, open};
use super::tally::{terminal_width, truncate};
use crate::cli::{CompareArgs, FailOn};
use crate::report::{input_error, paint};
use anyhow::{Context as _, Result};
use incant_compare::{Case, Comparison, Group, Options, Pair, Significance, Status};
use incant_store::{RunSummary, Store};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// A run to compare: its summary, suite and cases.
pub(super) struct LoadedRun {
    pub summary: RunSummary,
    pub suite: String,
    pub cases: Vec<Case>,
}

pub fn run(models_dir: &Path, args: CompareArgs) -> Result<ExitCode> {
    // Fail on a bad output path before any work.
    let html = args.output.as_deref().map(is_html).transpose()?;
    let store = open(&super::runs::db_path(args.db.clone()))?;
    let a = load(&store, &args.run_a)?;
    let b = load(&store, &args.run_b)?;
    if !args.allow_different_suites && !same_suite(&a.suite, &b.suite) {
        return Err(input_error(
            format!(
                "runs {} and {} are of different suites ({} and {})",
                a.summary.id, b.summary.id, a.suite, b.suite
            ),
            Some("compare two runs of one suite (`incant runs list` shows each run's suite), or pass --allow-different-suites"),
        ));
    }
    for r in [&a.summary, &b.summary] {
        if r.status != "finished" {
            eprintln!(
                "{} run {} is {} ({}/{} cases stored): its missing cases count as new or gone",
                paint("note:", "1;33"),
                r.id,
                r.status,
                r.done,
                r.total
            );
        }
    }
    let opts = Options {
        resamples: args.resamples as usize,
        seed: args.seed,
        ..Options::default()
    };
    let mut cmp = incant_compare::compare(a.cases, b.cases, &opts);
    if args.drift {
        measure_drift(models_dir, &args.drift_model, &mut cmp)?;
    }
    let doc = || {
        serde_json::json!({
            "run_a": a.summary,
            "run_b": b.summary,
            "comparison": cmp,
        })
    };
    if let (Some(path), Some(html)) = (&args.output, html) {
        let text = if html {
            incant_compare::html::render(&cmp, &a.summary.id, &b.summary.id)
        } else {
            serde_json::to_string_pretty(&doc())?
        };
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&doc())?)?;
    } else {
        print_summary(&mut out, &a.summary, &b.summary, &cmp, args.top)?;
        if let Some(p) = &args.output {
            writeln!(out, "report written to {}", p.display())?;
        }
    }
    Ok(gate(args.fail_on, &cmp))
}

/// The exit code `--fail-on` asks for (1 when it triggers, saying why on stderr).
pub(super) fn gate(rule: Option<FailOn>, cmp: &Comparison) -> ExitCode {
    match rule {
        Some(rule) if fails(rule, cmp) => {
            eprintln!(
                "{} --fail-on {}: {} regressed, overall {}",
                paint("failed:", "1;31"),
                rule,
                cmp.overall.count(Status::Regressed),
                cmp.overall.significance.label()
            );
            ExitCode::from(1)
        }
        _ => ExitCode::SUCCESS,
    }
}

/// Whether a report goes to HTML (else JSON), by the file's extension.
pub(super) fn is_html(path: &Path) -> Result<bool> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html" | "htm") => Ok(true),
        Some("json") => Ok(false),
        _ => Err(input_error(
            format!("cannot tell the report format of {}", path.display()),
            Some("name the file *.html (side-by-side report) or *.json"),
        )),
    }
}

/// Whether the `--fail-on` rule triggers.
fn fails(rule: FailOn, cmp: &Comparison) -> bool {
    match rule {
        FailOn::Regressions(n) => cmp.overall.count(Status::Regressed) >= n,
        FailOn::Significant => std::iter::once(&cmp.overall)
            .chain(&cmp.prompts)
            .any(|g| g.significance == Significance::SignificantRegression),
    }
}

/// A run by id, `latest` or `latest~N` (the N-th before the newest).
fn resolve(store: &Store, id: &str) -> Result<RunSummary> {
    let Some(back) = id.strip_prefix("latest~") else {
        return store.run(id).map_err(no_such_run);
    };
    let n: usize = back.parse().map_err(|_| {
        input_error(
            format!("`{id}` is not a run"),
            Some("name a run by its id, `latest` or `latest~N` (N runs before the newest)"),
        )
    })?;
    let runs = store.list_runs()?;
    let count = runs.len();
    runs.into_iter().nth(n).ok_or_else(|| {
        input_error(
            format!("there is no run `{id}`: the store holds {count} runs"),
            Some("`incant runs list` shows the stored runs"),
        )
    })
}

pub(super) fn load(store: &Store, id: &str) -> Result<LoadedRun> {
    let summary = resolve(store, id)?;
    let config: serde_json::Value =
        serde_json::from_str(&store.run_config(&summary.id)?).unwrap_or_default();
    let suite = config["suite"]
        .as_str()
        .unwrap_or(&summary.suite)
        .to_string();
    let mut cases = Vec::new();
    let mut bad = None;
    store.for_each_case(&summary.id, |c| match Case::from_json(&c.result) {
        Ok(case) => cases.push(case),
        Err(e) => {
            bad.get_or_insert(format!(
                "case {} of run {} is unreadable: {e}",
                c.idx, summary.id
            ));
        }
    })?;
    if let Some(msg) = bad {
        return Err(anyhow::anyhow!(msg));
    }
    Ok(LoadedRun {
        summary,
        suite,
        cases,
    })
}

/// The same suite file, spelled the same or resolving to the same file.
fn same_suite(a: &str, b: &str) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

/// Embeds both sides' outputs and records their cosine per pair.
fn measure_drift(models_dir: &Path, model: &str, cmp: &mut Comparison) -> Result<()> {
    let provider = incant_provider::from_spec(model, &serde_json::Map::new(), models_dir)
        .map_err(|e| input_error(format!("{model}: {e}"), Some("--drift-model takes an embedding provider such as local:minilm (`incant models fetch minilm`)")))?;
    let pairs = cmp.output_pairs();
    let mut sims = Vec::with_capacity(pairs.len());
    for chunk in pairs.chunks(16) {
        let texts: Vec<&str> = chunk.iter().flat_map(|&(_, a, b)| [a, b]).collect();
        let vectors = provider
            .embed(&texts)
            .with_context(|| format!("embedding outputs with {model}"))?;
        for (k, &(i, _, _)) in chunk.iter().enumerate() {
            let (va, vb) = (&vectors[2 * k], &vectors[2 * k + 1]);
            sims.push((i, incant_compare::cosine(va, vb)));
        }
    }
    cmp.set_output_similarity(&sims);
    Ok(())
}

fn pct(x: f64) -> String {
    format!("{:.0}%", 100.0 * x)
}

fn verdict(g: &Group) -> String {
    let label = g.significance.label();
    match g.significance {
        Significance::SignificantRegression => paint(label, "1;31"),
        Significance::SignificantImprovement => paint(label, "1;32"),
        Significance::NoSignificantChange => label.to_string(),
    }
}

/// The summary: counts, one line per prompt and overall, and the `top` worst regressions
/// (none when `top` is 0).
pub(super) fn print_summary(
    out: &mut impl Write,
    a: &RunSummary,
    b: &RunSummary,
    cmp: &Comparison,
    top: usize,
) -> Result<()> {
    let width = terminal_width();
    writeln!(out, "compare {} → {} ({})", a.id, b.id, a.suite)?;
    if !cmp.providers_matched {
        writeln!(
            out,
            "the runs used different providers: cases aligned by prompt, vars and repeat"
        )?;
    }
    let g = &cmp.overall;
    let counts: Vec<String> = Status::ALL
        .iter()
        .map(|&s| {
            let text = format!("{} {}", g.count(s), s.label());
            match s {
                Status::Regressed if g.count(s) > 0 => paint(&text, "31"),
                Status::Fixed if g.count(s) > 0 => paint(&text, "32"),
                _ => text,
            }
        })
        .collect();
    writeln!(out, "{} cases: {}", cmp.pairs.len(), counts.join(", "))?;
    writeln!(out)?;
    let name_w = cmp
        .prompts
        .iter()
        .filter_map(|g| g.prompt.as_ref())
        .map(|p| p.chars().count())
        .max()
        .unwrap_or(6)
        .clamp(6, 24);
    writeln!(
        out,
        "{:<name_w$} {:>5} {:>5} {:>9} {:>7} {:>17} {:>8}  verdict",
        "prompt", "regr", "fixed", "pass A→B", "Δscore", "95% CI", "p"
    )?;
    let overall_name = "(all)".to_string();
    for g in cmp.prompts.iter().chain(std::iter::once(&cmp.overall)) {
        let name = truncate(g.prompt.as_ref().unwrap_or(&overall_name), name_w);
        let ci = g.ci95.map_or("–".to_string(), |c| {
            format!("[{:+.3},{:+.3}]", c.lo, c.hi)
        });
        let drift = g
            .mean_output_similarity
            .map_or(String::new(), |s| format!("  (output cosine {s:.3})"));
        writeln!(
            out,
            "{:<name_w$} {:>5} {:>5} {:>9} {:>+7.3} {:>17} {:>8.4}  {}{drift}",
            name,
            g.count(Status::Regressed),
            g.count(Status::Fixed),
            format!("{}→{}", pct(g.pass_rate_a), pct(g.pass_rate_b)),
            g.mean_score_delta,
            ci,
            g.mcnemar_p,
            verdict(g),
        )?;
    }
    let changed: Vec<String> = g
        .metrics
        .iter()
        .filter(|m| m.delta != 0.0)
        .map(|m| format!("{} {:+.3}", m.kind, m.delta))
        .collect();
    if !changed.is_empty() {
        writeln!(
            out,
            "\nscore change per assertion type: {}",
            changed.join(", ")
        )?;
    }
    let mut worst: Vec<&Pair> = cmp
        .pairs
        .iter()
        .filter(|p| p.status == Status::Regressed)
        .collect();
    worst.sort_by(|x, y| y.impact().total_cmp(&x.impact()));
    if top == 0 {
        return Ok(());
    }
    if !worst.is_empty() {
        writeln!(out, "\nworst regressions:")?;
    }
    for p in worst.iter().take(top) {
        let line = truncate(&worst_line(p), width);
        writeln!(
            out,
            "{}",
            line.replacen("REGRESSED", &paint("REGRESSED", "31"), 1)
        )?;
    }
    if worst.len() > top {
        writeln!(
            out,
            "… and {} more (-o report.html or --json for all)",
            worst.len() - top
        )?;
    }
    Ok(())
}

/// One regressed case on one line: where, how much, which assertions flipped, B's output.
fn worst_line(p: &Pair) -> String {
    let provider = match (&p.provider_a, &p.provider_b) {
        (Some(a), Some(b)) if a != b => format!("{a}→{b}"),
        (a, b) => a.clone().or(b.clone()).unwrap_or_default(),
    };
    let flipped: Vec<String> = p
        .assertion_changes
        .iter()
        .filter(|c| c.before == Some(true) && c.after == Some(false))
        .map(|c| format!("{}#{}", c.kind, c.position))
        .collect();
    let output =
        p.b.as_ref()
            .map(|c| c.shown_output().replace('\n', " "))
            .unwrap_or_default();
    format!(
        "  REGRESSED {} × {} {} Δ{:+.2} [{}] {:?}",
        p.prompt,
        provider,
        serde_json::Value::Object(p.vars.clone()),
        p.score_delta.unwrap_or(0.0),
        flipped.join(", "),
        output
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_on_parses_and_round_trips() {
        for (text, want) in [
            ("regressions", FailOn::Regressions(1)),
            ("regressions=3", FailOn::Regressions(3)),
            ("significant", FailOn::Significant),
        ] {
            let got: FailOn = text.parse().unwrap();
            assert_eq!(got, want);
            assert_eq!(got.to_string().parse::<FailOn>().unwrap(), want);
        }
        for bad in ["regressions=0", "regressions=x", "always", "significant=2"] {
            assert!(bad.parse::<FailOn>().is_err(), "{bad}");
        }
    }
}
