//! The step graph. (Stub: the helper fills this in.)

use crate::Workflow;

/// Steps nothing depends on, in file order.
pub fn sinks(wf: &Workflow) -> Vec<&str> {
    wf.steps
        .keys()
        .filter(|id| !wf.steps.values().any(|s| s.needs.iter().any(|n| n == *id)))
        .map(String::as_str)
        .collect()
}
