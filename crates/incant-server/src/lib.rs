//! `incant serve`: a folder of prompt files behind an HTTP API, the prompts hidden.
//!
//! The prompt is the product: callers send inputs and get outputs, never the template, the
//! system message or the examples. This crate is the API half of `incant serve` (the web
//! UI lives in `incant-web` and is merged in by [`serve`]):
//!
//! - `POST /v1/prompts/{name}` and `/v1/prompts/{name}@{version}` ([`native`]): typed
//!   inputs validated (400 naming the field), output, usage, latency, cost, version; SSE
//!   with `"stream": true`, K alternatives with `"n": K`.
//! - OpenAI-compatible `/v1/chat/completions`, `/v1/completions`, `/v1/models`,
//!   `/v1/embeddings` ([`openai`]); errors in OpenAI's shape ([`error`]).
//! - Versions side by side, a default per prompt (highest, or pinned in `serve.yaml` or
//!   through `/v1/admin/pins/{name}`), reload on file change and on SIGHUP ([`registry`]).
//! - Leak filter on every output and error message ([`leak`]); local models behind a
//!   bounded engine queue ([`engine`]); response cache and coalescing ([`cache`]); keys,
//!   scopes and rate limits ([`auth`]); Prometheus metrics ([`metrics`]).
//!
//! The integrator calls [`serve`] with a [`ServeConfig`]; tests call [`app`] with an
//! [`AppState`] and drive it with `tower::ServiceExt::oneshot`, or [`serve_on`] with a
//! listener of their own and a shutdown future.

pub mod auth;
mod batch;
pub mod cache;
pub mod complete;
pub mod config;
pub mod engine;
pub mod error;
pub mod leak;
pub mod metrics;
pub mod native;
pub mod openai;
pub mod registry;
pub mod request;
pub mod state;

pub use auth::hash_key;
pub use config::{LeakAction, LeakConfig, ServeConfig, ServeFile};
pub use error::{ApiError, ServerError};
pub use state::{AppState, ReloadReport};

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Instant;

