//! Execution lifecycle CloudEvents (`dev.weft.execution.*` on `weft.events.execution`): what
//! chained workflows and synchronous webhooks listen to.

use serde_json::{Value, json};
use weft_events::{ids, subjects, trace, types};
use weft_store::{ExecutionStatus, executions::ExecutionRow, outbox::OutboxMessage};

/// The lifecycle event for `exec` reaching `status` (`Running` = started). Its id is derived from
/// the execution and the status, so a re-emitted event is a duplicate, not a new event.
pub fn event(
    exec: &ExecutionRow,
    status: ExecutionStatus,
    output: Option<&Value>,
    error: Option<&Value>,
) -> OutboxMessage {
    let ty = match status {
        ExecutionStatus::Queued | ExecutionStatus::Running => types::EXECUTION_STARTED,
        ExecutionStatus::Succeeded => types::EXECUTION_SUCCEEDED,
        ExecutionStatus::Failed => types::EXECUTION_FAILED,
        ExecutionStatus::Cancelled => types::EXECUTION_CANCELLED,
        ExecutionStatus::TimedOut => types::EXECUTION_TIMED_OUT,
    };
    let id = ids::derive(&["lifecycle", &exec.id.to_string(), ty]).to_string();
    let data = json!({
        "execution_id": exec.id,
        "workflow": exec.workflow,
        "version": exec.version,
        "status": if status == ExecutionStatus::Queued { "running" } else { status.as_str() },
        "event_id": exec.event_id,
        "output": output,
        "error": error,
    });
    let subject = exec.id.to_string();
    let build = |data: Value| {
        let mut event =
            weft_events::new_event(id.clone(), ty, types::SOURCE_ROUTER, Some(&subject), data);
        trace::set(&mut event, &trace::child_of(trace::from_json(&exec.event)));
        OutboxMessage::event(subjects::EVENTS_EXECUTION, &event)
    };
    let msg = build(data.clone());
    if msg.payload.len() <= crate::cancel::max_task_bytes() {
        return msg;
    }
    // Never queue what the bus refuses (it would stay in the outbox): the event goes without
    // the output, which `GET /api/v1/executions/{id}` still shows.
    let mut data = data;
    data["output"] = Value::Null;
    data["output_omitted"] = json!({
        "reason": "output_too_large",
        "bytes": msg.payload.len(),
        "message": "the execution's output is larger than a bus message; read it from the API",
    });
    build(data)
}
