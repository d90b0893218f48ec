//! `on.workflow`: start when another workflow's execution ends.
//!
//! Consumes nothing (types only); produces the trigger model. The router matches it against the
//! `dev.weft.execution.*` lifecycle events, and the started execution's `event.data` is the
//! finished execution's `{execution_id, workflow, version, status, event_id, output, error}`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::OneOrMany;

/// `on.workflow`: `{name, status}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowTrigger {
    /// The upstream workflow's name. It need not exist yet: it may be applied later.
    pub name: String,
    /// The ending statuses that start this workflow, one or a list. Default `succeeded`.
    #[serde(default = "WorkflowTrigger::default_status")]
    pub status: OneOrMany<ExecutionOutcome>,
}

impl WorkflowTrigger {
    fn default_status() -> OneOrMany<ExecutionOutcome> {
        OneOrMany::One(ExecutionOutcome::Succeeded)
    }

    /// Whether an upstream execution of `workflow` ending in `status` starts this trigger.
    pub fn matches(&self, workflow: &str, status: &str) -> bool {
        self.name == workflow && self.status.as_slice().iter().any(|s| s.as_str() == status)
    }
}

/// How an execution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionOutcome {
    /// Every required step succeeded.
    Succeeded,
    /// A step failed.
    Failed,
    /// An operator cancelled it.
    Cancelled,
    /// It ran past the workflow `timeout`.
    TimedOut,
}

impl ExecutionOutcome {
    /// The status as written in lifecycle events and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::TimedOut => "timed_out",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_defaults_to_succeeded_and_takes_a_list() {
        let t: WorkflowTrigger = serde_json::from_str(r#"{"name": "up"}"#).expect("trigger");
        assert!(t.matches("up", "succeeded"));
        assert!(!t.matches("up", "failed"));
        assert!(!t.matches("other", "succeeded"));
        let t: WorkflowTrigger =
            serde_json::from_str(r#"{"name": "up", "status": ["failed", "timed_out"]}"#)
                .expect("trigger");
        assert!(t.matches("up", "timed_out"));
        assert!(!t.matches("up", "succeeded"));
        assert!(
            serde_json::from_str::<WorkflowTrigger>(r#"{"name": "up", "status": "done"}"#).is_err()
        );
    }
}
