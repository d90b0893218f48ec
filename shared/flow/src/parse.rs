//! Source text → validated [`Workflow`]. (Stub: the helper fills this in.)

use crate::{ValidationError, Workflow};

/// Source format of a workflow file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML (a superset of JSON).
    Yaml,
    /// JSON.
    Json,
}

/// Parse and validate a workflow file. Errors name the line and the field.
pub fn parse(source: &str, format: Format) -> Result<Workflow, ValidationError> {
    let wf: Workflow = match format {
        Format::Yaml => yaml_serde::from_str(source).map_err(|e| ValidationError {
            line: None,
            column: None,
            field: None,
            message: e.to_string(),
        })?,
        Format::Json => serde_json::from_str(source).map_err(|e| ValidationError {
            line: Some(e.line()),
            column: Some(e.column()),
            field: None,
            message: e.to_string(),
        })?,
    };
    crate::validate::validate(&wf, Some(source))?;
    Ok(wf)
}
