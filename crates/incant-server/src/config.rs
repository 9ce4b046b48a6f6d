//! What `incant serve` is told: the command line ([`ServeConfig`]) and the optional
//! `serve.yaml` in the served folder ([`ServeFile`]: pins, leak filter, cache, queue, rate
//! limits, extra models). Both have defaults that work for a folder of prompts on a laptop.

use crate::ServerError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything `serve` needs to start.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The folder whose prompt files (recursively) are served.
    pub dir: PathBuf,
    /// Address to bind (forced to loopback when no keys are configured).
    pub host: IpAddr,
    /// Port (0: any free port).
    pub port: u16,
    /// The API keys file (YAML, sha256 hashes), if any.
    pub keys_file: Option<PathBuf>,
    /// Plain keys, e.g. from `INCANT_API_KEYS` (comma-separated); hashed on load.
    pub env_keys: Option<String>,
    /// Where local models live (`models/`, `INCANT_MODELS`).
    pub models_dir: PathBuf,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long a client may take to send its body.
    pub client_timeout: Duration,
    /// How long a model may take to answer.
    pub upstream_timeout: Duration,
    /// How often the folder is checked for changed prompt files (zero: never; SIGHUP
    /// reloads at once either way).
    pub reload_interval: Duration,
    /// Print one line per request on stderr (method, path, status, time; never bodies).
    pub log_requests: bool,
}

impl ServeConfig {
    /// Defaults for `dir`: loopback, port 8080, keys from `INCANT_API_KEYS`, models from
    /// `INCANT_MODELS` or `models/`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            host: IpAddr::from([127, 0, 0, 1]),
            port: 8080,
            keys_file: None,
            env_keys: std::env::var("INCANT_API_KEYS").ok(),
            models_dir: incant_models::reference::models_dir(None),
            max_body_bytes: 1 << 20,
            client_timeout: Duration::from_secs(10),
            upstream_timeout: Duration::from_secs(120),
            reload_interval: Duration::from_secs(1),
            log_requests: false,
        }
    }
}

/// What to do with an output that repeats the hidden prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeakAction {
    /// Replace the copied spans with a marker (the rest of the output is kept).
    Redact,
    /// Refuse the whole output (`finish_reason: content_filter`) when the share of the
    /// prompt's n-grams in it reaches the threshold; shorter copies are still redacted.
    Block,
}

/// The leak filter's settings (`leak:` in `serve.yaml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeakConfig {
    /// Redact or block.
    pub action: LeakAction,
    /// Character n-gram length of the overlap measure.
    pub ngram: usize,
    /// Share of the prompt's n-grams in an output that blocks it (block mode).
    pub threshold: f32,
    /// Copied spans at least this many characters long are redacted.
    pub min_span: usize,
    /// What replaces a redacted span.
    pub marker: String,
}

impl Default for LeakConfig {
    fn default() -> Self {
        Self {
            action: LeakAction::Redact,
            ngram: 12,
            threshold: 0.3,
            min_span: 16,
            marker: "[redacted]".into(),
        }
    }
}

/// A token bucket's shape: `per_second` refill, `burst` capacity.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Tokens added per second.
    pub per_second: f64,
    /// Bucket size.
    pub burst: f64,
}

/// The response cache's settings (`cache:` in `serve.yaml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Off switch.
    pub enabled: bool,
    /// Seconds an entry stays valid.
    pub ttl_seconds: u64,
    /// Most entries kept (oldest evicted first).
    pub max_entries: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            ttl_seconds: 300,
            max_entries: 10_000,
        }
    }
}

/// The input guard (`guard:` in `serve.yaml`): incant-guard's injection detectors on every
/// string input of a prompt call, before the model sees it; a flagged input is a 400 naming
/// the field. Off unless enabled, globally or per prompt.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputGuard {
    /// On for every prompt (per-prompt settings override it).
    pub enabled: bool,
    /// Flag at this score (default: the guard's, 0.5).
    pub threshold: Option<f32>,
    /// Per prompt name: `{enabled, threshold}`.
    pub prompts: BTreeMap<String, PromptGuard>,
}

