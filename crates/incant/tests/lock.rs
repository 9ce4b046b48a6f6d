//! `incant lock`, `incant check` and `incant eval --locked` end to end: a drifted prompt, a
//! drifted model file (a small stand-in: neither command loads models, they only hash them),
//! drifted provider parameters, promptfoo configs and a corrupt lock.

mod common;

use common::*;
use std::path::Path;
use std::process::Output;

fn incant(dir: &Path, args: &[&str]) -> Output {
    incant_cmd()
        .args(args)
        .current_dir(dir)
        .env("INCANT_DB", dir.join("db/incant.db"))
        .env("INCANT_MODELS", dir.join("models"))
        .output()
        .unwrap()
}

/// A suite with a versioned prompt, the echo provider and a `local:` provider whose model
/// is a small file in the suite folder.
fn suite(dir: &Path) {
    write(
        dir,
        "suite/p/capital.prompt",
        "---\nname: capital\nversion: 1.0.0\n---\nWhat is the capital of {{ country }}?\n",
    );
    write(
        dir,
        "suite/m.gguf",
        "GGUF and some bytes standing in for weights",
    );
    write(
        dir,
        "suite/incant.yaml",
        &format!(
            "prompts: [p/*.prompt]\nproviders:\n  - echo\n  - id: 'local:{}'\n    config: {{temperature: 0}}\ntests:\n  - vars: {{country: France}}\n    assert: [{{type: contains, value: France}}]\n",
            dir.join("suite/m.gguf").display()
        ),
    );
}

