//! JSON Schema of the workflow file, generated from the types with `schemars`.
//!
//! Consumes the model's types; produces the schema as pretty JSON. The committed copy lives
//! at `schemas/workflow.schema.json` (repository root); a test fails when it differs from
//! what the types generate. Regenerate it with
//! `WEFT_BLESS=1 cargo test -p weft-flow schema`.

use serde_json::{Value, json};

/// Where the committed schema lives, from this crate's directory.
pub const SCHEMA_PATH: &str = "../../schemas/workflow.schema.json";

/// The schema as pretty JSON, ending with a newline. A step's `with` is described per built-in
/// agent (`if uses is "email" then with is …`, from `schemas/agents/`), so an editor completes
/// it; wherever the agent wants a non-string value, a string holding `${{ … }}` is allowed too.
pub fn workflow_schema_json() -> String {
    let mut schema = schemars::schema_for!(crate::Workflow).to_value();
    add_agent_schemas(&mut schema);
    let mut json = serde_json::to_string_pretty(&schema).unwrap_or_default();
    json.push('\n');
    json
}

/// Hang every built-in agent's `with` schema on the `Step` definition.
fn add_agent_schemas(schema: &mut Value) {
    let mut branches = Vec::new();
    for (agent, doc) in crate::agents::BUILTIN {
        let Ok(mut doc) = serde_json::from_str::<Value>(doc) else {
            continue;
        };
        let mut with = doc["with"].take();
        let prefix = format!("{agent}.");
        if let Some(Value::Object(defs)) = with.as_object_mut().and_then(|w| w.remove("$defs")) {
            for (name, mut def) in defs {
                rewrite(&mut def, &prefix);
                schema["$defs"][format!("{prefix}{name}")] = def;
            }
        }
        if let Some(w) = with.as_object_mut() {
            w.remove("$schema");
            w.remove("title");
        }
        rewrite(&mut with, &prefix);
        branches.push(json!({
            "if": {"properties": {"uses": {"const": agent}}, "required": ["uses"]},
            "then": {"properties": {"with": with}},
        }));
    }
    schema["$defs"]["Step"]["allOf"] = Value::Array(branches);
}

/// Point `#/$defs/X` at `#/$defs/<prefix>X`, and let every non-string type take an expression.
fn rewrite(v: &mut Value, prefix: &str) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get_mut("$ref")
                && let Some(name) = r.strip_prefix("#/$defs/")
            {
                *r = format!("#/$defs/{prefix}{name}");
            }
            map.values_mut().for_each(|x| rewrite(x, prefix));
            let takes_string = match map.get("type") {
                Some(Value::String(t)) => t == "string",
                Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
                _ => true,
            };
            if !takes_string {
                let typed = Value::Object(std::mem::take(map));
                map.insert("anyOf".into(), json!([typed, EXPRESSION.clone()]));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|x| rewrite(x, prefix)),
        _ => {}
    }
}

static EXPRESSION: std::sync::LazyLock<Value> = std::sync::LazyLock::new(
    || json!({"type": "string", "pattern": "\\$\\{\\{", "description": "an expression, checked when the step runs"}),
);

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

    #[test]
    fn an_editor_checks_with_per_agent_and_accepts_expressions() {
        let schema: Value = serde_json::from_str(&workflow_schema_json()).expect("json");
        let validator = jsonschema::validator_for(&schema).expect("compiles");
        let wf = |step: Value| json!({"name": "a", "on": {"manual": {}}, "steps": {"s": step}});
        let ok = wf(json!({"uses": "email", "with": {
            "smtp": {"host": "mail", "port": "${{ inputs.port }}"},
            "from": "a@b.c", "to": "d@e.f", "subject": "hi", "text": "x"}}));
        assert!(
            validator.is_valid(&ok),
            "{:?}",
            validator
                .iter_errors(&ok)
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
        );
        let unknown = wf(json!({"uses": "http", "with": {"url": "http://x", "colour": 1}}));
        assert!(!validator.is_valid(&unknown));
        let wrong = wf(json!({"uses": "http", "with": {"url": "http://x", "follow_redirects": 3}}));
        assert!(!validator.is_valid(&wrong));
        let other = wf(json!({"uses": "someone-elses", "with": {"anything": 1}}));
        assert!(validator.is_valid(&other));
    }
}
