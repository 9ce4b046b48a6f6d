//! The web UI in a real browser: the real `incant serve` API (incant-server, serving two
//! prompt files on the real local model, SmolLM2-135M) merged with the UI's router on
//! 127.0.0.1:0, driven by `tests/browser/ui.mjs` in Debian's headless chromium through
//! playwright-core. Screenshots land in `target/incant-web-browser/`.
//!
//! Needs `node` and chromium (`/usr/bin/chromium`, or `CHROMIUM`); without them the test
//! says so and passes without running. `npm ci` fills `tests/browser/node_modules` when it
//! is missing.

mod common;

use incant_server::{AppState, ServeConfig};
use incant_store::{Store, StoredCase};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn models_dir() -> PathBuf {
    match std::env::var_os("INCANT_MODELS") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"),
    }
}

/// The served prompts: one made for inline completion (the text before and after the
/// cursor are its inputs), one with a typed input for the playground (two versions).
const COMPLETE: &str = "---
name: complete
version: 1.0.0
description: Continues the text before the cursor so that it leads into the text after it.
kind: completion
model: local:smollm2
params:
  max_tokens: 12
  stop: [\"\\n\\n\"]
inputs:
  prefix: { type: string }
  suffix: { type: string, default: \"\" }
---
{{ prefix }}";

const CAPITAL: &str = "---
name: capital
version: 1.0.0
model: local:smollm2
params:
  temperature: 0
  max_tokens: 8
inputs:
  country: { type: string, max_length: 60 }
---
user:
What is the capital of {{ country }}?";

fn case(idx: usize, prompt: &str, provider: &str, pass: bool) -> StoredCase {
    let fields = json!({
        "description": format!("case {idx}"), "vars": {"topic": format!("topic {}", idx % 30)},
        "output": format!("output {idx} of {prompt} on {provider}"), "error": null,
        "latency_ms": 12.5, "usage": {"prompt_tokens": 9, "completion_tokens": 4}, "cost": 0.0,
    });
    common::stored_case(idx, prompt, provider, pass, "icontains", fields)
}

/// Two runs of 120 cases (2 prompts x 2 providers x 30 topics); B fails other cases than A.
fn write_runs(path: &Path) -> (String, String) {
    let store = Store::open(path).unwrap();
    let mut ids = Vec::new();
    for fails_every in [7, 5] {
        let mut cases = Vec::new();
        for prompt in ["summarise", "translate"] {
            for provider in ["local:smollm2", "echo"] {
                for _ in 0..30 {
                    let i = cases.len();
                    cases.push(case(i, prompt, provider, i % fails_every != 3));
                }
            }
        }
        let id = store
            .begin_run(
                "examples/suite/incant.yaml",
                Some("browser test"),
                cases.len(),
                "{}",
            )
            .unwrap();
        store.record_many(&id, &cases).unwrap();
        store.finish_run(&id, "finished").unwrap();
        ids.push(id);
    }
    (ids.remove(0), ids.remove(0))
}

/// A run of `n` cases (one prompt, two providers, every 9th case failing).
fn write_big_run(path: &Path, n: usize) -> String {
    let store = Store::open(path).unwrap();
    let cases: Vec<StoredCase> = (0..n)
        .map(|i| case(i, "classify", ["local:smollm2", "echo"][i % 2], i % 9 != 4))
        .collect();
    let id = store
        .begin_run("examples/big/incant.yaml", None, n, "{}")
        .unwrap();
    store.record_many(&id, &cases).unwrap();
    store.finish_run(&id, "finished").unwrap();
    id
}

fn have(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editor_ghost_text_and_runs_in_chromium() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() || !have("node", "--version") {
        // scripts/test installs chromium and sets INCANT_REQUIRE_BROWSER: there, a missing
        // browser is a failure, not a skip.
        assert!(
            std::env::var_os("INCANT_REQUIRE_BROWSER").is_none(),
            "the browser test needs node and chromium ({chromium}); apt-get install chromium nodejs npm"
        );
        eprintln!("SKIPPED: the browser test needs node and chromium ({chromium}); apt-get install chromium nodejs npm");
        return;
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !here.join("node_modules/playwright-core").exists() {
        let ok = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&here)
            .status();
        assert!(
            ok.is_ok_and(|s| s.success()),
            "npm ci in {} failed",
            here.display()
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let served = dir.path().join("prompts");
    std::fs::create_dir_all(&served).unwrap();
    std::fs::write(served.join("complete.prompt"), COMPLETE).unwrap();
    std::fs::write(served.join("capital.prompt"), CAPITAL).unwrap();
    let terse = CAPITAL
        .replace("1.0.0", "1.1.0")
        .replace("user:", "system:\nName the city only.\n\nuser:");
    std::fs::write(served.join("capital-terse.prompt"), terse).unwrap();
    // A second provider the playground may run the prompts on.
    std::fs::write(served.join("serve.yaml"), "models: [echo]\n").unwrap();
    let mut config = ServeConfig::new(&served);
    config.models_dir = models_dir();
    config.env_keys = None;
    let state =
        AppState::new(config).unwrap_or_else(|e| panic!("{e} (hint: scripts/fetch-models)"));
    let db = dir.path().join(".incant/incant.db");
    let (a, b) = write_runs(&db);
    let big = write_big_run(&db, 50_000);
    let app = incant_server::app_with(
        state,
        Some(incant_web::router(incant_web::WebState::new(&db))),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/incant-web-browser");
    // One retry: the script drives a real model on two shared cores, and a run that
    // stalls past its own timeouts is retried once (both outputs are printed).
    let mut last = String::new();
    let mut passed = false;
    for attempt in 1..=2 {
        let child = tokio::process::Command::new("node")
            .arg("ui.mjs")
            .current_dir(&here)
            .env("INCANT_WEB_URL", format!("http://{addr}"))
            .env("INCANT_WEB_RUN_A", &a)
            .env("INCANT_WEB_RUN_B", &b)
            .env("INCANT_WEB_RUN_BIG", &big)
            .env("INCANT_WEB_SHOTS", &shots)
            .env("CHROMIUM", &chromium)
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(300), child)
            .await
            .expect("the browser script took over 300 s")
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        eprintln!("attempt {attempt}:\n{stdout}{stderr}");
        last = format!("{stdout}\n{stderr}");
        if out.status.success() && stdout.contains("all checks passed") {
            passed = true;
            break;
        }
    }
    assert!(passed, "the browser script failed twice; last run:\n{last}");

    for name in [
        "editor-ghost",
        "editor-accepted",
        "run-matrix",
        "case-details",
        "compare",
        "phone-editor",
        "phone-run",
    ] {
        let png = shots.join(format!("{name}.png"));
        let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{name}");
    }
}
