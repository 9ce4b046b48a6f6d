//! The runner: prompts x providers x test cases x repeats, with bounded concurrency.
//!
//! Cases are numbered up front and handed to a fixed pool of worker threads through an
//! atomic counter; each finished case is sent back over a channel to the caller's thread,
//! which sees it immediately (progress, streaming output) and keeps only what it wants, so
//! memory does not grow with the number of cases. A failed render or a failed call is a
//! result with an error, never a crash.

use crate::assertions::{Assertion, Context, Grade};
use incant_prompt::{PromptFile, TestCase};
use incant_provider::{Provider, Request, Usage};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

/// A provider with the name reports use and its suite configuration.
pub struct Target<'a> {
    /// Label (or id) shown in reports.
    pub label: String,
    /// The provider.
    pub provider: &'a dyn Provider,
    /// Parameters from the suite that override the prompt's.
    pub config: Map<String, Value>,
}

/// One assertion's verdict within a case.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AssertionResult {
    /// The assertion type as written (`not-contains` ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// The verdict.
    #[serde(flatten)]
    pub grade: Grade,
}

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CaseResult {
    /// Position in the run (prompt-major, then provider, test, repeat).
    pub index: usize,
    /// Prompt name.
    pub prompt: String,
    /// Provider label.
    pub provider: String,
    /// The test's description.
    pub description: Option<String>,
    /// The test's variables.
    pub vars: Map<String, Value>,
    /// Repeat number (0-based).
    pub repeat: usize,
    /// The output, when the call succeeded.
    pub output: Option<String>,
    /// The error, when rendering or the call failed.
    pub error: Option<String>,
    /// Whether every assertion passed (and there was no error).
    pub pass: bool,
    /// Weighted mean score of the assertions.
    pub score: f64,
    /// Each assertion's verdict.
    pub assertions: Vec<AssertionResult>,
    /// Wall time of the call.
    pub latency_ms: f64,
    /// Token counts.
    pub usage: Option<Usage>,
    /// Cost in dollars.
    pub cost: Option<f64>,
}

/// Parses every test's assertions up front, so a bad assertion stops the run before any
/// model is called. Returns, per test, the parsed assertions with their written types.
pub fn parse_assertions(tests: &[TestCase]) -> Result<Vec<Vec<(String, Assertion)>>, String> {
    tests
        .iter()
        .map(|t| {
            t.assert
                .iter()
                .map(|a| {
                    let ty = a
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_string();
                    Assertion::parse(a).map(|p| (ty, p)).map_err(|e| {
                        let hint = e.hint.map(|h| format!(" ({h})")).unwrap_or_default();
                        format!("{}: {}{hint}", t.origin, e.message)
                    })
                })
                .collect()
        })
        .collect()
}

/// What to run: the matrix of a suite.
pub struct Plan<'a> {
    /// Prompts, in order.
    pub prompts: &'a [PromptFile],
    /// Providers, in order.
    pub targets: &'a [Target<'a>],
    /// Expanded test cases.
    pub tests: &'a [TestCase],
    /// Parsed assertions per test ([`parse_assertions`]).
    pub assertions: &'a [Vec<(String, Assertion)>],
    /// Runs of each case.
    pub repeat: usize,
}

impl Plan<'_> {
    /// Number of cases: prompts x providers x tests x repeats.
    pub fn total(&self) -> usize {
        self.prompts.len() * self.targets.len() * self.tests.len() * self.repeat.max(1)
    }
}

