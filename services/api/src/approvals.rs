//! `POST /api/v1/executions/{id}/steps/{step}/approve` and `…/reject`: a person's decision on an
//! `approval` step, with who decides and an optional comment (both kept with the step and in
//! the execution's journal).
//!
//! Consumes a JSON body `{by, comment}`; checks it against the store, then asks the router over
//! the bus (see [`crate::commands`]), which decides it under the execution's lock. Answers 202,
//! or 404 (no such execution or step), 409 (not an approval step, or not waiting), 403 (`by` is
//! not an approver), 400.

use std::sync::Arc;

use axum::{Json, extract::State, http::HeaderMap, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use weft_store::{ExecutionStatus, StepStatus};

use crate::{
    AppState,
    error::{ApiError, ErrorBody},
    extract::{Body, Path},
    params::{StepPath, execution_id, json_content_type, step_id},
};

/// A decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// Who decides: one of the step's `approvers` when it lists any.
    pub by: String,
    /// Why.
    #[serde(default)]
    pub comment: Option<String>,
}

/// A recorded decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionResponse {
    /// The execution.
    pub execution_id: Uuid,
    /// The step.
    pub step: String,
    /// `approved` or `rejected`.
    pub decision: &'static str,
}

/// Approve an `approval` step: it succeeds with `{approved, by, comment, at, message}`.
#[utoipa::path(
    post, path = "/api/v1/executions/{id}/steps/{step}/approve", operation_id = "approve_step", tag = "executions",
    params(StepPath), request_body = DecisionRequest,
    responses(
        (status = 202, description = "Approved", body = DecisionResponse),
        (status = 400, description = "Not a UUID, or a malformed body", body = ErrorBody),
        (status = 403, description = "`by` is not one of the step's approvers", body = ErrorBody),
        (status = 404, description = "Unknown execution or step", body = ErrorBody),
        (status = 409, description = "Not an approval step, or not waiting for a decision", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 503, description = "The event bus is unavailable; nothing was decided", body = ErrorBody),
    )
)]
pub(crate) async fn approve(
    State(st): State<Arc<AppState>>,
    Path((id, step)): Path<(String, String)>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<(StatusCode, Json<DecisionResponse>), ApiError> {
    decide(&st, &id, step, &headers, &body, true).await
}

/// Reject an `approval` step: it fails with code `rejected` (who, when and the comment kept).
#[utoipa::path(
    post, path = "/api/v1/executions/{id}/steps/{step}/reject", operation_id = "reject_step", tag = "executions",
    params(StepPath), request_body = DecisionRequest,
    responses(
        (status = 202, description = "Rejected", body = DecisionResponse),
        (status = 400, description = "Not a UUID, or a malformed body", body = ErrorBody),
        (status = 403, description = "`by` is not one of the step's approvers", body = ErrorBody),
        (status = 404, description = "Unknown execution or step", body = ErrorBody),
        (status = 409, description = "Not an approval step, or not waiting for a decision", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 503, description = "The event bus is unavailable; nothing was decided", body = ErrorBody),
    )
)]
pub(crate) async fn reject(
    State(st): State<Arc<AppState>>,
    Path((id, step)): Path<(String, String)>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<(StatusCode, Json<DecisionResponse>), ApiError> {
    decide(&st, &id, step, &headers, &body, false).await
}

async fn decide(
    st: &AppState,
    id: &str,
    step: String,
    headers: &HeaderMap,
    body: &[u8],
    approved: bool,
) -> Result<(StatusCode, Json<DecisionResponse>), ApiError> {
    let id = execution_id(id)?;
    step_id(&step)?;
    json_content_type(headers)?;
    let request: DecisionRequest = serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "expected {{\"by\": \"…\", \"comment\": \"…\"}}: {e}"
        ))
    })?;
    if request.by.trim().is_empty() {
        return Err(ApiError::BadRequest("`by` must name who decides".into()));
    }
    let exec = st
        .store
        .get_execution(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("execution {id}")))?;
    let def = crate::commands::definition(st, &exec).await?;
    let Some(step_def) = def.step(&step) else {
        return Err(ApiError::not_found(format!(
            "step `{step}` in execution {id}"
        )));
    };
    let Some(approval) = &step_def.approval else {
        return Err(ApiError::Conflict(format!(
            "step `{step}` is not an approval step"
        )));
    };
    let (steps, _) = st.store.execution_steps(id).await?;
    let status = steps
        .iter()
        .find(|s| s.step_id == step)
        .map(|s| s.status.as_str());
    let ended = ExecutionStatus::parse(&exec.status).is_none_or(ExecutionStatus::is_terminal);
    if ended || status != Some(StepStatus::Running.as_str()) {
        let shown = status.unwrap_or("not started");
        return Err(ApiError::Conflict(format!(
            "step `{step}` is not waiting for a decision (it is {shown})"
        )));
    }
    if !approval.approvers.is_empty() && !approval.approvers.contains(&request.by) {
        return Err(ApiError::Forbidden(format!(
            "`{}` may not decide step `{step}`; its approvers are {}",
            request.by,
            approval.approvers.join(", ")
        )));
    }
    let command = weft_events::Command::Decide {
        execution_id: id,
        step: step.clone(),
        approved,
        by: request.by.clone(),
        comment: request.comment.clone(),
    };
    crate::commands::send(st, &command).await?;
    let decision = if approved { "approved" } else { "rejected" };
    tracing::info!(execution = %id, %step, by = %request.by, decision, "approval decision sent");
    let response = DecisionResponse {
        execution_id: id,
        step,
        decision,
    };
    Ok((StatusCode::ACCEPTED, Json(response)))
}
