//! `incant redteam` end to end on the quickstart suite with `echo` (which repeats the whole
//! prompt: every unguarded attempt leaks), stored runs compared, the CI gate, bad input.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

fn quickstart() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/quickstart")
        .display()
        .to_string()
}

fn incant(dir: &Path, args: &[&str]) -> Output {
    incant_cmd()
        .args(args)
        .current_dir(dir)
        .env("INCANT_DB", dir.join("runs.db"))
        .output()
        .unwrap()
}

#[test]
fn echo_leaks_without_the_guard_and_is_blocked_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let q = quickstart();
    let o = incant(
        d,
        &[
            "redteam",
            &q,
            "-p",
            "echo",
            "--max-attacks",
            "8",
            "--json",
            "-o",
            "rt.html",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let overall = report["overall"].as_array().unwrap();
    let cell = |guarded: bool| overall.iter().find(|c| c["guarded"] == guarded).unwrap();
    assert_eq!(cell(false)["leak_rate"], 1.0, "{report}");
    assert_eq!(cell(true)["leak_rate"], 0.0, "{report}");
    assert_eq!(
        report["by_category"].as_array().unwrap().len(),
        16,
        "8 families x 2 modes"
    );
    let html = std::fs::read_to_string(d.join("rt.html")).unwrap();
    assert!(
        html.contains("<html") && html.contains("ascii-smuggling"),
        "{html}"
    );

    // A second run, stored too: compare aligns the attempts.
    let o = incant(d, &["redteam", &q, "-p", "echo", "--max-attacks", "8"]);
    assert!(stdout(&o).contains("stored as"), "{}", stdout(&o));
    let o = incant(d, &["compare", "latest~1", "latest"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));

    // The CI gate: unguarded, echo fails any limit below 100%.
    let o = incant(
        d,
        &[
            "redteam",
            &q,
            "-p",
            "echo",
            "--max-attacks",
            "4",
            "--guard",
            "off",
            "--fail-above",
            "0.1",
            "--no-store",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
}

#[test]
fn bad_options_are_input_errors() {
    let dir = tempfile::tempdir().unwrap();
    let q = quickstart();
    let o = incant(
        dir.path(),
        &["redteam", &q, "-p", "echo", "--category", "telepathy"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not an attack family"),
        "{}",
        stderr(&o)
    );
    let o = incant(dir.path(), &["redteam", &q, "-p", "nope:x"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = incant(dir.path(), &["redteam", "missing.prompt", "-p", "echo"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
