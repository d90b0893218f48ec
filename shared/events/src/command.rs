//! Run commands: what the admin API asks the router to do to an execution, as CloudEvents of
//! type [`crate::types::COMMAND`] on [`crate::subjects::COMMANDS_EXECUTIONS`]. The API checks
//! what it can first (the execution exists, has not ended, the step waits, the person may
//! decide) and answers 202; the router decides the command under the execution's lock, where a
//! command that no longer applies (the run ended meanwhile) changes nothing.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Cancel the execution (and its children, waits and running attempts).
    Cancel {
        /// The execution.
        execution_id: Uuid,
        /// Why, shown as its error message.
        reason: String,
    },
    /// A person's decision on an `approval` step.
    Decide {
        /// The execution.
        execution_id: Uuid,
        /// The step.
        step: String,
        /// Approved or rejected.
        approved: bool,
        /// Who decided.
        by: String,
        /// Their comment.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
}

impl Command {
    /// The execution it is for.
    pub fn execution_id(&self) -> Uuid {
        match self {
            Self::Cancel { execution_id, .. } | Self::Decide { execution_id, .. } => *execution_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_names_its_kind() {
        let c = Command::Cancel {
            execution_id: Uuid::nil(),
            reason: "stop".into(),
        };
        let json = serde_json::to_value(&c).expect("json");
        assert_eq!(json["kind"], "cancel");
        let back: Command = serde_json::from_value(json).expect("back");
        assert_eq!(back, c);
    }
}
