//! The errors `POST /hooks/{path}` and `POST /events` answer with, as JSON `{"code", "message"}` responses.
//!
//! Consumes nothing; produces HTTP responses and the `outcome` label of the request counter.
//! A 5xx never carries internals: those are logged where they happen.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use weft_runtime::http::{ErrorCode, error_response};

/// Why a webhook request was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The workflows bucket has not been read yet.
    #[error("the webhook registry is still loading; try again shortly")]
    NotReady,
    /// No published workflow listens on the path.
    #[error("no workflow listens on /hooks/{path}")]
    NotFound {
        /// The requested path.
        path: String,
    },
    /// The body is larger than `max_body_bytes`.
    #[error("the body is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The request failed the path's `on.webhook.auth` (every workflow's, when several listen).
    #[error("{0}")]
    Unauthorized(String),
    /// The request is malformed (invalid JSON with a JSON content type, bad query, …).
    #[error("{0}")]
    BadRequest(String),
    /// Text in the request holds U+0000, which Weft cannot store; the message names where.
    #[error("{0}")]
    InvalidText(String),
    /// The event could not be stored on the bus; nothing was accepted.
    #[error("the event bus is unavailable; nothing was accepted, try again")]
    Unavailable,
}

impl HookError {
    /// HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotReady | Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadRequest(_) | Self::InvalidText(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        }
    }

    /// Machine-readable code in the body (the codes every listener shares).
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotReady | Self::Unavailable => ErrorCode::Unavailable,
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::TooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::InvalidText(_) => ErrorCode::InvalidText,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
        }
    }

    /// Label of the request counter.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::NotReady => "not_ready",
            Self::Unavailable => "unavailable",
            Self::NotFound { .. } => "not_found",
            Self::TooLarge { .. } => "too_large",
            Self::BadRequest(_) => "bad_request",
            Self::InvalidText(_) => "invalid_text",
            Self::Unauthorized(_) => "unauthorized",
        }
    }
}

impl From<crate::incoming::IncomingError> for HookError {
    fn from(e: crate::incoming::IncomingError) -> Self {
        match e {
            crate::incoming::IncomingError::Nul { .. } => Self::InvalidText(e.to_string()),
            _ => Self::BadRequest(e.to_string()),
        }
    }
}

impl IntoResponse for HookError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = error_response(status, self.code(), &self.to_string());
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
