//! Why an attempt failed: one code from the executors' documented set and a message.
//!
//! Consumes nothing; produces [`TransformError`] and its wire form, a `StepError` with one of
//! the executors' documented `ErrorCode`s.

use std::fmt;

use weft_executor::{ErrorCode, StepError};

/// The error classes this agent produces (names as on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// `with` does not fit: `input` is not JSON / not an artifact of JSON, both or neither of
    /// `jq` and `map`, a program that does not compile.
    BadInput,
    /// The jq program or a CEL expression of `map` failed while running (an `error(…)`, a type
    /// error, a missing key, `halt`…). Permanent: running it again gives the same failure.
    Transform,
    /// The `input` artifact does not exist in the store.
    ArtifactNotFound,
    /// Over an evaluation limit: time, steps, stack depth, size of one value, size of the input.
    SandboxLimit,
    /// The result is larger than allowed (bytes or number of values).
    OutputTooLarge,
    /// The attempt was cancelled (router cancel or the step's deadline).
    Cancelled,
    /// The artifact store failed (not a missing artifact). Retryable.
    Store,
    /// A fault of this executor, not of the step. Retryable.
    Internal,
}

impl Code {
    /// The code as written in results.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BadInput => "bad_input",
            Code::Transform => "transform",
            Code::ArtifactNotFound => "artifact_not_found",
            Code::SandboxLimit => "sandbox_limit",
            Code::OutputTooLarge => "output_too_large",
            Code::Cancelled => "cancelled",
            Code::Store => "artifacts",
            Code::Internal => "internal",
        }
    }
}

/// A failed attempt. Every code of this agent is permanent (not retried) except
/// [`Code::Store`] and [`Code::Internal`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformError {
    /// The class.
    pub code: Code,
    /// What happened, for a person.
    pub message: String,
}

impl TransformError {
    /// An error of class `code`.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// Whether running the attempt again could succeed.
    pub fn retryable(&self) -> bool {
        matches!(self.code, Code::Store | Code::Internal)
    }

    /// The executors' wire form.
    pub fn into_step_error(self) -> StepError {
        let code = match self.code {
            Code::BadInput => ErrorCode::BadInput,
            Code::Transform => ErrorCode::Transform,
            Code::ArtifactNotFound => ErrorCode::ArtifactNotFound,
            Code::SandboxLimit => ErrorCode::SandboxLimit,
            Code::OutputTooLarge => ErrorCode::OutputTooLarge,
            Code::Cancelled => ErrorCode::Cancelled,
            Code::Store => ErrorCode::Artifacts,
            Code::Internal => ErrorCode::Internal,
        };
        if self.retryable() {
            StepError::retryable(code, self.message)
        } else {
            StepError::permanent(code, self.message)
        }
    }

    /// From the executors' wire form (an artifact store's error).
    pub fn from_step_error(e: StepError) -> Self {
        let code = match e.code {
            ErrorCode::ArtifactNotFound => Code::ArtifactNotFound,
            _ if e.retryable => Code::Store,
            _ => Code::BadInput,
        };
        Self::new(code, e.message)
    }
}

impl fmt::Display for TransformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for TransformError {}
