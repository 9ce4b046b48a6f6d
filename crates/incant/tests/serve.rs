//! `incant serve` as a user starts it: the quickstart folder on a free port, the API and the
//! web UI on one origin, a chat completion by prompt name on the local model, and no prompt
//! text in what comes back.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;

#[test]
fn serves_the_quickstart_api_and_ui() {
    let quickstart = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart");
    let dir = tempfile::tempdir().unwrap();
    let mut child = incant_cmd()
        .args(["serve", quickstart.to_str().unwrap(), "--port", "0"])
        .env("INCANT_DB", dir.path().join("runs.db"))
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
