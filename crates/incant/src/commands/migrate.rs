//! `incant migrate SUITE --from A --to B`: the report that should exist the day a model
//! is replaced, saying which prompts break on the new one and how badly.
//!
//! Nothing here runs or compares on its own: the suite runs twice through
//! [`eval::run_suite`](super::eval::run_suite) (once with only provider A, once with only
//! provider B; both stored, A's responses taken from the cache when it has them), and the
//! two runs are compared by `incant-compare` exactly as `incant compare` would. This module
//! picks the two providers, checks every input before anything runs (so a typo in a
//! provider id writes nothing), ranks the broken prompts and renders them: in the
//! terminal after the comparison summary, as JSON, or as a preface to the compare HTML.

use super::compare::{gate, is_html, load, print_summary};
use super::tally::{terminal_width, truncate};
use crate::cli::{EvalArgs, MigrateArgs};
use crate::report::{input_error, paint};
use anyhow::{Context as _, Result};
use incant_compare::html::escape;
use incant_compare::{Comparison, Options, Pair, Status};
use incant_prompt::{ProviderSpec, Suite};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

const PROVIDER_HINT: &str = "--from and --to take a provider id as in suites (local:MODEL, \
     openai:chat:MODEL, exec:COMMAND, echo) or the label of a provider the suite lists";

/// A prompt that lost cases in the migration.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BrokenPrompt {
    /// Its name.
    pub prompt: String,
    /// Cases that passed on A and fail on B.
    pub regressed: usize,
    /// Cases that failed on A and pass on B.
    pub fixed: usize,
    /// Pass rate on A and on B (paired cases).
    pub pass_rate_a: f64,
    pub pass_rate_b: f64,
    /// Mean score change (B − A).
    pub mean_score_delta: f64,
    /// `incant compare`'s verdict on the prompt.
    pub verdict: String,
    /// The assertions that now fail, as `type#position`, with how many cases each.
    pub failing_assertions: Vec<(String, usize)>,
    /// The regressed cases, most score lost first.
    pub cases: Vec<BrokenCase>,
}

/// One regressed case: where, what now fails and both outputs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BrokenCase {
    pub vars: serde_json::Map<String, serde_json::Value>,
    pub repeat: usize,
    pub score_delta: f64,
    /// `type#position: reason` of each assertion that passed on A and fails on B.
    pub now_failing: Vec<String>,
    pub output_a: String,
    pub output_b: String,
}

pub fn run(models_dir: &Path, args: MigrateArgs) -> Result<ExitCode> {
    // Every input is checked before the first case runs.
    let html = args.output.as_deref().map(is_html).transpose()?;
    let suite_path = args.config.clone().unwrap_or(args.suite.clone());
    let suite = Suite::load(&suite_path).map_err(super::eval::prompt_error)?;
    let from = pick(&suite, &args.from);
    let to = pick(&suite, &args.to);
    for spec in [&from, &to] {
        check_provider(spec, models_dir)?;
    }
    if from.id == to.id && from.config == to.config {
        return Err(input_error(
            format!("--from and --to are the same provider ({})", from.id),
            Some("name the provider the suite moves to with --to"),
        ));
    }
    let mut runs = Vec::new();
    for spec in [&from, &to] {
        let mut one = suite.clone();
        one.providers = vec![spec.clone()];
        // The migration report replaces the suite's own report.
        one.output_path = None;
        let eval_args = EvalArgs {
            suite: suite.path.clone(),
            config: None,
            max_concurrency: args.max_concurrency,
            repeat: None,
            output: None,
            json: false,
            db: args.db.clone(),
            no_store: false,
            no_cache: args.no_cache,
            resume: None,
            locked: false,
        };
        let outcome = super::eval::run_suite(models_dir, eval_args, Some(one))?;
        if outcome.interrupted {
            return Ok(outcome.code);
        }
        let id = outcome.run_id.context("the run was not stored")?;
        if !args.json {
            eprintln!(
                "{} run {id}: {} cases, {} failed",
                label(spec),
                outcome.cases,
                outcome.failed
            );
        }
        runs.push(id);
    }
    let store = super::runs::open(&super::runs::db_path(args.db.clone()))?;
    let a = load(&store, &runs[0])?;
    let b = load(&store, &runs[1])?;
    let cmp = incant_compare::compare(a.cases, b.cases, &Options::default());
    let broken = broken_prompts(&cmp);
    let doc = || {
        serde_json::json!({
            "suite": suite.path,
            "from": label(&from),
            "to": label(&to),
            "run_a": a.summary,
            "run_b": b.summary,
            "broken_prompts": broken,
            "comparison": cmp,
        })
    };
    if let (Some(path), Some(html)) = (&args.output, html) {
        let text = if html {
            let title_a = format!("{} ({})", label(&from), a.summary.id);
            let title_b = format!("{} ({})", label(&to), b.summary.id);
            incant_compare::html::render_with_preface(&cmp, &title_a, &title_b, &preface(&broken))
        } else {
            serde_json::to_string_pretty(&doc())?
        };
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&doc())?)?;
    } else {
        writeln!(
            out,
            "migrate {}: {} → {}",
            suite.path.display(),
            label(&from),
            label(&to)
        )?;
        print_summary(&mut out, &a.summary, &b.summary, &cmp, 0)?;
        print_broken(&mut out, &broken, args.top)?;
        writeln!(
            out,
            "\nruns {} and {} stored; `incant compare {} {}` looks again",
            a.summary.id, b.summary.id, a.summary.id, b.summary.id
        )?;
        if let Some(p) = &args.output {
            writeln!(out, "report written to {}", p.display())?;
        }
    }
    Ok(gate(args.fail_on, &cmp))
}

