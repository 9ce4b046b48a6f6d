//! `snapshot` assertions and `incant snapshot review` end to end with the echo provider:
//! a first run records pending snapshots and passes, review accepts them, a changed prompt
//! fails with a diff, a rejected change keeps the old snapshot, and a stray or corrupt file
//! in `__snapshots__` is exit 2 with nothing changed.

mod common;

use common::*;
use std::path::Path;
use std::process::Output;

fn incant(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut cmd = incant_cmd();
    cmd.args(args)
        .current_dir(dir)
        .env("INCANT_DB", dir.join("db/incant.db"))
        .env("INCANT_MODELS", dir.join("models"));
    run_with_stdin(&mut cmd, Some(stdin.as_bytes()))
}

fn both(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn suite(d: &Path, greeting: &str) {
    write(
        d,
        "suite/p/greet.prompt",
        &format!("---\nname: greet\n---\n{greeting} {{{{ who }}}}\nHow are you?\n"),
    );
    write(
        d,
        "suite/incant.yaml",
        "prompts: [p/*.prompt]\nproviders: [echo]\ntests:\n  - vars: {who: [ada, bob]}\n    assert: [{type: contains, value: '{{ who }}'}, {type: snapshot}]\n",
    );
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", both(o)))
}

#[test]
fn record_accept_compare_and_reject() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    suite(d, "Hello");
    let snaps = d.join("suite/__snapshots__");

    // First run: pending, passing.
    let o = incant(d, &["eval", "suite", "--json"], "");
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    assert!(both(&o).contains("new snapshot, pending review"));
    assert!(snaps.join("greet.pending.json").is_file());
    assert!(!snaps.join("greet.snap.json").exists());
    let listed = json(&incant(d, &["snapshot", "review", "suite", "--json"], ""));
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[0]["key"], r#"echo {"who":"ada"} #2"#);
    assert_eq!(listed[0]["pending"], "Hello ada\nHow are you?");
    assert_eq!(listed[0]["accepted"], serde_json::Value::Null);

    let o = incant(d, &["snapshot", "review", "suite", "--accept-all"], "");
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    assert!(both(&o).contains("accepted 2, rejected 0"), "{}", both(&o));
    assert!(!snaps.join("greet.pending.json").exists());
    let accepted = std::fs::read_to_string(snaps.join("greet.snap.json")).unwrap();
    assert!(
        accepted.contains("\"echo {\\\"who\\\":\\\"bob\\\"} #2\": {\n      \"output\": [\n        \"Hello bob\",\n        \"How are you?\"\n      ]"),
        "{accepted}"
    );

    // Second run: matches, nothing pending.
    let o = incant(d, &["eval", "suite"], "");
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    assert!(!snaps.join("greet.pending.json").exists());
    let o = incant(d, &["snapshot", "review", "suite"], "");
    assert!(both(&o).contains("no pending snapshots"), "{}", both(&o));

    // A changed prompt fails with a diff and leaves the change pending.
    suite(d, "Hi");
    let o = incant(d, &["eval", "suite", "--json"], "");
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    let out = both(&o);
    assert!(
        out.contains(r#"differs from the snapshot, line 1: \"Hello ada\" -> \"Hi ada\""#),
        "{out}"
    );
    assert!(
        out.contains(r#"- Hello ada\n+ Hi ada\n  How are you?"#),
        "{out}"
    );

    // Interactive review: reject ada's change, skip bob's; the accepted file is as it was.
    let o = incant(d, &["snapshot", "review", "suite"], "r\ns\n");
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let out = both(&o);
    assert!(out.contains("[-Hello-]{+Hi+} ada"), "{out}");
    assert!(
        out.contains("accepted 0, rejected 1, left pending 1"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(snaps.join("greet.snap.json")).unwrap(),
        accepted
    );
    let listed = json(&incant(d, &["snapshot", "review", "suite", "--json"], ""));
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["key"], r#"echo {"who":"bob"} #2"#);
    assert_eq!(listed[0]["accepted"], "Hello bob\nHow are you?");
    let o = incant(d, &["snapshot", "review", "suite", "--reject-all"], "");
    assert!(both(&o).contains("rejected 1"), "{}", both(&o));
    assert!(!snaps.join("greet.pending.json").exists());

    // Still failing against the old snapshot.
    let o = incant(d, &["eval", "suite"], "");
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
}

#[test]
fn stray_and_corrupt_files_are_exit_2_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    suite(d, "Hello");
    assert_eq!(incant(d, &["eval", "suite"], "").status.code(), Some(0));
    write(d, "suite/__snapshots__/notes.md", "my notes");
    let before = files(d, "db");
    for args in [
        &["eval", "suite"][..],
        &["snapshot", "review", "suite", "--accept-all"],
        &["snapshot", "review", "suite", "--json"],
    ] {
        let o = incant(d, args, "");
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", both(&o));
        let out = both(&o);
        assert!(out.contains("notes.md: not a snapshot file"), "{out}");
        assert!(out.contains("hint: __snapshots__ holds only"), "{out}");
        assert_eq!(files(d, "db"), before, "{args:?} changed files");
    }
    std::fs::remove_file(d.join("suite/__snapshots__/notes.md")).unwrap();
    write(
        d,
        "suite/__snapshots__/greet.snap.json",
        "{\"prompt\": \"greet\",",
    );
    let before = files(d, "db");
    for args in [
        &["eval", "suite"][..],
        &["snapshot", "review", "suite", "--accept-all"],
    ] {
        let o = incant(d, args, "");
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", both(&o));
        let out = both(&o);
        assert!(
            out.contains("greet.snap.json: corrupt snapshot file"),
            "{out}"
        );
        assert!(out.contains("hint: restore it from git"), "{out}");
        assert_eq!(files(d, "db"), before, "{args:?} changed files");
    }
    let o = incant(d, &["snapshot", "review", "nowhere"], "");
    assert_eq!(o.status.code(), Some(2), "{}", both(&o));
}
