//! Why an email attempt failed: [`EmailError`], a code from the executors' shared set, a
//! message for people, whether another attempt may succeed, and optional details (the server's
//! answer, the refused recipients).
//!
//! Consumes lettre's SMTP errors and our own checks; produces values that map one to one onto
//! the executor contract's `StepError`. Touches nothing.

use serde::Serialize;
use serde_json::Value;

/// The error classes this agent produces (names as on the wire, `snake_case`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The `with` block cannot make a message: a bad address, no recipient, bad base64, a
    /// forbidden header. Never retryable.
    BadInput,
    /// No SMTP session: DNS, TCP, TLS handshake. Retryable, except a TLS setup that cannot
    /// work (e.g. an untrusted certificate).
    Connect,
    /// The server answered with an error: 4xx retryable, 5xx not. Details carry the answer.
    Smtp,
    /// The server did not answer in time. Retryable.
    Timeout,
    /// An attachment reference names no artifact. Never retryable.
    ArtifactNotFound,
    /// The attempt was cancelled (router cancel or the step's deadline).
    Cancelled,
    /// A bug or an environment problem on our side.
    Internal,
}

impl ErrorCode {
    /// The wire name, e.g. `bad_input`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadInput => "bad_input",
            ErrorCode::Connect => "connect",
            ErrorCode::Smtp => "smtp",
            ErrorCode::Timeout => "timeout",
            ErrorCode::ArtifactNotFound => "artifact_not_found",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::Internal => "internal",
        }
    }
}

/// A failed attempt.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct EmailError {
    /// The class.
    pub code: ErrorCode,
    /// What happened, for people (names the address, attachment or server answer).
    pub message: String,
    /// Whether another attempt may succeed.
    pub retryable: bool,
    /// Extra detail, e.g. `{"code": 550, "response": "…"}` or the refused recipients.
    pub details: Option<Value>,
}

impl EmailError {
    /// A failure another attempt may fix.
    pub fn retryable(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retryable: true,
            details: None,
        }
    }

    /// A failure no retry will fix.
    pub fn permanent(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retryable: false,
            details: None,
        }
    }

    /// `bad_input`, permanent.
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::permanent(ErrorCode::BadInput, message)
    }

    /// Attach detail.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }
}
