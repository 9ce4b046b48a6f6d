//! Shared by the server tests: the fixture folder, the real models, a state over a copy of
//! the fixtures, one-shot router calls, and a raw HTTP/1.1 client for the real-socket
//! tests (so a test can also hang up mid-stream).
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use incant_server::{AppState, ServeConfig};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tower::ServiceExt;

/// The real local models: `INCANT_MODELS`, else the workspace's `models/`.
pub fn models_dir() -> PathBuf {
    match std::env::var_os("INCANT_MODELS") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"),
    }
}

/// The committed fixture prompts.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/served")
}

/// Copies the fixtures into a fresh folder (tests that edit files or write serve.yaml).
pub fn fixture_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixtures(), dir.path());
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// A config over `dir` with the real models and no keys from the environment.
pub fn config(dir: &Path) -> ServeConfig {
    let mut c = ServeConfig::new(dir);
    c.models_dir = models_dir();
    c.env_keys = None;
    c
}

/// A state over `dir`.
pub fn state(dir: &Path) -> AppState {
    AppState::new(config(dir)).unwrap()
}

/// What came back from a one-shot call.
pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Sends one request through the router.
pub async fn call(
    state: &AppState,
    method: &str,
    uri: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = incant_server::app(state.clone())
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).to_string(),
    }
}

/// POSTs JSON through the router.
pub async fn post(state: &AppState, uri: &str, body: Value) -> Reply {
    call(state, "POST", uri, &body.to_string(), &[]).await
}

/// Asserts an OpenAI-shaped error with `status`; returns the error object.
pub fn assert_error(r: &Reply, status: u16) -> Value {
    assert_eq!(r.status.as_u16(), status, "{}", r.body);
    let v = r.json();
    let e = v["error"].clone();
    assert!(e["message"].is_string(), "{}", r.body);
    assert!(e["type"].is_string(), "{}", r.body);
    assert!(
        e.get("param").is_some() && e.get("code").is_some(),
        "{}",
        r.body
    );
    e
}

/// Sends raw bytes to `addr` and reads the whole answer (the request should say
/// `Connection: close`).
pub fn raw(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).to_string()
}

/// A complete HTTP/1.1 request text.
pub fn http(method: &str, path: &str, body: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut r = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in extra {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.push_str(body);
    r.into_bytes()
}

/// Starts a real server on 127.0.0.1:0 on its own runtime thread; returns its address and
/// a sender that stops it.
pub fn spawn_server(state: AppState) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            incant_server::serve_on(listener, state, None, async {
                let _ = stop_rx.await;
            })
            .await
            .unwrap();
        });
    });
    (addr_rx.recv().unwrap(), stop_tx)
}
