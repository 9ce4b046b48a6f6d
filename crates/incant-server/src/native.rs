//! incant's own API: `POST /v1/prompts/{name}` (or `{name}@{version}`) with the prompt's
//! typed inputs, the admin calls (list, pin, unpin, reload), `/healthz` and `/metrics`.
//!
//! Request: `{"inputs": {...}, "stream", "n", "max_tokens", "temperature", "top_p",
//! "seed", "stop", "provider"}` (`provider`: run the prompt on another model the server
//! allows, for side-by-side comparisons). Response: `{"prompt", "version", "model", "output",
//! "finish_reason", "alternatives": [{"output", "finish_reason"}] (when n > 1), "usage",
//! "latency_ms", "engine_ms", "prefill_ms", "queue_ms", "cost", "cached"}`. With `"stream": true`,
//! Server-Sent Events: `token` events `{"index", "text"}`, `end` events `{"index",
//! "finish_reason"}`, then one `done` event with the response above (or `error`).

use crate::complete::{Completion, Prepared, StreamEvent, Target};
use crate::error::ApiError;
use crate::request::{options, parse_object};
use crate::state::{check_scope, AppState};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use std::convert::Infallible;
use std::time::Instant;
use tokio_stream::wrappers::UnboundedReceiverStream;

/// Top-level fields the native API accepts.
const FIELDS: &[&str] = &[
    "inputs",
    "stream",
    "n",
    "max_tokens",
    "temperature",
    "top_p",
    "seed",
    "stop",
    "provider",
];

/// The native response body.
pub fn completion_json(c: &Completion, latency_ms: f64) -> Value {
    let mut v = json!({
        "prompt": c.name,
        "version": c.version,
        "model": c.model,
        "output": c.choices.first().map(|c| c.text.as_str()).unwrap_or(""),
        "finish_reason": c.choices.first().map(|c| c.finish_reason),
        "usage": {
            "prompt_tokens": c.prompt_tokens,
            "completion_tokens": c.completion_tokens,
            "total_tokens": c.prompt_tokens + c.completion_tokens,
        },
        "latency_ms": latency_ms,
        "engine_ms": c.engine_ms,
        "prefill_ms": c.prefill_ms,
        "queue_ms": c.queue_ms,
        "cost": c.cost,
        "cached": c.cached,
    });
    if c.choices.len() > 1 {
        v["alternatives"] = c
            .choices
            .iter()
            .map(|ch| json!({"output": ch.text, "finish_reason": ch.finish_reason}))
            .collect();
    }
    v
}

/// `POST /v1/prompts/{spec}`.
pub async fn run_prompt(
    State(state): State<AppState>,
    Path(spec): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let start = Instant::now();
    let key = state.authenticate(&headers)?;
    let bytes = state.read_body(&headers, body).await?;
    let served = state
        .registry()
        .resolve(&spec, &state.pins())
        .map_err(|e| ApiError::not_found(Some("name"), e.to_string()))?;
    check_scope(key.as_ref(), &served.file.name)?;
    let m = parse_object(&bytes)?;
    if let Some(k) = m.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::invalid(
            k.as_str(),
            format!("unknown field `{k}` (accepted: {})", FIELDS.join(", ")),
        ));
    }
    let inputs = match m.get("inputs") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(_) => {
            return Err(ApiError::invalid(
                "inputs",
                "`inputs` must be a JSON object",
            ))
        }
    };
    let opts = options(&m)?;
    let prepared = Prepared::new(&state, Target::Prompt(served, inputs), &opts)?;
    if opts.stream {
        let rx = prepared.stream(&state);
        let events = UnboundedReceiverStream::new(rx).map(move |ev| {
            Ok::<_, Infallible>(match ev {
                StreamEvent::Text { index, text } => Event::default()
                    .event("token")
                    .data(json!({"index": index, "text": text}).to_string()),
                StreamEvent::End {
                    index,
                    finish_reason,
                } => Event::default()
                    .event("end")
                    .data(json!({"index": index, "finish_reason": finish_reason}).to_string()),
                StreamEvent::Done(c) => Event::default()
                    .event("done")
                    .data(completion_json(&c, start.elapsed().as_secs_f64() * 1e3).to_string()),
                StreamEvent::Error(e) => Event::default().event("error").data(e.body().to_string()),
            })
        });
        return Ok(Sse::new(events)
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    let c = prepared.run(&state, "native", &bytes).await?;
    Ok(Json(completion_json(&c, start.elapsed().as_secs_f64() * 1e3)).into_response())
}

/// `GET /v1/prompts/{name}[@version]`: what a client needs to call the prompt (its
/// versions, the default, its kind, its typed inputs: the API's schema, and the providers
/// it may be run on), never its text.
pub async fn describe_prompt(
    State(state): State<AppState>,
    Path(spec): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let key = state.authenticate(&headers)?;
    let pins = state.pins();
    let reg = state.registry();
    let served = reg
        .resolve(&spec, &pins)
        .map_err(|e| ApiError::not_found(Some("name"), e.to_string()))?;
    check_scope(key.as_ref(), &served.file.name)?;
    let name = &served.file.name;
    let own = served
        .file
        .model
        .clone()
        .or_else(|| state.settings().default_model.clone());
    let versions: Vec<String> = reg
        .prompts
        .get(name)
        .map(|p| p.versions.keys().map(ToString::to_string).collect())
        .unwrap_or_default();
    Ok(Json(json!({
        "name": name,
        "version": served.version.to_string(),
        "versions": versions,
        "default_version": reg.default_version(name, &pins).map(|v| v.to_string()),
        "kind": served.file.kind,
        "inputs": describe_inputs(&served.file.inputs),
        "providers": crate::complete::allowed_providers(&state, own.as_deref()),
    })))
}

/// The typed inputs as clients read them: unset fields left out, `required` made explicit
/// (an input is required unless it says otherwise or has a default).
fn describe_inputs(inputs: &std::collections::BTreeMap<String, incant_prompt::InputSpec>) -> Value {
    let mut out = Map::new();
    for (name, spec) in inputs {
        let mut v = serde_json::to_value(spec).unwrap_or_default();
        if let Value::Object(m) = &mut v {
            m.retain(|_, x| !x.is_null());
            m.insert(
                "required".into(),
                Value::Bool(spec.required.unwrap_or(spec.default.is_none())),
            );
        }
        out.insert(name.clone(), v);
    }
    Value::Object(out)
}

fn require_admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    match state.authenticate(headers)? {
        Some(k) if !k.admin => Err(ApiError::forbidden("this key is not an admin key")),
        _ => Ok(()),
    }
}

