//! The OpenAI-compatible API: `/v1/chat/completions`, `/v1/completions`, `/v1/models`
//! and `/v1/embeddings`, so any OpenAI client can call a served prompt by name.
//!
//! `model` is a served prompt (`name` or `name@version`; the caller's messages fill its
//! inputs as [`crate::request`] documents) or a plain model id the server allows (one a
//! served prompt names, or listed under `models:` in `serve.yaml`): then the messages go
//! to the model as they are. Streams are `chat.completion.chunk` / `text_completion`
//! Server-Sent Events ending with `data: [DONE]`.

use crate::complete::{Completion, Prepared, StreamEvent, Target};
use crate::error::ApiError;
use crate::request::{content_text, inputs_from_text, options, parse_object};
use crate::state::{check_scope, AppState};
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use incant_prompt::Message;
use serde_json::{json, Map, Value};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio_stream::wrappers::UnboundedReceiverStream;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn new_id(prefix: &str) -> String {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{:x}{n:06x}", now() & 0xffff_ffff)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Chat,
    Text,
}

/// What the caller wants as the prompt's input: a text (and suffix) or explicit inputs.
struct Caller {
    text: String,
    suffix: Option<String>,
    messages: Vec<Message>,
}

fn model_of(m: &Map<String, Value>) -> Result<String, ApiError> {
    match m.get("model") {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(ApiError::invalid(
            "model",
            "`model` must name a served prompt or model",
        )),
    }
}

fn caller_chat(m: &Map<String, Value>) -> Result<Caller, ApiError> {
    let Some(Value::Array(list)) = m.get("messages") else {
        return Err(ApiError::invalid(
            "messages",
            "`messages` must be a list of messages",
        ));
    };
    if list.is_empty() {
        return Err(ApiError::invalid("messages", "`messages` is empty"));
    }
    let mut messages = Vec::with_capacity(list.len());
    for (i, msg) in list.iter().enumerate() {
        let param = format!("messages[{i}]");
        let role = msg
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::invalid(&param, "each message needs a `role`"))?;
        if !["system", "developer", "user", "assistant"].contains(&role) {
            return Err(ApiError::invalid(
                format!("{param}.role"),
                format!("unsupported role `{role}`"),
            ));
        }
        let content = content_text(msg.get("content").unwrap_or(&Value::Null), &param)?;
        messages.push(Message {
            role: if role == "developer" { "system" } else { role }.into(),
            content,
        });
    }
    let text = messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .map(|m| m.content.clone())
        .ok_or_else(|| ApiError::invalid("messages", "no `user` message"))?;
    Ok(Caller {
        text,
        suffix: None,
        messages,
    })
}

fn caller_text(m: &Map<String, Value>) -> Result<Caller, ApiError> {
    let text = match m.get("prompt") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) if a.len() == 1 && a[0].is_string() => {
            a[0].as_str().unwrap_or_default().to_string()
        }
        _ => {
            return Err(ApiError::invalid(
                "prompt",
                "`prompt` must be a string (or a list of one string)",
            ))
        }
    };
    let suffix = match m.get("suffix") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ApiError::invalid("suffix", "`suffix` must be a string")),
    };
    Ok(Caller {
        messages: vec![Message {
            role: "user".into(),
            content: text.clone(),
        }],
        text,
        suffix,
    })
}

fn usage(c: &Completion) -> Value {
    json!({
        "prompt_tokens": c.prompt_tokens,
        "completion_tokens": c.completion_tokens,
        "total_tokens": c.prompt_tokens + c.completion_tokens,
    })
}

fn extension(c: &Completion) -> Value {
    json!({"prompt": c.version.as_ref().map(|_| &c.name), "version": c.version, "model": c.model,
           "cost": c.cost, "cached": c.cached, "engine_ms": c.engine_ms, "prefill_ms": c.prefill_ms, "queue_ms": c.queue_ms})
}

fn response_json(kind: Kind, model: &str, c: &Completion) -> Value {
    let choices: Vec<Value> = c
        .choices
        .iter()
        .enumerate()
        .map(|(i, ch)| match kind {
            Kind::Chat => json!({"index": i, "message": {"role": "assistant", "content": ch.text},
                                 "logprobs": null, "finish_reason": ch.finish_reason}),
            Kind::Text => json!({"index": i, "text": ch.text, "logprobs": null,
                                 "finish_reason": ch.finish_reason}),
        })
        .collect();
    let (prefix, object) = match kind {
        Kind::Chat => ("chatcmpl", "chat.completion"),
        Kind::Text => ("cmpl", "text_completion"),
    };
    json!({"id": new_id(prefix), "object": object, "created": now(), "model": model,
           "choices": choices, "usage": usage(c), "system_fingerprint": null, "incant": extension(c)})
}