/// The suite's own provider with this id (or label), else a bare one.
fn pick(suite: &Suite, id: &str) -> ProviderSpec {
    let listed = |f: &dyn Fn(&ProviderSpec) -> bool| suite.providers.iter().find(|p| f(p)).cloned();
    listed(&|p| p.id == id)
        .or_else(|| listed(&|p| p.label.as_deref() == Some(id)))
        .unwrap_or_else(|| ProviderSpec {
            id: id.to_string(),
            label: None,
            config: serde_json::Map::new(),
        })
}

fn label(spec: &ProviderSpec) -> String {
    spec.label.clone().unwrap_or_else(|| spec.id.clone())
}

/// Refuses a provider that could not run, without loading a model: an unknown kind, bad
/// config, or a local model that is neither known (fetched on demand) nor a file.
fn check_provider(spec: &ProviderSpec, models_dir: &Path) -> Result<()> {
    let Some(model) = spec.id.strip_prefix("local:") else {
        return incant_provider::from_spec(&spec.id, &spec.config, models_dir)
            .map(drop)
            .map_err(|e| input_error(e.to_string(), Some(PROVIDER_HINT)));
    };
    if incant_models::registry::find(model).is_some() {
        return Ok(());
    }
    match incant_models::resolve(model, models_dir, incant_models::ModelKind::Chat) {
        Ok(_) | Err(incant_models::ModelError::WrongKind { .. }) => Ok(()),
        Err(e) => Err(input_error(
            format!("{}: {e}", spec.id),
            Some(e.hint().as_deref().unwrap_or(PROVIDER_HINT)),
        )),
    }
}