/// `GET /v1/admin/prompts`: names, versions, defaults and pins (never prompt text).
pub async fn admin_prompts(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    require_admin(&state, &headers)?;
    let reg = state.registry();
    let pins = state.pins();
    let prompts: Vec<Value> = reg
        .prompts
        .iter()
        .map(|(name, p)| {
            json!({
                "name": name,
                "versions": p.versions.keys().map(|v| v.to_string()).collect::<Vec<_>>(),
                "default": reg.default_version(name, &pins).map(|v| v.to_string()),
                "pinned": pins.get(name).or(p.file_pin.as_ref()).map(|v| v.to_string()),
            })
        })
        .collect();
    let issues: Vec<Value> = reg
        .issues
        .iter()
        .map(|i| json!({"file": i.path.display().to_string(), "message": i.message}))
        .collect();
    Ok(Json(json!({"prompts": prompts, "issues": issues})))
}

/// `PUT /v1/admin/pins/{name}` with `{"version": "1.0.0"}`: the default version from now
/// on (roll back by pinning the older one); kept across reloads.
pub async fn admin_pin(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    require_admin(&state, &headers)?;
    let bytes = state.read_body(&headers, body).await?;
    let m = parse_object(&bytes)?;
    let v = m
        .get("version")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid("version", "send {\"version\": \"X.Y.Z\"}"))?;
    let served = state
        .registry()
        .resolve(&format!("{name}@{v}"), &state.pins())
        .map_err(|e| ApiError::not_found(Some("version"), e.to_string()))?;
    state
        .admin_pins
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name.clone(), served.version.clone());
    Ok(Json(
        json!({"name": name, "default": served.version.to_string()}),
    ))
}

/// `DELETE /v1/admin/pins/{name}`: back to `serve.yaml`'s pin or the highest version.
pub async fn admin_unpin(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    require_admin(&state, &headers)?;
    state
        .admin_pins
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&name);
    let default = state
        .registry()
        .default_version(&name, &state.pins())
        .map(|v| v.to_string());
    Ok(Json(json!({"name": name, "default": default})))
}

/// `POST /v1/admin/reload`: re-reads the folder now.
pub async fn admin_reload(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    require_admin(&state, &headers)?;
    let r = state
        .reload()
        .map_err(|e| ApiError::internal(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(
        json!({"prompts": r.prompts, "versions": r.versions, "issues": r.issues.len()}),
    ))
}

/// `GET /healthz`.
pub async fn healthz(State(state): State<AppState>) -> Json<Value> {
    let reg = state.registry();
    Json(json!({"status": "ok", "prompts": reg.prompts.len()}))
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let text = state
        .metrics
        .render(&state.backends.engine_stats(), state.cache.len());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
