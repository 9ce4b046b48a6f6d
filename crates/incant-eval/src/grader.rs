//! [`ProviderGrader`]: model access for model-graded assertions, on top of the providers.
//!
//! `similar` needs an embedding model and `llm-rubric`/`factuality` a judge; each assertion
//! may name its own (`provider: openai:embedding:...`) or use the run's defaults (local
//! MiniLM and the local chat model unless the suite says otherwise). Loading a model is
//! slow, so each provider id is built once, on first use, and shared by every worker;
//! two workers asking for the same id at once wait for one load. Embeddings of identical
//! texts (the expected values, repeated in every case) are computed once per provider.

use crate::assertions::Grader;
use incant_prompt::file::Message;
use incant_provider::{from_spec, Provider, Request};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

/// Default embedding provider for `similar`.
pub const DEFAULT_EMBEDDER: &str = "local:minilm";
/// Default judge for `llm-rubric` and `factuality`.
pub const DEFAULT_JUDGE: &str = "local:smollm2";
/// Longest judge answer, in tokens.
pub const JUDGE_MAX_TOKENS: u64 = 256;
/// Embeddings kept in the cache before it is emptied (about 6 MB at 384 dimensions).
const EMBED_CACHE_LIMIT: usize = 4096;

type Loaded = Result<Arc<dyn Provider>, String>;

/// A [`Grader`] that builds providers with [`incant_provider::from_spec`].
pub struct ProviderGrader {
    models_dir: PathBuf,
    embedder: String,
    judge: String,
    configs: HashMap<String, Map<String, Value>>,
    providers: Mutex<HashMap<String, Arc<OnceLock<Loaded>>>>,
    embeddings: Mutex<HashMap<(String, String), Vec<f32>>>,
}

impl ProviderGrader {
    /// A grader with the default models, loading local models from `models_dir`.
    pub fn new(models_dir: impl Into<PathBuf>) -> Self {
        Self::with_defaults(models_dir, DEFAULT_EMBEDDER, DEFAULT_JUDGE)
    }

    /// A grader whose default embedding model and judge are the given provider ids.
    pub fn with_defaults(
        models_dir: impl Into<PathBuf>,
        embedder: impl Into<String>,
        judge: impl Into<String>,
    ) -> Self {
        Self {
            models_dir: models_dir.into(),
            embedder: embedder.into(),
            judge: judge.into(),
            configs: HashMap::new(),
            providers: Mutex::new(HashMap::new()),
            embeddings: Mutex::new(HashMap::new()),
        }
    }

    /// Configuration used when building the provider `id` (API base, key variable, ...).
    pub fn with_config(mut self, id: impl Into<String>, config: Map<String, Value>) -> Self {
        self.configs.insert(id.into(), config);
        self
    }

    /// The default embedding provider id.
    pub fn embedder(&self) -> &str {
        &self.embedder
    }

    /// The default judge provider id.
    pub fn judge(&self) -> &str {
        &self.judge
    }

    /// The provider `id`, built on first use. A failed build is remembered, so a bad id is
    /// reported by every assertion that uses it without retrying the load. Call it up front
    /// to check a suite's grader ids before running.
    pub fn provider(&self, id: &str) -> Result<Arc<dyn Provider>, String> {
        let cell = {
            let mut map = self.providers.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(map.entry(id.to_string()).or_default())
        };
        cell.get_or_init(|| {
            let config = self.configs.get(id).cloned().unwrap_or_default();
            from_spec(id, &config, &self.models_dir)
                .map(Arc::from)
                .map_err(|e| e.to_string())
        })
        .clone()
    }
}

impl Grader for ProviderGrader {
    fn embed(&self, provider: Option<&str>, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        let id = provider.unwrap_or(&self.embedder);
        let mut out: Vec<Option<Vec<f32>>> = {
            let cache = self.embeddings.lock().unwrap_or_else(|e| e.into_inner());
            texts
                .iter()
                .map(|t| cache.get(&(id.to_string(), (*t).to_string())).cloned())
                .collect()
        };
        let mut missing: Vec<&str> = Vec::new();
        for (t, v) in texts.iter().zip(&out) {
            if v.is_none() && !missing.contains(t) {
                missing.push(t);
            }
        }
        if !missing.is_empty() {
            let vectors = self
                .provider(id)?
                .embed(&missing)
                .map_err(|e| e.to_string())?;
            if vectors.len() != missing.len() {
                return Err(format!(
                    "{id} returned {} embeddings for {} texts",
                    vectors.len(),
                    missing.len()
                ));
            }
            let mut cache = self.embeddings.lock().unwrap_or_else(|e| e.into_inner());
            if cache.len() + missing.len() > EMBED_CACHE_LIMIT {
                cache.clear();
            }
            for (t, v) in missing.iter().zip(vectors) {
                for (slot, text) in out.iter_mut().zip(texts) {
                    if slot.is_none() && text == t {
                        *slot = Some(v.clone());
                    }
                }
                cache.insert((id.to_string(), (*t).to_string()), v);
            }
        }
        Ok(out.into_iter().map(Option::unwrap_or_default).collect())
    }

    fn complete(&self, provider: Option<&str>, messages: &[Message]) -> Result<String, String> {
        let id = provider.unwrap_or(&self.judge);
        let mut params = Map::new();
        params.insert("max_tokens".into(), Value::from(JUDGE_MAX_TOKENS));
        params.insert("temperature".into(), Value::from(0));
        let req = Request {
            messages: messages.to_vec(),
            chat: true,
            params,
        };
        self.provider(id)?
            .call(&req)
            .map(|r| r.output)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_load_once_and_failures_are_remembered() {
        let g = ProviderGrader::new("/nonexistent-models");
        let a = g.provider("echo").unwrap();
        let b = g.provider("echo").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let e = g.provider("nope:thing").err().unwrap();
        assert!(e.contains("unknown provider"), "{e}");
        assert_eq!(g.provider("nope:thing").err(), Some(e));
    }

    #[test]
    fn judges_are_called_as_chats_and_errors_are_strings() {
        let g = ProviderGrader::with_defaults("/nonexistent-models", "echo", "echo");
        let messages = [Message {
            role: "user".into(),
            content: "grade this".into(),
        }];
        assert!(g.complete(None, &messages).unwrap().contains("grade this"));
        let e = g.embed(None, &["x"]).unwrap_err();
        assert!(e.contains("does not embed"), "{e}");
        assert_eq!((g.embedder(), g.judge()), ("echo", "echo"));
    }
}
