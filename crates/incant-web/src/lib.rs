//! The web UI of `incant serve`: embedded static assets and a JSON API over the run store.
//!
//! [`router`] gives an axum [`Router`] that the server merges with its own API (the
//! OpenAI-compatible endpoints and `/v1/prompts/...`). It serves:
//!
//! - `/` and `/ui/...`: hand-written HTML, CSS and JavaScript compiled into the binary
//!   ([`assets`]); no framework, no external network. The pages call the served prompts
//!   through the same origin (`/v1/completions`, `/v1/prompts/{name}`, `/v1/models`).
//! - `/api/runs...` and `/api/compare`: the eval runs in the SQLite store
//!   ([`incant_store`]), read through per-run in-memory indexes ([`index`]) so that filtering
//!   and paging a 50,000-case run answers in milliseconds ([`api`]).
//!
//! By default the rendered prompt of each stored case is withheld from every response: the
//! server this router joins promises that hidden prompts never leave it.
//! [`WebState::with_rendered_prompts`] turns that on for a team-internal viewer.

pub mod api;
pub mod assets;
pub mod index;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::path::PathBuf;
use std::sync::Arc;

/// Everything that can go wrong while answering a UI or API request.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The store could not be read.
    #[error("run store: {0}")]
    Store(#[from] incant_store::StoreError),
    /// A run id that is not in the store (or there is no store yet).
    #[error("no run `{0}` in the store (hint: `GET /api/runs` lists the runs)")]
    NoSuchRun(String),
    /// A case index outside the run.
    #[error("run `{run}` has no case {index} (hint: cases are numbered from 0)")]
    NoSuchCase {
        /// The run.
        run: String,
        /// The index asked for.
        index: usize,
    },
    /// A query parameter with a value the API cannot use.
    #[error("query parameter `{name}`: {reason}")]
    BadQuery {
        /// The parameter.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A stored case whose JSON does not parse.
    #[error("run `{run}` case {index}: stored result is not valid JSON: {source}")]
    BadCase {
        /// The run.
        run: String,
        /// The case.
        index: usize,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A blocking task panicked or was cancelled.
    #[error("internal error: {0}")]
    Internal(String),
}

impl WebError {
    fn status(&self) -> StatusCode {
        match self {
            WebError::NoSuchRun(_) | WebError::NoSuchCase { .. } => StatusCode::NOT_FOUND,
            WebError::BadQuery { .. } => StatusCode::BAD_REQUEST,
            WebError::Store(_) | WebError::BadCase { .. } | WebError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

impl IntoResponse for WebError {
    /// Errors in OpenAI's shape, like the rest of the server: `{"error": {"message", "type"}}`.
    fn into_response(self) -> Response {
        let status = self.status();
        let kind = if status.is_client_error() {
            "invalid_request_error"
        } else {
            "server_error"
        };
        let body = serde_json::json!({
            "error": { "message": self.to_string(), "type": kind, "param": null, "code": null }
        });
        (status, Json(body)).into_response()
    }
}

/// What the UI's handlers share: where the store is and the indexes built from it.
#[derive(Clone)]
pub struct WebState {
    /// The SQLite run store (`.incant/incant.db`). It need not exist: the runs list is then
    /// empty, and the file is never created by the UI.
    pub store_path: PathBuf,
    /// Whether case details include the rendered prompt (off by default).
    pub rendered_prompts: bool,
    pub(crate) shared: Arc<index::Shared>,
}

impl WebState {
    /// A state reading the store at `store_path`, rendered prompts withheld.
    pub fn new(store_path: impl Into<PathBuf>) -> Self {
        Self {
            store_path: store_path.into(),
            rendered_prompts: false,
            shared: Arc::new(index::Shared::default()),
        }
    }

    /// Includes (or withholds) the rendered prompt in case details and searches.
    pub fn with_rendered_prompts(mut self, on: bool) -> Self {
        self.rendered_prompts = on;
        self
    }
}

/// The UI's routes: assets at `/` and `/ui/{file}`, the runs API under `/api`.
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(assets::index))
        .route("/ui/{*file}", get(assets::file))
        .route("/api/runs", get(api::runs))
        .route("/api/runs/{id}", get(api::run))
        .route("/api/runs/{id}/cases", get(api::cases))
        .route("/api/runs/{id}/cases/{n}", get(api::case))
        .route("/api/compare", get(api::compare))
        .with_state(state)
}
