//! One generation request from either API, from resolved target to filtered answer.
//!
//! Both the native API and the OpenAI-compatible one come here with a [`Target`] (a served
//! prompt version with its validated inputs, or a plain model with the caller's messages)
//! and [`GenOptions`]. Non-streamed requests go through the cache and the coalescer;
//! streamed ones go straight to the backend with the leak filter on every piece. Every
//! output passes the leak filter before it leaves; error messages are scrubbed too.

use crate::cache::CacheKey;
use crate::engine::{BackendError, GenJob, GenOutput, GenParams};
use crate::error::ApiError;
use crate::leak::{self, StreamFilter};
use crate::registry::Served;
use crate::state::AppState;
use axum::http::StatusCode;
use incant_prompt::{Message, PromptKind};
use serde_json::{Map, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

/// What to run.
#[derive(Clone)]
pub enum Target {
    /// A served prompt version and the caller's inputs (validated later).
    Prompt(Arc<Served>, Map<String, Value>),
    /// A plain model id and the caller's messages.
    Model(String, Vec<Message>, bool),
}

/// The serve.yaml input guard: every string input the caller gave is scanned for prompt
/// injection when the guard is on for `prompt`; the first flagged one is a 400.
fn guard_inputs(
    state: &AppState,
    prompt: &str,
    inputs: &Map<String, Value>,
) -> Result<(), ApiError> {
    static GUARD: std::sync::OnceLock<incant_guard::Guard> = std::sync::OnceLock::new();
    let Some(threshold) = state.settings().guard.threshold_for(prompt) else {
        return Ok(());
    };
    let guard = GUARD.get_or_init(|| incant_guard::Guard::new(Default::default()));
    for (field, value) in inputs {
        let Some(text) = value.as_str() else { continue };
        let scan = guard.scan_input(text);
        if scan.score >= threshold {
            let why = scan
                .reasons
                .first()
                .map(|r| format!(": {}", r.detail))
                .unwrap_or_default();
            return Err(ApiError::invalid(
                format!("inputs.{field}"),
                format!(
                    "input `{field}` was flagged as a prompt injection (score {:.2} >= {threshold}){why}",
                    scan.score
                ),
            ));
        }
    }
    Ok(())
}

/// Request options shared by both APIs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenOptions {
    /// Alternatives wanted.
    pub n: usize,
    /// Token limit.
    pub max_tokens: Option<usize>,
    /// Temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Seed.
    pub seed: Option<u64>,
    /// Stop strings.
    pub stop: Option<Vec<String>>,
    /// Stream the answer.
    pub stream: bool,
    /// Run a served prompt on this provider instead of the model its file names (one the
    /// server allows: the prompt's own model or one in serve.yaml's `models:`).
    pub provider: Option<String>,
}

/// Temperature used for alternatives (`n` > 1) when neither the request nor the prompt
/// sets one: greedy decoding would give the same text K times.
pub const ALTERNATIVES_TEMPERATURE: f64 = 0.8;

/// One alternative.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// The filtered text.
    pub text: String,
    /// `stop`, `length` or `content_filter`.
    pub finish_reason: &'static str,
}

/// A finished answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The prompt name (or the model id for plain calls).
    pub name: String,
    /// The prompt version (`None` for plain calls).
    pub version: Option<String>,
    /// The model that answered.
    pub model: String,
    /// The alternatives.
    pub choices: Vec<Choice>,
    /// Prompt tokens (of one alternative).
    pub prompt_tokens: usize,
    /// Generated tokens (all alternatives).
    pub completion_tokens: usize,
    /// Dollars.
    pub cost: Option<f64>,
    /// Model time, ms.
    pub engine_ms: f64,
    /// Of which prompt reading (prefill), ms.
    pub prefill_ms: f64,
    /// Queue time, ms.
    pub queue_ms: f64,
    /// Served from the cache.
    pub cached: bool,
}

/// A request ready to run.
pub struct Prepared {
    target: Target,
    model: String,
    job: GenJob,
    n: usize,
    cacheable: bool,
}

fn num(m: &Map<String, Value>, k: &str) -> Option<f64> {
    m.get(k).and_then(Value::as_f64)
}

fn stop_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    }
}

/// The providers a prompt may run on: its own model first, then serve.yaml's `models:`.
/// Nothing else is accepted, so a client cannot send a hidden prompt to a provider the
/// operator did not choose.
pub(crate) fn allowed_providers(state: &AppState, own: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = own.map(String::from).into_iter().collect();
    for m in &state.settings().models {
        if !out.contains(m) {
            out.push(m.clone());
        }
    }
    out
}

