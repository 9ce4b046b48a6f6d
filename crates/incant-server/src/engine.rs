//! Model backends behind the API.
//!
//! A local chat model (`local:smollm2`) uses every core for each step, so it sits behind
//! one engine thread ([`crate::batch`]: continuous batching, prompt cache) fed by a bounded
//! queue: a request that finds the queue full is refused at once (503 with `Retry-After`)
//! instead of waiting unboundedly, and a request whose client went away is dropped without
//! running, or stopped mid-generation. Text is streamed out as it becomes final. Other
//! providers (`echo`, `openai:...`, embedding models) are called on tokio's blocking pool.
//!
//! Backends are created on first use and kept: a model is loaded once per server.

use incant_engine::{ChatModel, SamplingParams};
use incant_models::{resolve, ModelKind};
use incant_prompt::Message;
use incant_provider::{Provider, Request};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, OnceCell};

/// Generation settings of one call.
#[derive(Debug, Clone, PartialEq)]
pub struct GenParams {
    /// Most new tokens.
    pub max_tokens: usize,
    /// Sampling temperature (`None` or 0: greedy).
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Sampling seed.
    pub seed: Option<u64>,
    /// Stop strings.
    pub stop: Vec<String>,
}

/// One generation to run.
#[derive(Debug, Clone)]
pub struct GenJob {
    /// The messages (a completion is one `user` message).
    pub messages: Vec<Message>,
    /// Chat (template applied) or plain text.
    pub chat: bool,
    /// Settings.
    pub params: GenParams,
}

/// What a generation produced.
#[derive(Debug, Clone, PartialEq)]
pub struct GenOutput {
    /// The text.
    pub text: String,
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Generated tokens.
    pub completion_tokens: usize,
    /// `stop` or `length`.
    pub finish_reason: &'static str,
    /// Dollars, when known.
    pub cost: Option<f64>,
    /// Time the backend spent on the job, ms (local models: from the engine thread taking
    /// it, prompt cache included, to its end; decoding steps are shared with other jobs).
    pub engine_ms: f64,
    /// Of which reading the prompt (local models; 0 for others).
    pub prefill_ms: f64,
    /// Time spent waiting in the queue, ms.
    pub queue_ms: f64,
}

/// Why a backend call failed (messages may quote the prompt: callers redact them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The engine queue is full.
    #[error("the model `{0}` is busy (queue full)")]
    QueueFull(String),
    /// The backend cannot be built (unknown model, missing file).
    #[error("{0}")]
    Config(String),
    /// The request cannot run on this model (too long for its context, bad parameter).
    #[error("{message}")]
    Invalid {
        /// The request field at fault.
        param: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The call failed.
    #[error("{0}")]
    Failed(String),
}

/// A job waiting for the engine thread.
pub struct LocalJob {
    pub(crate) job: GenJob,
    pub(crate) stream: Option<mpsc::UnboundedSender<String>>,
    pub(crate) reply: oneshot::Sender<Result<GenOutput, BackendError>>,
    pub(crate) enqueued: Instant,
}

/// Counters of one local model's engine thread.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Jobs waiting or running.
    pub depth: AtomicUsize,
    /// Generations stopped because their client went away.
    pub cancelled: AtomicU64,
    /// Prompt tokens whose keys and values came from the prompt cache.
    pub prompt_tokens_reused: AtomicU64,
    /// Prompt tokens run through the model.
    pub prompt_tokens_read: AtomicU64,
}

/// A point-in-time copy of [`EngineStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineSnapshot {
    /// Jobs waiting or running.
    pub depth: usize,
    /// Generations stopped because their client went away.
    pub cancelled: u64,
    /// Prompt tokens served from the prompt cache.
    pub prompt_tokens_reused: u64,
    /// Prompt tokens run through the model.
    pub prompt_tokens_read: u64,
}

impl EngineStats {
    /// Reads every counter.
    pub fn snapshot(&self) -> EngineSnapshot {
        EngineSnapshot {
            depth: self.depth.load(Ordering::Relaxed),
            cancelled: self.cancelled.load(Ordering::Relaxed),
            prompt_tokens_reused: self.prompt_tokens_reused.load(Ordering::Relaxed),
            prompt_tokens_read: self.prompt_tokens_read.load(Ordering::Relaxed),
        }
    }
}

/// A loaded backend.
pub enum Backend {
    /// A local chat model behind its engine thread.
    Local {
        /// The model id.
        id: String,
        /// The queue into the engine thread.
        queue: mpsc::Sender<LocalJob>,
        /// The engine thread's counters.
        stats: Arc<EngineStats>,
    },
    /// Any other provider.
    Provider(Arc<dyn Provider>),
}

impl Backend {
    /// Loads `spec` (blocking: model files are read).
    fn load(spec: &str, models_dir: &Path, capacity: usize) -> Result<Self, BackendError> {
        if let Some(model) = spec.strip_prefix("local:") {
            if let Ok(resolved) = resolve(model, models_dir, ModelKind::Chat) {
                let m = ChatModel::load(&resolved.path)
                    .map_err(|e| BackendError::Config(format!("{spec}: {e}")))?;
                let (tx, rx) = mpsc::channel(capacity.max(1));
                let stats = Arc::new(EngineStats::default());
                let st = stats.clone();
                std::thread::Builder::new()
                    .name(format!("engine {spec}"))
                    .spawn(move || crate::batch::engine_loop(m, rx, st))
                    .map_err(|e| BackendError::Config(format!("{spec}: {e}")))?;
                return Ok(Backend::Local {
                    id: spec.to_string(),
                    queue: tx,
                    stats,
                });
            }
        }
        let p = incant_provider::from_spec(spec, &Map::new(), models_dir)
            .map_err(|e| BackendError::Config(e.to_string()))?;
        Ok(Backend::Provider(Arc::from(p)))
    }