/// The prompts with regressed cases, most regressions first, then most score lost.
pub fn broken_prompts(cmp: &Comparison) -> Vec<BrokenPrompt> {
    let mut broken: Vec<BrokenPrompt> = cmp
        .prompts
        .iter()
        .filter(|g| g.count(Status::Regressed) > 0)
        .map(|g| {
            let name = g.prompt.clone().unwrap_or_default();
            let mut pairs: Vec<&Pair> = cmp
                .pairs
                .iter()
                .filter(|p| p.prompt == name && p.status == Status::Regressed)
                .collect();
            pairs.sort_by(|x, y| y.impact().total_cmp(&x.impact()));
            let mut failing: Vec<(String, usize)> = Vec::new();
            let cases = pairs
                .iter()
                .map(|p| {
                    let now: Vec<_> = p
                        .assertion_changes
                        .iter()
                        .filter(|c| c.before == Some(true) && c.after == Some(false))
                        .collect();
                    // A failed call grades no assertion: the call itself is what broke.
                    let error = p.b.as_ref().and_then(|b| b.error.as_ref());
                    let mut keys: Vec<String> = now
                        .iter()
                        .map(|c| format!("{}#{}", c.kind, c.position))
                        .collect();
                    let mut now_failing: Vec<String> = now
                        .iter()
                        .map(|c| format!("{}#{}: {}", c.kind, c.position, c.reason))
                        .collect();
                    if let (true, Some(e)) = (now.is_empty(), error) {
                        keys.push("provider error".into());
                        now_failing.push(format!("provider error: {e}"));
                    }
                    for key in keys {
                        match failing.iter_mut().find(|(k, _)| *k == key) {
                            Some((_, n)) => *n += 1,
                            None => failing.push((key, 1)),
                        }
                    }
                    let shown = |c: &Option<incant_compare::Case>| {
                        c.as_ref().map(|c| c.shown_output()).unwrap_or_default()
                    };
                    BrokenCase {
                        vars: p.vars.clone(),
                        repeat: p.repeat,
                        score_delta: p.score_delta.unwrap_or(0.0),
                        now_failing,
                        output_a: shown(&p.a),
                        output_b: shown(&p.b),
                    }
                })
                .collect();
            failing.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
            BrokenPrompt {
                prompt: name,
                regressed: g.count(Status::Regressed),
                fixed: g.count(Status::Fixed),
                pass_rate_a: g.pass_rate_a,
                pass_rate_b: g.pass_rate_b,
                mean_score_delta: g.mean_score_delta,
                verdict: g.significance.label().to_string(),
                failing_assertions: failing,
                cases,
            }
        })
        .collect();
    broken.sort_by(|x, y| {
        y.regressed
            .cmp(&x.regressed)
            .then(x.mean_score_delta.total_cmp(&y.mean_score_delta))
            .then_with(|| x.prompt.cmp(&y.prompt))
    });
    broken
}

fn pct(x: f64) -> String {
    format!("{:.0}%", 100.0 * x)
}

fn print_broken(out: &mut impl Write, broken: &[BrokenPrompt], top: usize) -> Result<()> {
    if broken.is_empty() {
        writeln!(out, "\nno prompt broke: no case passes on A and fails on B")?;
        return Ok(());
    }
    let width = terminal_width();
    writeln!(out, "\nbroken prompts, by impact:")?;
    for b in broken {
        let failing: Vec<String> = b
            .failing_assertions
            .iter()
            .map(|(k, n)| format!("{k} ×{n}"))
            .collect();
        let line = format!(
            "  {} {}: {} regressed, {} fixed, pass {}→{}, Δscore {:+.3}; now failing: {}",
            paint("BROKEN", "31"),
            b.prompt,
            b.regressed,
            b.fixed,
            pct(b.pass_rate_a),
            pct(b.pass_rate_b),
            b.mean_score_delta,
            failing.join(", ")
        );
        writeln!(out, "{line}")?;
        for c in b.cases.iter().take(top) {
            let vars = serde_json::Value::Object(c.vars.clone()).to_string();
            let line = format!(
                "    {vars} Δ{:+.2} {:?} → {:?}",
                c.score_delta,
                c.output_a.replace('\n', " "),
                c.output_b.replace('\n', " ")
            );
            writeln!(out, "{}", truncate(&line, width))?;
        }
        if b.cases.len() > top {
            writeln!(
                out,
                "    … and {} more (-o migration.html or --json for all)",
                b.cases.len() - top
            )?;
        }
    }
    Ok(())
}

