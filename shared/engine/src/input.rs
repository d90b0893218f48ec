//! What the core decides on besides the state: one input, with the time it was decided at.
//! The journal of an execution is the list of these, in order.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;
use weft_events::StepError;

use crate::{Defaults, TimerKind};

/// One input and when it was decided on: a journal entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The decision's time: every time the decision writes (timers' due times) comes from it.
    pub at: DateTime<Utc>,
    /// The input.
    pub input: Input,
}

/// Something that happened to an execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Input {
    /// Start it: a new execution (created `running` with every step queued) or a queued one
    /// (a manual run, a buffered schedule tick), with the limits it gets where its workflow
    /// sets none.
    Start {
        /// The router's default limits at the start.
        #[serde(default, skip_serializing_if = "Defaults::is_none")]
        defaults: Defaults,
        /// Steps that start already ended, as an earlier run left them (a rerun `from` a
        /// step keeps everything upstream of it).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        kept: Vec<Kept>,
    },
    /// An executor's result for an attempt.
    Result {
        /// The attempt.
        attempt_id: Uuid,
        /// Its step.
        step: String,
        /// Its number.
        n: i32,
        /// What it returned. Left out of the journal (`None`): the ended attempt's row holds
        /// it, and replay reads it from there. A result without it decides nothing.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outcome: Option<Outcome>,
    },
    /// A durable timer fired.
    Timer {
        /// What it does.
        timer: TimerKind,
        /// Its step (retries, step and heartbeat timeouts).
        step: Option<String>,
        /// Its attempt (step and heartbeat timeouts).
        attempt_id: Option<Uuid>,
        /// The item of a `foreach` step (its retries).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<u32>,
    },
    /// A person decided an `approval` step.
    Decision {
        /// The step.
        step: String,
        /// Approved (`true`) or rejected.
        approved: bool,
        /// Who decided.
        by: String,
        /// Their comment.
        comment: Option<String>,
    },
    /// An event arrived that a `wait` step may be waiting for (the router found the step by
    /// the event's `type`; the core checks the rest).
    Event {
        /// The step.
        step: String,
        /// The event (CloudEvent as JSON).
        event: Value,
    },
    /// Fail it before it starts (its workflow `if` could not be evaluated, its workflow was
    /// deleted while it waited).
    Refuse {
        /// The execution's error.
        error: Value,
    },
    /// An operator (or an overlap policy) cancels it.
    Cancel {
        /// Why, shown as the execution's error message.
        reason: String,
    },
}

impl Input {
    /// A start without default limits.
    pub const START: Input = Input::Start {
        defaults: Defaults::NONE,
        kept: Vec::new(),
    };
}

/// A step kept from an earlier run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kept {
    /// The step.
    pub id: String,
    /// How it ended (`succeeded` or `skipped`).
    pub status: crate::StepStatus,
    /// Its output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Its error (a skipped step's reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

/// What an attempt returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Its output.
    Succeeded(Value),
    /// Its error.
    Failed(StepError),
}
