//! Providers: one trait for everything that turns a rendered prompt into an output.
//!
//! A test suite names providers by id (`local:smollm2`, `openai:chat:gpt-4o-mini`,
//! `exec:python3 my_model.py`, `echo`). [`from_spec`] builds them; the runner only sees
//! [`Provider`]. A failed call is an `Err(ProviderError)` that the runner stores as a
//! result row, never a crash, as promptfoo does.
//!
//! Providers are synchronous and `Sync`: the runner calls them from a bounded pool of
//! threads. The local engine serialises its own calls (one resident model, one sequence at
//! a time), so a suite never loads a model twice.

pub mod echo;
pub mod exec;
pub mod local;
pub mod openai;
pub mod retry;

use incant_prompt::file::Message;
use serde_json::{Map, Value};
use std::path::Path;

/// What to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The rendered messages (a completion prompt is one `user` message).
    pub messages: Vec<Message>,
    /// Whether the messages are a chat (else plain text).
    pub chat: bool,
    /// Parameters: the prompt's `params` overlaid with the provider's `config`.
    pub params: Map<String, Value>,
}

impl Request {
    /// The prompt as plain text (completion providers, exec).
    pub fn text(&self) -> String {
        if self.chat {
            self.messages
                .iter()
                .map(|m| format!("{}: {}", m.role, m.content))
                .collect::<Vec<_>>()
                .join("\n\n")
        } else {
            self.messages
                .iter()
                .map(|m| m.content.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        }
    }

    fn num(&self, key: &str) -> Option<f64> {
        self.params.get(key).and_then(Value::as_f64)
    }
}

/// Token counts of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Generated tokens.
    pub completion_tokens: usize,
}

/// What came back.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Response {
    /// The output text.
    pub output: String,
    /// Token counts, when the provider reports them.
    pub usage: Option<Usage>,
    /// Cost in dollars, when known (local models: 0).
    pub cost: Option<f64>,
    /// Per-token log-probabilities, when available.
    pub logprobs: Option<Vec<f32>>,
}

/// A failed call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider id or its configuration is wrong (a suite error, exit code 2).
    #[error("{0}")]
    Config(String),
    /// The call failed (a result row).
    #[error("{0}")]
    Call(String),
    /// The call took longer than allowed.
    #[error("timed out after {0} ms")]
    Timeout(u64),
}

/// A model backend.
pub trait Provider: Send + Sync {
    /// The id as the suite wrote it.
    fn id(&self) -> &str;
    /// Runs one request.
    fn call(&self, req: &Request) -> Result<Response, ProviderError>;
    /// Calls that can usefully run at once (`None`: as many as the runner allows). The
    /// runner queues the rest, so waiting for a turn is not counted as latency.
    fn max_concurrency(&self) -> Option<usize> {
        None
    }
    /// Embeds texts, one vector per text (embedding providers only).
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ProviderError> {
        let _ = texts;
        Err(ProviderError::Config(format!(
            "{} does not embed text (use local:minilm or openai:embedding:MODEL)",
            self.id()
        )))
    }
}

/// Builds a provider from its id and config.
pub fn from_spec(
    id: &str,
    config: &Map<String, Value>,
    models_dir: &Path,
) -> Result<Box<dyn Provider>, ProviderError> {
    if id == "echo" {
        return Ok(Box::new(echo::Echo));
    }
    if let Some(cmd) = id.strip_prefix("exec:") {
        return Ok(Box::new(exec::Exec::new(id, cmd, config)?));
    }
    if let Some(model) = id.strip_prefix("local:") {
        return Ok(Box::new(local::Local::load(id, model, models_dir)?));
    }
    if let Some(rest) = id.strip_prefix("openai:") {
        return Ok(Box::new(openai::OpenAi::new(id, rest, config)?));
    }
    Err(ProviderError::Config(format!(
        "unknown provider `{id}` (known: local:MODEL, openai:chat:MODEL, \
         openai:completion:MODEL, openai:embedding:MODEL, exec:COMMAND, echo)"
    )))
}
