//! `incant eval` end to end: a fast suite on the echo and exec providers, the quickstart
//! suite on the real local model, and suite errors with file:line:col.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn incant(args: &[&str]) -> Output {
    let db = std::env::temp_dir().join(format!("incant-eval-test-{}.db", std::process::id()));
    incant_db(args, &db)
}

fn incant_db(args: &[&str], db: &Path) -> Output {
    incant_cmd()
        .args(args)
        .env("INCANT_DB", db)
        .output()
        .unwrap()
}

#[test]
fn echo_suite_reports_matrix_json_and_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "p/greet.prompt",
        "---\nname: greet\ninputs:\n  who: {type: string}\n---\nHello {{ who }}",
    );
    write(
        d,
        "p/shout.prompt",
        "---\nname: shout\n---\nHEY {{ who | upper }}",
    );
    write(
        d,
        "incant.yaml",
        "prompts: [p/*.prompt]\nproviders: [echo, 'exec:tr a-z A-Z']\ntests:\n  - vars: {who: [ada, bob]}\n    assert: [{type: icontains, value: '{{ who }}'}, {type: starts-with, value: Hello}]\n",
    );
    let out = d.join("r.jsonl");
    let o = incant(&[
        "eval",
        d.to_str().unwrap(),
        "--json",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // 2 prompts x 2 providers x 2 cases; only greet on echo starts with "Hello".
    assert_eq!(v["summary"]["total"], 8);
    assert_eq!(v["summary"]["passed"], 2);
    let lines = std::fs::read_to_string(&out).unwrap();
    assert_eq!(lines.lines().count(), 8);
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert!(first["assertions"].is_array() && first["vars"]["who"].is_string());

    let o = incant(&["eval", "-c", d.join("incant.yaml").to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("2/8 cases passed"), "{text}");
    assert!(text.contains("FAIL shout × echo"), "{text}");
}

#[test]
fn suite_errors_are_located_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "a.prompt", "Say {{ x }}");
    write(
        d,
        "incant.yaml",
        "prompts: [a.prompt]\nprovider: [echo]\ntests: [{vars: {x: 1}}]\n",
    );
    let o = incant(&["eval", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("incant.yaml:2:1: unknown suite key `provider`"),
        "{e}"
    );
    assert!(e.contains("did you mean `providers`?"), "{e}");

    write(d, "incant.yaml", "prompts: [a.prompt]\nproviders: [echo]\ntests:\n  - vars: {x: 1}\n    assert: [{type: containz, value: a}]\n");
    let e = stderr(&incant(&["eval", d.to_str().unwrap()]));
    assert!(
        e.contains("incant.yaml:4:3: unknown assertion type `containz`")
            && e.contains("did you mean `contains`?"),
        "{e}"
    );
    write(
        d,
        "cases.csv",
        "x,__expected
1,contains:a
2,regex:(unclosed
",
    );
    write(
        d,
        "incant.yaml",
        "prompts: [a.prompt]
providers: [echo]
tests: file://cases.csv
",
    );
    let e = stderr(&incant(&["eval", d.to_str().unwrap()]));
    // As in promptfoo the cases fail (both ways); incant also says so, located, up front.
    assert!(e.contains("cases.csv:3: invalid regex `(unclosed`"), "{e}");
    write(
        d,
        "incant.yaml",
        "prompts: [a.prompt]
providers: [echo]
tests: file://missing.csv
",
    );
    let e = stderr(&incant(&["eval", d.to_str().unwrap()]));
    assert!(e.contains("incant.yaml:3:1: cannot read test cases"), "{e}");
    assert!(e.contains("paths are relative to the suite file"), "{e}");
    write(
        d,
        "incant.yaml",
        "prompts: [a.prompt]
providers: [echo]
tests: [{vars: {x: 1}
",
    );
    let e = stderr(&incant(&["eval", d.to_str().unwrap()]));
    assert!(
        e.contains("incant.yaml:4:1:") || e.contains("incant.yaml:3:"),
        "{e}"
    );

    write(
        d,
        "incant.yaml",
        "prompts: [a.prompt]\nproviders: [nope:model]\ntests: [{vars: {x: 1}}]\n",
    );
    let o = incant(&["eval", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown provider `nope:model`"));

    write(d, "a.prompt", "---\nversion: 1.x\n---\nSay {{ x }}");
    write(
        d,
        "incant.yaml",
        "prompts: [a.prompt]\nproviders: [echo]\ntests: [{vars: {x: 1}}]\n",
    );
    let e = stderr(&incant(&["eval", d.to_str().unwrap()]));
    assert!(
        e.contains("a.prompt:2:1: version `1.x` is not semver"),
        "{e}"
    );
}

#[test]
fn quickstart_on_the_local_model_finds_the_weaker_prompt() {
    let suite = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart");
    let o = incant(&["eval", suite.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["total"], 14);
    let failed: Vec<(String, String)> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["pass"] == false)
        .map(|r| {
            (
                r["prompt"].as_str().unwrap().to_string(),
                r["vars"]["country"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Greedy decoding is deterministic: the same two cases fail on every run.
    assert_eq!(
        failed,
        [
            ("capital-terse".to_string(), "France".to_string()),
            ("capital-terse".to_string(), "Spain".to_string())
        ]
    );
}

#[test]
fn runs_are_stored_and_can_be_listed_shown_and_exported() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("store/incant.db");
    write(d, "a.prompt", "Say {{ word }}");
    write(d, "incant.yaml", "prompts: [a.prompt]\nproviders: [echo]\ntests:\n  - vars: {word: [hi, yo, no]}\n    assert: [{type: not-contains, value: 'no'}]\n");
    let o = incant_db(&["eval", d.to_str().unwrap(), "--json"], &db);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let id = v["run_id"].as_str().unwrap().to_string();

    let o = incant_db(&["runs", "list", "--json"], &db);
    let runs: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(runs[0]["id"], id.as_str());
    assert_eq!(
        (runs[0]["done"].as_u64(), runs[0]["passed"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(runs[0]["status"], "finished");

    let o = incant_db(&["runs", "show", "latest"], &db);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("3/3 cases stored, 2 passed") && text.contains("FAIL #2"),
        "{text}"
    );

    let o = incant_db(&["runs", "export", &id, "--format", "jsonl"], &db);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["vars"]["word"], "no");
    let o = incant_db(&["runs", "export", "latest", "--format", "json"], &db);
    let all: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(all["results"].as_array().unwrap().len(), 3);
    assert_eq!(all["results"][0]["run_id"], id.as_str());
    let o = incant_db(&["runs", "export", "latest", "--format", "csv"], &db);
    let csv = String::from_utf8_lossy(&o.stdout);
    assert_eq!(csv.lines().count(), 4, "{csv}");
    let o = incant_db(&["runs", "export", "latest", "--format", "junit"], &db);
    let xml = String::from_utf8_lossy(&o.stdout);
    assert_eq!(xml.matches("<testcase ").count(), 3, "{xml}");
    let html = d.join("run.html");
    let o = incant_db(
        &[
            "runs",
            "export",
            "latest",
            "--format",
            "html",
            "-o",
            html.to_str().unwrap(),
        ],
        &db,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&html).unwrap().contains("<html"));

    let o = incant_db(&["runs", "show", "r0-0"], &db);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no run `r0-0`"));
    let o = incant_db(&["runs", "list"], &d.join("missing.db"));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no run store"));
}

#[test]
fn interrupted_runs_resume_without_redoing_cases() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("incant.db");
    let calls = d.join("calls.log");
    write(d, "a.prompt", "n{{ i }}");
    // Each call is logged, so the test can count how often every case ran.
    let cmd = format!(
        "exec:read line; echo \"$line\" >> {}; sleep 0.2; echo ok",
        calls.display()
    );
    let suite = format!(
        "prompts: [a.prompt]\nproviders: [{cmd:?}]\ntests:\n  - vars: {{i: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]}}\n    assert: [{{type: equals, value: ok}}]\noptions: {{maxConcurrency: 2}}\n"
    );
    write(d, "incant.yaml", &suite);

    // kill -9 in the middle of the run: what finished is in the store.
    let mut child = Command::new(env!("CARGO_BIN_EXE_incant"))
        .args(["eval", d.to_str().unwrap(), "--json"])
        .env("INCANT_DB", &db)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    child.kill().unwrap();
    child.wait().unwrap();
    let o = incant_db(&["runs", "list", "--json"], &db);
    let runs: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let done = runs[0]["done"].as_u64().unwrap();
    assert!(done > 0 && done < 12, "killed after {done} cases");
    assert_eq!(runs[0]["status"], "running");

    let o = incant_db(&["eval", "--resume", "latest", "--json"], &db);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (
            v["summary"]["total"].as_u64(),
            v["summary"]["passed"].as_u64()
        ),
        (Some(12), Some(12))
    );
    let o = incant_db(&["runs", "show", "latest", "--json"], &db);
    let shown: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(shown["run"]["status"], "finished");
    assert_eq!(shown["results"].as_array().unwrap().len(), 12);
    // Every case ran once, except those in flight when the process was killed (at most the
    // two workers' cases), which ran again.
    let log = std::fs::read_to_string(&calls).unwrap();
    let runs_of = |i: usize| log.lines().filter(|l| *l == format!("n{i}")).count();
    let extra: usize = (0..12).map(|i| runs_of(i) - 1).sum();
    assert!((0..12).all(|i| runs_of(i) >= 1));
    assert!(extra <= 2, "{extra} cases ran twice:\n{log}");
}

#[test]
fn ctrl_c_stops_cleanly_and_says_how_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("incant.db");
    write(d, "a.prompt", "n{{ i }}");
    write(
        d,
        "incant.yaml",
        "prompts: [a.prompt]\nproviders: ['exec:sleep 0.2; echo ok']\ntests:\n  - vars: {i: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}\noptions: {maxConcurrency: 1}\n",
    );
    let child = Command::new(env!("CARGO_BIN_EXE_incant"))
        .args(["eval", d.to_str().unwrap()])
        .env("INCANT_DB", &db)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("incant eval --resume r"),
        "{}",
        stderr(&o)
    );
    let o = incant_db(&["runs", "list", "--json"], &db);
    let runs: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(runs[0]["status"], "interrupted");
    assert!(runs[0]["done"].as_u64().unwrap() < 10);
}

#[test]
fn responses_are_cached_between_runs_unless_asked_not_to() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("incant.db");
    write(d, "a.prompt", "Say {{ w }}");
    write(
        d,
        "incant.yaml",
        "prompts: [a.prompt]\nproviders: [echo]\ntests:\n  - vars: {w: [a, b]}\n",
    );
    let cached = |extra: &[&str]| -> Vec<bool> {
        let mut args = vec!["eval", d.to_str().unwrap(), "--json"];
        args.extend_from_slice(extra);
        let o = incant_db(&args, &db);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["cached"] == true)
            .collect()
    };
    assert_eq!(cached(&[]), [false, false]);
    assert_eq!(cached(&[]), [true, true]);
    assert_eq!(cached(&["--no-cache"]), [false, false]);
    let o = incant_db(&["cache", "clear"], &db);
    assert!(String::from_utf8_lossy(&o.stdout).contains("removed 2 cached responses"));
    assert_eq!(cached(&[]), [false, false]);
}

#[test]
fn two_processes_share_one_store_while_a_viewer_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("incant.db");
    write(d, "a.prompt", "Say {{ w }}");
    for (name, n) in [("one.yaml", 12), ("two.yaml", 9)] {
        let values: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
        write(
            d,
            name,
            &format!(
                "prompts: [a.prompt]\nproviders: ['exec:sleep 0.05; cat']\noptions: {{cache: false}}\n\
                 tests:\n  - vars: {{w: [{}]}}\n    assert: [{{type: contains, value: Say}}]\n",
                values.join(", ")
            ),
        );
    }
    let spawn = |suite: &str| {
        Command::new(env!("CARGO_BIN_EXE_incant"))
            .args(["eval", d.join(suite).to_str().unwrap(), "-j", "2"])
            .env("INCANT_DB", &db)
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("one.yaml"), spawn("two.yaml"));
    // The viewer reads while both write.
    for _ in 0..5 {
        std::thread::sleep(std::time::Duration::from_millis(60));
        let o = incant_db(&["runs", "list", "--json"], &db);
        if o.status.success() {
            let runs: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert!(runs.as_array().unwrap().len() <= 2);
        } else {
            // The very first poll may come before either process created the file.
            assert!(stderr(&o).contains("no run store"), "{}", stderr(&o));
        }
    }
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let o = incant_db(&["runs", "list", "--json"], &db);
    let runs: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut done: Vec<(u64, String)> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["done"].as_u64().unwrap(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    done.sort();
    assert_eq!(done, [(9, "finished".into()), (12, "finished".into())]);
}

#[test]
fn reports_in_every_format_and_the_suites_output_path() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "a.prompt", "Say {{ w }}");
    write(
        d,
        "incant.yaml",
        "prompts: [a.prompt]\nproviders: [echo]\noutputPath: out/report.html\n\
         tests:\n  - vars: {w: ['a <b> & \"c\"', x]}\n    assert: [{type: contains, value: x}]\n",
    );
    let suite = d.join("incant.yaml");
    let o = incant(&["eval", suite.to_str().unwrap(), "--no-store"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let html = std::fs::read_to_string(d.join("out/report.html")).unwrap();
    assert!(
        html.contains("<html") && html.contains("\\u003cb>"),
        "escaped in the data"
    );
    for (ext, check) in [
        ("csv", "Say x"),
        ("xml", "<testcase "),
        ("json", "\"summary\""),
        ("jsonl", "\"vars\""),
    ] {
        let out = d.join(format!("r.{ext}"));
        let o = incant(&[
            "eval",
            suite.to_str().unwrap(),
            "--no-store",
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.contains(check), "{ext}: {text}");
    }
    let o = incant(&["eval", suite.to_str().unwrap(), "-o", "r.txt"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(".html"), "{}", stderr(&o));
}
