//! The HTTP plumbing the image providers share: one request with retries, a timeout, and
//! the server's own explanation when it refuses.
//!
//! The retry policy is incant-provider's ([`RetryPolicy`]: `Retry-After` honoured, else
//! exponential backoff with full jitter), so image and text providers ride out rate
//! limits the same way. What differs per server is how it explains an error (A1111's
//! FastAPI `detail` list, ComfyUI's `node_errors`, OpenAI's `error.message`), so each
//! provider passes an [`Explain`] function. Bodies are read with a generous cap rather
//! than ureq's 10 MB string limit: a batch of base64 PNGs is easily bigger.
//!
//! An optional deadline bounds a whole exchange (ComfyUI's queue-then-poll), not just one
//! request: each attempt gets what is left of it, and no retry waits past it.

use crate::config::HttpSettings;
use crate::ImageError;
use incant_provider::retry::retryable_status;
use serde_json::Value;
use std::io::Read;
use std::time::{Duration, Instant};

/// The largest body incant reads from an image server (a batch of large base64 images).
const MAX_BODY: u64 = 1 << 30;

/// Turns an error status and its body into the server's own explanation.
pub(crate) type Explain = fn(status: u16, body: &str) -> String;

/// An HTTP client for one provider.
pub(crate) struct Http {
    agent: ureq::Agent,
    settings: HttpSettings,
    explain: Explain,
    /// Whether a 500 is worth another attempt. For OpenAI it means "overloaded"; for A1111
    /// and ComfyUI it is an exception in the pipeline that the same request raises again.
    retry_500: bool,
}

