//! Alignment and grouping on hand-made cases.

use super::*;
use serde_json::json;

fn case(prompt: &str, provider: &str, who: &str, repeat: usize, pass: bool) -> Case {
    Case {
        index: 0,
        prompt: prompt.into(),
        provider: provider.into(),
        description: None,
        vars: json!({"who": who, "n": {"b": 1, "a": 2}})
            .as_object()
            .unwrap()
            .clone(),
        repeat,
        output: Some(format!("hello {who}")),
        error: None,
        pass,
        score: if pass { 1.0 } else { 0.0 },
        assertions: vec![
            Verdict {
                kind: "contains".into(),
                pass,
                score: if pass { 1.0 } else { 0.0 },
                reason: String::new(),
            },
            Verdict {
                kind: "is-json".into(),
                pass: true,
                score: 1.0,
                reason: String::new(),
            },
        ],
    }
}

#[test]
fn canonical_json_sorts_keys_at_every_depth() {
    let v = json!({"b": [{"y": 1, "x": 2}], "a": "s"});
    assert_eq!(
        align::canonical_json(&v),
        r#"{"a":"s","b":[{"x":2,"y":1}]}"#
    );
}

#[test]
fn statuses_new_and_gone() {
    let a = vec![
        case("p", "echo", "ada", 0, true),
        case("p", "echo", "bob", 0, true),
        case("p", "echo", "cy", 0, false),
        case("p", "echo", "dee", 0, false),
        case("p", "echo", "gone", 0, true),
    ];
    let mut b = vec![
        case("p", "echo", "new", 0, true),
        case("p", "echo", "dee", 0, true),
        case("p", "echo", "cy", 0, false),
        case("p", "echo", "bob", 0, false),
        case("p", "echo", "ada", 0, true),
    ];
    // Same vars written in another key order still align.
    b[4].vars = json!({"n": {"a": 2, "b": 1}, "who": "ada"})
        .as_object()
        .unwrap()
        .clone();
    let pairs = align(a, b);
    let got: Vec<(String, Status)> = pairs
        .iter()
        .map(|p| (p.vars["who"].as_str().unwrap().to_string(), p.status))
        .collect();
    assert_eq!(
        got,
        [
            ("ada".into(), Status::StillPassing),
            ("bob".into(), Status::Regressed),
            ("cy".into(), Status::StillFailing),
            ("dee".into(), Status::Fixed),
            ("gone".into(), Status::Gone),
            ("new".into(), Status::New),
        ]
    );
    let bob = &pairs[1];
    assert_eq!(bob.score_delta, Some(-1.0));
    assert_eq!(bob.assertion_changes.len(), 1);
    let c = &bob.assertion_changes[0];
    assert_eq!(
        (c.position, c.kind.as_str(), c.before, c.after),
        (0, "contains", Some(true), Some(false))
    );
}

#[test]
fn provider_is_in_the_key_only_when_both_runs_share_providers() {
    // Same providers: echo in A meets echo in B, not exec.
    let a = vec![
        case("p", "echo", "x", 0, true),
        case("p", "exec", "x", 0, false),
    ];
    let b = vec![
        case("p", "exec", "x", 0, true),
        case("p", "echo", "x", 0, true),
    ];
    let pairs = align(a, b);
    assert_eq!(pairs.len(), 2);
    assert!(pairs
        .iter()
        .all(|p| p.provider_a == p.provider_b && p.a.is_some() && p.b.is_some()));
    assert_eq!(pairs[1].status, Status::Fixed);

    // A migration: old-model's cases meet new-model's, by repeat.
    let a = vec![
        case("p", "old", "x", 0, true),
        case("p", "old", "x", 1, true),
    ];
    let b = vec![
        case("p", "new", "x", 1, false),
        case("p", "new", "x", 0, true),
    ];
    let cmp = compare(a, b, &Options::default());
    assert!(!cmp.providers_matched);
    let st: Vec<Status> = cmp.pairs.iter().map(|p| p.status).collect();
    assert_eq!(st, [Status::StillPassing, Status::Regressed]);
    assert_eq!(cmp.pairs[1].provider_b.as_deref(), Some("new"));
}

