//! The UI's static files, compiled into the binary so `incant serve` needs nothing on disk
//! and the browser needs nothing from the network.
//!
//! The files live in the crate's `assets/` folder and are plain HTML, CSS and ES modules
//! (no build step). They are served with their content type, `no-cache` (the binary's
//! version is the only version) and a strict content security policy: same-origin scripts,
//! styles and requests only.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// Every embedded file: name under `/ui/`, content type, bytes.
pub const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../assets/index.html"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../assets/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/app.js"),
    ),
    (
        "util.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/util.js"),
    ),
    (
        "editor.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/editor.js"),
    ),
    (
        "runs.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/runs.js"),
    ),
    (
        "playground.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/playground.js"),
    ),
];

const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

fn serve(name: &str) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, mime, body)) => (
            [
                (header::CONTENT_TYPE, *mime),
                (header::CACHE_CONTROL, "no-cache"),
                (header::CONTENT_SECURITY_POLICY, CSP),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            *body,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("no UI file `{name}`"),
        )
            .into_response(),
    }
}

/// `GET /`: the single page.
pub async fn index() -> Response {
    serve("index.html")
}

/// `GET /ui/{file}`.
pub async fn file(Path(name): Path<String>) -> Response {
    serve(&name)
}