/// What the caller sends.
pub(crate) enum Payload<'a> {
    /// A GET with these query parameters.
    Get(&'a [(&'a str, &'a str)]),
    /// A GET of a link the server handed out (a signed storage URL): without the
    /// configured headers, so an API key never travels to another host.
    Link,
    /// A POST of this JSON value.
    Post(&'a Value),
}

impl Http {
    pub(crate) fn new(settings: HttpSettings, explain: Explain, retry_500: bool) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout(settings.timeout)
            .user_agent(concat!("incant/", env!("CARGO_PKG_VERSION")))
            .build();
        Self {
            agent,
            settings,
            explain,
            retry_500,
        }
    }

    /// The timeout of one request (and of a ComfyUI job).
    pub(crate) fn timeout(&self) -> Duration {
        self.settings.timeout
    }

    /// `maxConcurrency` from the config, else `default`.
    pub(crate) fn max_concurrency(&self, default: Option<usize>) -> Option<usize> {
        self.settings.max_concurrency.or(default)
    }

    /// Adds a header to every request (an `Authorization` from the config).
    pub(crate) fn add_header(&mut self, name: &str, value: String) {
        self.settings.headers.push((name.to_string(), value));
    }

    fn timed_out(&self) -> ImageError {
        ImageError::Timeout(self.settings.timeout.as_millis() as u64)
    }

    /// POSTs `body` as JSON; returns the JSON answer.
    pub(crate) fn post_json(
        &self,
        url: &str,
        body: &Value,
        deadline: Option<Instant>,
    ) -> Result<Value, ImageError> {
        let bytes = self.send(url, Payload::Post(body), deadline)?;
        parse_json(&bytes, url)
    }

    /// GETs a JSON document.
    pub(crate) fn get_json(
        &self,
        url: &str,
        deadline: Option<Instant>,
    ) -> Result<Value, ImageError> {
        let bytes = self.send(url, Payload::Get(&[]), deadline)?;
        parse_json(&bytes, url)
    }

    /// GETs raw bytes (an image).
    pub(crate) fn get_bytes(
        &self,
        url: &str,
        query: &[(&str, &str)],
        deadline: Option<Instant>,
    ) -> Result<Vec<u8>, ImageError> {
        self.send(url, Payload::Get(query), deadline)
    }

    /// POSTs `body` once, waiting at most `timeout`, and ignores the answer: a courtesy
    /// call (cancelling an abandoned job) whose failure changes nothing for the caller.
    pub(crate) fn post_once(&self, url: &str, body: &Value, timeout: Duration) {
        let mut call = self
            .agent
            .post(url)
            .set("Content-Type", "application/json")
            .timeout(timeout);
        for (k, v) in &self.settings.headers {
            call = call.set(k, v);
        }
        let _ = call.send_string(&body.to_string());
    }

    /// GETs a link the server handed out, without the configured headers.
    pub(crate) fn get_link(
        &self,
        url: &str,
        deadline: Option<Instant>,
    ) -> Result<Vec<u8>, ImageError> {
        self.send(url, Payload::Link, deadline)
    }

    /// One exchange with retries; returns the 2xx body.
    fn send(
        &self,
        url: &str,
        payload: Payload<'_>,
        deadline: Option<Instant>,
    ) -> Result<Vec<u8>, ImageError> {
        let text = match &payload {
            Payload::Post(v) => Some(v.to_string()),
            Payload::Get(_) | Payload::Link => None,
        };
        let mut attempt = 0;
        loop {
            let mut timeout = self.settings.timeout;
            if let Some(d) = deadline {
                timeout = timeout.min(d.saturating_duration_since(Instant::now()));
                if timeout.is_zero() {
                    return Err(self.timed_out());
                }
            }
            let mut call = match &payload {
                Payload::Post(_) => self.agent.post(url).set("Content-Type", "application/json"),
                Payload::Get(query) => query
                    .iter()
                    .fold(self.agent.get(url), |c, (k, v)| c.query(k, v)),
                Payload::Link => self.agent.get(url),
            }
            .timeout(timeout);
            if !matches!(payload, Payload::Link) {
                for (k, v) in &self.settings.headers {
                    call = call.set(k, v);
                }
            }
            let result = match &text {
                Some(t) => call.send_string(t),
                None => call.call(),
            };
            let (err, retry_after, retry_after_ms) = match result {
                Ok(resp) => return self.read_body(resp, url),
                Err(ureq::Error::Status(status, resp)) => {
                    let retry_after = resp.header("retry-after").map(str::to_string);
                    let retry_after_ms = resp.header("retry-after-ms").map(str::to_string);
                    let body = read_capped(resp).unwrap_or_default();
                    let message = (self.explain)(status, &String::from_utf8_lossy(&body));
                    let err = ImageError::Call(format!("HTTP {status} from {url}: {message}"));
                    let retry = retryable_status(status) && (status != 500 || self.retry_500);
                    if !retry {
                        return Err(err);
                    }
                    (err, retry_after, retry_after_ms)
                }
                Err(ureq::Error::Transport(t)) => {
                    if is_timeout(&t) {
                        return Err(self.timed_out());
                    }
                    let hint = if t.kind() == ureq::ErrorKind::ConnectionFailed {
                        " (is the server running and listening there?)"
                    } else {
                        ""
                    };
                    (
                        ImageError::Call(format!("cannot reach {url}: {t}{hint}")),
                        None,
                        None,
                    )
                }
            };
            if attempt >= self.settings.retry.max_retries {
                return Err(match err {
                    ImageError::Call(m) if attempt > 0 => {
                        ImageError::Call(format!("{m} (after {attempt} retries)"))
                    }
                    other => other,
                });
            }
            let wait = self.settings.retry.wait(
                attempt,
                retry_after.as_deref(),
                retry_after_ms.as_deref(),
            );
            if deadline.is_some_and(|d| Instant::now() + wait >= d) {
                return Err(match err {
                    ImageError::Call(m) => ImageError::Call(format!(
                        "{m} (no retry: the timeout of {} ms would pass first)",
                        self.settings.timeout.as_millis()
                    )),
                    other => other,
                });
            }
            std::thread::sleep(wait);
            attempt += 1;
        }
    }

    fn read_body(&self, resp: ureq::Response, url: &str) -> Result<Vec<u8>, ImageError> {
        read_capped(resp).map_err(|e| {
            if matches!(
                e.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) {
                self.timed_out()
            } else {
                ImageError::Call(format!("reading the answer from {url}: {e}"))
            }
        })
    }
}

fn read_capped(resp: ureq::Response) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    resp.into_reader().take(MAX_BODY).read_to_end(&mut out)?;
    Ok(out)
}

fn is_timeout(t: &ureq::Transport) -> bool {
    let io_timeout = std::error::Error::source(t)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .is_some_and(|e| {
            matches!(
                e.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            )
        });
    io_timeout || t.to_string().contains("timed out")
}

/// Parses a 2xx body as JSON; a truncated or non-JSON body is a failed call.
pub(crate) fn parse_json(bytes: &[u8], url: &str) -> Result<Value, ImageError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let what = if e.is_eof() {
            "the body ended early"
        } else {
            "the body is not JSON"
        };
        ImageError::Call(format!(
            "invalid answer from {url}: {what} ({e}); it starts with {:?}",
            head(&String::from_utf8_lossy(bytes), 120)
        ))
    })
}

/// The first `n` characters of `text`, with an ellipsis when cut.
pub(crate) fn head(text: &str, n: usize) -> String {
    let mut s: String = text.chars().take(n).collect();
    if text.chars().count() > n {
        s.push('…');
    }
    s
}

/// The body as the explanation, when the server's JSON does not say more.
pub(crate) fn raw_explanation(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        "(empty body)".to_string()
    } else {
        head(body, 300)
    }
}
