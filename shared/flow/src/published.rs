//! The form in which an applied workflow is announced to triggers and routers (the value of the
//! `weft_workflows` key-value bucket, keyed by name).

use serde::{Deserialize, Serialize};

use crate::Workflow;

/// An active workflow at its current version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Published {
    /// Current version number.
    pub version: i32,
    /// The definition.
    pub workflow: Workflow,
}
