//! `incant migrate` and `incant compare` end to end on the real local model: a prompt made
//! worse on purpose must be flagged case by case, the unchanged cases must be called
//! unchanged, and a migration to a deterministic exec provider must flag exactly the cases
//! it answers wrongly. Also the fast paths (echo and exec only): the report and bad input.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
mod common;

use common::*;
use std::path::Path;
use std::process::Output;

fn incant(args: &[&str], db: &Path, cwd: &Path) -> Output {
    incant_cmd()
        .args(args)
        .current_dir(cwd)
        .env("INCANT_DB", db)
        .env("COLUMNS", "120")
        .output()
        .unwrap()
}

/// Version 1 asks in English for every case.
const V1: &str = "---\nname: capital\nversion: 1.0.0\nparams: {temperature: 0, max_tokens: 16}\n---\nsystem:\nYou are a geography assistant. Answer in one short sentence.\n\nuser:\nWhat is the capital of {{ country }}?\n";

/// Version 2 "localises" the cases marked `fr`: it asks in French, so the answers stop
/// naming the English capital the checks want. The `en` cases render exactly as in v1.
const V2: &str = "---\nname: capital\nversion: 2.0.0\nparams: {temperature: 0, max_tokens: 16}\n---\nsystem:\n{% if lang == 'fr' %}Réponds toujours en français.{% else %}You are a geography assistant. Answer in one short sentence.{% endif %}\n\nuser:\n{% if lang == 'fr' %}Quelle est la capitale de {{ country }} ?{% else %}What is the capital of {{ country }}?{% endif %}\n";

const SUITE: &str = "prompts: [capital.prompt]\nproviders: [local:smollm2]\ndefaultTest:\n  assert: [{type: icontains, value: '{{ capital }}'}]\ntests:\n  - vars: {country: Japan, capital: Tokyo, lang: en}\n  - vars: {country: Italy, capital: Rome, lang: en}\n  - vars: {country: Canada, capital: Ottawa, lang: en}\n  - vars: {country: Spain, capital: Madrid, lang: en}\n  - vars: {country: Egypt, capital: Cairo, lang: fr}\n  - vars: {country: Greece, capital: Athens, lang: fr}\n  - vars: {country: Germany, capital: Berlin, lang: fr}\n  - vars: {country: France, capital: Paris, lang: fr}\n";

/// A deterministic stand-in for a new model: right for three countries, wrong for the rest.
const ANSWER_SH: &str = "q=$(cat)\ncase \"$q\" in\n  *Japan*) echo 'Tokyo' ;;\n  *Italy*) echo 'It is Rome.' ;;\n  *Egypt*) echo 'Cairo' ;;\n  *) echo 'I do not know.' ;;\nesac\n";
const EXEC_RIGHT: [&str; 3] = ["Japan", "Italy", "Egypt"];

/// Country → (pass, output) of one `eval --json` run.
fn eval_cases(v: &Value) -> BTreeMap<String, (bool, String)> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let c = r["vars"]["country"].as_str().unwrap().to_string();
            let out = r["output"].as_str().unwrap_or_default().to_string();
            (c, (r["pass"].as_bool().unwrap(), out))
        })
        .collect()
}

/// Countries of the pairs with this status.
fn with_status(cmp: &Value, status: &str) -> BTreeSet<String> {
    cmp["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["status"] == status)
        .map(|p| p["vars"]["country"].as_str().unwrap().to_string())
        .collect()
}

fn eval_json(d: &Path, db: &Path) -> BTreeMap<String, (bool, String)> {
    let o = incant(&["eval", ".", "--json"], db, d);
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{}",
        text(&o.stderr)
    );
    eval_cases(&serde_json::from_slice(&o.stdout).unwrap())
}

