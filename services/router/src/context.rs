//! The expression context: what `${{ … }}` sees as `event`, `inputs`, `steps` and `execution`.

use serde_json::{Map, Value, json};
use weft_store::executions::{ExecutionRow, StepRow};

/// `{event, inputs, steps: {<id>: {status, output}}, execution: {id, workflow, version}}`.
pub fn build(exec: &ExecutionRow, steps: &[StepRow]) -> Value {
    let mut by_id = Map::with_capacity(steps.len());
    for s in steps {
        by_id.insert(
            s.step_id.clone(),
            json!({
                "status": s.status,
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
        },
    })
}

/// The context of a workflow `if`, before any execution exists.
pub fn for_event(event: &Value, inputs: &Value) -> Value {
    json!({"event": event, "inputs": inputs, "steps": {}, "execution": {}})
}
