//! Status values as stored (lowercase text) and shown by the API.

use serde::{Deserialize, Serialize};

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $v),+ }

        impl $name {
            /// The stored text.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),+ }
            }

            /// Parse the stored text.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$v),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// Status of an execution.
    ExecutionStatus {
        /// Accepted, not started yet.
        Queued = "queued",
        /// Steps are running.
        Running = "running",
        /// Every required step succeeded.
        Succeeded = "succeeded",
        /// A step failed.
        Failed = "failed",
        /// Cancelled by an operator.
        Cancelled = "cancelled",
        /// Ran past the workflow timeout.
        TimedOut = "timed_out",
    }
);

text_enum!(
    /// Status of a step.
    StepStatus {
        /// Waiting for its needs.
        Queued = "queued",
        /// An attempt is running or a retry is scheduled.
        Running = "running",
        /// Done.
        Succeeded = "succeeded",
        /// Failed for good.
        Failed = "failed",
        /// Not run: its `if` was false or a need did not succeed.
        Skipped = "skipped",
        /// The execution was cancelled or timed out first.
        Cancelled = "cancelled",
        /// Its last attempt ran past the step timeout.
        TimedOut = "timed_out",
    }
);

text_enum!(
    /// Status of one attempt of a step.
    AttemptStatus {
        /// Sent to the executor.
        Running = "running",
        /// Returned output.
        Succeeded = "succeeded",
        /// Returned an error.
        Failed = "failed",
        /// Ran past the step timeout.
        TimedOut = "timed_out",
        /// The execution ended first.
        Cancelled = "cancelled",
    }
);

impl ExecutionStatus {
    /// Whether the execution has ended.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }
}

impl StepStatus {
    /// Whether the step has ended.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }
}

text_enum!(
    /// What a durable timer does when it fires.
    TimerKind {
        /// Dispatch the next attempt of a step.
        Retry = "retry",
        /// An attempt ran past the step timeout.
        StepTimeout = "step_timeout",
        /// The execution ran past the workflow timeout.
        WorkflowTimeout = "workflow_timeout",
        /// An attempt sent no heartbeat within its step's `heartbeat_timeout` (each heartbeat
        /// pushes the timer back).
        HeartbeatTimeout = "heartbeat_timeout",
        /// A `sleep` or `until` step's time came: it succeeds.
        Wake = "wake",
        /// An `approval` step got no decision in time: it times out.
        ApprovalTimeout = "approval_timeout",
        /// A `wait` step's event did not come in time: it times out.
        WaitTimeout = "wait_timeout",
        /// A `foreach` step whose items ended as they started (none in flight) starts the next
        /// ones.
        Continue = "continue",
        /// The `call` step that started this (child) execution ended first (cancelled, timed
        /// out): the child is cancelled.
        Cancel = "cancel",
        /// A debounced run's group stayed quiet for the `debounce.period`: it starts (the
        /// router decides it as a start).
        Debounce = "debounce",
    }
);
