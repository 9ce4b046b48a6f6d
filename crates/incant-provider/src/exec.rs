//! `exec:COMMAND`: runs a command with the prompt on stdin and takes stdout as the output.
//!
//! The command runs through `sh -c`, so pipes and arguments work as in a shell. It is
//! killed after `timeout_ms` (config, default 60 s); a non-zero exit is a failed call with
//! the end of stderr as the reason.

use crate::{Provider, ProviderError, Request, Response};
use serde_json::{Map, Value};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The exec provider.
pub struct Exec {
    id: String,
    command: String,
    timeout: Duration,
}

impl Exec {
    /// `command` from the id; `timeout_ms` from the config.
    pub fn new(
        id: &str,
        command: &str,
        config: &Map<String, Value>,
    ) -> Result<Self, ProviderError> {
        if command.trim().is_empty() {
            return Err(ProviderError::Config(
                "`exec:` needs a command, e.g. exec:python3 model.py".into(),
            ));
        }
        let timeout_ms = match config.get("timeout_ms").or_else(|| config.get("timeoutMs")) {
            None => 60_000,
            Some(v) => v.as_u64().ok_or_else(|| {
                ProviderError::Config(format!("{id}: `timeout_ms` must be a whole number"))
            })?,
        };
        Ok(Self {
            id: id.to_string(),
            command: command.to_string(),
            timeout: Duration::from_millis(timeout_ms),
        })
    }
}

impl Provider for Exec {
    fn id(&self) -> &str {
        &self.id
    }

    fn call(&self, req: &Request) -> Result<Response, ProviderError> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&self.command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| ProviderError::Call(format!("cannot start `{}`: {e}", self.command)))?;
        let text = req.text();
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let writer = std::thread::spawn(move || {
            // A command that does not read its input is not an error.
            let _ = stdin.write_all(text.as_bytes());
        });
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let out_reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stdout.read_to_end(&mut buf);
            buf
        });
        let err_reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stderr.read_to_end(&mut buf);
            buf
        });
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if start.elapsed() > self.timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(ProviderError::Timeout(self.timeout.as_millis() as u64));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => {
                    return Err(ProviderError::Call(format!(
                        "waiting for `{}`: {e}",
                        self.command
                    )))
                }
            }
        };
        let _ = writer.join();
        let out = out_reader.join().unwrap_or_default();
        let err = err_reader.join().unwrap_or_default();
        if !status.success() {
            let err = String::from_utf8_lossy(&err);
            let tail: String = err
                .trim()
                .chars()
                .rev()
                .take(300)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            return Err(ProviderError::Call(format!(
                "`{}` exited with {status}: {tail}",
                self.command
            )));
        }
        Ok(Response {
            output: String::from_utf8_lossy(&out)
                .trim_end_matches('\n')
                .to_string(),
            usage: None,
            cost: Some(0.0),
            logprobs: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use incant_prompt::file::Message;

    fn req(text: &str) -> Request {
        Request {
            messages: vec![Message {
                role: "user".into(),
                content: text.into(),
            }],
            chat: false,
            params: Map::new(),
        }
    }

    #[test]
    fn runs_with_the_prompt_on_stdin() {
        let p = Exec::new("exec:tr a-z A-Z", "tr a-z A-Z", &Map::new()).unwrap();
        assert_eq!(p.call(&req("hello")).unwrap().output, "HELLO");
    }

    #[test]
    fn failures_and_timeouts_are_results() {
        let p = Exec::new("x", "echo broken >&2; exit 3", &Map::new()).unwrap();
        let e = p.call(&req("x")).unwrap_err();
        assert!(
            matches!(&e, ProviderError::Call(m) if m.contains("broken")),
            "{e}"
        );
        let mut cfg = Map::new();
        cfg.insert("timeout_ms".into(), 100.into());
        let p = Exec::new("x", "sleep 5", &cfg).unwrap();
        assert_eq!(p.call(&req("x")).unwrap_err(), ProviderError::Timeout(100));
    }
}