/// One prompt's guard settings.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PromptGuard {
    /// On or off for this prompt.
    pub enabled: Option<bool>,
    /// Its threshold.
    pub threshold: Option<f32>,
}

impl InputGuard {
    /// The threshold for `prompt` when the guard is on for it.
    pub fn threshold_for(&self, prompt: &str) -> Option<f32> {
        let p = self.prompts.get(prompt).copied().unwrap_or_default();
        p.enabled.unwrap_or(self.enabled).then(|| {
            p.threshold
                .or(self.threshold)
                .unwrap_or(incant_guard::DEFAULT_THRESHOLD)
        })
    }
}

/// `serve.yaml`: optional settings next to the prompts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeFile {
    /// Default version per prompt name (otherwise the highest).
    pub pins: BTreeMap<String, String>,
    /// Leak filter.
    pub leak: LeakConfig,
    /// Input guard.
    pub guard: InputGuard,
    /// Response cache.
    pub cache: CacheConfig,
    /// Requests waiting per local model before 503.
    pub queue_capacity: usize,
    /// Rate limit for every key without its own.
    pub rate_limit: Option<RateLimit>,
    /// Plain model ids callable directly (besides the models the prompts name).
    pub models: Vec<String>,
    /// Model for prompts that name none.
    pub default_model: Option<String>,
    /// Embedding models `/v1/embeddings` accepts.
    pub embedding_models: Vec<String>,
}

impl Default for ServeFile {
    fn default() -> Self {
        Self {
            pins: BTreeMap::new(),
            leak: LeakConfig::default(),
            guard: InputGuard::default(),
            cache: CacheConfig::default(),
            queue_capacity: 64,
            rate_limit: None,
            models: Vec::new(),
            default_model: None,
            embedding_models: vec!["local:minilm".into()],
        }
    }
}

/// The name of the optional settings file in the served folder.
pub const SERVE_FILE: &str = "serve.yaml";

impl ServeFile {
    /// Reads `dir/serve.yaml`; defaults when it does not exist.
    pub fn load(dir: &Path) -> Result<Self, ServerError> {
        let path = dir.join(SERVE_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(ServerError::Io { path, source: e }),
        };
        let file: Self = serde_norway::from_str(&text).map_err(|e| ServerError::Config {
            path: path.clone(),
            message: e.to_string(),
            hint: "keys: pins, leak, cache, queue_capacity, rate_limit, models, default_model, \
                   embedding_models"
                .into(),
        })?;
        for (name, v) in &file.pins {
            semver::Version::parse(v).map_err(|e| ServerError::Config {
                path: path.clone(),
                message: format!("pins.{name}: `{v}` is not a semver version: {e}"),
                hint: "write a version such as 1.2.0".into(),
            })?;
        }
        if file.leak.ngram < 4 || !(0.0..=1.0).contains(&file.leak.threshold) {
            return Err(ServerError::Config {
                path,
                message: "leak.ngram must be at least 4 and leak.threshold within 0..1".into(),
                hint: "the defaults are ngram: 12, threshold: 0.3".into(),
            });
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_file_defaults_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let f = ServeFile::load(dir.path()).unwrap();
        assert_eq!(f.queue_capacity, 64);
        std::fs::write(dir.path().join(SERVE_FILE), "pins: { a: nope }\n").unwrap();
        let e = ServeFile::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("pins.a") && e.contains("serve.yaml"), "{e}");
        std::fs::write(dir.path().join(SERVE_FILE), "pinz: {}\n").unwrap();
        let e = ServeFile::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("pinz"), "{e}");
        std::fs::write(
            dir.path().join(SERVE_FILE),
            "leak: { action: block, threshold: 0.5 }\nqueue_capacity: 3\n",
        )
        .unwrap();
        let f = ServeFile::load(dir.path()).unwrap();
        assert_eq!(f.leak.action, LeakAction::Block);
        assert_eq!(f.queue_capacity, 3);
    }
}
