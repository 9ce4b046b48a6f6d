//! The runner: prompts x providers x test cases x repeats, with bounded concurrency.
//!
//! Cases are numbered up front and handed to a fixed pool of worker threads by the
//! [`crate::schedule`] scheduler (one queue per provider, each with its own limit on calls
//! in flight); each finished case is sent back over a bounded channel to the caller's
//! thread, which sees it immediately (progress, streaming output) and keeps only what it
//! wants, so memory does not grow with the number of cases. A failed render or a failed call is a
//! result with an error, never a crash.

use crate::assertions::{Assertion, Context, Grade, Grader};
use crate::schedule::Scheduler;
use incant_prompt::{PromptFile, TestCase, TestList};
use incant_provider::{Provider, Request, Usage};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// The rendered prompt as plain text (absent when rendering failed).
    #[serde(default)]
    pub rendered: Option<String>,
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
    /// Whether the response came from the cache.
    #[serde(default)]
    pub cached: bool,
}

/// One test's assertions, parsed, with their written types. Relative `file://` references
/// resolve against `base_dir` (the suite's folder).
pub fn parse_case_assertions(
    test: &TestCase,
    base_dir: Option<&std::path::Path>,
) -> Result<Vec<(String, Assertion)>, String> {
    test.assert
        .iter()
        .map(|a| {
            let ty = a
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            Assertion::parse_in(a, base_dir)
                .map(|p| (ty, p))
                .map_err(|e| {
                    let hint = e.hint.map(|h| format!(" ({h})")).unwrap_or_default();
                    format!("{}: {}{hint}", test.origin, e.message)
                })
        })
        .collect()
}

/// What [`check_assertions`] found.
#[derive(Debug, Default)]
pub struct Checked {
    /// Some assertion needs a [`Grader`].
    pub needs_grader: bool,
    /// Located warnings (`origin: message`), each said once.
    pub warnings: Vec<String>,
    /// Some assertion is a `snapshot` (the run needs the suite's snapshot store).
    pub needs_snapshots: bool,
}

/// Parses every test's assertions once, so a bad assertion stops the run before any model
/// is called. (Cases parse their assertions again when they run, so a million-case suite
/// never holds them all.)
pub fn check_assertions(
    tests: &TestList,
    base_dir: Option<&std::path::Path>,
) -> Result<Checked, String> {
    let mut checked = Checked::default();
    for test in tests.iter() {
        let parsed = parse_case_assertions(&test, base_dir)?;
        checked.needs_grader |= crate::assertions::needs_grader(parsed.iter().map(|(_, a)| a));
        checked.needs_snapshots |= parsed
            .iter()
            .any(|(_, a)| a.kind == crate::AssertionKind::Snapshot);
        for (_, a) in &parsed {
            if let Some(w) = a.warning() {
                let w = format!("{}: {w}", test.origin);
                if checked.warnings.len() < 20 && !checked.warnings.contains(&w) {
                    checked.warnings.push(w);
                }
            }
        }
    }
    Ok(checked)
}

/// Where responses are cached between runs. Implementations must be thread-safe: workers
/// call them concurrently.
pub trait ResponseCache: Sync {
    /// The stored response for a request hash.
    fn get(&self, key: &str) -> Option<String>;
    /// Stores a successful response.
    fn put(&self, key: &str, value: &str);
}

