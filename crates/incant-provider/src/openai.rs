//! `openai:chat:MODEL`, `openai:completion:MODEL`, `openai:embedding:MODEL`: any server that
//! speaks OpenAI's HTTP API (OpenAI itself, vLLM, llama.cpp's server, Ollama, LM Studio).
//!
//! Configuration uses promptfoo's key names so its configs work unchanged: `apiBaseUrl`
//! (else `OPENAI_BASE_URL`, else OpenAI), `apiKey`, `apiKeyEnvar` (the name of the variable
//! holding the key; default `OPENAI_API_KEY`), sampling parameters (`temperature`,
//! `max_tokens`, `top_p`, `stop`, `seed`, ...), `headers`, and incant's `timeoutMs`,
//! `maxRetries` and `maxConcurrency`. Cost comes from the response when the server reports
//! it (`usage.cost`), else from `inputCost`/`outputCost` (dollars per token) in the config,
//! else from a table of OpenAI's list prices.
//!
//! Every failure is a [`ProviderError::Call`] (a result row): HTTP errors with the server's
//! own message, bodies that are not JSON or end early, timeouts. 429 and 5xx answers are
//! retried per [`RetryPolicy`], honouring `Retry-After`.

use crate::retry::{retryable_status, RetryPolicy};
use crate::{Provider, ProviderError, Request, Response, Usage};
use serde_json::{json, Map, Value};
use std::time::Duration;

/// Which endpoint a provider calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /chat/completions`.
    Chat,
    /// `POST /completions`.
    Completion,
    /// `POST /embeddings`.
    Embedding,
}

/// An OpenAI-compatible provider.
pub struct OpenAi {
    id: String,
    endpoint: Endpoint,
    model: String,
    base_url: String,
    api_key: Option<String>,
    headers: Vec<(String, String)>,
    retry: RetryPolicy,
    timeout: Duration,
    max_concurrency: Option<usize>,
    prices: Option<(f64, f64)>,
    agent: ureq::Agent,
}

/// The request parameters forwarded to the API as they are.
const FORWARDED: &[&str] = &[
    "temperature",
    "max_tokens",
    "max_completion_tokens",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "stop",
    "seed",
    "n",
    "response_format",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "user",
    "tools",
    "tool_choice",
    "reasoning_effort",
    "best_of",
    "echo",
    "suffix",
    "dimensions",
];

/// camelCase spellings promptfoo users write, and the API's names for them.
const ALIASES: &[(&str, &str)] = &[
    ("maxTokens", "max_tokens"),
    ("topP", "top_p"),
    ("frequencyPenalty", "frequency_penalty"),
    ("presencePenalty", "presence_penalty"),
];

/// Keys that configure the provider itself rather than the request.
const PROVIDER_KEYS: &[&str] = &[
    "apiBaseUrl",
    "apiHost",
    "apiKey",
    "apiKeyEnvar",
    "organization",
    "headers",
    "timeoutMs",
    "timeout_ms",
    "maxRetries",
    "maxConcurrency",
    "inputCost",
    "outputCost",
    "cost",
];

/// List prices in dollars per million tokens (input, output) of OpenAI's common models.
const PRICES: &[(&str, f64, f64)] = &[
    ("gpt-4o-mini", 0.15, 0.6),
    ("gpt-4o", 2.5, 10.0),
    ("gpt-4.1-nano", 0.1, 0.4),
    ("gpt-4.1-mini", 0.4, 1.6),
    ("gpt-4.1", 2.0, 8.0),
    ("gpt-3.5-turbo", 0.5, 1.5),
    ("o4-mini", 1.1, 4.4),
    ("o3-mini", 1.1, 4.4),
    ("text-embedding-3-small", 0.02, 0.0),
    ("text-embedding-3-large", 0.13, 0.0),
    ("text-embedding-ada-002", 0.1, 0.0),
];

fn config_error(id: &str, msg: impl std::fmt::Display) -> ProviderError {
    ProviderError::Config(format!("{id}: {msg}"))
}