#[test]
fn lock_is_stable_and_check_is_clean_until_the_model_file_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    suite(d);
    let o = incant(d, &["lock", "suite"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("wrote suite/incant.lock (1 prompts, 2 providers)"));
    let first = std::fs::read_to_string(d.join("suite/incant.lock")).unwrap();
    assert!(first.starts_with("# incant.lock"));
    assert!(first.contains("file = \"p/capital.prompt\"\nversion = \"1.0.0\"\n"));
    assert!(first.contains("model_sha256 = "));

    let o = incant(d, &["lock", "suite"]);
    assert!(stdout(&o).contains("suite/incant.lock is up to date"));
    assert_eq!(
        std::fs::read_to_string(d.join("suite/incant.lock")).unwrap(),
        first
    );
    let o = incant(d, &["check", "suite"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // One byte of the model file changes.
    let mut bytes = std::fs::read(d.join("suite/m.gguf")).unwrap();
    bytes[10] ^= 1;
    std::fs::write(d.join("suite/m.gguf"), bytes).unwrap();
    let o = incant(d, &["check", "suite"]);
    assert_eq!(o.status.code(), Some(1));
    let model = d.join("suite/m.gguf").display().to_string();
    assert_eq!(
        stdout(&o),
        format!("{model}: model file for local:{model} changed since the lock\n")
    );
    assert!(stderr(&o).contains("run `incant lock` to accept it"));

    let o = incant(d, &["check", "suite", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["up_to_date"], false);
    assert_eq!(v["findings"][0]["kind"], "model-changed");

    // A model file that is gone is drift too, not a crash.
    std::fs::remove_file(d.join("suite/m.gguf")).unwrap();
    let o = incant(d, &["check", "suite"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("is gone since the lock"));
}

#[test]
fn eval_locked_refuses_a_drifted_prompt_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    suite(d);
    assert_eq!(incant(d, &["lock", "suite"]).status.code(), Some(0));
    write(
        d,
        "suite/p/capital.prompt",
        "---\nname: capital\nversion: 1.0.0\n---\nName the capital of {{ country }}.\n",
    );
    let before = files(d, "db");
    let o = incant(d, &["eval", "--locked", "-c", "suite/incant.yaml"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("--locked: the suite drifted from suite/incant.lock"),
        "{err}"
    );
    assert!(
        err.contains(
            "suite/p/capital.prompt: prompt `capital` changed but its version did not (1.0.0)"
        ),
        "{err}"
    );
    assert!(
        err.contains("hint: run `incant lock` to accept the changes"),
        "{err}"
    );
    assert_eq!(
        files(d, "db"),
        before,
        "eval --locked must leave the files as they were"
    );

    // A version bump is still a change the lock has not accepted.
    write(
        d,
        "suite/p/capital.prompt",
        "---\nname: capital\nversion: 1.1.0\n---\nName the capital of {{ country }}.\n",
    );
    let o = incant(d, &["check", "suite"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("prompt `capital` changed (1.0.0 -> 1.1.0)"));
}

#[test]
fn drifted_parameters_are_reported_key_by_key() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    suite(d);
    assert_eq!(incant(d, &["lock", "suite"]).status.code(), Some(0));
    let yaml = std::fs::read_to_string(d.join("suite/incant.yaml")).unwrap();
    write(
        d,
        "suite/incant.yaml",
        &yaml.replace("temperature: 0", "temperature: 0.7"),
    );
    let model = d.join("suite/m.gguf").display().to_string();
    let o = incant(d, &["check", "suite"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o),
        format!(
            "suite/incant.yaml: suite file changed\n\
             suite/incant.yaml: provider parameters changed for local:{model}: temperature 0 -> 0.7\n"
        )
    );
    let o = incant(d, &["eval", "--locked", "suite"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("temperature 0 -> 0.7"));
}

#[test]
fn eval_locked_runs_when_nothing_drifted() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        d,
        "p/capital.prompt",
        "---\nname: capital\nversion: 1.0.0\n---\nCapital of {{ country }}?",
    );
    write(
        d,
        "incant.yaml",
        "prompts: [p/*.prompt]\nproviders: [echo]\ntests:\n  - vars: {country: France}\n    assert: [{type: contains, value: France}]\n",
    );
    assert_eq!(incant(d, &["lock"]).status.code(), Some(0));
    assert!(d.join("incant.lock").is_file());
    let o = incant(d, &["eval", "--locked", "--no-store"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn promptfoo_configs_lock_too() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        d,
        "prompts.txt",
        "Capital of {{country}}?\n---\nWhere is {{country}}?\n",
    );
    write(
        d,
        "promptfooconfig.yaml",
        "prompts: [file://prompts.txt]\nproviders: [echo]\ntests:\n  - vars: {country: France}\n",
    );
    let o = incant(d, &["lock", "-c", "promptfooconfig.yaml", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["lock"], "incant.lock");
    assert_eq!(v["prompts"], 2);
    let lock = std::fs::read_to_string(d.join("incant.lock")).unwrap();
    assert!(lock.contains("path = \"promptfooconfig.yaml\""));
    write(
        d,
        "prompts.txt",
        "Capital of {{country}}?\n---\nWhere on earth is {{country}}?\n",
    );
    let o = incant(d, &["check", "-c", "promptfooconfig.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o),
        "prompts.txt: prompt `prompts#2` changed and has no version to bump\n"
    );
}

#[test]
fn a_corrupt_lock_is_located_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    suite(d);
    assert_eq!(incant(d, &["lock", "suite"]).status.code(), Some(0));
    let lock = std::fs::read_to_string(d.join("suite/incant.lock")).unwrap();
    let broken = lock.replace("name = \"capital\"", "name = capital");
    std::fs::write(d.join("suite/incant.lock"), &broken).unwrap();
    let line = broken.lines().position(|l| l == "name = capital").unwrap() + 1;
    for args in [&["check", "suite"][..], &["eval", "--locked", "suite"][..]] {
        let o = incant(d, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        assert!(
            err.contains(&format!("suite/incant.lock:{line}:8: corrupt lock file")),
            "{err}"
        );
        assert!(err.contains("hint:"), "{err}");
    }
    assert_eq!(
        std::fs::read_to_string(d.join("suite/incant.lock")).unwrap(),
        broken
    );

    std::fs::remove_file(d.join("suite/incant.lock")).unwrap();
    let o = incant(d, &["check", "suite"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("run `incant lock` to write one"));
}

/// The check on the real model: a copy of the SmolLM2 GGUF with one byte changed is
/// refused by `eval --locked` before anything loads it.
#[test]
fn eval_locked_refuses_a_copy_of_the_real_model_with_one_byte_changed() {
    let models = models_dir();
    let real = models.join("SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        real.is_file(),
        "{} is missing: run `incant models fetch`",
        real.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let copy = d.join("smollm2-copy.gguf");
    std::fs::copy(&real, &copy).unwrap();
    write(
        d,
        "p/capital.prompt",
        "---\nname: capital\nversion: 1.0.0\n---\nCapital of {{ country }}?",
    );
    write(
        d,
        "incant.yaml",
        &format!(
            "prompts: [p/*.prompt]\nproviders: ['local:{}']\ntests:\n  - vars: {{country: France}}\n",
            copy.display()
        ),
    );
    assert_eq!(incant(d, &["lock"]).status.code(), Some(0));
    let mut bytes = std::fs::read(&copy).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] = bytes[middle].wrapping_add(1);
    std::fs::write(&copy, bytes).unwrap();
    let o = incant(d, &["eval", "--locked", "--no-store"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stderr(&o).contains(&format!(
            "model file for local:{} changed since the lock",
            copy.display()
        )),
        "{}",
        stderr(&o)
    );
}