/// `provider` when the server lets a prompt run on it.
fn allowed_provider(state: &AppState, own: Option<&str>, p: &str) -> Result<String, ApiError> {
    let allowed = allowed_providers(state, own);
    if allowed.iter().any(|m| m == p) {
        return Ok(p.to_string());
    }
    Err(ApiError::invalid(
        "provider",
        format!(
            "provider `{p}` is not served here (allowed: {}; add it to `models:` in serve.yaml)",
            if allowed.is_empty() {
                "none".to_string()
            } else {
                allowed.join(", ")
            }
        ),
    ))
}

impl Prepared {
    /// Validates the inputs, renders the prompt and settles the parameters.
    pub fn new(state: &AppState, target: Target, opts: &GenOptions) -> Result<Self, ApiError> {
        let (messages, chat, model, defaults) = match &target {
            Target::Prompt(served, inputs) => {
                let file = &served.file;
                let vars = incant_prompt::inputs::validate(&file.inputs, inputs).map_err(|e| {
                    ApiError::invalid(
                        format!("inputs.{}", e.field),
                        format!("input `{}` {}", e.field, e.reason),
                    )
                })?;
                guard_inputs(state, &file.name, inputs)?;
                // Render errors can quote the template: say only that it failed.
                let rendered = file.render(&vars).map_err(|_| {
                    ApiError::internal(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!(
                            "prompt `{}` {} could not be rendered with these inputs (see the server's prompt file)",
                            file.name, served.version
                        ),
                    )
                })?;
                let own = file
                    .model
                    .clone()
                    .or_else(|| state.settings().default_model.clone());
                let model = match &opts.provider {
                    Some(p) => Some(allowed_provider(state, own.as_deref(), p)?),
                    None => own,
                }
                    .ok_or_else(|| {
                        ApiError::internal(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            format!(
                                "prompt `{}` names no model (set `model:` in it or `default_model` in serve.yaml)",
                                file.name
                            ),
                        )
                    })?;
                (
                    rendered.messages,
                    file.kind == PromptKind::Chat,
                    model,
                    file.params.clone(),
                )
            }
            Target::Model(model, messages, chat) => {
                (messages.clone(), *chat, model.clone(), Map::new())
            }
        };
        let n = opts.n.max(1);
        let mut temperature = opts.temperature.or_else(|| num(&defaults, "temperature"));
        if n > 1 && temperature.is_none() {
            temperature = Some(ALTERNATIVES_TEMPERATURE);
        }
        let seed = opts
            .seed
            .or_else(|| defaults.get("seed").and_then(Value::as_u64));
        let params = GenParams {
            max_tokens: opts
                .max_tokens
                .or_else(|| {
                    defaults
                        .get("max_tokens")
                        .or_else(|| defaults.get("maxTokens"))
                        .and_then(Value::as_u64)
                        .map(|v| v as usize)
                })
                .unwrap_or(256),
            temperature,
            top_p: opts.top_p.or_else(|| num(&defaults, "top_p")),
            seed,
            stop: opts
                .stop
                .clone()
                .unwrap_or_else(|| stop_list(defaults.get("stop"))),
        };
        let cacheable = temperature.is_none_or(|t| t == 0.0) || seed.is_some();
        Ok(Self {
            target,
            model,
            job: GenJob {
                messages,
                chat,
                params,
            },
            n,
            cacheable,
        })
    }

    fn served(&self) -> Option<&Arc<Served>> {
        match &self.target {
            Target::Prompt(s, _) => Some(s),
            Target::Model(..) => None,
        }
    }

    fn job_for(&self, i: usize) -> GenJob {
        let mut job = self.job.clone();
        if i > 0 {
            job.params.seed = Some(job.params.seed.unwrap_or(0).wrapping_add(i as u64));
        }
        job
    }

    fn names(&self) -> (String, Option<String>) {
        match &self.target {
            Target::Prompt(s, _) => (s.file.name.clone(), Some(s.version.to_string())),
            Target::Model(m, ..) => (m.clone(), None),
        }
    }

