//! A scripted HTTP server on 127.0.0.1 (port 0): it answers each request with the next
//! reply of its script (a status, headers and body, possibly after a pause, or a body cut
//! short) and records what it was sent.

use serde_json::Value;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One scripted answer.
#[derive(Clone)]
pub enum Reply {
    /// Status, extra headers, JSON body.
    Json(u16, Vec<(&'static str, String)>, String),
    /// Status, content type, raw bytes.
    Bytes(u16, &'static str, Vec<u8>),
    /// Declares a `Content-Length` 50 bytes longer than the JSON body it sends, then
    /// closes (a connection cut mid-answer).
    Truncated(String),
    /// Waits before answering.
    Slow(Duration, Box<Reply>),
}

/// A JSON answer with status 200.
pub fn ok(v: Value) -> Reply {
    Reply::Json(200, vec![], v.to_string())
}

/// A JSON answer with another status.
pub fn status(code: u16, v: Value) -> Reply {
    Reply::Json(code, vec![], v.to_string())
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub struct Server {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

pub fn serve(script: Vec<Reply>) -> Server {
    serve_with(|_| script)
}

/// A server whose script may name the server's own address (links to its files).
pub fn serve_with(script: impl FnOnce(&str) -> Vec<Reply>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let script = script(&url);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let queue = Arc::new(Mutex::new(VecDeque::from(script)));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (queue, log) = (queue.clone(), log.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let mut words = line.split_whitespace();
                let method = words.next().unwrap_or("").to_string();
                let path = words.next().unwrap_or("").to_string();
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    let (k, v) = h.split_once(':').unwrap();
                    headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
                }
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .map_or(0, |(_, v)| v.parse().unwrap());
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                log.lock().unwrap().push(Seen {
                    method,
                    path,
                    headers,
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                });
                let next = queue.lock().unwrap().pop_front();
                let mut reply = next.unwrap_or_else(|| {
                    Reply::Json(599, vec![], r#"{"error":"the test script ran out"}"#.into())
                });
                while let Reply::Slow(d, next) = reply {
                    std::thread::sleep(d);
                    reply = *next;
                }
                let (code, extra, content_type, bytes, missing) = match reply {
                    Reply::Json(code, extra, body) => {
                        (code, extra, "application/json", body.into_bytes(), 0)
                    }
                    Reply::Bytes(code, ct, bytes) => (code, vec![], ct, bytes, 0),
                    Reply::Truncated(body) => {
                        (200, vec![], "application/json", body.into_bytes(), 50)
                    }
                    Reply::Slow(..) => unreachable!(),
                };
                let mut head = format!(
                    "HTTP/1.1 {code} X\r\nContent-Type: {content_type}\r\n\
                     Content-Length: {}\r\nConnection: close\r\n",
                    bytes.len() + missing
                );
                for (k, v) in extra {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&bytes);
            });
        }
    });
    Server { url, seen }
}

/// An address where nothing listens (bound, then closed).
pub fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}
