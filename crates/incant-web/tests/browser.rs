//! The web UI in a real browser: a server on 127.0.0.1:0 with the UI's router and, for this
//! test only, a minimal `/v1/models` + `/v1/completions` backed by the real local model
//! (SmolLM2-135M through incant-engine), driven by `tests/browser/ui.mjs` in Debian's
//! headless chromium through playwright-core. Screenshots land in
//! `target/incant-web-browser/`.
//!
//! Needs `node` and chromium (`/usr/bin/chromium`, or `CHROMIUM`); without them the test
//! says so and passes without running. `npm ci` fills `tests/browser/node_modules` when it
//! is missing.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use incant_engine::generate::GenerateRequest;
use incant_engine::{ChatModel, SamplingParams};
use incant_store::{Store, StoredCase};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

fn models_dir() -> PathBuf {
    match std::env::var_os("INCANT_MODELS") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"),
    }
}

/// `/v1/completions` in OpenAI's shape: `n` alternatives of `max_tokens` continuing
/// `prompt` (greedy for one, seeded sampling for several). The suffix is accepted and
/// ignored: what the UI sends is checked in the browser.
async fn completions(
    State(model): State<Arc<ChatModel>>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    let bad = |m: String| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"message": m, "type": "invalid_request_error"}})),
        )
    };
    let prompt = body["prompt"].as_str().unwrap_or("").to_string();
    let n = body["n"].as_u64().unwrap_or(1).clamp(1, 8) as usize;
    let max_tokens = body["max_tokens"].as_u64().unwrap_or(16).min(128) as usize;
    let stop: Vec<String> = body["stop"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let temperature = body["temperature"].as_f64().unwrap_or(0.0) as f32;
    if prompt.trim().is_empty() {
        return Ok(Json(json!({"object": "text_completion", "choices": []})));
    }
    let choices = tokio::task::spawn_blocking(move || {
        let tokens = model.encode(&prompt, false);
        (0..n)
            .map(|i| {
                let req = GenerateRequest {
                    sampling: SamplingParams {
                        temperature: if n == 1 { 0.0 } else { temperature.max(0.7) },
                        seed: i as u64,
                        ..SamplingParams::default()
                    },
                    max_tokens,
                    stop: stop.clone(),
                    ..GenerateRequest::default()
                };
                let g = model.generate(&tokens, &req, &mut |_| {})?;
                Ok(json!({"index": i, "text": g.text, "finish_reason": g.finish_reason}))
            })
            .collect::<Result<Vec<Value>, incant_engine::EngineError>>()
    })
    .await
    .unwrap()
    .map_err(|e| bad(e.to_string()))?;
    Ok(Json(
        json!({"object": "text_completion", "model": body["model"], "choices": choices}),
    ))
}

fn case(idx: usize, prompt: &str, provider: &str, pass: bool) -> StoredCase {
    let value = json!({
        "index": idx, "prompt": prompt, "provider": provider, "description": format!("case {idx}"),
        "vars": {"topic": format!("topic {}", idx % 30)}, "repeat": 0,
        "output": format!("output {idx} of {prompt} on {provider}"), "error": null,
        "pass": pass, "score": if pass { 1.0 } else { 0.0 },
        "assertions": [{"type": "icontains", "pass": pass, "score": if pass { 1.0 } else { 0.0 }, "reason": "checked"}],
        "latency_ms": 12.5, "usage": {"prompt_tokens": 9, "completion_tokens": 4}, "cost": 0.0, "cached": false,
    });
    StoredCase {
        idx,
        prompt: prompt.into(),
        provider: provider.into(),
        pass,
        score: if pass { 1.0 } else { 0.0 },
        result: value.to_string(),
    }
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
    let gguf = models_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf");
    let model = Arc::new(
        ChatModel::load(&gguf).unwrap_or_else(|e| panic!("{e} (hint: scripts/fetch-models)")),
    );

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(".incant/incant.db");
    let (a, b) = write_runs(&db);
    let api = Router::new()
        .route(
            "/v1/models",
            get(|| async {
                Json(json!({"object": "list", "data": [{"id": "complete", "object": "model"}]}))
            }),
        )
        .route("/v1/completions", post(completions))
        .with_state(model);
    let app = incant_web::router(incant_web::WebState::new(&db)).merge(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/incant-web-browser");
    let child = tokio::process::Command::new("node")
        .arg("ui.mjs")
        .current_dir(&here)
        .env("INCANT_WEB_URL", format!("http://{addr}"))
        .env("INCANT_WEB_RUN_A", &a)
        .env("INCANT_WEB_RUN_B", &b)
        .env("INCANT_WEB_SHOTS", &shots)
        .env("CHROMIUM", &chromium)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(300), child)
        .await
        .expect("the browser script took over 300 s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}{stderr}");
    assert!(
        out.status.success(),
        "the browser script failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all checks passed"));
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
