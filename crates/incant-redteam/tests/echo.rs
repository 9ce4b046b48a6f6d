//! The whole library against the quickstart prompt on `echo`, which repeats the prompt and
//! so leaks everything: the real worst case, with and without the guard, and stored runs
//! that `incant compare` pairs attack by attack.

use incant_compare::{compare, Case, Options, Status};
use incant_guard::redteam::contains_marker;
use incant_guard::{AttackLibrary, Goal, Guard, GuardConfig};
use incant_prompt::file::PromptFile;
use incant_provider::Provider;
use incant_redteam::{run, GuardMode, RedteamOptions, RedteamReport};
use incant_store::Store;
use std::path::{Path, PathBuf};

fn quickstart_prompt() -> PromptFile {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/quickstart/prompts/capital.prompt");
    PromptFile::load(&p).unwrap()
}

fn echo() -> Vec<Box<dyn Provider>> {
    vec![incant_provider::from_spec("echo", &Default::default(), Path::new(".")).unwrap()]
}

/// Whether `id` is a hijack attack whose marker is written in plain text in its text.
fn plain_hijack(id: &str) -> bool {
    let lib = AttackLibrary::builtin();
    let a = lib.attacks().find(|a| a.id == id).unwrap();
    a.goal == Goal::Hijack && contains_marker(&a.render(), a.marker())
}

fn encoded_hijacks() -> usize {
    let lib = AttackLibrary::builtin();
    lib.attacks()
        .filter(|a| a.goal == Goal::Hijack && !plain_hijack(&a.id))
        .count()
}

fn red(guard: &Guard, options: &RedteamOptions) -> RedteamReport {
    let mut calls = 0;
    let report = run(
        &[quickstart_prompt()],
        &echo(),
        guard,
        &AttackLibrary::builtin(),
        options,
        |p| {
            calls += 1;
            assert_eq!(p.done, calls);
            assert!(p.done <= p.total && !p.attempts.is_empty());
        },
    )
    .unwrap();
    assert_eq!(calls, report.attacks.len() * report.repeats);
    report
}

#[test]
fn echo_leaks_everything_unguarded_and_nothing_guarded() {
    let guard = Guard::new(GuardConfig::default());
    let report = red(&guard, &RedteamOptions::default());
    let n = AttackLibrary::builtin().attacks().count();
    assert_eq!(report.attacks.len(), n);
    assert_eq!(report.attempts.len(), 2 * n);
    let off = report.overall_for("echo", false).unwrap();
    let on = report.overall_for("echo", true).unwrap();
    // Echo repeats the system prompt and the canary: every unguarded attempt leaks, and
    // it repeats the attack, so every hijack marker written in plain text comes back too
    // (an encoded one comes back encoded: echo decodes nothing).
    assert_eq!((off.totals.leaks, off.totals.canaries), (n, n));
    assert_eq!(off.totals.successes, n - encoded_hijacks());
    assert!(encoded_hijacks() >= 3);
    // The library is caught by the guard's input scan: nothing reaches the model.
    assert_eq!(on.totals.blocked, n);
    assert_eq!((on.totals.successes, on.totals.leaks), (0, 0));
    for a in report.attempts.iter().filter(|a| a.guarded) {
        assert!(
            a.output.is_none() && a.input_score.unwrap() >= 0.5,
            "{}",
            a.attack
        );
    }
    // Eight families, each in both modes; worst first puts the successes first.
    assert_eq!(report.by_category.len(), 16);
    let worst = report.worst();
    let s = off.totals.successes;
    assert!(worst[..s].iter().all(|a| a.verdict.success));
    assert!(worst[s..].iter().all(|a| !a.verdict.success));
    assert!(worst[..n].iter().all(|a| a.verdict.leaked && !a.guarded));
    // Indirect injections went into the prompt's only variable, past its max_length.
    let doc = report
        .attempts
        .iter()
        .find(|a| a.attack == "indirect-email-note")
        .unwrap();
    assert_eq!(doc.attacked_var.as_deref(), Some("country"));
    assert!(doc
        .user_message
        .starts_with("What is the capital of Hi team"));
}

#[test]
fn output_redaction_stops_leaks_when_inputs_get_through() {
    // A guard whose input scan never flags: the output side is the only defence.
    let guard = Guard::new(GuardConfig {
        threshold: 2.0,
        ..GuardConfig::default()
    });
    let options = RedteamOptions {
        guard: GuardMode::On,
        max_attacks: Some(16),
        seed: 7,
        ..Default::default()
    };
    let report = red(&guard, &options);
    assert_eq!(report.attempts.len(), 16);
    for a in &report.attempts {
        assert!(a.guarded && !a.blocked && a.redactions > 0, "{}", a.attack);
        let out = a.output.as_deref().unwrap();
        assert!(out.contains("[REDACTED]") && !out.contains("geography assistant"));
        assert!(
            !a.verdict.leaked && !a.verdict.canary_found,
            "{}: {out}",
            a.attack
        );
        // Redaction removes the system prompt, not the attacker's own words.
        assert_eq!(a.verdict.success, plain_hijack(&a.attack), "{}", a.attack);
    }
    let on = report.overall_for("echo", true).unwrap();
    assert_eq!(on.totals.leaks, 0);
}

