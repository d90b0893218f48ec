//! JSON Schema of the workflow file, generated from the types. (Stub.)

/// The schema as pretty JSON.
pub fn workflow_schema_json() -> String {
    let schema = schemars::schema_for!(crate::Workflow);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}