    /// Turns a backend failure into an answer without prompt text in it.
    fn backend_error(&self, state: &AppState, e: BackendError) -> ApiError {
        let scrub = |m: String| match self.served() {
            Some(s) => leak::scrub(&s.leak, &state.settings().leak, &m),
            None => m,
        };
        match e {
            BackendError::QueueFull(m) => {
                ApiError::busy(format!("the model `{m}` is busy; retry shortly"))
            }
            BackendError::Config(m) => {
                ApiError::internal(StatusCode::INTERNAL_SERVER_ERROR, scrub(m))
            }
            BackendError::Invalid { param, message } => ApiError::invalid(param, scrub(message)),
            BackendError::Failed(m) => ApiError::internal(StatusCode::BAD_GATEWAY, scrub(m)),
        }
    }

    fn filter_choice(&self, state: &AppState, out: &GenOutput) -> Choice {
        let Some(served) = self.served() else {
            return Choice {
                text: out.text.clone(),
                finish_reason: out.finish_reason,
            };
        };
        let f = leak::filter(&served.leak, &state.settings().leak, &out.text);
        if f.blocked || f.redacted > 0 {
            state.metrics.leaks_filtered.fetch_add(1, Ordering::Relaxed);
        }
        Choice {
            text: f.text,
            finish_reason: if f.blocked {
                "content_filter"
            } else {
                out.finish_reason
            },
        }
    }

    async fn run_uncached(&self, state: &AppState) -> Result<Completion, ApiError> {
        let backend = state
            .backends
            .get(&self.model)
            .await
            .map_err(|e| self.backend_error(state, e))?;
        let (name, version) = self.names();
        let mut c = Completion {
            name,
            version,
            model: self.model.clone(),
            choices: Vec::with_capacity(self.n),
            prompt_tokens: 0,
            completion_tokens: 0,
            cost: Some(0.0),
            engine_ms: 0.0,
            prefill_ms: 0.0,
            queue_ms: 0.0,
            cached: false,
        };
        let timeout = state.config.upstream_timeout;
        // The alternatives run at once: a local model decodes them in one batch.
        let calls = (0..self.n).map(|i| backend.generate(self.job_for(i), None));
        let outs = tokio::time::timeout(timeout, futures_util::future::join_all(calls))
            .await
            .map_err(|_| ApiError::upstream_timeout(timeout.as_secs()))?;
        for out in outs {
            let out = out.map_err(|e| self.backend_error(state, e))?;
            c.choices.push(self.filter_choice(state, &out));
            add_usage(&mut c, &out);
        }
        Ok(c)
    }

    /// Runs a non-streamed request through the cache and the coalescer; `endpoint` and
    /// `body` make the cache key.
    pub async fn run(
        self,
        state: &AppState,
        endpoint: &str,
        body: &[u8],
    ) -> Result<Arc<Completion>, ApiError> {
        let start = Instant::now();
        if !self.cacheable {
            let c = Arc::new(self.run_uncached(state).await?);
            observe(state, &c, start);
            return Ok(c);
        }
        let (hash, version) = match self.served() {
            Some(s) => (s.source_hash, s.version.to_string()),
            None => (0, String::new()),
        };
        let key = CacheKey::new(&[
            endpoint.as_bytes(),
            self.model.as_bytes(),
            version.as_bytes(),
            &hash.to_le_bytes(),
            body,
        ]);
        if let Some(hit) = state.cache.get(&key) {
            state.metrics.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(hit);
        }
        let (result, shared) = state
            .coalescer
            .run(&key, || async {
                let c = self.run_uncached(state).await?;
                let c = Arc::new(c);
                let mut cached = (*c).clone();
                cached.cached = true;
                state.cache.put(key.clone(), Arc::new(cached));
                Ok(c)
            })
            .await;
        if shared {
            state.metrics.coalesced.fetch_add(1, Ordering::Relaxed);
        } else {
            state.metrics.cache_misses.fetch_add(1, Ordering::Relaxed);
            if let Ok(c) = &result {
                observe(state, c, start);
            }
        }
        result
    }

