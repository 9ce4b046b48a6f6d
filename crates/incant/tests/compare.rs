//! `incant compare` end to end: two eval runs on the echo and exec providers where the
//! second run's prompt truncates names, so exactly the long-name cases regress; output drift
//! measured with the real local MiniLM.

mod common;

use common::*;
use std::path::Path;
use std::process::Output;

fn incant(args: &[&str], db: &Path, cwd: &Path) -> Output {
    incant_cmd()
        .args(args)
        .current_dir(cwd)
        .env("INCANT_DB", db)
        .output()
        .unwrap()
}

const SUITE: &str = "prompts: [p/*.prompt]\nproviders: [echo, 'exec:cat']\ntests:\n  - vars: {who: [ada, bob, carol, dave, eve]}\n    assert: [{type: icontains, value: '{{ who }}'}, {type: contains, value: ' '}]\n";

/// Two runs of one suite: `greet` drops all but 3 letters of the name in the second.
fn two_runs(d: &Path, db: &Path) {
    write(
        d,
        "p/greet.prompt",
        "---\nname: greet\n---\nHello {{ who }}",
    );
    write(d, "p/bye.prompt", "---\nname: bye\n---\nBye {{ who }}");
    write(d, "incant.yaml", SUITE);
    let o = incant(&["eval", "."], db, d);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    write(
        d,
        "p/greet.prompt",
        "---\nname: greet\n---\nHello {{ who[:3] }}",
    );
    let o = incant(&["eval", "."], db, d);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
}

#[test]
fn compare_flags_exactly_the_regressed_cases() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("runs.db");
    two_runs(d, &db);

    let o = incant(&["compare", "latest~1", "latest", "--json"], &db, d);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let cmp = &v["comparison"];
    assert_eq!(cmp["providers_matched"], true);
    let pairs = cmp["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 20);
    let mut regressed: Vec<String> = Vec::new();
    for p in pairs {
        let who = p["vars"]["who"].as_str().unwrap();
        let key = format!(
            "{} {} {who}",
            p["prompt"].as_str().unwrap(),
            p["provider_a"]
        );
        assert_eq!(p["provider_a"], p["provider_b"], "{key}");
        match p["status"].as_str().unwrap() {
            "regressed" => {
                assert_eq!(p["score_delta"], -0.5, "{key}");
                let changes = p["assertion_changes"].as_array().unwrap();
                assert_eq!(changes.len(), 1, "{key}");
                assert_eq!(changes[0]["type"], "icontains");
                assert_eq!(changes[0]["position"], 0);
                regressed.push(key);
            }
            "still_passing" => assert_eq!(p["score_delta"], 0.0, "{key}"),
            other => panic!("{key}: {other}"),
        }
    }
    regressed.sort();
    assert_eq!(
        regressed,
        [
            "greet \"echo\" carol",
            "greet \"echo\" dave",
            "greet \"exec:cat\" carol",
            "greet \"exec:cat\" dave",
        ]
    );
    let overall = &cmp["overall"];
    assert_eq!(overall["counts"]["regressed"], 4);
    assert_eq!(overall["counts"]["still_passing"], 16);
    // 4 regressions and no fix: p = 2 / 2^4, not significant at 0.05.
    assert_eq!(overall["mcnemar_p"], 0.125);
    assert_eq!(overall["significance"], "no_significant_change");
    let bye = cmp["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["prompt"] == "bye")
        .unwrap();
    assert_eq!(bye["counts"]["still_passing"], 10);
    assert_eq!(bye["mcnemar_p"], 1.0);

    // The terminal summary and the gates.
    let html = d.join("cmp.html");
    let o = incant(
        &[
            "compare",
            "latest~1",
            "latest",
            "--fail-on",
            "regressions",
            "-o",
            html.to_str().unwrap(),
        ],
        &db,
        d,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("4 regressed, 0 fixed"), "{out}");
    assert!(
        out.contains("REGRESSED greet × echo {\"who\":\"carol\"}"),
        "{out}"
    );
    assert!(out.lines().all(|l| l.chars().count() <= 100), "{out}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("Hello <del>carol</del>") && page.contains("Hello <ins>car</ins>"));
    for (rule, code) in [
        ("regressions=5", 0),
        ("regressions=4", 1),
        ("significant", 0),
    ] {
        let o = incant(
            &["compare", "latest~1", "latest", "--fail-on", rule],
            &db,
            d,
        );
        assert_eq!(o.status.code(), Some(code), "{rule}: {}", text(&o.stderr));
    }
    // A run compared with itself: nothing changed.
    let o = incant(&["compare", "latest", "latest", "--json"], &db, d);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["comparison"]["overall"]["counts"]["still_failing"], 4);
    assert_eq!(v["comparison"]["overall"]["counts"]["regressed"], 0);
}

#[test]
fn compare_bad_input_exits_2_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("runs.db");
    two_runs(d, &db);
    let o = incant(&["compare", "r0-0", "latest"], &db, d);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("no run `r0-0`") && text(&o.stderr).contains("hint:"));
    let o = incant(&["compare", "latest~7", "latest"], &db, d);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let o = incant(&["compare", "latest", "latest", "-o", "x.pdf"], &db, d);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));

    // A run of another suite.
    write(d, "other/incant.yaml", SUITE);
    write(
        d,
        "other/p/greet.prompt",
        "---\nname: greet\n---\nHello {{ who }}",
    );
    let o = incant(&["eval", "other"], &db, d);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let o = incant(&["compare", "latest~1", "latest"], &db, d);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("different suites") && err.contains("--allow-different-suites"),
        "{err}"
    );
    let o = incant(
        &[
            "compare",
            "latest~1",
            "latest",
            "--allow-different-suites",
            "--json",
        ],
        &db,
        d,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // `bye` is gone in the other suite; greet was broken in run 2 and fine in run 3.
    assert_eq!(v["comparison"]["overall"]["counts"]["gone"], 10);
    assert_eq!(v["comparison"]["overall"]["counts"]["fixed"], 4);
}