async fn completions(
    state: AppState,
    headers: HeaderMap,
    body: Body,
    kind: Kind,
) -> Result<Response, ApiError> {
    let key = state.authenticate(&headers)?;
    let bytes = state.read_body(&headers, body).await?;
    let m = parse_object(&bytes)?;
    let model = model_of(&m)?;
    let opts = options(&m)?;
    let caller = match kind {
        Kind::Chat => caller_chat(&m)?,
        Kind::Text => caller_text(&m)?,
    };
    let target = if state.plain_models().contains(&model) {
        check_scope(key.as_ref(), &model)?;
        Target::Model(model.clone(), caller.messages, kind == Kind::Chat)
    } else {
        let served = state
            .registry()
            .resolve(&model, &state.pins())
            .map_err(|e| ApiError::not_found(Some("model"), e.to_string()))?;
        check_scope(key.as_ref(), &served.file.name)?;
        let inputs = match m.get("inputs") {
            Some(Value::Object(o)) => o.clone(),
            Some(_) => {
                return Err(ApiError::invalid(
                    "inputs",
                    "`inputs` must be a JSON object",
                ))
            }
            None => inputs_from_text(
                &served.file,
                &caller.text,
                caller.suffix.as_deref(),
                if kind == Kind::Chat {
                    "messages"
                } else {
                    "prompt"
                },
            )?,
        };
        Target::Prompt(served, inputs)
    };
    let prepared = Prepared::new(&state, target, &opts)?;
    if opts.stream {
        return Ok(stream_response(kind, model, prepared.stream(&state)));
    }
    let endpoint = if kind == Kind::Chat { "chat" } else { "text" };
    let c = prepared.run(&state, endpoint, &bytes).await?;
    Ok(Json(response_json(kind, &model, &c)).into_response())
}

fn stream_response(
    kind: Kind,
    model: String,
    rx: tokio::sync::mpsc::UnboundedReceiver<StreamEvent>,
) -> Response {
    let (prefix, object) = match kind {
        Kind::Chat => ("chatcmpl", "chat.completion.chunk"),
        Kind::Text => ("cmpl", "text_completion"),
    };
    let id = new_id(prefix);
    let created = now();
    let mut started = std::collections::HashSet::new();
    let chunk = move |choice: Value| {
        Event::default().data(
            json!({"id": id, "object": object, "created": created, "model": model,
                   "system_fingerprint": null, "choices": [choice]})
            .to_string(),
        )
    };
    let events = UnboundedReceiverStream::new(rx).map(move |ev| {
        let ev = match ev {
            StreamEvent::Text { index, text } => match kind {
                Kind::Chat => {
                    let mut delta = json!({"content": text});
                    if started.insert(index) {
                        delta["role"] = json!("assistant");
                    }
                    chunk(json!({"index": index, "delta": delta, "logprobs": null, "finish_reason": null}))
                }
                Kind::Text => chunk(
                    json!({"index": index, "text": text, "logprobs": null, "finish_reason": null}),
                ),
            },
            StreamEvent::End {
                index,
                finish_reason,
            } => match kind {
                Kind::Chat => chunk(json!({"index": index, "delta": {}, "logprobs": null,
                                           "finish_reason": finish_reason})),
                Kind::Text => chunk(json!({"index": index, "text": "", "logprobs": null,
                                           "finish_reason": finish_reason})),
            },
            StreamEvent::Done(_) => Event::default().data("[DONE]"),
            StreamEvent::Error(e) => Event::default().data(e.body().to_string()),
        };
        Ok::<_, Infallible>(ev)
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// `POST /v1/chat/completions`.
pub async fn chat(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    completions(state, headers, body, Kind::Chat).await
}

/// `POST /v1/completions`.
pub async fn text(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    completions(state, headers, body, Kind::Text).await
}

/// `GET /v1/models`: served prompt names (`name` and each `name@version`) and the plain
/// models allowed; never prompt text.
pub async fn models(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let key = state.authenticate(&headers)?;
    let reg = state.registry();
    let pins = state.pins();
    let allowed = |n: &str| key.as_ref().is_none_or(|k| k.allows(n));
    let mut data = Vec::new();
    for (name, p) in reg.prompts.iter().filter(|(n, _)| allowed(n)) {
        let versions: Vec<String> = p.versions.keys().map(|v| v.to_string()).collect();
        data.push(json!({"id": name, "object": "model", "created": 0, "owned_by": "incant",
                         "versions": versions,
                         "default_version": reg.default_version(name, &pins).map(|v| v.to_string())}));
        for v in &versions {
            data.push(
                json!({"id": format!("{name}@{v}"), "object": "model", "created": 0,
                             "owned_by": "incant"}),
            );
        }
    }
    for m in state.plain_models().iter().filter(|m| allowed(m)) {
        data.push(json!({"id": m, "object": "model", "created": 0, "owned_by": "incant"}));
    }
    Ok(Json(json!({"object": "list", "data": data})))
}

/// `POST /v1/embeddings` with an embedding model `serve.yaml` allows (`local:minilm`).
pub async fn embeddings(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let key = state.authenticate(&headers)?;
    let bytes = state.read_body(&headers, body).await?;
    let m = parse_object(&bytes)?;
    let model = model_of(&m)?;
    if !state.settings().embedding_models.contains(&model) {
        return Err(ApiError::not_found(
            Some("model"),
            format!(
                "`{model}` is not an embedding model served here (served: {})",
                state.settings().embedding_models.join(", ")
            ),
        ));
    }
    check_scope(key.as_ref(), &model)?;
    let texts: Vec<String> = match m.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a))
            if !a.is_empty() && a.len() <= 256 && a.iter().all(Value::is_string) =>
        {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        }
        _ => {
            return Err(ApiError::invalid(
                "input",
                "`input` must be a string or a list of 1 to 256 strings",
            ))
        }
    };
    let backend = state.backends.get(&model).await.map_err(|e| {
        ApiError::internal(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    })?;
    let vectors = backend
        .embed(texts)
        .await
        .map_err(|e| ApiError::internal(axum::http::StatusCode::BAD_GATEWAY, e.to_string()))?;
    let data: Vec<Value> = vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v}))
        .collect();
    Ok(Json(json!({"object": "list", "data": data, "model": model,
                   "usage": {"prompt_tokens": 0, "total_tokens": 0}})))
}