    /// The engine thread's counters (`None` for providers without one).
    pub fn engine_stats(&self) -> Option<EngineSnapshot> {
        match self {
            Backend::Local { stats, .. } => Some(stats.snapshot()),
            Backend::Provider(_) => None,
        }
    }

    /// Runs `job`, sending text pieces to `stream` as they are final.
    pub async fn generate(
        &self,
        job: GenJob,
        stream: Option<mpsc::UnboundedSender<String>>,
    ) -> Result<GenOutput, BackendError> {
        match self {
            Backend::Local { id, queue, stats } => {
                let (reply, rx) = oneshot::channel();
                stats.depth.fetch_add(1, Ordering::Relaxed);
                let item = LocalJob {
                    job,
                    stream,
                    reply,
                    enqueued: Instant::now(),
                };
                if queue.try_send(item).is_err() {
                    stats.depth.fetch_sub(1, Ordering::Relaxed);
                    return Err(BackendError::QueueFull(id.clone()));
                }
                rx.await
                    .unwrap_or_else(|_| Err(BackendError::Failed("the engine stopped".into())))
            }
            Backend::Provider(p) => {
                let p = p.clone();
                let start = Instant::now();
                let out = tokio::task::spawn_blocking(move || {
                    let req = Request {
                        messages: job.messages,
                        chat: job.chat,
                        params: provider_params(&job.params),
                    };
                    p.call(&req)
                })
                .await
                .map_err(|e| BackendError::Failed(e.to_string()))?
                .map_err(|e| BackendError::Failed(e.to_string()))?;
                let engine_ms = start.elapsed().as_secs_f64() * 1e3;
                if let Some(tx) = stream {
                    let _ = tx.send(out.output.clone());
                }
                let usage = out.usage.unwrap_or_default();
                Ok(GenOutput {
                    prompt_tokens: usage.prompt_tokens,
                    completion_tokens: usage.completion_tokens,
                    text: out.output,
                    finish_reason: "stop",
                    cost: out.cost,
                    engine_ms,
                    prefill_ms: 0.0,
                    queue_ms: 0.0,
                })
            }
        }
    }

    /// Embeds `texts` (embedding backends only).
    pub async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, BackendError> {
        let Backend::Provider(p) = self else {
            return Err(BackendError::Config(
                "a chat model does not embed text (use local:minilm)".into(),
            ));
        };
        let p = p.clone();
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            p.embed(&refs)
        })
        .await
        .map_err(|e| BackendError::Failed(e.to_string()))?
        .map_err(|e| BackendError::Config(e.to_string()))
    }
}

fn provider_params(p: &GenParams) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("max_tokens".into(), p.max_tokens.into());
    if let Some(t) = p.temperature {
        m.insert("temperature".into(), t.into());
    }
    if let Some(t) = p.top_p {
        m.insert("top_p".into(), t.into());
    }
    if let Some(s) = p.seed {
        m.insert("seed".into(), s.into());
    }
    if !p.stop.is_empty() {
        m.insert("stop".into(), p.stop.clone().into());
    }
    m
}

pub(crate) fn sampling(p: &GenParams) -> SamplingParams {
    let mut s = SamplingParams::greedy();
    if let Some(t) = p.temperature {
        s.temperature = t as f32;
    }
    if let Some(v) = p.top_p {
        s.top_p = v as f32;
    }
    if let Some(v) = p.seed {
        s.seed = v;
    }
    s
}

type Slot = Arc<OnceCell<Result<Arc<Backend>, BackendError>>>;

/// Backends by model id, loaded on first use.
pub struct Backends {
    models_dir: PathBuf,
    capacity: usize,
    slots: Mutex<HashMap<String, Slot>>,
}

impl Backends {
    /// No backend loaded yet; local queues hold `capacity` jobs.
    pub fn new(models_dir: PathBuf, capacity: usize) -> Self {
        Self {
            models_dir,
            capacity,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The backend for `spec`, loading it once.
    pub async fn get(&self, spec: &str) -> Result<Arc<Backend>, BackendError> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.entry(spec.to_string()).or_default().clone()
        };
        let dir = self.models_dir.clone();
        let cap = self.capacity;
        let owned = spec.to_string();
        slot.get_or_init(|| async move {
            tokio::task::spawn_blocking(move || Backend::load(&owned, &dir, cap).map(Arc::new))
                .await
                .unwrap_or_else(|e| Err(BackendError::Failed(e.to_string())))
        })
        .await
        .clone()
    }

    /// Engine counters per loaded local model.
    pub fn engine_stats(&self) -> Vec<(String, EngineSnapshot)> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<(String, EngineSnapshot)> = slots
            .iter()
            .filter_map(|(k, s)| match s.get() {
                Some(Ok(b)) => Some((k.clone(), b.engine_stats()?)),
                _ => None,
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}
