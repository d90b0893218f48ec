//! Step attempts and their results: the payloads of `weft.tasks.>` and `weft.results.>`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::ErrorCode;

/// One attempt of one step, sent by the router to `weft.tasks.<agent>`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Task {
    /// Unique per attempt; the idempotency key receivers see, the same on every redelivery.
    pub attempt_id: Uuid,
    /// Execution the step belongs to.
    pub execution_id: Uuid,
    /// Workflow name, for logs.
    pub workflow: String,
    /// Step id within the workflow.
    pub step_id: String,
    /// For a `foreach` step: the item's index in the list (each item has its own attempts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<u32>,
    /// Attempt number, from 1 (per item, for a `foreach` step).
    pub attempt: u32,
    /// The agent (`uses:`), e.g. `http`.
    pub agent: String,
    /// The step's `with:` block, expressions already evaluated.
    pub with: Value,
    /// How long the attempt may run, in milliseconds, when the step has a timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// W3C trace context of this attempt; executors pass it on (e.g. as an HTTP header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// The step's `heartbeat_timeout` in milliseconds: the executor must send a heartbeat at
    /// least this often while the attempt runs, or the router fails it as `timed_out`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_timeout_ms: Option<u64>,
}

/// Why a step attempt failed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepError {
    /// Machine-readable class (see [`ErrorCode`]).
    pub code: ErrorCode,
    /// What happened, for people.
    pub message: String,
    /// Whether another attempt may succeed (connection errors, timeouts, 429, 5xx).
    pub retryable: bool,
    /// Extra detail, e.g. the HTTP response of a failed call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl StepError {
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

    /// Attach detail (e.g. the response).
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }
}

/// What an attempt produced.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The step's output.
    Succeeded(Value),
    /// The step failed.
    Failed(StepError),
}

/// The result of one attempt, published by an executor to `weft.results.<agent>`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TaskResult {
    /// The attempt this answers.
    pub attempt_id: Uuid,
    /// Execution the step belongs to.
    pub execution_id: Uuid,
    /// Step id.
    pub step_id: String,
    /// Attempt number, from 1 (copied from the task).
    pub attempt: u32,
    /// What happened.
    pub outcome: Outcome,
    /// Lines the attempt logged (bounded by the executor), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<LogLine>,
    /// Lines the attempt logged beyond the bound, dropped.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub logs_dropped: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One line an attempt logged (`console.log` of a code step, an SMTP transcript summary…).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogLine {
    /// When it was written.
    pub at: chrono::DateTime<chrono::Utc>,
    /// The text, secrets masked.
    pub line: String,
}

/// "Still alive" from a running attempt, published by an executor to
/// `weft.results.<agent>` as `dev.weft.task.heartbeat` (see `docs/executors.md`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Heartbeat {
    /// The running attempt.
    pub attempt_id: Uuid,
    /// Its execution.
    pub execution_id: Uuid,
    /// Its step.
    pub step_id: String,
    /// The task's `heartbeat_timeout_ms`, copied: the next heartbeat is due within it.
    pub heartbeat_timeout_ms: u64,
}

/// "Stop this attempt", published by the router on core NATS to `weft.cancel.<agent>` as
/// `dev.weft.task.cancel` when an execution is cancelled or a step times out. Best effort: the
/// router has already recorded the attempt as ended and ignores a late result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Cancel {
    /// The attempt to stop.
    pub attempt_id: Uuid,
    /// Why, for the attempt's log.
    pub reason: String,
}

/// A blob in the artifact store, as steps and events carry it: small JSON that expressions
/// read and that executors accept wherever they take a file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArtifactRef {
    /// Opaque identifier within the store.
    pub id: String,
    /// File name.
    pub name: String,
    /// MIME type, e.g. `application/pdf`.
    pub content_type: String,
    /// Length in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
}
