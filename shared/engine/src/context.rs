//! The expression context: what `${{ … }}` sees as `event`, `inputs`, `steps` and `execution`.

use serde_json::{Map, Value, json};

use crate::state::Execution;

/// `{event, inputs, steps: {<id>: {status, output, error}}, execution: {id, workflow, version,
/// started_at, error}}` (`error` is set while `on_failure` steps run).
pub fn build(exec: &Execution) -> Value {
    let mut by_id = Map::with_capacity(exec.steps.len());
    for s in &exec.steps {
        by_id.insert(
            s.id.clone(),
            json!({
                "status": s.status.as_str(),
                "output": s.output.clone().unwrap_or(Value::Null),
                "error": s.error.clone().unwrap_or(Value::Null),
            }),
        );
    }
    json!({
        "event": exec.event,
        "inputs": exec.inputs,
        "steps": by_id,
        "execution": {
            "id": exec.id,
            "workflow": exec.workflow,
            "version": exec.version,
            "started_at": exec.started_at,
            "error": exec.error,
        },
    })
}

/// The context of a workflow `if`, before any execution exists.
pub fn for_event(event: &Value, inputs: &Value) -> Value {
    json!({"event": event, "inputs": inputs, "steps": {}, "execution": {}})
}