async fn not_found() -> ApiError {
    ApiError::not_found(
        None,
        "no such route (see /v1/models, /v1/prompts/{name}, /v1/chat/completions)",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// Counts statuses and, when asked, logs one line per request (never bodies or headers).
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    let code = resp.status().as_u16();
    state.metrics.status(code);
    if state.config.log_requests {
        eprintln!(
            "{method} {path} {code} {:.1} ms",
            start.elapsed().as_secs_f64() * 1e3
        );
    }
    resp
}

/// The API routes without a fallback (so another router can be merged in).
pub fn routes(state: AppState) -> Router {
    Router::new()
        .route(
            "/v1/prompts/{spec}",
            post(native::run_prompt).get(native::describe_prompt),
        )
        .route("/v1/chat/completions", post(openai::chat))
        .route("/v1/completions", post(openai::text))
        .route("/v1/models", get(openai::models))
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/v1/admin/prompts", get(native::admin_prompts))
        .route(
            "/v1/admin/pins/{name}",
            put(native::admin_pin).delete(native::admin_unpin),
        )
        .route("/v1/admin/reload", post(native::admin_reload))
        .route("/healthz", get(native::healthz))
        .route("/metrics", get(native::metrics))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// The whole API with a JSON 404 for unknown routes.
pub fn app(state: AppState) -> Router {
    app_with(state, None)
}

/// The API merged with `extra` (the web UI; it must not set a fallback of its own).
pub fn app_with(state: AppState, extra: Option<Router>) -> Router {
    let r = routes(state);
    let r = match extra {
        Some(x) => r.merge(x),
        None => r,
    };
    r.fallback(not_found)
}

/// Reloads when the folder changes (polled every `reload_interval`, unless it is zero) or on SIGHUP,
/// printing what changed; runs until the runtime stops.
pub fn spawn_reloader(state: AppState) {
    let dir = state.config.dir.clone();
    let every = state.config.reload_interval;
    tokio::spawn(async move {
        let mut last = registry::fingerprint(&dir);
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            #[cfg(unix)]
            let hangup = async {
                match hup.as_mut() {
                    Some(h) => {
                        h.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let hangup = std::future::pending::<()>();
            let poll = async {
                if every.is_zero() {
                    std::future::pending::<()>().await
                } else {
                    tokio::time::sleep(every).await
                }
            };
            let forced = tokio::select! {
                _ = poll => false,
                _ = hangup => true,
            };
            let d = dir.clone();
            let now = tokio::task::spawn_blocking(move || registry::fingerprint(&d))
                .await
                .unwrap_or(last);
            if now == last && !forced {
                continue;
            }
            last = now;
            let s = state.clone();
            match tokio::task::spawn_blocking(move || s.reload()).await {
                Ok(Ok(r)) => report_load(&r),
                Ok(Err(e)) => {
                    eprintln!("incant serve: reload failed, keeping the old settings: {e}")
                }
                Err(e) => eprintln!("incant serve: reload failed: {e}"),
            }
        }
    });
}

fn report_load(r: &ReloadReport) {
    eprintln!(
        "incant serve: serving {} prompts ({} versions)",
        r.prompts, r.versions
    );
    for i in &r.issues {
        eprintln!("incant serve: skipped {}: {}", i.path.display(), i.message);
    }
}

/// Serves on `listener` until `shutdown` completes, then finishes in-flight requests.
///
/// Connections are served by hyper with a header-read timeout (`client_timeout`), so a
/// client that trickles its request headers is cut off; the body has the same limit
/// (see [`AppState::read_body`]).
pub async fn serve_on<F>(
    listener: tokio::net::TcpListener,
    state: AppState,
    extra: Option<Router>,
    shutdown: F,
) -> Result<(), ServerError>
where
    F: Future<Output = ()> + Send + 'static,
{
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    let client_timeout = state.config.client_timeout;
    spawn_reloader(state.clone());
    let router = app_with(state, extra);
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(client_timeout);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((s, _)) => s,
                    // Out of file descriptors and the like: wait instead of spinning.
                    Err(_) => {
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let svc = TowerToHyperService::new(router.clone());
                let conn = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    eprintln!("incant serve: shutting down after in-flight requests");
}

/// `incant serve`: loads the folder, binds (loopback only without keys, saying so), serves
/// `extra` (the web UI) alongside the API, reloads on change and SIGHUP, and stops
/// gracefully on Ctrl-C or SIGTERM.
pub async fn serve(mut config: ServeConfig, extra: Option<Router>) -> Result<(), ServerError> {
    let state = AppState::new(config.clone())?;
    if !state.keys.enabled() && !config.host.is_loopback() {
        eprintln!(
            "incant serve: no API keys configured, so listening on 127.0.0.1 only (give --keys FILE or INCANT_API_KEYS to listen on {})",
            config.host
        );
        config.host = std::net::IpAddr::from([127, 0, 0, 1]);
    } else if !state.keys.enabled() {
        eprintln!("incant serve: no API keys configured: the API is open, on loopback only");
    }
    let addr = SocketAddr::new(config.host, config.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| ServerError::Bind {
            addr: addr.to_string(),
            source: e,
        })?;
    let reg = state.registry();
    report_load(&ReloadReport {
        prompts: reg.prompts.len(),
        versions: reg.prompts.values().map(|p| p.versions.len()).sum(),
        issues: reg.issues.clone(),
    });
    let local = listener.local_addr().map_err(|e| ServerError::Bind {
        addr: addr.to_string(),
        source: e,
    })?;
    eprintln!(
        "incant serve: {} on http://{local} (OpenAI base URL http://{local}/v1)",
        config.dir.display()
    );
    serve_on(listener, state, extra, shutdown_signal()).await
}
