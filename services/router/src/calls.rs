//! `call` steps: the router is the executor of their tasks. A task on `weft.tasks.call` starts
//! a child execution of the named workflow (its current version) with the task's `inputs`;
//! when the child ends, its outcome goes back to the parent as the attempt's result on
//! `weft.results.call` (queued in the outbox of the child's last decision), so retries,
//! timeouts and `foreach` work for calls as for any agent.
//!
//! Consumes `weft.tasks.call`; writes the child execution (its id derived from the parent's
//! attempt, so a redelivered task starts nothing twice) with its `parent` link and depth, in a
//! transaction that holds the parent's row lock — a parent cancelled meanwhile starts no
//! child. A call nested deeper than [`MAX_CALL_DEPTH`] or naming no workflow fails the attempt
//! (`call_depth`, `unknown_workflow`). Cancelling the calling step sets a `cancel` timer on the
//! child (see `engine::apply`), durable like every timer.

use std::{sync::Arc, time::Duration};

use serde_json::{Value, json};
use uuid::Uuid;
use weft_bus::{Delivery, Disposition, Handler};
use weft_events::{ErrorCode, Outcome, StepError, Task, TaskResult, subjects, trace, types};
use weft_flow::MAX_CALL_DEPTH;
use weft_store::{ExecutionStatus, Tx, engine as db, outbox::OutboxMessage};

use crate::{RouterError, engine, events::created, service::Shared};

/// The id of the child execution a `call` attempt starts.
pub fn child_id(attempt_id: Uuid) -> Uuid {
    Uuid::new_v5(&attempt_id, b"call")
}

pub(crate) struct CallHandler {
    shared: Arc<Shared>,
}

impl CallHandler {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Start the child of `task`, unless its parent's attempt no longer runs.
    async fn start(&self, task: &Task) -> Result<(), RouterError> {
        let store = &self.shared.store;
        let mut tx = store.begin().await?;
        let Some(parent) = db::lock_execution(&mut tx, task.execution_id).await? else {
            return Ok(()); // the parent was deleted
        };
        let running = ExecutionStatus::parse(&parent.status).is_some_and(|s| !s.is_terminal());
        if !running || !db::attempt_running(&mut tx, task.attempt_id).await? {
            return Ok(()); // ended (cancelled, timed out) before the task arrived
        }
        let name = task.with["workflow"].as_str().unwrap_or_default();
        let depth = parent.depth + 1;
        if depth > MAX_CALL_DEPTH {
            let message = format!(
                "calling `{name}` would nest {depth} deep; calls nest at most {MAX_CALL_DEPTH} deep"
            );
            return self.refuse(tx, task, ErrorCode::CallDepth, message).await;
        }
        let Some(current) = store.get_workflow(name).await? else {
            let message = format!("`call` names the workflow `{name}`, which does not exist");
            return self
                .refuse(tx, task, ErrorCode::UnknownWorkflow, message)
                .await;
        };
        let version = current.current_version;
        let def = self.shared.defs.get(store, name, version).await?;
        let id = child_id(task.attempt_id);
        let inputs = match &task.with["inputs"] {
            Value::Object(_) => task.with["inputs"].clone(),
            _ => json!({}),
        };
        let event = child_event(id, name, task, &inputs);
        let event_id = id.to_string();
        let new = db::NewExecution {
            id,
            workflow: name,
            version,
            status: ExecutionStatus::Running,
            event_id: &event_id,
            event: &event,
            inputs: &inputs,
        };
        let at = engine::now();
        let steps: Vec<&str> = def.steps.keys().map(String::as_str).collect();
        let defaults = self.shared.defaults_json.as_ref();
        if !db::create_running_execution(&mut tx, &new, &steps, at, defaults).await? {
            return Ok(()); // a redelivered task: started before
        }
        let link = parent_link(task);
        db::set_parent(&mut tx, id, &link, depth).await?;
        let (mut exec, st) = created(&new, &def, at, defaults);
        exec.parent = Some(link);
        exec.depth = depth;
        let batch = engine::decide(&mut tx, &exec, st, &def, self.shared.start(), at).await?;
        engine::commit(&self.shared, tx, batch, "starting a child execution").await
    }

