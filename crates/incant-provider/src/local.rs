//! `local:MODEL`: the embedded engine. The model is loaded once and stays resident; calls
//! are serialised on it (the engine runs one sequence at a time and uses every core).
//! A chat model (`local:smollm2`, any GGUF) generates; an embedding model (`local:minilm`)
//! embeds, for the `similar` assertion and `incant compare`'s drift.

use crate::{Provider, ProviderError, Request, Response, Usage};
use incant_engine::embed::{EmbedOptions, SentenceEmbedder};
use incant_engine::generate::GenerateRequest;
use incant_engine::{ChatMessage, ChatModel, SamplingParams};
use incant_models::{resolve, ModelError, ModelKind};
use serde_json::Value;
use std::path::Path;
use std::sync::Mutex;

/// A local model: a chat model or a sentence embedder.
pub struct Local {
    id: String,
    model: Loaded,
}

enum Loaded {
    Chat(Box<Mutex<ChatModel>>),
    Embed(Box<SentenceEmbedder>),
}

impl Local {
    /// Resolves and loads `model` (a short name, a .gguf path or an embedding model folder).
    pub fn load(id: &str, model: &str, models_dir: &Path) -> Result<Self, ProviderError> {
        let config_error = |e: &dyn std::fmt::Display, hint: Option<String>| {
            let hint = hint.map(|h| format!(" ({h})")).unwrap_or_default();
            ProviderError::Config(format!("{id}: {e}{hint}"))
        };
        let model = match resolve(model, models_dir, ModelKind::Chat) {
            Ok(resolved) => Loaded::Chat(Box::new(Mutex::new(
                ChatModel::load(&resolved.path).map_err(|e| config_error(&e, None))?,
            ))),
            Err(ModelError::WrongKind {
                actual: ModelKind::Embedding,
                ..
            }) => {
                let resolved = resolve(model, models_dir, ModelKind::Embedding)
                    .map_err(|e| config_error(&e, e.hint()))?;
                Loaded::Embed(Box::new(
                    SentenceEmbedder::load(&resolved.path).map_err(|e| config_error(&e, None))?,
                ))
            }
            Err(e) => return Err(config_error(&e, e.hint())),
        };
        Ok(Self {
            id: id.to_string(),
            model,
        })
    }
}

/// Sampling settings from request parameters; incant's default for suites is greedy, so a
/// suite gives the same results twice unless it asks for sampling.
fn generate_request(req: &Request) -> Result<GenerateRequest, ProviderError> {
    let p = &req.params;
    let mut sampling = SamplingParams::greedy();
    if let Some(t) = req.num("temperature") {
        sampling.temperature = t as f32;
    }
    if let Some(v) = req.num("top_p") {
        sampling.top_p = v as f32;
    }
    if let Some(v) = p.get("top_k").and_then(Value::as_u64) {
        sampling.top_k = v as usize;
    }
    if let Some(v) = req.num("min_p") {
        sampling.min_p = v as f32;
    }
    if let Some(v) = req.num("repeat_penalty") {
        sampling.repeat_penalty = v as f32;
    }
    if let Some(v) = p.get("seed").and_then(Value::as_u64) {
        sampling.seed = v;
    }
    let stop = match p.get("stop") {
        None => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(_) => {
            return Err(ProviderError::Config(
                "`stop` must be a string or a list".into(),
            ))
        }
    };
    let max_tokens = p
        .get("max_tokens")
        .or_else(|| p.get("maxTokens"))
        .and_then(Value::as_u64)
        .unwrap_or(256) as usize;
    Ok(GenerateRequest {
        sampling,
        max_tokens,
        stop,
        logprobs: true,
        ignore_eos: false,
    })
}

impl Provider for Local {
    fn id(&self) -> &str {
        &self.id
    }

    fn max_concurrency(&self) -> Option<usize> {
        Some(1)
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ProviderError> {
        match &self.model {
            Loaded::Embed(e) => e
                .embed(texts, EmbedOptions::default())
                .map_err(|e| ProviderError::Call(e.to_string())),
            Loaded::Chat(_) => Err(ProviderError::Config(format!(
                "{} is a chat model and does not embed text (use local:minilm)",
                self.id
            ))),
        }
    }

    fn call(&self, req: &Request) -> Result<Response, ProviderError> {
        let Loaded::Chat(model) = &self.model else {
            return Err(ProviderError::Config(format!(
                "{} is an embedding model and does not generate text (use it in `similar`)",
                self.id
            )));
        };
        let gen = generate_request(req)?;
        let model = model.lock().unwrap_or_else(|e| e.into_inner());
        let messages: Vec<ChatMessage> = req
            .messages
            .iter()
            .map(|m| ChatMessage::new(m.role.clone(), m.content.clone()))
            .collect();
        let ids = model
            .prompt_ids(&messages, req.chat)
            .map_err(|e| ProviderError::Call(e.to_string()))?;
        let out = model
            .generate(&ids, &gen, &mut |_| {})
            .map_err(|e| ProviderError::Call(e.to_string()))?;
        Ok(Response {
            usage: Some(Usage {
                prompt_tokens: out.prompt_tokens,
                completion_tokens: out.token_ids.len(),
            }),
            output: out.text,
            cost: Some(0.0),
            logprobs: out.logprobs,
        })
    }
}
