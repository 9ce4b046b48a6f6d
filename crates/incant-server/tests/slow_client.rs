//! Slow clients time out on a real socket: headers that trickle in are cut off, a body
//! that never completes gets 408, and the server keeps serving.

mod common;

use common::*;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

#[test]
fn slow_headers_and_bodies_are_cut_off() {
    let mut c = config(&fixtures());
    c.client_timeout = Duration::from_millis(300);
    let state = incant_server::AppState::new(c).unwrap();
    let (addr, stop) = spawn_server(state);

    // Headers that never finish.
    let start = Instant::now();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let waited = start.elapsed();
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));

    // A body shorter than announced.
    let start = Instant::now();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"POST /v1/prompts/secret HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"inputs\":",
    )
    .unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(start.elapsed() < Duration::from_secs(5));

    let health = raw(addr, &http("GET", "/healthz", "", &[]));
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    stop.send(()).unwrap();
}
