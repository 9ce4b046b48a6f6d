//! Load benchmark of `incant serve` on loopback, with its own small load generator
//! (keep-alive HTTP/1.1 connections on threads; no external tool needed).
//!
//! ```text
//! cargo run --release -p incant-server --example bench -- [--seconds S] [--connections C]
//! ```
//!
//! Prints, for the fixture prompts in `tests/data/served` on the real `local:smollm2`:
//! 1. cached completions: requests/s and latency percentiles at C connections;
//! 2. uncached requests one at a time: client latency minus the engine's own time
//!    (prefill + decode), i.e. the server's overhead, as percentiles;
//! 3. inline completion with a ~100-token context, streamed: time to the first text
//!    event and to the end, at 1, 4 and 16 concurrent users, two ways:
//!    - cold: every request is a different document (only the prompt's fixed instructions
//!      can come from the prompt cache);
//!    - typing: each user types into their own document, a word per request, as an editor
//!      sends them after its debounce (the first request of each user is cold).

use incant_server::{AppState, ServeConfig};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn open(addr: SocketAddr) -> Self {
        let s = TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        Self {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
        }
    }

    fn send(&mut self, path: &str, body: &str) {
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.writer.write_all(req.as_bytes()).unwrap();
    }

    /// Reads one response with a Content-Length body; returns (status, body).
    fn read(&mut self) -> (u16, String) {
        let (status, len, _) = self.head();
        let mut body = vec![0u8; len.unwrap_or(0)];
        self.reader.read_exact(&mut body).unwrap();
        (status, String::from_utf8_lossy(&body).to_string())
    }

    fn head(&mut self) -> (u16, Option<usize>, bool) {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut len = None;
        let mut chunked = false;
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let lower = l.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                len = v.trim().parse().ok();
            }
            if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
        }
        (status, len, chunked)
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn summary(name: &str, mut v: Vec<f64>) {
    v.sort_by(f64::total_cmp);
    println!(
        "  {name}: n={} p50={:.3} p90={:.3} p99={:.3} max={:.3} ms",
        v.len(),
        pct(&v, 0.5),
        pct(&v, 0.9),
        pct(&v, 0.99),
        v.last().copied().unwrap_or(f64::NAN)
    );
}

