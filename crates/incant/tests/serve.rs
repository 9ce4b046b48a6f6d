//! `incant serve` as a user starts it: the quickstart folder on a free port, the API and the
//! web UI on one origin, a chat completion by prompt name on the local model, and no prompt
//! text in what comes back.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;

/// Starts `incant serve DIR --port 0 ARGS...`; returns the child, its base URL and the rest
/// of its stderr.
fn start_serve(
    dir: &std::path::Path,
    db: &std::path::Path,
    args: &[&str],
) -> (std::process::Child, String, Lines) {
    let mut child = incant_cmd()
        .args(["serve", dir.to_str().unwrap(), "--port", "0"])
        .args(args)
        .env("INCANT_DB", db)
        .env_remove("INCANT_API_KEYS")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("the server says where it listens")
            .unwrap();
        if let Some(rest) = line.split(" on http://").nth(1) {
            break format!("http://{}", rest.split_whitespace().next().unwrap());
        }
    };
    (child, base, lines)
}

type Lines = std::io::Lines<BufReader<std::process::ChildStderr>>;

#[test]
fn serves_the_quickstart_api_and_ui() {
    let quickstart = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart");
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base, _lines) = start_serve(&quickstart, &dir.path().join("runs.db"), &[]);
    let get = |path: &str| {
        ureq::get(&format!("{base}{path}"))
            .call()
            .unwrap()
            .into_string()
            .unwrap()
    };
    assert!(get("/healthz").contains("\"ok\""));
    let models = get("/v1/models");
    assert!(models.contains("\"capital\""), "{models}");
    assert!(get("/").contains("<title>incant</title>"));
    let reply = ureq::post(&format!("{base}/v1/chat/completions"))
        .set("content-type", "application/json")
        .send_string(
            &serde_json::json!({
                "model": "capital",
                "messages": [{"role": "user", "content": "France"}],
                "max_tokens": 12,
                "temperature": 0
            })
            .to_string(),
        )
        .unwrap()
        .into_string()
        .unwrap();
    assert!(reply.contains("Paris"), "{reply}");
    // The system prompt of capital.prompt never comes back.
    let system = std::fs::read_to_string(quickstart.join("prompts/capital.prompt")).unwrap();
    for body in [&models, &reply] {
        assert!(!body.contains("geography assistant"), "{body}");
    }
    assert!(
        system.contains("geography assistant"),
        "the test checks a real fragment"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[cfg(unix)]
#[test]
fn sighup_reloads_the_prompt_files() {
    let quickstart = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart");
    let dir = tempfile::tempdir().unwrap();
    let served = dir.path().join("served");
    std::fs::create_dir_all(served.join("prompts")).unwrap();
    let capital = std::fs::read_to_string(quickstart.join("prompts/capital.prompt")).unwrap();
    std::fs::write(served.join("prompts/capital.prompt"), &capital).unwrap();
    // No polling: only SIGHUP reloads.
    let (mut child, base, _lines) = start_serve(
        &served,
        &dir.path().join("runs.db"),
        &["--reload-every", "0"],
    );
    let models = || {
        ureq::get(&format!("{base}/v1/models"))
            .call()
            .unwrap()
            .into_string()
            .unwrap()
    };
    assert!(models().contains("capital@1.0.0"));
    let v2 = capital.replacen("version: 1.0.0", "version: 2.0.0", 1);
    assert_ne!(v2, capital, "the fixture has a version line");
    std::fs::write(served.join("prompts/capital-v2.prompt"), v2).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        !models().contains("capital@2.0.0"),
        "with --reload-every 0 nothing reloads before SIGHUP"
    );
    let status = std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = std::time::Instant::now();
    while !models().contains("capital@2.0.0") {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "SIGHUP did not reload: {}",
            models()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
