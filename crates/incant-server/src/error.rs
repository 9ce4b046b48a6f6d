//! Errors: [`ServerError`] for starting the server, [`ApiError`] for answers, always in
//! OpenAI's shape `{"error": {"message", "type", "param", "code"}}` with the matching
//! status (and `Retry-After` for 429 and 503). Messages name fields, prompts and versions,
//! never prompt text.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::path::PathBuf;

/// A failure to start or configure the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A settings or keys file is wrong.
    #[error("{}: {message} (hint: {hint})", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
        /// What to do.
        hint: String,
    },
    /// The served folder does not exist.
    #[error("{}: not a folder (hint: give the folder that holds the prompt files, e.g. examples/quickstart)", .0.display())]
    NoDir(PathBuf),
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source} (hint: pick another --port)")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// An error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Human message.
    pub message: String,
    /// OpenAI's `type`.
    pub kind: &'static str,
    /// The offending parameter.
    pub param: Option<String>,
    /// A stable code.
    pub code: Option<&'static str>,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
            retry_after: None,
        }
    }

    /// 400: a bad request, naming the parameter.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            message.into(),
        );
        e.param = Some(param.into());
        e
    }

    /// 400 for a body that is not the JSON expected.
    pub fn bad_json(message: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            message.into(),
        );
        e.code = Some("invalid_json");
        e
    }

    /// 404 for an unknown prompt, version, model or route.
    pub fn not_found(param: Option<&str>, message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::NOT_FOUND, "invalid_request_error", message);
        e.param = param.map(str::to_string);
        e.code = Some("model_not_found");
        e
    }

    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "authentication_error", message);
        e.code = Some("invalid_api_key");
        e
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::FORBIDDEN, "permission_error", message);
        e.code = Some("forbidden");
        e
    }

    /// 429 with `Retry-After`.
    pub fn rate_limited(seconds: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            format!("rate limit reached for this key; retry in {seconds} s"),
        );
        e.code = Some("rate_limit_exceeded");
        e.retry_after = Some(seconds);
        e
    }

    /// 503 with `Retry-After`.
    pub fn busy(message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "server_error", message);
        e.code = Some("overloaded");
        e.retry_after = Some(1);
        e
    }

    /// 413.
    pub fn too_large(limit: usize) -> Self {
        let mut e = Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!("the request body is larger than {limit} bytes"),
        );
        e.code = Some("request_too_large");
        e
    }

    /// 408 for a client that sends its body too slowly.
    pub fn client_timeout() -> Self {
        let mut e = Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request_error",
            "the request body did not arrive in time",
        );
        e.code = Some("request_timeout");
        e
    }

    /// 504 for a model that took too long.
    pub fn upstream_timeout(seconds: u64) -> Self {
        let mut e = Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "server_error",
            format!("the model did not answer within {seconds} s"),
        );
        e.code = Some("timeout");
        e
    }

    /// 500/502: a failure inside the server or the model.
    pub fn internal(status: StatusCode, message: impl Into<String>) -> Self {
        Self::new(status, "server_error", message)
    }

    /// 405.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            "this method is not allowed on this path",
        )
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(self.body())).into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}
