//! Tests of parsing and of every type through [`Assertion::evaluate`]: pass, fail, negated,
//! bad input. The families' own modules test their formulas.

use super::*;
use serde_json::json;
use std::sync::Mutex;

fn parse(a: Value) -> Assertion {
    Assertion::parse(&a).unwrap_or_else(|e| panic!("{a}: {e} ({:?})", e.hint))
}

fn grade(a: Value, output: &str) -> Grade {
    parse(a).evaluate(output, &Context::default())
}

fn parse_err(a: Value) -> AssertionError {
    Assertion::parse(&a).expect_err("should not parse")
}

#[test]
fn parses_and_negates() {
    assert!(
        grade(
            json!({"type": "contains", "value": "Paris"}),
            "It is Paris."
        )
        .pass
    );
    assert!(
        !grade(
            json!({"type": "not-contains", "value": "Paris"}),
            "It is Paris."
        )
        .pass
    );
    assert!(
        grade(
            json!({"type": "not-icontains", "value": "london"}),
            "It is Paris."
        )
        .pass
    );
}

#[test]
fn unknown_types_suggest_the_nearest() {
    let e = parse_err(json!({"type": "contians", "value": "x"}));
    assert_eq!(e.message, "unknown assertion type `contians`");
    assert_eq!(e.hint.as_deref(), Some("did you mean `contains`?"));
    let e = parse_err(json!({"type": "similar:dott", "value": "x"}));
    assert_eq!(e.hint.as_deref(), Some("did you mean `similar:dot`?"));
    let e = parse_err(json!({"type": "zzzzzzzzzzzzzz"}));
    let hint = e.hint.unwrap();
    for t in [
        "llm-rubric",
        "factuality",
        "python",
        "expr",
        "rouge-n",
        "bleu",
        "perplexity",
    ] {
        assert!(hint.contains(t), "{hint}");
    }
    let e = parse_err(json!({"type": "javascript", "value": "output.length < 5"}));
    assert_eq!(
        e.message,
        "assertion type `javascript` is not supported by incant"
    );
    assert!(e.hint.unwrap().contains("`expr`"));
    assert!(Assertion::parse(&json!({"type": "equals"})).is_err());
}

#[test]
fn regexes_javascript_rejects_fail_both_ways() {
    for ty in ["regex", "not-regex"] {
        let g = grade(json!({"type": ty, "value": "(?i)hello"}), "Hello");
        assert!(!g.pass && g.score == 0.0, "{ty}: {g:?}");
        assert!(
            g.reason.ends_with("/(?i)hello/: Invalid group"),
            "{}",
            g.reason
        );
    }
    assert!(!grade(json!({"type": "not-regex", "value": "["}), "x").pass);
    let w = parse(json!({"type": "regex", "value": "(?i)x"}))
        .warning()
        .unwrap();
    assert!(w.contains("Invalid group"), "{w}");
    assert!(parse(json!({"type": "regex", "value": "x"}))
        .warning()
        .is_none());
    assert!(parse(json!({"type": "regex", "value": "{{ p }}("}))
        .warning()
        .is_none());
    assert!(
        grade(
            json!({"type": "regex", "value": "quick(?= brown)"}),
            "quick brown"
        )
        .pass
    );
}

#[test]
fn values_promptfoo_rejects_fail_the_load_or_the_case() {
    for bad in [
        json!({"type": "contains", "value": ""}),
        json!({"type": "icontains", "value": true}),
        json!({"type": "starts-with", "value": 4}),
        json!({"type": "levenshtein", "value": 42}),
        json!({"type": "word-count", "value": {"mini": 3}}),
        json!({"type": "contains-any", "value": "\"a\"b"}),
    ] {
        let e = parse_err(bad.clone());
        assert!(e.message.starts_with('`'), "{bad}: {}", e.message);
    }
    // rendered per case: the case fails, whatever its threshold (see the runner)
    let vars = json!({"empty": ""}).as_object().unwrap().clone();
    let ctx = Context {
        vars: Some(&vars),
        ..Context::default()
    };
    let a = parse(json!({"type": "not-contains", "value": "{{ empty }}"}));
    let e = a.evaluate_case("anything", &ctx).unwrap_err();
    assert!(e.contains("non-empty string"), "{e}");
    assert!(!a.evaluate("anything", &ctx).pass);
}