#[test]
fn drift_is_the_output_cosine_on_the_real_embedder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("runs.db");
    two_runs(d, &db);
    let o = incant(
        &["compare", "latest~1", "latest", "--drift", "--json"],
        &db,
        d,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for p in v["comparison"]["pairs"].as_array().unwrap() {
        let sim = p["output_similarity"].as_f64().unwrap();
        if p["status"] == "regressed" {
            assert!(sim < 0.99, "{p}");
        } else {
            assert!((sim - 1.0).abs() < 1e-5, "{p}");
        }
    }
    let overall = v["comparison"]["overall"]["mean_output_similarity"]
        .as_f64()
        .unwrap();
    assert!(overall > 0.5 && overall < 1.0, "{overall}");
}

#[test]
fn a_provider_migration_aligns_cases_without_the_provider() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("runs.db");
    write(
        d,
        "p/greet.prompt",
        "---\nname: greet\n---\nHello {{ who }}",
    );
    write(d, "incant.yaml", SUITE);
    let o = incant(&["eval", "."], &db, d);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    // The same suite moved to a provider that shouts: the `icontains` checks still pass.
    write(
        d,
        "incant.yaml",
        &SUITE.replace("[echo, 'exec:cat']", "['exec:tr a-z A-Z']"),
    );
    let o = incant(&["eval", "."], &db, d);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let o = incant(&["compare", "latest~1", "latest", "--json"], &db, d);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let cmp = &v["comparison"];
    assert_eq!(cmp["providers_matched"], false);
    // Two providers in A, one in B: echo's cases meet the new provider's, exec:cat's are gone.
    assert_eq!(cmp["overall"]["counts"]["still_passing"], 5);
    assert_eq!(cmp["overall"]["counts"]["gone"], 5);
    let first = &cmp["pairs"][0];
    assert_eq!(
        (first["provider_a"].as_str(), first["provider_b"].as_str()),
        (Some("echo"), Some("exec:tr a-z A-Z"))
    );
}
