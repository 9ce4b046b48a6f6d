//! The local engine thread under several users: sequences decoded together answer exactly
//! what they answer alone, a typed continuation reuses the cached prompt, a client that
//! hangs up stops its generation, and a prompt can be run on another allowed provider.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

fn metric(text: &str, line_start: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{line_start}` in\n{text}"))
}

const COUNTRIES: [&str; 4] = ["France", "Japan", "Kenya", "Peru"];

async fn capital(s: &incant_server::AppState, country: &str) -> String {
    let r = post(
        s,
        "/v1/prompts/capital@1.0.0",
        json!({"inputs": {"country": country}, "max_tokens": 10}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["output"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_answer_what_they_answer_alone() {
    let alone = state(&fixtures());
    let mut want = Vec::new();
    for c in COUNTRIES {
        want.push(capital(&alone, c).await);
    }
    // A fresh server (empty caches), all four at once: they share decoding steps.
    let together = state(&fixtures());
    let tasks: Vec<_> = COUNTRIES
        .iter()
        .map(|c| {
            let s = together.clone();
            tokio::spawn(async move { capital(&s, c).await })
        })
        .collect();
    for (t, w) in tasks.into_iter().zip(&want) {
        assert_eq!(&t.await.unwrap(), w);
    }
    assert!(want[0].contains("Paris"), "{want:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_continuation_reads_only_the_new_tokens() {
    let s = state(&fixtures());
    let doc = "The harbour town woke slowly that morning. Fishing boats rocked against the pier";
    let ask = |prefix: String| json!({"inputs": {"prefix": prefix, "suffix": " and so they waited."}, "max_tokens": 6});
    let first = post(&s, "/v1/prompts/complete", ask(doc.to_string())).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let m = call(&s, "GET", "/metrics", "", &[]).await.body;
    let read_before = metric(
        &m,
        "incant_prompt_tokens_total{model=\"local:smollm2\",source=\"read\"}",
    );
    let typed = format!("{doc} while gulls");
    let second = post(&s, "/v1/prompts/complete", ask(typed.clone())).await;
    assert_eq!(second.status, 200, "{}", second.body);
    let m = call(&s, "GET", "/metrics", "", &[]).await.body;
    let reused = metric(
        &m,
        "incant_prompt_tokens_total{model=\"local:smollm2\",source=\"cache\"}",
    );
    let read = metric(
        &m,
        "incant_prompt_tokens_total{model=\"local:smollm2\",source=\"read\"}",
    ) - read_before;
    let prompt_tokens = second.json()["usage"]["prompt_tokens"].as_f64().unwrap();
    assert_eq!(reused + read, prompt_tokens, "{m}");
    assert!(
        read <= 6.0,
        "only the typed words are read again: {read} of {prompt_tokens}"
    );
    // And the answer is the one a server without that cache gives.
    let fresh = state(&fixtures());
    let want = post(&fresh, "/v1/prompts/complete", ask(typed)).await;
    assert_eq!(second.json()["output"], want.json()["output"]);
}

#[test]
fn a_client_that_hangs_up_stops_its_generation() {
    let dir = fixture_copy();
    std::fs::write(dir.path().join("serve.yaml"), "models: [local:smollm2]\n").unwrap();
    let (addr, stop) = spawn_server(state(dir.path()));
    let body = json!({
        "model": "local:smollm2",
        "prompt": "1, 2, 3, 4, 5, 6, 7, 8, 9, 10,",
        "max_tokens": 1500,
        "stream": true
    })
    .to_string();
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut req = http("POST", "/v1/completions", &body, &[]);
    // Keep the connection open: this client leaves by closing it.
    let text = String::from_utf8(req.clone()).unwrap();
    req = text
        .replace("Connection: close", "Connection: keep-alive")
        .into_bytes();
    conn.write_all(&req).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "the stream ended early"
        );
        if line.starts_with("data: {") {
            break;
        }
    }
    drop(reader);
    conn.shutdown(std::net::Shutdown::Both).unwrap();
    drop(conn);
    let get_metrics = || {
        let answer = raw(addr, &http("GET", "/metrics", "", &[]));
        answer
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_string()
    };
    let start = Instant::now();
    loop {
        let m = get_metrics();
        let depth = metric(&m, "incant_queue_depth{model=\"local:smollm2\"}");
        if depth == 0.0 {
            let cancelled = metric(&m, "incant_engine_cancelled_total{model=\"local:smollm2\"}");
            assert_eq!(cancelled, 1.0, "{m}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the generation kept running after its client left"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_runs_on_another_provider_only_when_the_server_allows_it() {
    let dir = fixture_copy();
    let s = state(dir.path());
    let ask = |provider: &str| json!({"inputs": {"country": "France"}, "provider": provider, "max_tokens": 8});
    let refused = post(&s, "/v1/prompts/capital", ask("echo")).await;
    let e = assert_error(&refused, 400);
    assert_eq!(e["param"], "provider");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("`echo`") && msg.contains("local:smollm2"),
        "{msg}"
    );
    assert!(
        !refused.body.contains("geography assistant"),
        "{}",
        refused.body
    );
    let own = post(&s, "/v1/prompts/capital", ask("local:smollm2")).await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.json()["model"], "local:smollm2");

    std::fs::write(dir.path().join("serve.yaml"), "models: [echo]\n").unwrap();
    let s = state(dir.path());
    let described = call(&s, "GET", "/v1/prompts/capital", "", &[]).await.json();
    assert_eq!(described["providers"], json!(["local:smollm2", "echo"]));
    let echoed = post(&s, "/v1/prompts/capital", ask("echo")).await;
    assert_eq!(echoed.status, 200, "{}", echoed.body);
    let v: Value = echoed.json();
    assert_eq!(v["model"], "echo");
    // echo repeats its prompt: the leak filter keeps the system message out.
    assert!(
        !echoed.body.contains("geography assistant"),
        "{}",
        echoed.body
    );
    let bad = post(
        &s,
        "/v1/prompts/capital",
        json!({"inputs": {"country": "France"}, "provider": 3}),
    )
    .await;
    assert_eq!(assert_error(&bad, 400)["param"], "provider");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_model_cannot_take_is_the_clients_error() {
    let dir = fixture_copy();
    std::fs::write(dir.path().join("serve.yaml"), "models: [local:smollm2]\n").unwrap();
    let s = state(dir.path());
    let long = "word ".repeat(9000);
    let r = post(
        &s,
        "/v1/completions",
        json!({"model": "local:smollm2", "prompt": long, "max_tokens": 4}),
    )
    .await;
    let e = assert_error(&r, 400);
    assert_eq!(e["param"], "max_tokens");
    assert!(e["message"].as_str().unwrap().contains("context"), "{e}");
    // An empty document still gets a beginning (an editor before the first keystroke).
    let r = post(
        &s,
        "/v1/completions",
        json!({"model": "local:smollm2", "prompt": "", "max_tokens": 4}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["usage"]["prompt_tokens"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alternatives_read_their_prompt_once() {
    let s = state(&fixtures());
    let r = post(
        &s,
        "/v1/prompts/complete",
        json!({"inputs": {"prefix": "The harbour town woke slowly that morning."}, "n": 3, "max_tokens": 6}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["alternatives"].as_array().unwrap().len(), 3);
    let prompt_tokens = v["usage"]["prompt_tokens"].as_f64().unwrap();
    let m = call(&s, "GET", "/metrics", "", &[]).await.body;
    let read = metric(
        &m,
        "incant_prompt_tokens_total{model=\"local:smollm2\",source=\"read\"}",
    );
    let reused = metric(
        &m,
        "incant_prompt_tokens_total{model=\"local:smollm2\",source=\"cache\"}",
    );
    // The first alternative reads the prompt; the others only its last token again.
    assert_eq!(read, prompt_tokens + 2.0, "{m}");
    assert_eq!(reused, 2.0 * (prompt_tokens - 1.0), "{m}");
}