impl OpenAi {
    /// Parses `openai:chat:MODEL` (or `openai:MODEL`, a chat model) and its config.
    pub fn new(id: &str, rest: &str, config: &Map<String, Value>) -> Result<Self, ProviderError> {
        let (endpoint, model) = match rest.split_once(':') {
            Some(("chat", m)) => (Endpoint::Chat, m),
            Some(("completion", m)) => (Endpoint::Completion, m),
            Some(("embedding" | "embeddings", m)) => (Endpoint::Embedding, m),
            Some((other, _)) if !other.contains('.') && !other.contains('-') => {
                return Err(config_error(
                    id,
                    format!(
                        "unknown OpenAI endpoint `{other}` (use chat, completion or embedding)"
                    ),
                ))
            }
            _ => (Endpoint::Chat, rest),
        };
        if model.is_empty() {
            return Err(config_error(
                id,
                "no model name (e.g. openai:chat:gpt-4o-mini)",
            ));
        }
        // A key that is neither sent nor understood would be silently ignored: refuse it.
        for key in config.keys() {
            let known = FORWARDED.contains(&key.as_str())
                || PROVIDER_KEYS.contains(&key.as_str())
                || ALIASES.iter().any(|(alias, _)| alias == key);
            if !known {
                let all: Vec<&str> = FORWARDED
                    .iter()
                    .chain(PROVIDER_KEYS)
                    .chain(ALIASES.iter().map(|(a, _)| a))
                    .copied()
                    .collect();
                let hint = incant_prompt::nearest(key, &all)
                    .map_or_else(String::new, |n| format!(" (did you mean `{n}`?)"));
                return Err(config_error(
                    id,
                    format!("unknown config key `{key}`{hint}"),
                ));
            }
        }
        let string = |key: &str| -> Result<Option<String>, ProviderError> {
            match config.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(config_error(id, format!("`{key}` must be a string"))),
            }
        };
        let count = |key: &str| -> Result<Option<u64>, ProviderError> {
            match config.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_u64()
                    .map(Some)
                    .ok_or_else(|| config_error(id, format!("`{key}` must be a whole number"))),
            }
        };
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let base_url = match (string("apiBaseUrl")?, string("apiHost")?) {
            (Some(url), _) => url,
            (None, Some(host)) => format!("https://{host}/v1"),
            (None, None) => env("OPENAI_BASE_URL")
                .or_else(|| env("OPENAI_API_BASE_URL"))
                .unwrap_or_else(|| "https://api.openai.com/v1".into()),
        };
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(config_error(
                id,
                format!("`apiBaseUrl` must be an http(s) URL, got `{base_url}`"),
            ));
        }
        let key_var = string("apiKeyEnvar")?.unwrap_or_else(|| "OPENAI_API_KEY".into());
        let api_key = string("apiKey")?.or_else(|| env(&key_var));
        if api_key.is_none() && base_url.contains("api.openai.com") {
            return Err(config_error(
                id,
                format!(
                    "no API key: set {key_var}, or `apiKeyEnvar` to the variable that holds it"
                ),
            ));
        }
        let mut headers = Vec::new();
        if let Some(org) = string("organization")? {
            headers.push(("OpenAI-Organization".to_string(), org));
        }
        match config.get("headers") {
            None | Some(Value::Null) => {}
            Some(Value::Object(h)) => {
                for (k, v) in h {
                    let v = v.as_str().ok_or_else(|| {
                        config_error(id, format!("header `{k}` must be a string"))
                    })?;
                    headers.push((k.clone(), v.to_string()));
                }
            }
            Some(_) => return Err(config_error(id, "`headers` must be a mapping")),
        }
        let timeout = Duration::from_millis(
            count("timeoutMs")?
                .or(count("timeout_ms")?)
                .unwrap_or(120_000),
        );
        let retry = RetryPolicy {
            max_retries: count("maxRetries")?.map_or(4, |n| n.min(20) as u32),
            ..RetryPolicy::default()
        };
        let max_concurrency = count("maxConcurrency")?.map(|n| n.max(1) as usize);
        let price = |key: &str| -> Result<Option<f64>, ProviderError> {
            match config.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_f64().map(Some).ok_or_else(|| {
                    config_error(id, format!("`{key}` must be a number (dollars per token)"))
                }),
            }
        };
        let both = price("cost")?;
        let prices = match (price("inputCost")?.or(both), price("outputCost")?.or(both)) {
            (Some(i), Some(o)) => Some((i, o)),
            (Some(i), None) => Some((i, 0.0)),
            (None, Some(o)) => Some((0.0, o)),
            (None, None) => PRICES
                .iter()
                .find(|(name, _, _)| model == *name || model.starts_with(&format!("{name}-")))
                .map(|(_, i, o)| (i / 1e6, o / 1e6)),
        };
        let agent = ureq::AgentBuilder::new()
            .timeout(timeout)
            .max_idle_connections_per_host(256)
            .user_agent(concat!("incant/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Self {
            id: id.to_string(),
            endpoint,
            model: model.to_string(),
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key,
            headers,
            retry,
            timeout,
            max_concurrency,
            prices,
            agent,
        })
    }

    fn body(&self, req: &Request) -> Value {
        let mut body = Map::new();
        body.insert("model".into(), json!(self.model));
        match self.endpoint {
            Endpoint::Chat => {
                let messages: Vec<Value> = req
                    .messages
                    .iter()
                    .map(|m| json!({"role": m.role, "content": m.content}))
                    .collect();
                body.insert("messages".into(), Value::Array(messages));
            }
            Endpoint::Completion | Endpoint::Embedding => {
                body.insert("prompt".into(), json!(req.text()));
            }
        }
        for (k, v) in &req.params {
            let key = ALIASES
                .iter()
                .find(|(alias, _)| alias == k)
                .map_or(k.as_str(), |(_, name)| name);
            if FORWARDED.contains(&key) && !PROVIDER_KEYS.contains(&key) {
                body.insert(key.to_string(), v.clone());
            }
        }
        Value::Object(body)
    }

    /// POSTs `body` to `path` with retries; returns the parsed JSON answer.
    fn post(&self, path: &str, body: &Value) -> Result<Value, ProviderError> {
        let url = format!("{}{path}", self.base_url);
        let text = body.to_string();
        let mut attempt = 0;
        loop {
            let mut call = self
                .agent
                .post(&url)
                .set("Content-Type", "application/json");
            if let Some(key) = &self.api_key {
                call = call.set("Authorization", &format!("Bearer {key}"));
            }
            for (k, v) in &self.headers {
                call = call.set(k, v);
            }
            let failure = match call.send_string(&text) {
                Ok(resp) => return read_json(resp, &url),
                Err(ureq::Error::Status(status, resp)) => {
                    let retry_after = resp.header("retry-after").map(str::to_string);
                    let retry_after_ms = resp.header("retry-after-ms").map(str::to_string);
                    let message = error_message(resp);
                    let err = ProviderError::Call(format!("HTTP {status} from {url}: {message}"));
                    if !retryable_status(status) {
                        return Err(err);
                    }
                    (err, retry_after, retry_after_ms)
                }
                Err(ureq::Error::Transport(t)) => {
                    let text = t.to_string();
                    if text.contains("timed out") {
                        return Err(ProviderError::Timeout(self.timeout.as_millis() as u64));
                    }
                    (
                        ProviderError::Call(format!("cannot reach {url}: {text}")),
                        None,
                        None,
                    )
                }
            };
            let (err, retry_after, retry_after_ms) = failure;
            if attempt >= self.retry.max_retries {
                return Err(match err {
                    ProviderError::Call(m) if attempt > 0 => {
                        ProviderError::Call(format!("{m} (after {} retries)", attempt))
                    }
                    other => other,
                });
            }
            std::thread::sleep(self.retry.wait(
                attempt,
                retry_after.as_deref(),
                retry_after_ms.as_deref(),
            ));
            attempt += 1;
        }
    }

    fn cost(&self, usage: &Value, tokens: Option<Usage>) -> Option<f64> {
        if let Some(c) = usage.get("cost").and_then(Value::as_f64) {
            return Some(c);
        }
        let (i, o) = self.prices?;
        let u = tokens?;
        Some(u.prompt_tokens as f64 * i + u.completion_tokens as f64 * o)
    }
}

