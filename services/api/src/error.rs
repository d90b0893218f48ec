//! The one error type of the admin API and how it becomes an HTTP response.
//!
//! Consumes errors from the store, the bus, the router and `weft_flow`, plus axum's own
//! extractor rejections; produces JSON bodies `{"code": …, "message": …}` (with `line`,
//! `column` and `field` for invalid workflows). Server-side failures are logged with
//! `tracing` and answered with a generic message: a 5xx never leaks internals.

use axum::{
    Json,
    extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;
use weft_bus::BusError;
use weft_flow::ValidationError;
use weft_runtime::http::ErrorCode;
use weft_store::StoreError;

/// The code of a rejected workflow file (the API's own; every other code is an [`ErrorCode`]).
pub const INVALID_WORKFLOW: &str = "invalid_workflow";

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The workflow file was rejected (400 `invalid_workflow`).
    #[error(transparent)]
    InvalidWorkflow(#[from] ValidationError),
    /// The request is malformed (400 `bad_request`).
    #[error("{0}")]
    BadRequest(String),
    /// Text holding U+0000, which PostgreSQL cannot store (400 `invalid_text`); the message
    /// says where.
    #[error("text must not contain U+0000 (it cannot be stored); found {0}")]
    InvalidText(String),
    /// A name in the path outside its character set (400 `invalid_name`).
    #[error("{0}")]
    InvalidName(String),
    /// No such resource (404 `not_found`).
    #[error("{0}")]
    NotFound(String),
    /// The request contradicts the resource's state (409 `conflict`).
    #[error("{0}")]
    Conflict(String),
    /// The caller may not do this (403 `forbidden`).
    #[error("{0}")]
    Forbidden(String),
    /// The body's content type is not accepted (415 `unsupported_media_type`).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The route exists but not with this method (405 `method_not_allowed`).
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// The bus is down; the message says what was and was not done (503 `unavailable`).
    #[error("{message}")]
    Unavailable {
        /// Shown to the client.
        message: String,
        /// Logged only.
        cause: String,
    },
    /// An axum extractor refused the request (status kept, 4xx).
    #[error("{message}")]
    Rejected {
        /// Status chosen by axum.
        status: StatusCode,
        /// axum's explanation (about the request, never about the server).
        message: String,
    },
    /// The database failed (500 `internal`).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bus failed (503 `unavailable`).
    #[error(transparent)]
    Bus(#[from] BusError),
    /// Anything else on the server side (500 `internal`).
    #[error("{0}")]
    Internal(String),
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable code: `invalid_workflow`, `bad_request`, `invalid_text`,
    /// `invalid_name`, `forbidden`, `not_found`, `method_not_allowed`, `conflict`, `payload_too_large`,
    /// `unsupported_media_type`, `unprocessable_entity`, `request_timeout`, `headers_too_large`,
    /// `unavailable`, `internal`.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// Line of the workflow source at fault (`invalid_workflow`, and `invalid_text` in a
    /// workflow file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Column of the workflow source at fault (`invalid_workflow` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// Dotted path of the field at fault (`invalid_workflow` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    /// A 404 for `what` (e.g. "workflow `x`").
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    /// The status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidWorkflow(_)
            | Self::BadRequest(_)
            | Self::InvalidText(_)
            | Self::InvalidName(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable { .. } | Self::Bus(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Rejected { status, .. } => *status,
            Self::Store(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The body this error is answered with (logs server-side causes).
    fn body(&self) -> ErrorBody {
        let plain = |code: ErrorCode, message: String| ErrorBody {
            code: code.as_str(),
            message,
            line: None,
            column: None,
            field: None,
        };
        match self {
            Self::InvalidWorkflow(e) => ErrorBody {
                // U+0000 in the file is `invalid_text` like at every other door, still with
                // the line and the field.
                code: if e.message == weft_flow::parse::NUL_MESSAGE {
                    ErrorCode::InvalidText.as_str()
                } else {
                    INVALID_WORKFLOW
                },
                message: e.to_string(),
                line: e.line,
                column: e.column,
                field: e.field.clone(),
            },
            Self::BadRequest(m) => plain(ErrorCode::BadRequest, m.clone()),
            Self::InvalidText(_) => plain(ErrorCode::InvalidText, self.to_string()),
            Self::InvalidName(m) => plain(ErrorCode::InvalidName, m.clone()),
            Self::NotFound(m) => plain(ErrorCode::NotFound, m.clone()),
            Self::Conflict(m) => plain(ErrorCode::Conflict, m.clone()),
            Self::Forbidden(m) => plain(ErrorCode::Forbidden, m.clone()),
            Self::MethodNotAllowed => plain(ErrorCode::MethodNotAllowed, self.to_string()),
            Self::UnsupportedMediaType(m) => plain(ErrorCode::UnsupportedMediaType, m.clone()),
            Self::Unavailable { message, cause } => {
                tracing::warn!(error = %cause, "request failed: bus unavailable");
                plain(ErrorCode::Unavailable, message.clone())
            }
            Self::Bus(e) => {
                tracing::warn!(error = %e, "request failed: bus unavailable");
                plain(
                    ErrorCode::Unavailable,
                    "the event bus is unavailable; try again later".into(),
                )
            }
            // The one status → code mapping every listener shares.
            Self::Rejected { status, message } => {
                plain(ErrorCode::for_status(*status), message.clone())
            }
            Self::Store(_) | Self::Internal(_) => {
                tracing::error!(error = %self, "request failed: internal error");
                plain(
                    ErrorCode::Internal,
                    "internal error; see the server log".into(),
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), Json(self.body())).into_response()
    }
}

macro_rules! from_rejection {
    ($($t:ty),+) => {$(
        impl From<$t> for ApiError {
            fn from(r: $t) -> Self {
                let status = r.status();
                if status.is_server_error() {
                    return Self::Internal(r.body_text());
                }
                Self::Rejected { status, message: r.body_text() }
            }
        }
    )+};
}

from_rejection!(JsonRejection, PathRejection, QueryRejection, BytesRejection);
