//! The runs API and the assets, answered by the router without a socket (oneshot requests)
//! over real SQLite stores written with incant-store.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use incant_store::{Store, StoredCase};
use incant_web::{router, WebState};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Instant;
use tower::ServiceExt;

/// A stored result in the runner's `CaseResult` shape.
fn result(
    idx: usize,
    prompt: &str,
    provider: &str,
    city: &str,
    output: Option<&str>,
    pass: bool,
) -> StoredCase {
    let error = output.is_none().then_some("provider timed out");
    let fields = json!({
        "description": format!("city {city}"), "vars": {"city": city},
        "rendered": format!("SECRET SYSTEM PROMPT about {city}"),
        "output": output, "error": error,
        "latency_ms": 10.0 + idx as f64, "usage": {"prompt_tokens": 5, "completion_tokens": 3},
        "cost": null,
    });
    common::stored_case(idx, prompt, provider, pass, "contains", fields)
}

/// Two runs of 2 prompts x 2 providers x 3 cities: B regresses `greet/echo/Paris` and
/// fixes `greet/echo/Rome`; one case of each run is an error.
fn two_runs(path: &Path) -> (String, String) {
    let store = Store::open(path).unwrap();
    let mut ids = Vec::new();
    for run in ["a", "b"] {
        let mut cases = Vec::new();
        let mut idx = 0;
        for prompt in ["greet", "summarise"] {
            for provider in ["echo", "local:smollm2"] {
                for city in ["Paris", "Rome", "Oslo"] {
                    let mut pass = city != "Oslo";
                    let mut output = Some(format!("Hello from {city} by {provider}"));
                    if prompt == "greet" && provider == "echo" {
                        pass = match (run, city) {
                            ("a", "Paris") | ("b", "Rome") => true,
                            ("a", "Rome") | ("b", "Paris") => false,
                            _ => pass,
                        };
                    }
                    if (run, prompt, provider, city) == ("b", "greet", "echo", "Paris") {
                        output = Some("Bye from Paris by echo".into());
                    }
                    if prompt == "summarise" && provider == "echo" && city == "Oslo" {
                        output = None;
                    }
                    cases.push(result(idx, prompt, provider, city, output.as_deref(), pass));
                    idx += 1;
                }
            }
        }
        let id = store
            .begin_run("incant.yaml", Some(run), cases.len(), "{}")
            .unwrap();
        store.record_many(&id, &cases).unwrap();
        store.finish_run(&id, "finished").unwrap();
        ids.push(id);
    }
    (ids.remove(0), ids.remove(0))
}

async fn get(state: &WebState, uri: &str) -> (StatusCode, Value) {
    let res = router(state.clone())
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, value)
}

#[tokio::test]
async fn no_store_lists_no_runs_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".incant/incant.db");
    let state = WebState::new(&path);
    let (status, body) = get(&state, "/api/runs").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"runs": []}));
    let (status, body) = get(&state, "/api/runs/latest").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no run `latest`"));
    assert!(!path.exists() && !path.parent().unwrap().exists());
}

