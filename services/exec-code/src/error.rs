//! How a code step fails: the error classes of the executor contract that a code step can
//! end with. Consumes and touches nothing.

use serde::Serialize;

/// The class of a failed code step (snake_case on the wire, like the contract's codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The step's `with` is out of range (memory, timeout, size of script and inputs).
    BadInput,
    /// The script threw, had a syntax error, returned something that is not JSON, or awaited
    /// a promise that can never settle. Carries the line when known.
    Script,
    /// A limit of the sandbox: memory, stack (recursion), output size, CPU time.
    SandboxLimit,
    /// The script ran past its `timeout` (stopped by the interrupt handler, or killed).
    Timeout,
    /// The step was cancelled (or its deadline passed) while the script ran; it was killed.
    Cancelled,
    /// The sandbox could not start (bubblewrap missing or refused, runner binary unusable).
    Internal,
}

/// A failed code step. Every code but `internal` is permanent: running the same script on the
/// same inputs again fails the same way.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct CodeError {
    /// The class.
    pub code: ErrorCode,
    /// What happened, for the user.
    pub message: String,
    /// The script's line (1-based) where it threw, when known.
    pub line: Option<u32>,
    /// Log lines the runner dropped over the caps.
    pub logs_dropped: u64,
}

impl CodeError {
    /// An error without a line.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            line: None,
            logs_dropped: 0,
        }
    }

    /// Whether trying again may succeed (only a sandbox that could not start).
    pub fn retryable(&self) -> bool {
        self.code == ErrorCode::Internal
    }
}