#[test]
fn promptfoo_value_forms() {
    assert!(grade(json!({"type": "equals", "value": null}), "null").pass);
    assert!(grade(json!({"type": "contains", "value": 3.0}), "it is 3.").pass);
    assert!(grade(json!({"type": "is-json", "value": ""}), "42").pass);
    assert!(grade(json!({"type": "contains-json", "value": false}), "{a: 1}").pass);
    assert!(Assertion::parse(&json!({"type": "is-json", "value": true})).is_err());
    assert!(
        grade(
            json!({"type": "word-count", "value": {"min": 2, "max": 8}}),
            "one two three"
        )
        .pass
    );
}

#[test]
fn unknown_and_unsupported_keys_are_errors() {
    let e = parse_err(json!({"type": "contains", "value": "x", "treshold": 1}));
    assert_eq!(e.message, "unknown assertion key `treshold`");
    assert_eq!(e.hint.as_deref(), Some("did you mean `threshold`?"));
    let e = parse_err(json!({"type": "contains", "value": "x", "transform": "output.trim()"}));
    assert_eq!(
        e.message,
        "assertion key `transform` is not supported by incant"
    );
    assert!(e.hint.unwrap().contains("expr"));
    let e = parse_err(json!({"type": "contains", "value": "x", "config": 3}));
    assert!(e.message.contains("must be a mapping"));
    let e = parse_err(json!({"type": "contains", "value": "x", "metric": 3}));
    assert!(e.message.contains("`metric`"));
}

#[test]
fn provider_is_an_id_or_a_mapping_with_one() {
    let a = parse(json!({"type": "similar", "value": "x", "provider": "local:minilm"}));
    assert_eq!(a.provider.as_deref(), Some("local:minilm"));
    let a = parse(json!({"type": "llm-rubric", "value": "x", "provider": {"id": "local:smollm2"}}));
    assert_eq!(a.provider.as_deref(), Some("local:smollm2"));
    let e = parse_err(json!({"type": "llm-rubric", "value": "x", "provider": {"config": {}}}));
    assert!(e.message.contains("only `id`"), "{}", e.message);
    let e = parse_err(json!({"type": "llm-rubric", "value": "x", "provider": 3}));
    assert!(e.message.contains("must be a provider id"));
}

#[test]
fn values_are_templates_over_vars() {
    let vars = json!({"city": "Paris"}).as_object().unwrap().clone();
    let a = parse(json!({"type": "icontains", "value": "{{ city }}"}));
    let ctx = Context {
        vars: Some(&vars),
        ..Context::default()
    };
    assert!(a.evaluate("paris is big", &ctx).pass);
}