/// The broken prompts as an HTML section for the top of the compare report.
fn preface(broken: &[BrokenPrompt]) -> String {
    if broken.is_empty() {
        return "<h2>No prompt broke</h2>".to_string();
    }
    let mut h = String::from(
        "<h2>Broken prompts</h2><table><thead><tr><th>prompt</th><th>regressed</th><th>fixed</th><th>pass rate A</th><th>pass rate B</th><th>mean score &Delta;</th><th>assertions now failing</th></tr></thead><tbody>",
    );
    for b in broken {
        let failing: Vec<String> = b
            .failing_assertions
            .iter()
            .map(|(k, n)| format!("{} &times;{n}", escape(k)))
            .collect();
        h.push_str(&format!(
            "<tr><td class=\"regressed\">{}</td><td>{}</td><td>{}</td><td>{:.1}%</td><td>{:.1}%</td><td>{:+.3}</td><td>{}</td></tr>",
            escape(&b.prompt),
            b.regressed,
            b.fixed,
            100.0 * b.pass_rate_a,
            100.0 * b.pass_rate_b,
            b.mean_score_delta,
            failing.join("<br>")
        ));
    }
    h.push_str("</tbody></table><p>Every case follows, regressions first, with both outputs side by side.</p>");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use incant_compare::Case;

    fn case(prompt: &str, provider: &str, who: &str, pass: bool) -> Case {
        Case::from_json(
            &serde_json::json!({
                "prompt": prompt, "provider": provider, "vars": {"who": who},
                "output": if pass { who } else { "?" }, "pass": pass,
                "score": if pass { 1.0 } else { 0.0 },
                "assertions": [{"type": "icontains", "pass": pass, "score": if pass { 1.0 } else { 0.0 }, "reason": "r"}],
            })
            .to_string(),
        )
        .unwrap()
    }

    #[test]
    fn broken_prompts_rank_by_regressions_then_score() {
        let names = ["ada", "bob", "cy"];
        let a: Vec<Case> = ["one", "two", "three"]
            .iter()
            .flat_map(|p| names.iter().map(move |w| case(p, "A", w, true)))
            .collect();
        // `one` loses one case, `two` loses two, `three` none.
        let b: Vec<Case> = ["one", "two", "three"]
            .iter()
            .flat_map(|p| {
                names.iter().map(move |w| {
                    let lost = (*p == "one" && *w == "bob") || (*p == "two" && *w != "cy");
                    case(p, "B", w, !lost)
                })
            })
            .collect();
        let cmp = incant_compare::compare(a, b, &Options::default());
        let broken = broken_prompts(&cmp);
        let names: Vec<(&str, usize)> = broken
            .iter()
            .map(|b| (b.prompt.as_str(), b.regressed))
            .collect();
        assert_eq!(names, [("two", 2), ("one", 1)]);
        assert_eq!(
            broken[0].failing_assertions,
            [("icontains#0".to_string(), 2)]
        );
        assert_eq!(broken[1].cases[0].output_a, "bob");
        assert_eq!(broken[1].cases[0].output_b, "?");
        assert_eq!(broken[1].cases[0].now_failing, ["icontains#0: r"]);
        assert!(preface(&broken).contains("<td class=\"regressed\">two</td>"));
        assert!(preface(&[]).contains("No prompt broke"));
    }

    #[test]
    fn a_failed_call_is_what_broke() {
        let a = vec![case("p", "A", "ada", true)];
        let mut b = vec![case("p", "B", "ada", false)];
        b[0].output = None;
        b[0].error = Some("boom".into());
        b[0].assertions.clear();
        let cmp = incant_compare::compare(a, b, &Options::default());
        let broken = broken_prompts(&cmp);
        assert_eq!(
            broken[0].failing_assertions,
            [("provider error".to_string(), 1)]
        );
        assert_eq!(broken[0].cases[0].now_failing, ["provider error: boom"]);
        assert_eq!(broken[0].cases[0].output_b, "[error] boom");
    }

    #[test]
    fn a_listed_provider_keeps_its_config_and_label() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("incant.yaml");
        std::fs::write(
            &path,
            "prompts: ['hi {{ x }}']\nproviders: [{id: 'exec:cat', label: kitty, config: {timeoutMs: 5}}]\ntests: [{vars: {x: 1}}]\n",
        )
        .unwrap();
        let suite = Suite::load(&path).unwrap();
        for id in ["exec:cat", "kitty"] {
            let spec = pick(&suite, id);
            assert_eq!(
                (spec.id.as_str(), label(&spec).as_str()),
                ("exec:cat", "kitty")
            );
            assert_eq!(spec.config["timeoutMs"], 5);
        }
        assert_eq!(label(&pick(&suite, "echo")), "echo");
        let err = check_provider(&pick(&suite, "nope:x"), dir.path()).unwrap_err();
        assert!(err.to_string().contains("unknown provider"), "{err}");
        let err = check_provider(&pick(&suite, "local:no-such.gguf"), dir.path()).unwrap_err();
        assert!(err.to_string().contains("local:no-such.gguf"), "{err}");
    }
}
