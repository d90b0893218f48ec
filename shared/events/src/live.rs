//! Live events: how the steps of one execution move, on the core NATS subject
//! `weft.steps.<execution id>` (see [`crate::subjects::step_events_subject`]). Best effort, not
//! stored; the router publishes them after each commit and the admin API serves them as
//! server-sent events. Both build them here, so a viewer sees one shape whoever sent it.
//!
//! Consumes ids and statuses; produces CloudEvents. Touches nothing.

use cloudevents::Event;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{ids, new_event, types};

/// `dev.weft.step.<status>`: step `step` of an execution moved (`started`, `retrying`,
/// `succeeded`, `failed`, `timed_out`, `skipped`, `cancelled`).
pub fn step_moved(
    execution_id: Uuid,
    workflow: &str,
    step: &str,
    status: &str,
    attempt: Option<i32>,
    error: Option<&Value>,
) -> Event {
    let ty = format!("{}{status}", types::STEP_PREFIX);
    let data = json!({"execution_id": execution_id, "workflow": workflow, "step": step,
                      "status": status, "attempt": attempt, "error": error});
    let id = ids::derive(&["step", &execution_id.to_string(), step, status]);
    new_event(id.to_string(), &ty, types::SOURCE_ROUTER, Some(step), data)
}

/// `dev.weft.execution.<status>`: the run ended (no output: the API has it). The last event of
/// a run's stream.
pub fn run_ended(execution_id: Uuid, workflow: &str, status: &str, error: Option<&Value>) -> Event {
    let ty = format!("dev.weft.execution.{status}");
    let data = json!({"execution_id": execution_id, "workflow": workflow, "status": status,
                      "error": error});
    let id = ids::derive(&["live", &execution_id.to_string(), status]);
    new_event(id.to_string(), &ty, types::SOURCE_ROUTER, None, data)
}
