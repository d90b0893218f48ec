//! What a decision does: the router writes these in the transaction that holds the execution's
//! lock (and queues the messages in the outbox); replay applies them to the state only.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;
use weft_events::Task;

use crate::{AttemptStatus, ExecutionStatus, StepStatus, TimerKind};

/// One effect of a decision, in the order they must be applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A queued execution starts running (its steps are created `queued`).
    ExecutionStarted,
    /// The execution keeps the default limits it started with.
    DefaultsSet(crate::Defaults),
    /// A step changes without an attempt: skipped, failed before running (an expression
    /// error, a task too large), or cancelled.
    StepSet {
        /// The step.
        step: String,
        /// Its new status.
        status: StepStatus,
        /// Its output.
        output: Option<Value>,
        /// Its error.
        error: Option<Value>,
    },
    /// A `foreach` step's output is larger than [`crate::MAX_INLINE_OUTPUT`]: the router stores
    /// `bytes` (the JSON list) in the artifact store before the step's output, `reference`,
    /// is written (replay only checks the reference).
    OutputStored {
        /// The step.
        step: String,
        /// What the artifact store calls the bytes.
        reference: weft_events::ArtifactRef,
        /// The step's output as JSON.
        bytes: Vec<u8>,
    },
    /// A `foreach` step starts: one instance per item, none started yet; the step is
    /// `running`.
    FanoutStarted {
        /// The step.
        step: String,
        /// Its items.
        items: Vec<Value>,
    },
    /// Attempt `n` of a step (or of one item of a `foreach` step: the task's `instance`) is
    /// sent to its executor; the step (or item) is `running`.
    Dispatch(Box<Task>),
    /// Attempt `n` of a step failed before it was sent (e.g. its task is too large for the
    /// bus): recorded as ended at once.
    AttemptRefused {
        /// The attempt.
        attempt_id: Uuid,
        /// Its step.
        step: String,
        /// Its number.
        n: i32,
        /// Its item, for a `foreach` step (which stays `running`: the item failed).
        instance: Option<u32>,
        /// Why.
        error: Value,
    },
    /// A running attempt ended; with `step_status` `None` the step stays `running` (a retry is
    /// scheduled).
    AttemptEnded {
        /// The attempt.
        attempt_id: Uuid,
        /// Its step.
        step: String,
        /// How it ended.
        status: AttemptStatus,
        /// Its item, for a `foreach` step: `step_status` is then the item's.
        instance: Option<u32>,
        /// The step's (or item's) new status, when it ended with the attempt.
        step_status: Option<StepStatus>,
        /// Output.
        output: Option<Value>,
        /// Error.
        error: Option<Value>,
    },
    /// A `wait` step starts waiting (it is `running`): the router records the wait, and
    /// offers the step the events kept since `since` that may match, each as an
    /// [`crate::Input::Event`] decided in the same transaction.
    WaitStarted {
        /// The step.
        step: String,
        /// The earliest arrival that still counts (the start minus the step's `window`).
        since: DateTime<Utc>,
    },
    /// Schedule a durable timer.
    TimerSet(Timer),
    /// Drop the timers of an attempt (it ended before them).
    TimersDroppedForAttempt(Uuid),
    /// Drop every timer of the execution (it ended).
    TimersDropped,
    /// Tell the executor running an attempt to stop (published after the commit).
    Stop {
        /// The agent running it.
        agent: String,
        /// The attempt.
        attempt_id: Uuid,
        /// Why.
        reason: String,
    },
    /// The execution failed and runs its `on_failure` steps: it keeps running with `error`, and
    /// `steps` are created `queued`.
    Failing {
        /// The execution's error.
        error: Option<Value>,
        /// The `on_failure` step ids.
        steps: Vec<String>,
    },
    /// The execution ends.
    ExecutionEnded {
        /// How.
        status: ExecutionStatus,
        /// Its output, when it succeeded.
        output: Option<Value>,
        /// Its error otherwise.
        error: Option<Value>,
    },
    /// Publish the execution's lifecycle event for `status` (`Running` = started).
    Lifecycle {
        /// The status it reached.
        status: ExecutionStatus,
        /// Its output.
        output: Option<Value>,
        /// Its error.
        error: Option<Value>,
    },
}

/// A durable timer.
#[derive(Debug, Clone, PartialEq)]
pub struct Timer {
    /// Its id (derived from what it is for).
    pub id: Uuid,
    /// What it does.
    pub kind: TimerKind,
    /// Its step.
    pub step: Option<String>,
    /// Its attempt.
    pub attempt_id: Option<Uuid>,
    /// Its item (a retry of one item of a `foreach` step).
    pub instance: Option<u32>,
    /// When it fires.
    pub due_at: DateTime<Utc>,
}