#[test]
fn compare_and_migrate_flag_exactly_the_broken_cases_on_the_real_model() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("runs.db");
    write(d, "incant.yaml", SUITE);
    write(d, "answer.sh", ANSWER_SH);
    write(d, "capital.prompt", V1);
    let v1 = eval_json(d, &db);
    write(d, "capital.prompt", V2);
    let v2 = eval_json(d, &db);
    assert_eq!(v1.len(), 8);

    // compare: regressed and fixed are what the two runs' own verdicts say.
    let expect = |f: &dyn Fn(bool, bool) -> bool| -> BTreeSet<String> {
        v1.keys()
            .filter(|c| f(v1[*c].0, v2[*c].0))
            .cloned()
            .collect()
    };
    let regressed = expect(&|a, b| a && !b);
    assert!(
        !regressed.is_empty() && regressed.len() < v1.len(),
        "v1 {v1:?}\nv2 {v2:?}"
    );
    let o = incant(&["compare", "latest~1", "latest", "--json"], &db, d);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let cmp = &v["comparison"];
    assert_eq!(with_status(cmp, "regressed"), regressed);
    assert_eq!(with_status(cmp, "fixed"), expect(&|a, b| !a && b));
    assert_eq!(with_status(cmp, "still_passing"), expect(&|a, b| a && b));
    assert_eq!(with_status(cmp, "still_failing"), expect(&|a, b| !a && !b));
    // The English cases rendered the same prompt: same output, never called changed.
    for c in ["Japan", "Italy", "Canada", "Spain"] {
        assert_eq!(v1[c], v2[c], "{c}");
        assert!(!regressed.contains(c), "{c}");
    }
    assert_eq!(cmp["overall"]["counts"]["regressed"], regressed.len());

    // migrate: back to v1, from the model to the exec stand-in.
    write(d, "capital.prompt", V1);
    let args = [
        "migrate",
        ".",
        "--from",
        "local:smollm2",
        "--to",
        "exec:sh answer.sh",
    ];
    let o = incant(&[&args[..], &["--json"]].concat(), &db, d);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let cmp = &v["comparison"];
    assert_eq!(cmp["providers_matched"], false);
    let pairs = cmp["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 8);
    for p in pairs {
        let c = p["vars"]["country"].as_str().unwrap();
        // Run A is v1 again, from the cache: the same verdicts and outputs.
        assert_eq!(p["a"]["pass"], v1[c].0, "{c}");
        assert_eq!(p["a"]["output"], v1[c].1.as_str(), "{c}");
        assert_eq!(p["b"]["pass"], EXEC_RIGHT.contains(&c), "{c}");
        assert_eq!(
            (p["provider_a"].as_str(), p["provider_b"].as_str()),
            (Some("local:smollm2"), Some("exec:sh answer.sh"))
        );
    }
    let broken_exec: BTreeSet<String> = v1
        .iter()
        .filter(|(c, (pass, _))| *pass && !EXEC_RIGHT.contains(&c.as_str()))
        .map(|(c, _)| c.clone())
        .collect();
    assert!(!broken_exec.is_empty());
    assert_eq!(with_status(cmp, "regressed"), broken_exec);
    let broken = v["broken_prompts"].as_array().unwrap();
    assert_eq!(broken.len(), 1);
    assert_eq!(broken[0]["prompt"], "capital");
    assert_eq!(broken[0]["regressed"], broken_exec.len());
    assert_eq!(broken[0]["failing_assertions"][0][0], "icontains#0");
    let listed: BTreeSet<String> = broken[0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["vars"]["country"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, broken_exec);

    // Both runs are stored: `compare` sees the same thing again.
    let o = incant(&["compare", "latest~1", "latest", "--json"], &db, d);
    let again: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(with_status(&again["comparison"], "regressed"), broken_exec);

    // The gate.
    let o = incant(&[&args[..], &["--fail-on", "regressions"]].concat(), &db, d);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("broken prompts, by impact:"), "{out}");
    assert!(out.contains("BROKEN capital:"), "{out}");
}

const FAST_SUITE: &str = "prompts: [p/*.prompt]\nproviders: [{id: echo, label: old}]\ntests:\n  - vars: {who: [ada, bob, carol, edith]}\n    assert: [{type: icontains, value: '{{ who }}'}]\n";

#[test]
fn migrate_writes_a_report_of_the_broken_prompts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("runs.db");
    write(d, "incant.yaml", FAST_SUITE);
    write(d, "p/greet.prompt", "---\nname: greet\n---\nHi {{ who }}");
    write(d, "p/bye.prompt", "---\nname: bye\n---\nBye {{ who }}!");
    // The new provider keeps 8 characters: every `Hi NAME` survives, `Bye carol!` and
    // `Bye edith!` do not.
    let html = d.join("m.html");
    let o = incant(
        &[
            "migrate",
            ".",
            "--from",
            "old",
            "--to",
            "exec:cut -c1-8",
            "-o",
            html.to_str().unwrap(),
        ],
        &db,
        d,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let summary = out.find("6 still passing").expect(&out);
    let broken = out.find("BROKEN bye: 2 regressed").expect(&out);
    assert!(summary < broken, "{out}");
    assert!(out.contains("old → exec:cut -c1-8"), "{out}");
    assert!(!out.contains("BROKEN greet"), "{out}");
    assert!(out.contains("{\"who\":\"carol\"}"), "{out}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<h2>Broken prompts</h2>"), "{page}");
    assert!(page.contains("<td class=\"regressed\">bye</td>"), "{page}");
    assert!(
        page.contains("Bye <del>carol!</del>") || page.contains("<del>"),
        "{page}"
    );
    // --json -o report.json holds the same document.
    let json = d.join("m.json");
    let o = incant(
        &[
            "migrate",
            ".",
            "--from",
            "echo",
            "--to",
            "exec:cut -c1-8",
            "-o",
            json.to_str().unwrap(),
        ],
        &db,
        d,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["from"], "old");
    assert_eq!(v["broken_prompts"][0]["prompt"], "bye");
    assert_eq!(v["broken_prompts"][0]["regressed"], 2);
}

#[test]
fn migrate_bad_input_exits_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("runs.db");
    write(d, "incant.yaml", FAST_SUITE);
    write(d, "p/greet.prompt", "---\nname: greet\n---\nHi {{ who }}");
    for (args, says) in [
        (
            &["--from", "echo", "--to", "ecoh"][..],
            "unknown provider `ecoh`",
        ),
        (
            &["--from", "local:nope.gguf", "--to", "echo"],
            "local:nope.gguf",
        ),
        (&["--from", "echo", "--to", "old"], "same provider"),
        (
            &["--from", "echo", "--to", "exec:cat", "-o", "m.pdf"],
            "report format",
        ),
    ] {
        let o = incant(&[&["migrate", "."][..], args].concat(), &db, d);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        let err = text(&o.stderr);
        assert!(
            err.contains(says) && err.contains("hint:"),
            "{args:?}: {err}"
        );
        assert!(!db.exists(), "{args:?}");
    }
    let o = incant(
        &["migrate", "missing", "--from", "echo", "--to", "exec:cat"],
        &db,
        d,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(!db.exists());
}