    /// Runs a streamed request: events arrive on the returned channel until `Done` or
    /// `Error`. Dropping the receiver (client gone) stops the work at the next piece.
    pub fn stream(self, state: &AppState) -> mpsc::UnboundedReceiver<StreamEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        let state = state.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            match self.stream_inner(&state, &tx).await {
                Ok(Some(c)) => {
                    observe(&state, &c, start);
                    let _ = tx.send(StreamEvent::Done(Arc::new(c)));
                }
                Ok(None) => {}
                Err(e) => {
                    let _ = tx.send(StreamEvent::Error(e));
                }
            }
        });
        rx
    }

    async fn stream_inner(
        &self,
        state: &AppState,
        tx: &mpsc::UnboundedSender<StreamEvent>,
    ) -> Result<Option<Completion>, ApiError> {
        let backend = state
            .backends
            .get(&self.model)
            .await
            .map_err(|e| self.backend_error(state, e))?;
        let settings = state.settings();
        let (name, version) = self.names();
        let mut c = Completion {
            name,
            version,
            model: self.model.clone(),
            choices: Vec::new(),
            prompt_tokens: 0,
            completion_tokens: 0,
            cost: Some(0.0),
            engine_ms: 0.0,
            prefill_ms: 0.0,
            queue_ms: 0.0,
            cached: false,
        };
        let deadline = tokio::time::Instant::now() + state.config.upstream_timeout;
        for i in 0..self.n {
            let (ptx, mut prx) = mpsc::unbounded_channel::<String>();
            let gen = backend.generate(self.job_for(i), Some(ptx));
            tokio::pin!(gen);
            let mut filter = self
                .served()
                .map(|s| StreamFilter::new(&s.leak, &s.prefixes, &settings.leak));
            let mut text = String::new();
            let send = |piece: String, text: &mut String| -> bool {
                if piece.is_empty() {
                    return true;
                }
                text.push_str(&piece);
                tx.send(StreamEvent::Text {
                    index: i,
                    text: piece,
                })
                .is_ok()
            };
            let out = loop {
                tokio::select! {
                    biased;
                    piece = prx.recv() => {
                        let Some(piece) = piece else { break (&mut gen).await };
                        let piece = match filter.as_mut() {
                            Some(f) => f.push(&piece),
                            None => piece,
                        };
                        if !send(piece, &mut text) {
                            return Ok(None);
                        }
                    }
                    out = &mut gen => break out,
                    _ = tokio::time::sleep_until(deadline) => {
                        return Err(ApiError::upstream_timeout(state.config.upstream_timeout.as_secs()));
                    }
                }
            };
            let out = out.map_err(|e| self.backend_error(state, e))?;
            // Pieces sent before the end may still be queued.
            while let Ok(piece) = prx.try_recv() {
                let piece = match filter.as_mut() {
                    Some(f) => f.push(&piece),
                    None => piece,
                };
                if !send(piece, &mut text) {
                    return Ok(None);
                }
            }
            let mut finish = out.finish_reason;
            if let Some(f) = filter.as_mut() {
                let rest = f.finish();
                if !send(rest, &mut text) {
                    return Ok(None);
                }
                if f.blocked {
                    finish = "content_filter";
                }
                if f.blocked || f.redacted > 0 {
                    state.metrics.leaks_filtered.fetch_add(1, Ordering::Relaxed);
                }
            }
            if tx
                .send(StreamEvent::End {
                    index: i,
                    finish_reason: finish,
                })
                .is_err()
            {
                return Ok(None);
            }
            c.choices.push(Choice {
                text,
                finish_reason: finish,
            });
            add_usage(&mut c, &out);
        }
        Ok(Some(c))
    }

    /// How many alternatives.
    pub fn n(&self) -> usize {
        self.n
    }
}

fn add_usage(c: &mut Completion, out: &GenOutput) {
    c.prompt_tokens = out.prompt_tokens;
    c.completion_tokens += out.completion_tokens;
    c.cost = match (c.cost, out.cost) {
        (Some(a), Some(b)) => Some(a + b),
        _ => None,
    };
    c.engine_ms += out.engine_ms;
    c.prefill_ms += out.prefill_ms;
    c.queue_ms += out.queue_ms;
}

fn observe(state: &AppState, c: &Completion, start: Instant) {
    state.metrics.observe(
        &c.name,
        c.version.as_deref().unwrap_or(""),
        start.elapsed().as_secs_f64(),
        (c.prompt_tokens, c.completion_tokens),
        c.cost.unwrap_or(0.0),
    );
}

/// What a stream sends.
#[derive(Debug, Clone)]
pub enum StreamEvent {
    /// A filtered piece of alternative `index`.
    Text {
        /// Which alternative.
        index: usize,
        /// The piece.
        text: String,
    },
    /// Alternative `index` ended.
    End {
        /// Which alternative.
        index: usize,
        /// Why.
        finish_reason: &'static str,
    },
    /// Everything ended.
    Done(Arc<Completion>),
    /// The request failed.
    Error(ApiError),
}