/// Reads a 2xx body as JSON; a truncated or non-JSON body is a failed call.
fn read_json(resp: ureq::Response, url: &str) -> Result<Value, ProviderError> {
    let text = resp
        .into_string()
        .map_err(|e| ProviderError::Call(format!("reading the answer from {url}: {e}")))?;
    serde_json::from_str(&text).map_err(|e| {
        let what = if e.is_eof() {
            "the body ended early"
        } else {
            "the body is not JSON"
        };
        ProviderError::Call(format!(
            "invalid answer from {url}: {what} ({e}); it starts with {:?}",
            head(&text, 120)
        ))
    })
}

/// The server's own explanation of an error status: OpenAI's `{"error": {"message"}}`
/// when present, else the start of the body.
fn error_message(resp: ureq::Response) -> String {
    let text = resp.into_string().unwrap_or_default();
    serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| {
            let e = v.get("error")?;
            e.get("message")
                .and_then(Value::as_str)
                .or_else(|| e.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| head(&text, 200))
}

fn head(text: &str, n: usize) -> String {
    let mut s: String = text.chars().take(n).collect();
    if text.chars().count() > n {
        s.push('…');
    }
    s
}

fn usage_of(v: &Value) -> Option<Usage> {
    let u = v.get("usage")?;
    Some(Usage {
        prompt_tokens: u.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0) as usize,
        completion_tokens: u
            .get("completion_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0) as usize,
    })
}

fn missing(url_path: &str, what: &str, v: &Value) -> ProviderError {
    ProviderError::Call(format!(
        "answer from {url_path} has no {what}: {}",
        head(&v.to_string(), 200)
    ))
}

impl Provider for OpenAi {
    fn id(&self) -> &str {
        &self.id
    }

    fn max_concurrency(&self) -> Option<usize> {
        self.max_concurrency
    }

    fn call(&self, req: &Request) -> Result<Response, ProviderError> {
        let (path, pointer) = match self.endpoint {
            Endpoint::Chat => ("/chat/completions", "/choices/0/message/content"),
            Endpoint::Completion => ("/completions", "/choices/0/text"),
            Endpoint::Embedding => {
                return Err(ProviderError::Config(format!(
                    "{} is an embedding model and does not generate text (use it in `similar`)",
                    self.id
                )))
            }
        };
        let answer = self.post(path, &self.body(req))?;
        let output = match answer.pointer(pointer) {
            Some(Value::String(s)) => s.clone(),
            // A chat answer that is only tool calls has no content: show the calls.
            Some(Value::Null) => answer
                .pointer("/choices/0/message/tool_calls")
                .map(Value::to_string)
                .ok_or_else(|| missing(path, "content", &answer))?,
            _ => return Err(missing(path, "output text", &answer)),
        };
        let usage = usage_of(&answer);
        let logprobs = match self.endpoint {
            Endpoint::Chat => answer
                .pointer("/choices/0/logprobs/content")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t.get("logprob").and_then(Value::as_f64))
                        .map(|x| x as f32)
                        .collect::<Vec<_>>()
                }),
            _ => answer
                .pointer("/choices/0/logprobs/token_logprobs")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_f64)
                        .map(|x| x as f32)
                        .collect()
                }),
        };
        Ok(Response {
            cost: self.cost(answer.get("usage").unwrap_or(&Value::Null), usage),
            usage,
            output,
            logprobs: logprobs.filter(|l| !l.is_empty()),
        })
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ProviderError> {
        if self.endpoint != Endpoint::Embedding {
            return Err(ProviderError::Config(format!(
                "{} does not embed text (use openai:embedding:MODEL)",
                self.id
            )));
        }
        let body = json!({"model": self.model, "input": texts});
        let answer = self.post("/embeddings", &body)?;
        let data = answer
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| missing("/embeddings", "data", &answer))?;
        let mut out = vec![Vec::new(); texts.len()];
        for (pos, item) in data.iter().enumerate() {
            let index = item
                .get("index")
                .and_then(Value::as_u64)
                .map_or(pos, |i| i as usize);
            let vector = item
                .get("embedding")
                .and_then(Value::as_array)
                .ok_or_else(|| missing("/embeddings", "embedding", item))?;
            let slot = out
                .get_mut(index)
                .ok_or_else(|| missing("/embeddings", "valid index", item))?;
            *slot = vector
                .iter()
                .map(|x| x.as_f64().map(|x| x as f32))
                .collect::<Option<_>>()
                .ok_or_else(|| missing("/embeddings", "numeric embedding", item))?;
        }
        if out.iter().any(Vec::is_empty) {
            return Err(ProviderError::Call(format!(
                "/embeddings answered {} vectors for {} texts",
                data.len(),
                texts.len()
            )));
        }
        Ok(out)
    }
}