    /// Fail the attempt of `task` at once (queued in the outbox with nothing else).
    async fn refuse(
        &self,
        tx: Tx<'_>,
        task: &Task,
        code: ErrorCode,
        message: String,
    ) -> Result<(), RouterError> {
        let link = parent_link(task);
        let failed = Outcome::Failed(StepError::permanent(code, message));
        let batch = engine::Batch {
            emitted: vec![result_message(&link, failed)],
            ..Default::default()
        };
        engine::commit(&self.shared, tx, batch, "refusing a call").await
    }
}

impl Handler for CallHandler {
    async fn handle(&self, delivery: Delivery) -> Disposition {
        let task = weft_events::decode_event(&delivery.payload)
            .map_err(|e| e.to_string())
            .and_then(|ev| weft_events::envelope::data_json(&ev).map_err(|e| e.to_string()))
            .and_then(|data| serde_json::from_value::<Task>(data).map_err(|e| e.to_string()));
        let task = match task {
            Ok(t) => t,
            Err(e) => return Disposition::DeadLetter(format!("not a task: {e}")),
        };
        match self.start(&task).await {
            Ok(()) => Disposition::Ack,
            Err(e) => {
                tracing::warn!(error = %e, attempt = %task.attempt_id, "a call did not start");
                Disposition::Retry(Duration::from_secs(1))
            }
        }
    }
}

/// What a child keeps of the attempt that started it: enough to answer it.
fn parent_link(task: &Task) -> Value {
    json!({
        "execution_id": task.execution_id,
        "workflow": task.workflow,
        "step_id": task.step_id,
        "instance": task.instance,
        "attempt": task.attempt,
        "attempt_id": task.attempt_id,
        "traceparent": task.traceparent,
    })
}

/// The child's triggering event: a `dev.weft.call` CloudEvent with the inputs and the parent.
fn child_event(id: Uuid, workflow: &str, task: &Task, inputs: &Value) -> Value {
    let data = json!({"inputs": inputs, "parent": parent_link(task)});
    let mut event = weft_events::new_event(
        id.to_string(),
        types::CALL,
        types::SOURCE_ROUTER,
        Some(workflow),
        data,
    );
    trace::set(&mut event, &trace::child_of(task.traceparent.as_deref()));
    weft_events::event_json(&event)
}

/// The result of the parent's attempt `link` (a child's `parent`), for the outbox.
pub(crate) fn result_message(link: &Value, outcome: Outcome) -> OutboxMessage {
    let attempt_id = link["attempt_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    let result = TaskResult {
        attempt_id,
        execution_id: link["execution_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_default(),
        step_id: link["step_id"].as_str().unwrap_or_default().to_string(),
        attempt: link["attempt"]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(1),
        outcome,
        logs: Vec::new(),
        logs_dropped: 0,
    };
    let data = serde_json::to_value(&result).unwrap_or(Value::Null);
    let event = weft_events::new_event(
        format!("result-{attempt_id}"),
        types::TASK_RESULT,
        types::SOURCE_ROUTER,
        Some(&result.step_id),
        data,
    );
    OutboxMessage::event(subjects::result_subject(weft_flow::CALL_AGENT), &event)
}

/// How a child's end answers its parent's attempt: its output, or `call_failed` with its
/// status and error.
pub(crate) fn outcome(
    child: Uuid,
    status: ExecutionStatus,
    output: Option<&Value>,
    error: Option<&Value>,
) -> Outcome {
    if status == ExecutionStatus::Succeeded {
        return Outcome::Succeeded(output.cloned().unwrap_or(Value::Null));
    }
    let why = error
        .and_then(|e| e["message"].as_str())
        .unwrap_or("no reason given");
    let mut e = StepError::permanent(
        ErrorCode::CallFailed,
        format!("the called execution {child} {status}: {why}"),
    );
    e.details = Some(json!({"execution_id": child, "status": status.as_str(), "error": error}));
    Outcome::Failed(e)
}
