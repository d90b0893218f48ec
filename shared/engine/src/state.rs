//! What the core decides on: one execution and its steps, as the router read them under the
//! execution's row lock (or as replay rebuilt them from the journal).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::{AttemptStatus, ExecutionStatus, StepStatus};

/// One execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// Its id.
    pub id: Uuid,
    /// The workflow's name.
    pub workflow: String,
    /// The workflow version it runs.
    pub version: i32,
    /// The triggering event's id.
    pub event_id: String,
    /// The triggering event (CloudEvent as JSON).
    pub event: Value,
    /// Manual-run inputs.
    pub inputs: Value,
    /// Its status.
    pub status: ExecutionStatus,
    /// When it started running.
    pub started_at: Option<DateTime<Utc>>,
    /// Its steps, in the workflow's order.
    pub steps: Vec<Step>,
    /// Its output once succeeded.
    pub output: Option<Value>,
    /// Its error once it failed, was cancelled or timed out.
    pub error: Option<Value>,
    /// The limits it gets where its workflow sets none (from its start).
    #[serde(default, skip_serializing_if = "Defaults::is_none")]
    pub defaults: Defaults,
}

/// The time limits a run and its steps get when the workflow sets none: the router's settings
/// when the run started, journaled with its start (so replay applies the same ones) and kept
/// with the run (so a change of settings never moves a running deadline). A task carries its
/// step's limit (its executor stops there); no timer row is written for a default limit: the
/// router's limit sweep finds the runs and attempts past theirs and fires their timeout then,
/// keeping a run's hot path free of timer writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Defaults {
    /// The run's `timeout`, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// The `timeout` of an attempt of an agent or `call` step, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_timeout_ms: Option<u64>,
}

impl Defaults {
    /// No limits.
    pub const NONE: Defaults = Defaults {
        timeout_ms: None,
        step_timeout_ms: None,
    };

    /// Whether there are none.
    pub fn is_none(&self) -> bool {
        *self == Self::NONE
    }

    /// The run's default timeout.
    pub fn timeout(&self) -> Option<std::time::Duration> {
        self.timeout_ms.map(std::time::Duration::from_millis)
    }

    /// An attempt's default timeout.
    pub fn step_timeout(&self) -> Option<std::time::Duration> {
        self.step_timeout_ms.map(std::time::Duration::from_millis)
    }
}

/// One step of an execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The step id.
    pub id: String,
    /// Its status.
    pub status: StepStatus,
    /// Attempts made so far.
    pub attempts: i32,
    /// Its output once succeeded.
    pub output: Option<Value>,
    /// Its error once it failed, was skipped or cancelled.
    pub error: Option<Value>,
    /// Its latest attempt, if any (none for a `foreach` step: its instances have attempts).
    pub attempt: Option<Attempt>,
    /// A `foreach` step's items, once it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fanout: Option<Fanout>,
}

/// A started `foreach` step: counts, and the items a decision may touch. The router reads the
/// items in flight and the next few to start (never all: a decision's cost stays flat in the
/// number of items), and the outputs only when the step may end with this decision; replay
/// holds them all.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Fanout {
    /// Items in all.
    pub total: u32,
    /// Items `[0, next)` have started.
    pub next: u32,
    /// Items that succeeded.
    pub succeeded: u32,
    /// Items that failed or timed out.
    pub failed: u32,
    /// Started items that have not ended (running, or waiting to retry), by index.
    pub open: Vec<Instance>,
    /// Items from `next` on, as many as the decision may start.
    pub pending: std::collections::VecDeque<Value>,
    /// The outputs of the items that succeeded, by index, as compact JSON, when the step may
    /// end with this decision (`None` otherwise). Kept as bytes, never as one tree of values:
    /// a list over [`crate::MAX_INLINE_OUTPUT`] becomes an artifact without being built.
    pub outputs: Option<std::collections::BTreeMap<u32, Vec<u8>>>,
}

/// One started item of a `foreach` step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// Its index in the list.
    pub index: u32,
    /// The item.
    pub item: Value,
    /// Attempts made so far.
    pub attempts: i32,
    /// Its latest attempt.
    pub attempt: Option<Attempt>,
}

impl Fanout {
    /// Whether every item has started and ended.
    pub fn done(&self) -> bool {
        self.next >= self.total && self.open.is_empty()
    }

    /// The open instance whose running attempt is `attempt`.
    pub fn running(&self, attempt: Uuid) -> Option<&Instance> {
        self.open.iter().find(|i| {
            i.attempt
                .is_some_and(|a| a.id == attempt && a.status == AttemptStatus::Running)
        })
    }
}

/// The latest attempt of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// Its id (the executor's idempotency key).
    pub id: Uuid,
    /// Its number, from 1.
    pub n: i32,
    /// Its status.
    pub status: AttemptStatus,
}

impl Step {
    /// A step that has not run.
    pub fn queued(id: &str) -> Self {
        Self {
            id: id.to_string(),
            status: StepStatus::Queued,
            attempts: 0,
            output: None,
            error: None,
            attempt: None,
            fanout: None,
        }
    }

    /// The attempt that is running now, if any.
    pub fn running_attempt(&self) -> Option<Attempt> {
        self.attempt.filter(|a| a.status == AttemptStatus::Running)
    }
}

impl Execution {
    /// A step by id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    pub(crate) fn step_mut(&mut self, id: &str) -> Option<&mut Step> {
        self.steps.iter_mut().find(|s| s.id == id)
    }

    /// A step's status.
    pub fn status_of(&self, id: &str) -> Option<StepStatus> {
        self.step(id).map(|s| s.status)
    }

    /// Whether every step has ended.
    pub fn all_steps_ended(&self) -> bool {
        self.steps.iter().all(|s| s.status.is_terminal())
    }
}

/// The id of attempt `n` of `step` in `execution`: derived, so a replayed decision names the
/// same attempt.
pub fn attempt_id(execution: Uuid, step: &str, n: i32) -> Uuid {
    Uuid::new_v5(&execution, format!("attempt/{step}/{n}").as_bytes())
}

/// The id of attempt `n` of item `index` of a `foreach` step.
pub fn instance_attempt_id(execution: Uuid, step: &str, index: u32, n: i32) -> Uuid {
    Uuid::new_v5(&execution, format!("attempt/{step}/{index}/{n}").as_bytes())
}

/// The id of a timer: derived from what it is for, so a replayed decision names the same timer.
pub fn timer_id(execution: Uuid, what: &str) -> Uuid {
    Uuid::new_v5(&execution, format!("timer/{what}").as_bytes())
}

impl Execution {
    /// An execution as it is created, before its start is decided: queued, without steps.
    pub fn created(
        id: Uuid,
        workflow: &str,
        version: i32,
        event_id: &str,
        event: Value,
        inputs: Value,
    ) -> Self {
        Self {
            id,
            workflow: workflow.to_string(),
            version,
            event_id: event_id.to_string(),
            event,
            inputs,
            status: ExecutionStatus::Queued,
            started_at: None,
            steps: Vec::new(),
            output: None,
            error: None,
            defaults: Defaults::NONE,
        }
    }
}