#[tokio::test]
async fn runs_and_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("incant.db");
    let (a, b) = two_runs(&path);
    let state = WebState::new(&path);
    let (status, body) = get(&state, "/api/runs").await;
    assert_eq!(status, StatusCode::OK);
    let runs = body["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["id"], json!(b), "newest first");
    assert_eq!(
        (runs[1]["id"].clone(), runs[1]["done"].clone()),
        (json!(a), json!(12))
    );

    let (status, body) = get(&state, &format!("/api/runs/{a}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["prompts"], json!(["greet", "summarise"]));
    assert_eq!(body["providers"], json!(["echo", "local:smollm2"]));
    let matrix = body["matrix"].as_array().unwrap();
    assert_eq!(matrix.len(), 4);
    let cell = |p: &str, v: &str| {
        matrix
            .iter()
            .find(|c| c["prompt"] == p && c["provider"] == v)
            .unwrap()
            .clone()
    };
    let c = cell("summarise", "echo");
    assert_eq!(
        (
            c["cases"].clone(),
            c["passed"].clone(),
            c["failed"].clone(),
            c["errors"].clone()
        ),
        (json!(3), json!(2), json!(0), json!(1))
    );
    let c = cell("greet", "echo");
    assert_eq!(
        (c["passed"].clone(), c["failed"].clone()),
        (json!(1), json!(2))
    );
    // Latencies are 10 + idx: cases 0..3 give 11 on average.
    assert_eq!(c["mean_latency_ms"], json!(11.0));
    // `latest` is the newest run.
    let (_, body) = get(&state, "/api/runs/latest").await;
    assert_eq!(body["run"]["id"], json!(b));
}

#[tokio::test]
async fn cases_filter_and_page() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("incant.db");
    let (a, _) = two_runs(&path);
    let state = WebState::new(&path);
    let page = |q: &str| {
        let state = state.clone();
        let uri = format!("/api/runs/{a}/cases?{q}");
        async move { get(&state, &uri).await }
    };
    let idxs = |body: &Value| -> Vec<u64> {
        body["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["idx"].as_u64().unwrap())
            .collect()
    };
    let (s, body) = page("").await;
    assert_eq!(
        (s, body["total"].clone(), idxs(&body).len()),
        (StatusCode::OK, json!(12), 12)
    );
    let (_, body) = page("offset=5&limit=4").await;
    assert_eq!(idxs(&body), [5, 6, 7, 8]);
    assert_eq!(body["total"], json!(12));
    let (_, body) = page("status=error").await;
    assert_eq!(idxs(&body), [8]);
    assert_eq!(body["cases"][0]["output"], json!("provider timed out"));
    let (_, body) = page("status=fail").await;
    assert_eq!(idxs(&body), [1, 2, 5, 11]);
    let (_, body) = page("status=pass&prompt=greet&provider=echo").await;
    assert_eq!(idxs(&body), [0]);
    let (_, body) = page("q=ROME&provider=local:smollm2").await;
    assert_eq!(idxs(&body), [4, 10]);
    let (_, body) = page("prompt=nope").await;
    assert_eq!(body["total"], json!(0));
    // The rendered prompt is not searched.
    let (_, body) = page("q=secret").await;
    assert_eq!(body["total"], json!(0));
    // Past the end: an empty page with the right total.
    let (_, body) = page("offset=100").await;
    assert_eq!((body["total"].clone(), idxs(&body).len()), (json!(12), 0));

    for (q, needle) in [
        ("limit=0", "`limit`"),
        ("limit=5000", "`limit`"),
        ("offset=-1", "`offset`"),
        ("status=maybe", "`status`"),
    ] {
        let (s, body) = page(q).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(body["error"]["type"], json!("invalid_request_error"));
        assert!(
            body["error"]["message"].as_str().unwrap().contains(needle),
            "{q}: {body}"
        );
    }
}

#[tokio::test]
async fn case_details_withhold_the_rendered_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("incant.db");
    let (a, _) = two_runs(&path);
    let state = WebState::new(&path);
    let (s, body) = get(&state, &format!("/api/runs/{a}/cases/4")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["result"]["vars"], json!({"city": "Rome"}));
    assert_eq!(body["provider"], json!("local:smollm2"));
    assert!(body["result"].get("rendered").is_none());
    assert!(!body.to_string().contains("SECRET"));
    let open = WebState::new(&path).with_rendered_prompts(true);
    let (_, body) = get(&open, &format!("/api/runs/{a}/cases/4")).await;
    assert_eq!(
        body["result"]["rendered"],
        json!("SECRET SYSTEM PROMPT about Rome")
    );

    let (s, body) = get(&state, &format!("/api/runs/{a}/cases/12")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no case 12"));
    let (s, _) = get(&state, &format!("/api/runs/{a}/cases/x")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = get(&state, "/api/runs/r0-0/cases/0").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn compare_two_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("incant.db");
    let (a, b) = two_runs(&path);
    let state = WebState::new(&path);
    let (s, body) = get(&state, &format!("/api/compare?a={a}&b={b}")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["providers_matched"], json!(true));
    assert_eq!(body["overall"]["counts"]["regressed"], json!(1));
    assert_eq!(body["overall"]["counts"]["fixed"], json!(1));
    assert_eq!(body["overall"]["paired"], json!(12));
    assert_eq!(body["total"], json!(12));
    // Regressions come first.
    assert_eq!(body["pairs"][0]["status"], json!("regressed"));
    assert_eq!(body["pairs"][0]["vars"], json!({"city": "Paris"}));
    // The word diff of A's and B's outputs.
    let changed: Vec<(String, String)> = body["pairs"][0]["diff"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["op"] != "same")
        .map(|d| {
            (
                d["op"].as_str().unwrap().into(),
                d["text"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        changed,
        [
            ("removed".to_string(), "Hello".to_string()),
            ("added".into(), "Bye".into())
        ]
    );
    let (_, body) = get(&state, &format!("/api/compare?a={a}&b={b}&status=fixed")).await;
    assert_eq!(body["total"], json!(1));
    assert_eq!(body["pairs"][0]["vars"], json!({"city": "Rome"}));
    let (_, body) = get(
        &state,
        &format!("/api/compare?a={a}&b=latest&status=still_passing&limit=2&offset=1"),
    )
    .await;
    assert_eq!(
        (
            body["total"].clone(),
            body["pairs"].as_array().unwrap().len()
        ),
        (json!(6), 2)
    );
    let (s, body) = get(&state, &format!("/api/compare?a={a}")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"].as_str().unwrap().contains("`b`"));
    let (s, _) = get(&state, &format!("/api/compare?a={a}&b=nope")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = get(&state, &format!("/api/compare?a={a}&b={b}&status=worse")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_running_run_is_reindexed_as_it_grows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("incant.db");
    let store = Store::open(&path).unwrap();
    let id = store.begin_run("s", None, 3, "{}").unwrap();
    store
        .record(&id, &result(0, "p", "echo", "Paris", Some("x"), true))
        .unwrap();
    let state = WebState::new(&path);
    let (_, body) = get(&state, &format!("/api/runs/{id}/cases")).await;
    assert_eq!(body["total"], json!(1));
    store
        .record(&id, &result(1, "p", "echo", "Rome", Some("y"), false))
        .unwrap();
    let (_, body) = get(&state, &format!("/api/runs/{id}/cases")).await;
    assert_eq!(body["total"], json!(2));
    let (_, body) = get(&state, &format!("/api/runs/{id}")).await;
    assert_eq!(body["run"]["status"], json!("running"));
}

/// 50,000 cases: the first request reads the run once, later pages filter in memory.
#[tokio::test]
async fn fifty_thousand_cases_page_fast() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("incant.db");
    let store = Store::open(&path).unwrap();
    let n = 50_000;
    let id = store.begin_run("big.yaml", None, n, "{}").unwrap();
    let cities = ["Paris", "Rome", "Oslo", "Lima", "Kyiv"];
    let cases: Vec<StoredCase> = (0..n)
        .map(|i| {
            let prompt = ["p1", "p2"][i % 2];
            let provider = ["echo", "local:smollm2", "openai:chat:x"][i % 3];
            let city = cities[i % 5];
            result(
                i,
                prompt,
                provider,
                city,
                Some(&format!("answer {i} about {city}")),
                i % 7 != 0,
            )
        })
        .collect();
    store.record_many(&id, &cases).unwrap();
    let state = WebState::new(&path);
    let t = Instant::now();
    let (s, body) = get(&state, &format!("/api/runs/{id}/cases?limit=100")).await;
    let first = t.elapsed();
    assert_eq!((s, body["total"].clone()), (StatusCode::OK, json!(n)));
    let t = Instant::now();
    let (_, body) = get(&state, &format!("/api/runs/{id}/cases?offset=40000&limit=100&status=fail&prompt=p2&provider=echo&q=oslo")).await;
    let filtered = t.elapsed();
    // Failing: i % 7 == 0; p2: odd; echo: i % 3 == 0; Oslo: i % 5 == 2.
    let expected: Vec<usize> = (0..n)
        .filter(|i| i % 7 == 0 && i % 2 == 1 && i % 3 == 0 && i % 5 == 2)
        .collect();
    assert_eq!(body["total"], json!(expected.len()));
    assert_eq!(
        body["cases"].as_array().unwrap().len(),
        0,
        "offset past the filtered total"
    );
    let (_, body) = get(
        &state,
        &format!(
            "/api/runs/{id}/cases?offset=3&limit=2&status=fail&prompt=p2&provider=echo&q=oslo"
        ),
    )
    .await;
    let got: Vec<u64> = body["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["idx"].as_u64().unwrap())
        .collect();
    assert_eq!(got, [expected[3] as u64, expected[4] as u64]);
    let t = Instant::now();
    let (_, body) = get(
        &state,
        &format!("/api/runs/{id}/cases?offset=49950&limit=50"),
    )
    .await;
    let last = t.elapsed();
    assert_eq!(body["cases"][49]["idx"], json!(n - 1));
    let (_, body) = get(&state, &format!("/api/runs/{id}/cases/{}", n - 1)).await;
    assert_eq!(body["result"]["vars"]["city"], json!(cities[(n - 1) % 5]));
    eprintln!("50,000 cases: first page {first:?} (index build), filtered {filtered:?}, last page {last:?}");
}

#[tokio::test]
async fn assets_are_served_with_their_types() {
    let state = WebState::new("unused.db");
    let res = router(state.clone())
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
    assert!(res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'self'"));
    let html =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    // Every file the page and its modules reference is embedded.
    let mut referenced = Vec::new();
    for (_, _, text) in incant_web::assets::FILES {
        for part in text
            .split("/ui/")
            .skip(1)
            .chain(text.split("from \"./").skip(1))
        {
            let name: String = part
                .chars()
                .take_while(|c| !matches!(c, '"' | '\'' | ')'))
                .collect();
            referenced.push(name);
        }
    }
    assert!(
        html.contains("/ui/app.js") && referenced.len() >= 6,
        "{referenced:?}"
    );
    for name in referenced {
        let (s, _) = get(&state, &format!("/ui/{name}")).await;
        assert_eq!(s, StatusCode::OK, "{name}");
    }
    let res = router(state.clone())
        .oneshot(Request::get("/ui/editor.js").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        res.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let (s, body) = get(&state, "/ui/missing.js").await;
    assert_eq!(
        (s, body),
        (StatusCode::NOT_FOUND, json!("no UI file `missing.js`"))
    );
    assert!(!Path::new("unused.db").exists());
}
