//! Run commands to the router over the bus (`weft.commands.executions`, a
//! [`weft_events::Command`] CloudEvent): the API checks what it can from the store — the
//! execution exists and has not ended, an approval step waits and `by` may decide — and
//! answers from that; the router decides the command under the execution's lock, where one
//! that no longer applies changes nothing. The API links no router code.

use uuid::Uuid;
use weft_events::{Command, subjects, types};
use weft_flow::Workflow;
use weft_store::{ExecutionStatus, executions::ExecutionRow};

use crate::{AppState, error::ApiError};

/// Publish `command` (503 when the bus is down: nothing was asked).
pub(crate) async fn send(st: &AppState, command: &Command) -> Result<(), ApiError> {
    let data = serde_json::to_value(command).map_err(|e| ApiError::Internal(e.to_string()))?;
    let id = Uuid::new_v4().to_string();
    let subject = command.execution_id().to_string();
    let event =
        weft_events::new_event(&id, types::COMMAND, types::SOURCE_API, Some(&subject), data);
    st.bus
        .publish_event(subjects::COMMANDS_EXECUTIONS, &event)
        .await?;
    Ok(())
}

/// The execution `id` while it has not ended: 404 when there is none, 409 once it ended.
pub(crate) async fn unended(st: &AppState, id: Uuid) -> Result<ExecutionRow, ApiError> {
    let exec = st
        .store
        .get_execution(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("execution {id}")))?;
    match ExecutionStatus::parse(&exec.status) {
        Some(s) if s.is_terminal() => Err(ApiError::Conflict(format!(
            "execution {id} already finished with status {s}"
        ))),
        _ => Ok(exec),
    }
}

/// The execution `id` once it ended: 404 when there is none, 409 while it is queued or runs.
pub(crate) async fn ended(st: &AppState, id: Uuid) -> Result<ExecutionRow, ApiError> {
    let exec = st
        .store
        .get_execution(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("execution `{id}`")))?;
    if ExecutionStatus::parse(&exec.status).is_some_and(|s| !s.is_terminal()) {
        return Err(ApiError::Conflict(format!(
            "execution `{id}` is still {}; cancel it first or wait for it to end",
            exec.status
        )));
    }
    Ok(exec)
}

/// The workflow version execution `exec` runs.
pub(crate) async fn definition(st: &AppState, exec: &ExecutionRow) -> Result<Workflow, ApiError> {
    let row = st
        .store
        .workflow_version(&exec.workflow, exec.version)
        .await?
        .ok_or_else(|| {
            ApiError::Internal(format!(
                "workflow {} version {} is gone",
                exec.workflow, exec.version
            ))
        })?;
    crate::registry::decode_definition(&exec.workflow, exec.version, &row.definition)
}