fn cached(addr: SocketAddr, seconds: f64, connections: usize) {
    let path = "/v1/prompts/capital@1.0.0";
    let body = json!({"inputs": {"country": "France"}}).to_string();
    let mut warm = Conn::open(addr);
    warm.send(path, &body);
    let (status, text) = warm.read();
    assert_eq!(status, 200, "{text}");
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let threads: Vec<_> = (0..connections)
        .map(|_| {
            let (stop, body) = (stop.clone(), body.clone());
            std::thread::spawn(move || {
                let mut c = Conn::open(addr);
                let mut lat = Vec::with_capacity(100_000);
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    c.send(path, &body);
                    let (status, text) = c.read();
                    assert_eq!(status, 200, "{text}");
                    lat.push(t.elapsed().as_secs_f64() * 1e3);
                }
                lat
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    let lat: Vec<f64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "cached completions ({connections} connections, {seconds} s): {:.0} requests/s",
        lat.len() as f64 / elapsed
    );
    summary("latency", lat);
}

fn uncached(addr: SocketAddr, n: usize) {
    let mut c = Conn::open(addr);
    let (mut overhead, mut total, mut engine) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let body =
            json!({"inputs": {"country": format!("Country {i}")}, "max_tokens": 4}).to_string();
        let t = Instant::now();
        c.send("/v1/prompts/capital@1.0.0", &body);
        let (status, text) = c.read();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        assert_eq!(status, 200, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["cached"], false);
        let e = v["engine_ms"].as_f64().unwrap();
        if i >= 2 {
            overhead.push(ms - e);
            total.push(ms);
            engine.push(e);
        }
    }
    println!("uncached requests one at a time (capital, 4 new tokens):");
    summary("client latency", total);
    summary("engine time (engine thread, job taken to done)", engine);
    summary("server overhead (client latency - engine time)", overhead);
}

/// A context of about 100 tokens for the inline-completion prompt: document `doc`, with
/// `typed` more words at its end.
fn context(doc: usize, typed: usize) -> String {
    const TYPED: &[&str] = &[
        "would", "reach", "the", "harbour", "before", "the", "boats", "came", "home", "again",
        "that", "evening", "or", "whether", "the",
    ];
    let mut text = format!(
        "Draft {doc}. The harbour town woke slowly that morning. Fishing boats rocked against the \
         pier while gulls circled above the market stalls, and the baker on the corner set out \
         trays of bread still warm from the oven. Maria walked down the hill with her notebook, \
         counting the ships in the bay and wondering whether the storm"
    );
    for w in TYPED.iter().cycle().take(typed) {
        text.push(' ');
        text.push_str(w);
    }
    text
}

fn ttft(addr: SocketAddr, users: usize, per_user: usize, typing: bool) {
    let threads: Vec<_> = (0..users)
        .map(|u| {
            std::thread::spawn(move || {
                let mut c = Conn::open(addr);
                let (mut first, mut done, mut prompt_tokens) = (Vec::new(), Vec::new(), 0);
                let (mut prefill, mut queue) = (Vec::new(), Vec::new());
                for k in 0..per_user {
                    // Cold: a new document each time; typing: the user's document grows.
                    let prefix = if typing {
                        context(10_000 + u, k)
                    } else {
                        context(u * 1000 + k, 0)
                    };
                    let body =
                        json!({"inputs": {"prefix": prefix, "suffix": " and so they waited."},
                                      "stream": true, "max_tokens": 12})
                        .to_string();
                    let t = Instant::now();
                    c.send("/v1/prompts/complete", &body);
                    let (status, _, chunked) = c.head();
                    assert_eq!(status, 200);
                    assert!(chunked);
                    let mut got_first = false;
                    // Read chunked SSE until the `done` event.
                    loop {
                        let mut size = String::new();
                        c.reader.read_line(&mut size).unwrap();
                        let n = usize::from_str_radix(size.trim(), 16).unwrap();
                        let mut data = vec![0u8; n + 2];
                        c.reader.read_exact(&mut data).unwrap();
                        let s = String::from_utf8_lossy(&data);
                        if !got_first && s.contains("event: token") {
                            got_first = true;
                            first.push(t.elapsed().as_secs_f64() * 1e3);
                        }
                        if s.contains("event: done") {
                            if let Some(d) = s.lines().find_map(|l| l.strip_prefix("data: ")) {
                                let v: Value = serde_json::from_str(d).unwrap();
                                prompt_tokens = v["usage"]["prompt_tokens"].as_u64().unwrap_or(0);
                                prefill.push(v["prefill_ms"].as_f64().unwrap_or(f64::NAN));
                                queue.push(v["queue_ms"].as_f64().unwrap_or(f64::NAN));
                            }
                        }
                        if n == 0 {
                            break;
                        }
                    }
                    done.push(t.elapsed().as_secs_f64() * 1e3);
                }
                (first, done, prompt_tokens, prefill, queue)
            })
        })
        .collect();
    let (mut first, mut done, mut tokens) = (Vec::new(), Vec::new(), 0);
    let (mut prefill, mut queue) = (Vec::new(), Vec::new());
    for t in threads {
        let (f, d, p, pre, q) = t.join().unwrap();
        first.extend(f);
        done.extend(d);
        prefill.extend(pre);
        queue.extend(q);
        tokens = p;
    }
    let how = if typing {
        "typing (a word per request)"
    } else {
        "cold (a new document per request)"
    };
    println!("inline completion, {how}, {users} concurrent user(s), {tokens}-token prompt, 12 new tokens, streamed:");
    summary("time to first text", first);
    summary("time to end", done);
    summary("engine prefill (server-side)", prefill);
    summary("wait in the engine queue (server-side)", queue);
}

fn main() {
    let mut seconds = 5.0;
    let mut connections = 32;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => seconds = args.next().and_then(|v| v.parse().ok()).unwrap_or(seconds),
            "--connections" => {
                connections = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(connections)
            }
            other => panic!("unknown argument {other} (--seconds S, --connections C)"),
        }
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/served");
    let mut config = ServeConfig::new(&dir);
    config.env_keys = None;
    if std::env::var_os("INCANT_MODELS").is_none() {
        config.models_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models");
    }
    let state = AppState::new(config).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            incant_server::serve_on(l, state, None, std::future::pending())
                .await
                .unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    println!(
        "incant-server bench on {addr}, {} CPU(s)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    cached(addr, seconds, connections);
    uncached(addr, 30);
    for typing in [false, true] {
        for users in [1, 4, 16] {
            ttft(addr, users, if users == 1 { 10 } else { 4 }, typing);
        }
    }
}
