//! Step attempts and their results: the payloads of `weft.tasks.>` and `weft.results.>`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

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
    /// Attempt number, from 1.
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
}

/// Why a step attempt failed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepError {
    /// Machine-readable class, e.g. `http_status`, `connect`, `timeout`, `bad_input`.
    pub code: String,
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
    pub fn retryable(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            retryable: true,
            details: None,
        }
    }

    /// A failure no retry will fix.
    pub fn permanent(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
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
}