#[test]
fn renderings_show_rates_and_escape_transcripts() {
    let guard = Guard::new(GuardConfig::default());
    let report = red(
        &guard,
        &RedteamOptions {
            max_attacks: Some(8),
            ..Default::default()
        },
    );
    let term = report.to_terminal(100, false);
    assert!(term.contains("Attack success rate by category"), "{term}");
    assert!(term.contains("echo guard off") && term.contains("echo guard on"));
    assert!(
        term.contains("8/8 100%") && term.contains("0/8 0%"),
        "{term}"
    );
    assert!(term.lines().all(|l| l.chars().count() <= 100), "{term}");
    assert!(!term.contains('\x1b'));
    assert!(report.to_terminal(100, true).contains("\x1b[31m"));
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["attempts"].as_array().unwrap().len(), 16);
    assert_eq!(json["attempts"][0]["verdict"]["success"], true);
    assert_eq!(json["prompts"][0]["name"], "capital");
    let html = report.to_html();
    assert!(html.starts_with("<!doctype html>") && html.ends_with("</html>\n"));
    // The delimiter attacks carry fake chat tags; they appear only escaped.
    assert!(!html.contains("<|im_start|>") && !html.contains("<script"));
    assert!(!html.contains("src=\"http"), "self-contained");
}

fn stored_cases(store: &Store, id: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    store
        .for_each_case(id, |c| cases.push(Case::from_json(&c.result).unwrap()))
        .unwrap();
    cases
}

#[test]
fn stored_runs_compare_attack_by_attack() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("incant.db")).unwrap();
    let options = RedteamOptions {
        guard: GuardMode::On,
        ..Default::default()
    };
    // Run A: an input scan that flags nothing; run B: the default guard.
    let lax = Guard::new(GuardConfig {
        threshold: 2.0,
        ..GuardConfig::default()
    });
    let a = red(&lax, &options);
    let b = red(&Guard::new(GuardConfig::default()), &options);
    let id_a = a.store(&store, "examples/quickstart", Some("lax")).unwrap();
    let id_b = b.store(&store, "examples/quickstart", None).unwrap();
    assert_ne!(id_a, id_b);
    let summary = store.run(&id_a).unwrap();
    assert_eq!(
        (summary.total, summary.done),
        (a.attempts.len(), a.attempts.len())
    );
    let hijacks = a
        .attempts
        .iter()
        .filter(|t| plain_hijack(&t.attack))
        .count();
    assert_eq!(summary.passed, a.attempts.len() - hijacks);
    let cases_a = stored_cases(&store, &id_a);
    assert_eq!(cases_a[0].vars["guard"], "on");
    assert!(cases_a.iter().all(|c| c.vars.contains_key("attack")));
    let cmp = compare(cases_a, stored_cases(&store, &id_b), &Options::default());
    assert!(cmp.providers_matched);
    assert_eq!(cmp.overall.paired, a.attempts.len());
    assert_eq!(cmp.overall.count(Status::Fixed), hijacks);
    assert_eq!(cmp.overall.count(Status::Regressed), 0);
    assert_eq!(cmp.overall.pass_rate_b, 1.0);
    let config: serde_json::Value =
        serde_json::from_str(&store.run_config(&id_b).unwrap()).unwrap();
    assert_eq!(config["kind"], "redteam");
}

#[test]
fn bad_options_are_clear_errors() {
    let guard = Guard::new(GuardConfig::default());
    let lib = AttackLibrary::builtin();
    let e = run(&[], &echo(), &guard, &lib, &Default::default(), |_| {}).unwrap_err();
    assert!(e.to_string().contains("at least one prompt"), "{e}");
    let o = RedteamOptions {
        input_var: Some("city".into()),
        ..Default::default()
    };
    let e = run(&[quickstart_prompt()], &echo(), &guard, &lib, &o, |_| {}).unwrap_err();
    assert!(e.to_string().contains("no variable `city`"), "{e}");
    let p = incant_provider::from_spec(
        "exec:/nonexistent/model",
        &Default::default(),
        Path::new("."),
    )
    .unwrap();
    {
        // A provider whose calls fail: the attempts carry the error, the rates skip them.
        let r = run(
            &[quickstart_prompt()],
            &[p],
            &guard,
            &lib,
            &RedteamOptions {
                guard: GuardMode::Off,
                max_attacks: Some(2),
                ..Default::default()
            },
            |_| {},
        )
        .unwrap();
        assert!(r.attempts.iter().all(|a| a.error.is_some()));
        let c = &r.overall[0];
        assert_eq!(
            (c.totals.errors, c.totals.judged(), c.success_rate),
            (2, 0, 0.0)
        );
        assert!(r.to_terminal(80, false).contains("2 attempt(s) failed"));
    }
}