#[test]
fn duplicate_keys_pair_in_run_order() {
    let a = vec![case("p", "e", "x", 0, true), case("p", "e", "x", 0, false)];
    let b = vec![case("p", "e", "x", 0, false), case("p", "e", "x", 0, false)];
    let st: Vec<Status> = align(a, b).iter().map(|p| p.status).collect();
    assert_eq!(st, [Status::Regressed, Status::StillFailing]);
}

#[test]
fn many_regressions_are_significant_few_are_not() {
    let names: Vec<String> = (0..40).map(|i| format!("t{i}")).collect();
    let a: Vec<Case> = names.iter().map(|n| case("p", "e", n, 0, true)).collect();
    // 12 of 40 regress.
    let b: Vec<Case> = names
        .iter()
        .enumerate()
        .map(|(i, n)| case("p", "e", n, 0, i >= 12))
        .collect();
    let cmp = compare(a.clone(), b, &Options::default());
    let g = &cmp.overall;
    assert_eq!(g.count(Status::Regressed), 12);
    assert!(g.mcnemar_p < 0.001, "{}", g.mcnemar_p);
    assert!(g.ci95.unwrap().hi < 0.0);
    assert_eq!(g.significance, Significance::SignificantRegression);
    assert_eq!(cmp.prompts.len(), 1);
    let m = &g.metrics[0];
    assert_eq!((m.kind.as_str(), m.n), ("contains", 40));
    assert!((m.delta + 0.3).abs() < 1e-12);
    assert_eq!(g.metrics[1].delta, 0.0);

    // 2 regressions and 1 fix: noise.
    let b: Vec<Case> = names
        .iter()
        .enumerate()
        .map(|(i, n)| case("p", "e", n, 0, i >= 2))
        .collect();
    let mut a2 = a;
    a2[39].pass = false;
    a2[39].score = 0.0;
    let g = compare(a2, b, &Options::default()).overall;
    assert_eq!((g.count(Status::Regressed), g.count(Status::Fixed)), (2, 1));
    assert_eq!(g.significance, Significance::NoSignificantChange);
}

#[test]
fn html_escapes_and_marks_changed_words() {
    let mut a = case("p<x>", "e", "ada", 0, true);
    let mut b = case("p<x>", "e", "ada", 0, false);
    a.output = Some("the <b>cat</b> sat".into());
    b.output = Some("the dog sat".into());
    let cmp = compare(vec![a], vec![b], &Options::default());
    let page = html::render(&cmp, "r1", "r2");
    assert!(page.contains("p&lt;x&gt;"));
    assert!(!page.contains("<b>cat"));
    assert!(page.contains("<del>&lt;b&gt;cat&lt;/b&gt;</del>"));
    assert!(page.contains("<ins>dog</ins>"));
}

#[test]
fn output_similarity_fills_pairs_and_groups() {
    let a = vec![case("p", "e", "x", 0, true), case("q", "e", "y", 0, true)];
    let mut b = a.clone();
    b[1].output = None;
    let mut cmp = compare(a, b, &Options::default());
    let pairs: Vec<usize> = cmp.output_pairs().iter().map(|x| x.0).collect();
    assert_eq!(pairs, [0]);
    cmp.set_output_similarity(&[(0, 0.5)]);
    assert_eq!(cmp.pairs[0].output_similarity, Some(0.5));
    assert_eq!(cmp.overall.mean_output_similarity, Some(0.5));
    assert_eq!(cmp.prompts[1].mean_output_similarity, None);
    assert!((cosine(&[1.0, 0.0], &[1.0, 1.0]) - 0.5f64.sqrt()).abs() < 1e-9);
    assert_eq!(cosine(&[0.0], &[1.0]), 0.0);
}