/// The cache key of a request: sha256 over the provider id, its configuration, the rendered
/// messages and every parameter (the whole request, so two different requests never share
/// an entry).
pub fn cache_key(provider: &str, req: &Request) -> String {
    use sha2::{Digest, Sha256};
    let messages: Vec<(&str, &str)> = req
        .messages
        .iter()
        .map(|m| (m.role.as_str(), m.content.as_str()))
        .collect();
    let v = serde_json::json!({
        "provider": provider,
        "chat": req.chat,
        "messages": messages,
        "params": req.params,
    });
    Sha256::digest(v.to_string().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A cached call: the response and the latency it had when it was made.
#[derive(serde::Serialize, serde::Deserialize)]
struct CachedCall {
    response: incant_provider::Response,
    latency_ms: f64,
}

/// What to run: the matrix of a suite.
pub struct Plan<'a> {
    /// Prompts, in order.
    pub prompts: &'a [PromptFile],
    /// Providers, in order.
    pub targets: &'a [Target<'a>],
    /// Expanded test cases.
    pub tests: &'a TestList,
    /// Where relative `file://` references in assertions resolve (the suite's folder).
    pub base_dir: Option<&'a std::path::Path>,
    /// Runs of each case.
    pub repeat: usize,
    /// Response cache, if enabled.
    pub cache: Option<&'a dyn ResponseCache>,
    /// Model access for model-graded assertions, if any test needs it.
    pub grader: Option<&'a dyn Grader>,
    /// The suite's snapshots, if any test has a `snapshot` assertion (without them those
    /// assertions fail as ungraded).
    pub snapshots: Option<&'a crate::snapshot::Session>,
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
    let per_target = plan.tests.len() * repeat;
    let per_prompt = plan.targets.len() * per_target;
    let mut lanes: Vec<(Vec<usize>, Option<usize>)> = plan
        .targets
        .iter()
        .map(|t| (Vec::new(), t.provider.max_concurrency()))
        .collect();
    for i in (0..plan.total()).filter(|i| !skip.contains(i)) {
        lanes[(i % per_prompt) / per_target].0.push(i);
    }
    let todo: usize = lanes.iter().map(|l| l.0.len()).sum();
    let scheduler = Scheduler::new(lanes);
    // Bounded, so a slow consumer (the store, a slow disk) holds the workers back instead
    // of letting finished results pile up in memory.
    let workers = concurrency.clamp(1, todo.max(1));
    let (tx, rx) = mpsc::sync_channel::<CaseResult>(workers * 4);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let tx = tx.clone();
            let scheduler = &scheduler;
            scope.spawn(move || loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let Some(slot) = scheduler.next() else {
                    break;
                };
                let i = slot.case;
                let (p, rest) = (i / per_prompt, i % per_prompt);
                let (t_idx, rest) = (rest / per_target, rest % per_target);
                let (test, rep) = (rest / repeat, rest % repeat);
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let test = plan.tests.get(test);
                let assertions = parse_case_assertions(&test, plan.base_dir);
                let case = Case {
                    index: i,
                    prompt: &plan.prompts[p],
                    target: &plan.targets[t_idx],
                    test: &test,
                    assertions,
                    repeat: rep,
                };
                let result = run_case(case, plan.cache, plan.grader, plan.snapshots);
                drop(slot);
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

/// One cell of the matrix.
struct Case<'a> {
    index: usize,
    prompt: &'a PromptFile,
    target: &'a Target<'a>,
    test: &'a TestCase,
    /// The test's assertions, or why they could not be parsed.
    assertions: Result<Vec<(String, Assertion)>, String>,
    repeat: usize,
}

fn run_case(
    case: Case<'_>,
    cache: Option<&dyn ResponseCache>,
    grader: Option<&dyn Grader>,
    snapshots: Option<&crate::snapshot::Session>,
) -> CaseResult {
    let Case {
        index,
        prompt,
        target,
        test,
        assertions,
        repeat,
    } = case;
    let mut result = CaseResult {
        index,
        prompt: prompt.name.clone(),
        provider: target.label.clone(),
        description: test.description.clone(),
        vars: test.vars.clone(),
        repeat,
        rendered: None,
        output: None,
        error: None,
        pass: false,
        score: 0.0,
        assertions: Vec::new(),
        latency_ms: 0.0,
        usage: None,
        cost: None,
        cached: false,
    };
    let parsed = match assertions {
        Ok(parsed) => parsed,
        Err(e) => {
            result.error = Some(e);
            return result;
        }
    };
    let assertions = &parsed[..];
    // Variables may refer to each other (promptfoo); reports keep them as written.
    let vars = incant_prompt::resolve_var_templates(&test.vars);
    let rendered = match prompt.render(&vars) {
        Ok(r) => r,
        Err(e) => {
            result.error = Some(e.to_string());
            return result;
        }
    };
    let mut params = prompt.params.clone();
    if let Some(negative) = &rendered.negative {
        // An image prompt's negative prompt travels with its settings.
        params.insert("negative_prompt".into(), negative.clone().into());
    }
    params.extend(target.config.clone());
    let req = Request {
        chat: rendered.kind == incant_prompt::PromptKind::Chat,
        messages: rendered.messages,
        params,
    };
    result.rendered = Some(req.text());
    // Only the first repeat may come from the cache: repeats exist to sample again.
    let key = cache
        .filter(|_| repeat == 0)
        .map(|c| (c, cache_key(target.provider.id(), &req)));
    let hit = key
        .as_ref()
        .and_then(|(c, k)| c.get(k))
        .and_then(|s| serde_json::from_str::<CachedCall>(&s).ok());
    let response = if let Some(hit) = hit {
        result.cached = true;
        result.latency_ms = hit.latency_ms;
        hit.response
    } else {
        let start = Instant::now();
        let response = target.provider.call(&req);
        result.latency_ms = start.elapsed().as_secs_f64() * 1e3;
        match response {
            Ok(r) => {
                if let Some((c, k)) = &key {
                    let call = CachedCall {
                        response: r.clone(),
                        latency_ms: result.latency_ms,
                    };
                    if let Ok(s) = serde_json::to_string(&call) {
                        c.put(k, &s);
                    }
                }
                r
            }
            // Errors are results, never cached.
            Err(e) => {
                result.error = Some(e.to_string());
                return result;
            }
        }
    };
    let ctx = Context {
        vars: Some(&vars),
        prompt: result.rendered.as_deref(),
        latency_ms: Some(result.latency_ms),
        cost: response.cost,
        logprobs: response.logprobs.as_deref(),
        grader,
    };
    // promptfoo's scoring: each assertion scores 1 or 0 (or its own score), `weight: 0`
    // makes an assertion pass without counting; the case's score is the weighted mean
    // (0 when every weight is 0, 1 with no assertions). A test `threshold` (0 included)
    // decides on that score instead of on every assertion passing. An assertion whose value
    // cannot be used (promptfoo throws) makes the whole case an error.
    let (mut weighted, mut weights) = (0.0, 0.0);
    let mut pass = true;
    let mut case_error = None;
    for (position, (ty, a)) in assertions.iter().enumerate() {
        let graded = match snapshots.filter(|_| a.kind == crate::AssertionKind::Snapshot) {
            Some(session) => {
                let slot = crate::assertions::snapshot::Slot {
                    session,
                    prompt: &prompt.name,
                    key: crate::snapshot::case_key(
                        &target.label,
                        &test.vars,
                        position,
                        a.snapshot_name(),
                    ),
                    repeat,
                };
                Ok(a.evaluate_snapshot(&response.output, &ctx, &slot))
            }
            None => a.evaluate_case(&response.output, &ctx),
        };
        let grade = match graded {
            Ok(mut grade) => {
                if a.weight == 0.0 && !grade.pass {
                    grade.pass = true;
                    grade.reason = format!("{} (weight 0: not counted)", grade.reason);
                }
                grade
            }
            Err(reason) => {
                case_error.get_or_insert_with(|| format!("assertion `{ty}`: {reason}"));
                Grade {
                    pass: false,
                    score: 0.0,
                    reason,
                }
            }
        };
        pass &= grade.pass;
        weighted += grade.score * a.weight;
        weights += a.weight;
        result.assertions.push(AssertionResult {
            kind: ty.clone(),
            grade,
        });
    }
    result.score = if assertions.is_empty() {
        1.0
    } else if weights > 0.0 {
        weighted / weights
    } else {
        0.0
    };
    result.pass = match test.threshold.filter(|t| !t.is_nan()) {
        Some(t) => result.score >= t,
        None => pass,
    };
    if let Some(e) = case_error {
        result.error = Some(e);
        result.pass = false;
        result.score = 0.0;
    }
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

    fn prompts(texts: &[&str]) -> Vec<PromptFile> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| PromptFile::parse(Path::new(&format!("p{i}.prompt")), t).unwrap())
            .collect()
    }

    /// Runs the whole plan and returns the results in index order.
    fn run_all(plan: &Plan<'_>, concurrency: usize) -> Vec<CaseResult> {
        let mut results = Vec::new();
        run(
            plan,
            concurrency,
            &HashSet::new(),
            &AtomicBool::new(false),
            |r| results.push(r),
        );
        results.sort_by_key(|r| r.index);
        results
    }

    fn echo_target(echo: &Echo) -> Vec<Target<'_>> {
        vec![Target {
            label: "echo".into(),
            provider: echo,
            config: Map::new(),
        }]
    }

    #[test]
    fn runs_the_matrix_and_grades_every_case() {
        let prompts = prompts(&["Say {{ word }}", "Shout {{ word }}!"]);
        let echo = Echo;
        let targets = echo_target(&echo);
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
                threshold: None,
            })
            .collect();
        let plan = Plan {
            prompts: &prompts,
            targets: &targets,
            tests: &TestList::from(tests.clone()),
            base_dir: None,
            repeat: 2,
            cache: None,
            grader: None,
            snapshots: None,
        };
        let results = run_all(&plan, 3);
        assert_eq!(results.len(), 8);
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
        let targets = echo_target(&echo);
        let tests = vec![TestCase {
            description: None,
            vars: Map::new(),
            assert: vec![],
            origin: "t".into(),
            threshold: None,
        }];
        let plan = Plan {
            prompts: &prompts,
            targets: &targets,
            tests: &TestList::from(tests.clone()),
            base_dir: None,
            repeat: 1,
            cache: None,
            grader: None,
            snapshots: None,
        };
        let results = run_all(&plan, 1);
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
        let targets = echo_target(&echo);
        let tests: Vec<TestCase> = (0..5)
            .map(|i| TestCase {
                description: None,
                vars: json!({"w": i}).as_object().unwrap().clone(),
                assert: vec![],
                origin: "t".into(),
                threshold: None,
            })
            .collect();
        let plan = Plan {
            prompts: &prompts,
            targets: &targets,
            tests: &TestList::from(tests.clone()),
            base_dir: None,
            repeat: 1,
            cache: None,
            grader: None,
            snapshots: None,
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
    fn second_run_is_served_from_the_cache_and_errors_are_not_cached() {
        use std::sync::Mutex;
        struct MemCache(Mutex<std::collections::HashMap<String, String>>);
        impl ResponseCache for MemCache {
            fn get(&self, key: &str) -> Option<String> {
                self.0.lock().unwrap().get(key).cloned()
            }
            fn put(&self, key: &str, value: &str) {
                self.0.lock().unwrap().insert(key.into(), value.into());
            }
        }
        let cache = MemCache(Mutex::new(Default::default()));
        let prompts = prompts(&["Say {{ w }}", "{{ nope }}"]);
        let echo = Echo;
        let targets = echo_target(&echo);
        let tests = vec![TestCase {
            description: None,
            vars: json!({"w": 1}).as_object().unwrap().clone(),
            assert: vec![],
            origin: "t".into(),
            threshold: None,
        }];
        let plan = Plan {
            prompts: &prompts,
            targets: &targets,
            tests: &TestList::from(tests.clone()),
            base_dir: None,
            repeat: 1,
            cache: Some(&cache),
            grader: None,
            snapshots: None,
        };
        let first = run_all(&plan, 1);
        assert!(first.iter().all(|r| !r.cached));
        let second = run_all(&plan, 1);
        assert!(second[0].cached && second[0].output.as_deref() == Some("Say 1"));
        assert!(!second[1].cached && second[1].error.is_some());
        assert_eq!(cache.0.lock().unwrap().len(), 1);
        let req = |p: &str| Request {
            messages: vec![],
            chat: true,
            params: json!({"t": p}).as_object().unwrap().clone(),
        };
        assert_ne!(cache_key("echo", &req("a")), cache_key("echo", &req("b")));
        assert_ne!(cache_key("echo", &req("a")), cache_key("other", &req("a")));
    }

    #[test]
    fn bad_assertions_stop_before_running() {
        let tests = vec![TestCase {
            description: None,
            vars: Map::new(),
            assert: vec![json!({"type": "contain", "value": "x"})],
            origin: "suite.yaml:4".into(),
            threshold: None,
        }];
        let e = check_assertions(&TestList::from(tests), None).unwrap_err();
        assert!(
            e.contains("suite.yaml:4: unknown assertion type `contain`"),
            "{e}"
        );
    }

    #[test]
    fn scores_as_promptfoo_does() {
        let prompts = prompts(&["apples and {{ w }}"]);
        let echo = Echo;
        let targets = echo_target(&echo);
        let case = |threshold: Option<f64>, assert: Vec<Value>| TestCase {
            description: None,
            vars: json!({"w": "figs", "empty": ""})
                .as_object()
                .unwrap()
                .clone(),
            assert,
            origin: "t".into(),
            threshold,
        };
        let tests = vec![
            // a threshold of 0 passes anything gradable
            case(
                Some(0.0),
                vec![
                    json!({"type": "contains", "value": "kiwi"}),
                    json!({"type": "contains", "value": "lime"}),
                ],
            ),
            // weight 0: the failure passes and does not count (score 0: no weight at all)
            case(
                None,
                vec![json!({"type": "contains", "value": "kiwi", "weight": 0})],
            ),
            // weighted mean against the threshold: 3 / 4
            case(
                Some(0.7),
                vec![
                    json!({"type": "contains", "value": "apples", "weight": 3}),
                    json!({"type": "contains", "value": "kiwi"}),
                ],
            ),
            case(
                Some(0.8),
                vec![
                    json!({"type": "contains", "value": "apples", "weight": 3}),
                    json!({"type": "contains", "value": "kiwi"}),
                ],
            ),
            // a value promptfoo throws on fails the case, whatever the threshold
            case(
                Some(0.0),
                vec![json!({"type": "not-contains", "value": "{{ empty }}"})],
            ),
            case(None, vec![]),
        ];
        let plan = Plan {
            prompts: &prompts,
            targets: &targets,
            tests: &TestList::from(tests),
            base_dir: None,
            repeat: 1,
            cache: None,
            grader: None,
            snapshots: None,
        };
        let r = run_all(&plan, 1);
        let got: Vec<(bool, f64)> = r.iter().map(|r| (r.pass, r.score)).collect();
        assert_eq!(
            got,
            [
                (true, 0.0),
                (true, 0.0),
                (true, 0.75),
                (false, 0.75),
                (false, 0.0),
                (true, 1.0)
            ]
        );
        assert!(r[1].assertions[0].grade.pass);
        let e = r[4].error.as_deref().unwrap();
        assert!(e.starts_with("assertion `not-contains`: "), "{e}");
    }
}
