//! The server's shared state: the prompt registry (swapped whole on reload), admin pins,
//! keys, backends, cache, coalescer and metrics; plus the helpers every handler uses
//! (authentication, reading a body within its size and time limits).

use crate::auth::{AuthError, KeyEntry, Keys};
use crate::cache::{Coalescer, ResponseCache};
use crate::complete::Completion;
use crate::config::{ServeConfig, ServeFile};
use crate::engine::Backends;
use crate::error::{ApiError, ServerError};
use crate::metrics::Metrics;
use crate::registry::{LoadIssue, Registry};
use axum::body::Body;
use axum::http::{header, HeaderMap};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use semver::Version;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Shared by every request.
pub struct Inner {
    /// How the server was started.
    pub config: ServeConfig,
    /// `serve.yaml` as last loaded.
    pub settings: RwLock<Arc<ServeFile>>,
    /// The prompts as last loaded.
    pub registry: RwLock<Arc<Registry>>,
    /// Versions pinned through the admin API (they win over `serve.yaml`).
    pub admin_pins: RwLock<BTreeMap<String, Version>>,
    /// API keys.
    pub keys: Keys,
    /// Model backends.
    pub backends: Backends,
    /// Cached answers.
    pub cache: ResponseCache<Arc<Completion>>,
    /// In-flight identical requests.
    pub coalescer: Coalescer<Result<Arc<Completion>, ApiError>>,
    /// Counters.
    pub metrics: Metrics,
}

/// The state handed to [`crate::app`]; cheap to clone.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// What a reload found.
#[derive(Debug, Clone)]
pub struct ReloadReport {
    /// Prompt names served.
    pub prompts: usize,
    /// Prompt versions served.
    pub versions: usize,
    /// Files skipped, with why.
    pub issues: Vec<LoadIssue>,
}

impl AppState {
    /// Loads `serve.yaml`, the keys and the prompts of `config.dir`.
    pub fn new(config: ServeConfig) -> Result<Self, ServerError> {
        if !config.dir.is_dir() {
            return Err(ServerError::NoDir(config.dir.clone()));
        }
        let settings = ServeFile::load(&config.dir)?;
        let keys = Keys::load(
            config.keys_file.as_deref(),
            config.env_keys.as_deref(),
            settings.rate_limit,
        )?;
        let registry = Registry::load(&config.dir, &settings);
        let inner = Inner {
            backends: Backends::new(config.models_dir.clone(), settings.queue_capacity),
            cache: ResponseCache::new(
                Duration::from_secs(settings.cache.ttl_seconds),
                if settings.cache.enabled {
                    settings.cache.max_entries
                } else {
                    0
                },
            ),
            coalescer: Coalescer::default(),
            metrics: Metrics::default(),
            admin_pins: RwLock::new(BTreeMap::new()),
            registry: RwLock::new(Arc::new(registry)),
            settings: RwLock::new(Arc::new(settings)),
            keys,
            config,
        };
        Ok(Self(Arc::new(inner)))
    }

    /// The current registry.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The current settings.
    pub fn settings(&self) -> Arc<ServeFile> {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The admin pins now.
    pub fn pins(&self) -> BTreeMap<String, Version> {
        self.admin_pins
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Re-reads `serve.yaml` and the prompts; a broken `serve.yaml` keeps the old settings.
    pub fn reload(&self) -> Result<ReloadReport, ServerError> {
        let settings = ServeFile::load(&self.config.dir)?;
        let registry = Registry::load(&self.config.dir, &settings);
        let report = ReloadReport {
            prompts: registry.prompts.len(),
            versions: registry.prompts.values().map(|p| p.versions.len()).sum(),
            issues: registry.issues.clone(),
        };
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(settings);
        *self.registry.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(registry);
        Ok(report)
    }

    /// Model ids callable directly: those the served prompts name, `models:` and
    /// `default_model` from `serve.yaml`.
    pub fn plain_models(&self) -> BTreeSet<String> {
        let settings = self.settings();
        let mut out: BTreeSet<String> = settings.models.iter().cloned().collect();
        out.extend(settings.default_model.iter().cloned());
        for p in self.registry().prompts.values() {
            for s in p.versions.values() {
                out.extend(s.file.model.iter().cloned());
            }
        }
        out
    }

    /// Authenticates a request (Bearer token or `x-api-key`) and takes a rate-limit token.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Option<KeyEntry>, ApiError> {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or(v.strip_prefix("bearer ")))
            .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
            .map(str::trim);
        match self.keys.check(presented) {
            Ok(k) => Ok(k.cloned()),
            Err(AuthError::Missing) => Err(ApiError::unauthorized(
                "no API key: send `Authorization: Bearer KEY`",
            )),
            Err(AuthError::Invalid) => Err(ApiError::unauthorized("the API key is not valid")),
            Err(AuthError::RateLimited(s)) => Err(ApiError::rate_limited(s)),
        }
    }

    /// Reads a body within the size limit and the client timeout.
    pub async fn read_body(&self, headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
        let limit = self.config.max_body_bytes;
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(ApiError::too_large(limit));
        }
        let read = async {
            let mut stream = body.into_data_stream();
            let mut buf = BytesMut::new();
            while let Some(chunk) = stream.next().await {
                let chunk =
                    chunk.map_err(|_| ApiError::bad_json("the request body was cut off"))?;
                if buf.len() + chunk.len() > limit {
                    return Err(ApiError::too_large(limit));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(buf.freeze())
        };
        tokio::time::timeout(self.config.client_timeout, read)
            .await
            .map_err(|_| ApiError::client_timeout())?
    }
}

/// Checks that `key` may call the prompt `name`.
pub fn check_scope(key: Option<&KeyEntry>, name: &str) -> Result<(), ApiError> {
    match key {
        Some(k) if !k.allows(name) => Err(ApiError::forbidden(format!(
            "this key may not call `{name}`"
        ))),
        _ => Ok(()),
    }
}