/// Runs every case whose index is not in `skip`, calling `on_result` on the caller's thread
/// as each finishes. Once `stop` is set no new case starts; cases in flight finish.
pub fn run(
    plan: &Plan<'_>,
    concurrency: usize,
    skip: &HashSet<usize>,
    stop: &AtomicBool,
    mut on_result: impl FnMut(CaseResult),
) {
    let repeat = plan.repeat.max(1);
    let per_prompt = plan.targets.len() * plan.tests.len() * repeat;
    let todo: Vec<usize> = (0..plan.total()).filter(|i| !skip.contains(i)).collect();
    let next = AtomicUsize::new(0);
    // Providers that take one call at a time (the local engine) get a turnstile, entered
    // before the clock starts.
    let gates: Vec<Option<std::sync::Mutex<()>>> = plan
        .targets
        .iter()
        .map(|t| (t.provider.max_concurrency() == Some(1)).then(|| std::sync::Mutex::new(())))
        .collect();
    let (tx, rx) = mpsc::channel::<CaseResult>();
    std::thread::scope(|scope| {
        for _ in 0..concurrency.clamp(1, todo.len().max(1)) {
            let tx = tx.clone();
            let (next, gates, todo) = (&next, &gates, &todo);
            scope.spawn(move || loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let Some(&i) = todo.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    break;
                };
                let (p, rest) = (i / per_prompt, i % per_prompt);
                let per_target = plan.tests.len() * repeat;
                let (t_idx, rest) = (rest / per_target, rest % per_target);
                let (test, rep) = (rest / repeat, rest % repeat);
                let _turn = gates[t_idx]
                    .as_ref()
                    .map(|g| g.lock().unwrap_or_else(|e| e.into_inner()));
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let result = run_case(
                    i,
                    &plan.prompts[p],
                    &plan.targets[t_idx],
                    &plan.tests[test],
                    &plan.assertions[test],
                    rep,
                );
                if tx.send(result).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for r in rx {
            on_result(r);
        }
    });
}

fn run_case(
    index: usize,
    prompt: &PromptFile,
    target: &Target<'_>,
    test: &TestCase,
    assertions: &[(String, Assertion)],
    repeat: usize,
) -> CaseResult {
    let mut result = CaseResult {
        index,
        prompt: prompt.name.clone(),
        provider: target.label.clone(),
        description: test.description.clone(),
        vars: test.vars.clone(),
        repeat,
        output: None,
        error: None,
        pass: false,
        score: 0.0,
        assertions: Vec::new(),
        latency_ms: 0.0,
        usage: None,
        cost: None,
    };
    let rendered = match prompt.render(&test.vars) {
        Ok(r) => r,
        Err(e) => {
            result.error = Some(e.to_string());
            return result;
        }
    };
    let mut params = prompt.params.clone();
    params.extend(target.config.clone());
    let req = Request {
        chat: rendered.kind == incant_prompt::PromptKind::Chat,
        messages: rendered.messages,
        params,
    };
    let start = Instant::now();
    let response = target.provider.call(&req);
    result.latency_ms = start.elapsed().as_secs_f64() * 1e3;
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            result.error = Some(e.to_string());
            return result;
        }
    };
    let ctx = Context {
        vars: Some(&test.vars),
        latency_ms: Some(result.latency_ms),
        cost: response.cost,
    };
    let (mut weighted, mut weights) = (0.0, 0.0);
    let mut pass = true;
    for (ty, a) in assertions {
        let grade = a.evaluate(&response.output, &ctx);
        pass &= grade.pass;
        weighted += grade.score * a.weight;
        weights += a.weight;
        result.assertions.push(AssertionResult {
            kind: ty.clone(),
            grade,
        });
    }
    result.score = if weights > 0.0 {
        weighted / weights
    } else {
        1.0
    };
    result.pass = pass;
    result.usage = response.usage;
    result.cost = response.cost;
    result.output = Some(response.output);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use incant_provider::echo::Echo;
    use serde_json::json;
    use std::path::Path;

    #[test]
    fn runs_the_matrix_and_grades_every_case() {
        let prompts = vec![
            PromptFile::parse(Path::new("a.prompt"), "Say {{ word }}").unwrap(),
            PromptFile::parse(Path::new("b.prompt"), "Shout {{ word }}!").unwrap(),
        ];
        let echo = Echo;
        let targets = vec![Target {
            label: "echo".into(),
            provider: &echo,
            config: Map::new(),
        }];
        let tests: Vec<TestCase> = ["hi", "yo"]
            .iter()
            .map(|w| TestCase {
                description: None,
                vars: json!({ "word": w }).as_object().unwrap().clone(),
                assert: vec![
                    json!({"type": "contains", "value": "Say"}),
                    json!({"type": "icontains", "value": "{{ word }}"}),
                ],
                origin: "t".into(),
            })
            .collect();
        let parsed = parse_assertions(&tests).unwrap();
        let plan = Plan {
            prompts: &prompts,
            targets: &targets,
            tests: &tests,
            assertions: &parsed,
            repeat: 2,
        };
        let mut results = Vec::new();
        run(&plan, 3, &HashSet::new(), &AtomicBool::new(false), |r| {
            results.push(r)
        });
        assert_eq!(results.len(), 8);
        results.sort_by_key(|r| r.index);
        assert!(results[..4].iter().all(|r| r.pass));
        assert!(results[4..]
            .iter()
            .all(|r| !r.pass && (r.score - 0.5).abs() < 1e-9));
        assert_eq!(results[0].output.as_deref(), Some("Say hi"));
    }

    #[test]
    fn render_errors_are_results() {
        let prompts = vec![PromptFile::parse(Path::new("a.prompt"), "Say {{ missing }}").unwrap()];
        let echo = Echo;
        let targets = vec![Target {
            label: "echo".into(),
            provider: &echo,
            config: Map::new(),
        }];
        let tests = vec![TestCase {
            description: None,
            vars: Map::new(),
            assert: vec![],
            origin: "t".into(),
        }];
        let none = [vec![]];
        let plan = Plan {
            prompts: &prompts,
            targets: &targets,
            tests: &tests,
            assertions: &none,
            repeat: 1,
        };
        let mut results = Vec::new();
        run(&plan, 1, &HashSet::new(), &AtomicBool::new(false), |r| {
            results.push(r)
        });
        assert!(!results[0].pass);
        assert!(results[0]
            .error
            .as_deref()
            .unwrap()
            .contains("undefined variable `missing`"));
    }

    #[test]
    fn skipped_cases_are_not_run_and_stop_starts_nothing() {
        let prompts = vec![PromptFile::parse(Path::new("a.prompt"), "Say {{ w }}").unwrap()];
        let echo = Echo;
        let targets = vec![Target {
            label: "echo".into(),
            provider: &echo,
            config: Map::new(),
        }];
        let tests: Vec<TestCase> = (0..5)
            .map(|i| TestCase {
                description: None,
                vars: json!({"w": i}).as_object().unwrap().clone(),
                assert: vec![],
                origin: "t".into(),
            })
            .collect();
        let asserts = vec![vec![]; 5];
        let plan = Plan {
            prompts: &prompts,
            targets: &targets,
            tests: &tests,
            assertions: &asserts,
            repeat: 1,
        };
        let mut seen = Vec::new();
        run(
            &plan,
            2,
            &HashSet::from([0, 3]),
            &AtomicBool::new(false),
            |r| seen.push(r.index),
        );
        seen.sort_unstable();
        assert_eq!(seen, [1, 2, 4]);
        let mut none = Vec::new();
        run(&plan, 2, &HashSet::new(), &AtomicBool::new(true), |r| {
            none.push(r.index)
        });
        assert!(none.is_empty());
    }

    #[test]
    fn bad_assertions_stop_before_running() {
        let tests = vec![TestCase {
            description: None,
            vars: Map::new(),
            assert: vec![json!({"type": "contain", "value": "x"})],
            origin: "suite.yaml:4".into(),
        }];
        let e = parse_assertions(&tests).unwrap_err();
        assert!(
            e.contains("suite.yaml:4: unknown assertion type `contain`"),
            "{e}"
        );
    }
}
