//! Semantic checks. (Stub: the helper fills this in.)

use crate::{ValidationError, Workflow};

/// Check names, ids, `needs`, cycles and expressions.
pub fn validate(_wf: &Workflow, _source: Option<&str>) -> Result<(), ValidationError> {
    Ok(())
}