#[test]
fn json_schemas_validate_and_bad_schemas_fail_to_load() {
    let schema = json!({"type": "object", "required": ["city"]});
    let a = json!({"type": "is-json", "value": schema});
    assert!(grade(a.clone(), r#"{"city": "Paris"}"#).pass);
    assert!(!grade(a, r#"{"town": "Paris"}"#).pass);
    let a = json!({"type": "not-contains-json", "value": "required: [city]"});
    assert!(grade(a.clone(), r#"Here: {"town": "Paris"}"#).pass);
    assert!(!grade(a, r#"Here: {"city": "Paris"}"#).pass);
    let e = parse_err(json!({"type": "is-json", "value": {"type": "objekt"}}));
    assert!(
        e.message.starts_with("`is-json`: invalid JSON Schema"),
        "{}",
        e.message
    );
    assert!(e.hint.unwrap().contains("JSON Schema"));
    let e = parse_err(json!({"type": "contains-json", "value": "[1, 2"}));
    assert!(
        e.message.contains("not valid YAML or JSON"),
        "{}",
        e.message
    );
}

#[test]
fn json_schema_files_resolve_against_the_base_dir() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.yaml"), "type: array\nminItems: 2\n").unwrap();
    let v = json!({"type": "is-json", "value": "file://s.yaml"});
    let a = Assertion::parse_in(&v, Some(dir.path())).unwrap();
    assert_eq!(a.value, Some(json!({"type": "array", "minItems": 2})));
    assert!(a.evaluate("[1, 2]", &Context::default()).pass);
    assert!(!a.evaluate("[1]", &Context::default()).pass);
    let e = Assertion::parse_in(
        &json!({"type": "is-json", "value": "file://no.json"}),
        Some(dir.path()),
    )
    .unwrap_err();
    assert!(
        e.message.contains("cannot read JSON Schema"),
        "{}",
        e.message
    );
}

#[test]
fn overlap_metrics_through_assertions() {
    let a = json!({"type": "rouge-n", "value": "the cat sat on the mat"});
    assert!(grade(a.clone(), "the cat sat on the mat").pass);
    assert!(!grade(a, "a dog").pass);
    let g = grade(json!({"type": "not-rouge-n", "value": "x y z w"}), "x");
    assert!(g.pass && (g.score - 0.75).abs() < 1e-12, "{g:?}");
    assert!(
        grade(
            json!({"type": "bleu", "value": ["a b c d", "the cat sat on the mat"]}),
            "the cat sat on the mat"
        )
        .pass
    );
    assert!(parse_err(json!({"type": "rouge-n", "value": ["x"]}))
        .message
        .contains("must be a string"));
    assert!(parse_err(json!({"type": "bleu", "value": [1]}))
        .message
        .contains("reference text"));
    // A template that renders to nothing useful is a failing grade, not a panic.
    assert!(!grade(json!({"type": "bleu", "value": "x"}), "").pass);
}

#[test]
fn perplexity_needs_logprobs_and_fails_even_negated_without() {
    let lp = [-0.1f32, -0.2];
    let ctx = Context {
        logprobs: Some(&lp),
        ..Context::default()
    };
    assert!(
        parse(json!({"type": "perplexity", "threshold": 1.5}))
            .evaluate("x", &ctx)
            .pass
    );
    assert!(
        !parse(json!({"type": "not-perplexity", "threshold": 1.5}))
            .evaluate("x", &ctx)
            .pass
    );
    assert!(
        parse(json!({"type": "perplexity-score", "threshold": 0.4}))
            .evaluate("x", &ctx)
            .pass
    );
    let g = grade(json!({"type": "not-perplexity", "threshold": 2}), "x");
    assert!(!g.pass && g.reason.contains("log-probabilities"), "{g:?}");
}

#[test]
fn latency_and_cost_need_a_threshold_when_loading() {
    let e = parse_err(json!({"type": "latency"}));
    assert!(e.message.contains("needs a `threshold`") && e.hint.unwrap().contains("milliseconds"));
    let g = grade(json!({"type": "not-cost", "threshold": 0.1}), "x");
    assert!(!g.pass, "no cost measured must not pass negated: {g:?}");
}

#[test]
fn expressions_compile_when_loading() {
    assert!(
        grade(
            json!({"type": "expr", "value": "'Paris' in output"}),
            "Paris"
        )
        .pass
    );
    assert!(
        grade(
            json!({"type": "not-expr", "value": "output | length > 3"}),
            "abc"
        )
        .pass
    );
    let e = parse_err(json!({"type": "expr", "value": "output |"}));
    assert!(e.message.starts_with("invalid expression"), "{}", e.message);
    assert!(e.hint.is_some());
    assert!(parse_err(json!({"type": "expr", "value": true}))
        .message
        .contains("must be a string"));
}

#[test]
fn python_inline_files_and_timeouts() {
    assert!(
        grade(
            json!({"type": "python", "value": "output.endswith('!')"}),
            "hi!"
        )
        .pass
    );
    assert!(
        grade(
            json!({"type": "not-python", "value": "output.endswith('!')"}),
            "hi"
        )
        .pass
    );
    // An exception fails, negated or not.
    assert!(
        !grade(
            json!({"type": "not-python", "value": "undefined_name"}),
            "x"
        )
        .pass
    );
    let a = parse(json!({"type": "python", "value": "1", "timeout": 250}));
    assert_eq!(a.timeout_ms, Some(250));
    let a = parse(json!({"type": "python", "value": "1", "config": {"timeout": 1500}}));
    assert_eq!(a.timeout_ms, Some(1500));
    let e = parse_err(json!({"type": "python", "value": "file://missing_check.py"}));
    assert!(e.message.contains("does not exist"), "{}", e.message);
}

/// Records the judge calls and embeds by keyword, for model-graded types.
struct Fake {
    answer: &'static str,
    calls: Mutex<Vec<Option<String>>>,
}

impl Grader for Fake {
    fn embed(&self, provider: Option<&str>, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        self.calls
            .lock()
            .unwrap()
            .push(provider.map(str::to_string));
        Ok(texts
            .iter()
            .map(|t| vec![f32::from(u8::from(t.contains("Paris"))), 0.2])
            .collect())
    }
    fn complete(&self, provider: Option<&str>, _: &[Message]) -> Result<String, String> {
        self.calls
            .lock()
            .unwrap()
            .push(provider.map(str::to_string));
        Ok(self.answer.to_string())
    }
}

#[test]
fn model_graded_types_use_the_grader_and_its_provider() {
    let fake = Fake {
        answer: r#"{"reason": "fine", "pass": true, "score": 0.8}"#,
        calls: Mutex::default(),
    };
    let ctx = Context {
        grader: Some(&fake),
        prompt: Some("Capital of France?"),
        ..Context::default()
    };
    let a = parse(json!({"type": "similar", "value": ["Rome", "Paris!"], "provider": "emb"}));
    assert!(a.evaluate("Paris", &ctx).pass);
    assert!(
        !parse(json!({"type": "not-similar", "value": "Paris"}))
            .evaluate("Paris", &ctx)
            .pass
    );
    let g = parse(json!({"type": "llm-rubric", "value": "is fine"})).evaluate("x", &ctx);
    assert!(g.pass && g.score == 0.8 && g.reason == "fine", "{g:?}");
    let g = parse(json!({"type": "llm-rubric", "value": "is fine", "threshold": 0.9}))
        .evaluate("x", &ctx);
    assert!(!g.pass);
    let g = parse(json!({"type": "not-llm-rubric", "value": "is fine"})).evaluate("x", &ctx);
    assert!(!g.pass && (g.score - 0.2).abs() < 1e-9, "{g:?}");
    let calls = fake.calls.lock().unwrap();
    assert_eq!(calls[0].as_deref(), Some("emb"));
    assert_eq!(calls[1], None);
}

#[test]
fn model_graded_types_without_a_grader_fail_clearly() {
    for a in [
        json!({"type": "similar", "value": "x"}),
        json!({"type": "not-llm-rubric", "value": "x"}),
        json!({"type": "factuality", "value": "x"}),
    ] {
        let g = grade(a.clone(), "x");
        assert!(!g.pass && g.reason.contains("no grader"), "{a}: {g:?}");
    }
}

#[test]
fn needs_grader_only_for_model_graded_types() {
    let plain = [
        parse(json!({"type": "contains", "value": "x"})),
        parse(json!({"type": "expr", "value": "true"})),
    ];
    assert!(!needs_grader(&plain));
    let graded = parse(json!({"type": "not-similar:euclidean", "value": "x"}));
    assert_eq!(graded.kind, AssertionKind::Similar(Similarity::Euclidean));
    assert!(needs_grader(plain.iter().chain([&graded])));
    assert!(parse(json!({"type": "factuality", "value": "x"})).needs_grader());
}

#[test]
fn negated_scores_are_one_minus_the_score() {
    let fake = Fake {
        answer: "",
        calls: Mutex::default(),
    };
    let ctx = Context {
        grader: Some(&fake),
        ..Context::default()
    };
    // cosine((0, 0.2), (1, 0.2)) = 0.04 / (0.2 * sqrt(1.04))
    let sim = 0.04 / (0.2 * 1.04f64.sqrt());
    let g = parse(json!({"type": "not-similar", "value": "Paris"})).evaluate("Rome", &ctx);
    assert!(g.pass && (g.score - (1.0 - sim)).abs() < 1e-6, "{g:?}");
}

/// The JSON Schema cases of scripts/parity/promptfoo (y25-y27) with promptfoo 0.121.20's
/// saved verdicts.
#[test]
fn json_schema_verdicts_match_promptfoo() {
    let json_out = r#"{"topic": "a", "count": 4, "ok": true, "tags": ["a", "b"]}"#;
    let prefixed = format!("Answer: {json_out}");
    let is_json = json!({"type": "is-json", "value": {
        "type": "object", "required": ["topic", "count"],
        "properties": {"count": {"type": "integer", "minimum": 3}}}});
    assert!(grade(is_json.clone(), json_out).pass);
    assert!(!grade(is_json, &prefixed).pass);
    let contains = json!({"type": "contains-json", "value": {
        "type": "object", "properties": {"count": {"type": "integer", "minimum": 3}}}});
    let g = grade(
        contains,
        r#"Here you go: {"topic": "a", "count": 2} -- done."#,
    );
    assert!(!g.pass && g.reason.contains("/count"), "{g:?}");
    let not_is = json!({"type": "not-is-json", "value": {"type": "object", "required": ["zzz"]}});
    assert!(grade(not_is.clone(), json_out).pass);
    assert!(grade(not_is, &prefixed).pass);
}
