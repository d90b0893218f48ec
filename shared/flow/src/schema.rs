//! JSON Schema of the workflow file, generated from the types with `schemars`.
//!
//! Consumes the model's types; produces the schema as pretty JSON. The committed copy lives
//! at `schemas/workflow.schema.json` (repository root); a test fails when it differs from
//! what the types generate. Regenerate it with
//! `WEFT_BLESS=1 cargo test -p weft-flow schema`.

/// Where the committed schema lives, from this crate's directory.
pub const SCHEMA_PATH: &str = "../../schemas/workflow.schema.json";

/// The schema as pretty JSON, ending with a newline.
pub fn workflow_schema_json() -> String {
    let schema = schemars::schema_for!(crate::Workflow);
    let mut json = serde_json::to_string_pretty(&schema).unwrap_or_default();
    json.push('\n');
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From `CARGO_MANIFEST_DIR` as set when the test runs (see `weft_testkit::repo_root`).
    fn committed_path() -> std::path::PathBuf {
        std::env::var_os("CARGO_MANIFEST_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
            .join(SCHEMA_PATH)
    }

    #[test]
    fn schema_file_is_up_to_date() -> std::io::Result<()> {
        let generated = workflow_schema_json();
        let path = committed_path();
        if std::env::var_os("WEFT_BLESS").is_some() {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            return std::fs::write(&path, generated);
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} differs from the schema the Rust types generate; regenerate it with \
             `WEFT_BLESS=1 cargo test -p weft-flow schema` and commit it",
            path.display()
        );
        Ok(())
    }

    #[test]
    fn schema_describes_the_file() -> Result<(), serde_json::Error> {
        let schema: serde_json::Value = serde_json::from_str(&workflow_schema_json())?;
        assert_eq!(schema["additionalProperties"], false);
        let required = &schema["required"];
        // `on` may be omitted: every workflow can be run by hand.
        assert_eq!(required, &serde_json::json!(["name", "steps"]));
        assert!(schema["properties"]["steps"].is_object());
        Ok(())
    }
}
