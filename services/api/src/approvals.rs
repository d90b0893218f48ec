//! `POST /api/v1/executions/{id}/steps/{step}/approve` and `…/reject`: a person's decision on an
//! `approval` step, with who decides and an optional comment (both kept with the step and in
//! the execution's journal).
//!
//! Consumes a JSON body `{by, comment}`; decides through the router's core under the
//! execution's lock (`weft_router::decide_approval`). Answers 202, or 404 (no such execution or
//! step), 409 (not an approval step, or not waiting), 403 (`by` is not an approver), 400.

use std::sync::Arc;

use axum::{Json, extract::State, http::HeaderMap, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use weft_router::DecisionOutcome;

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
    let outcome = weft_router::decide_approval(
        &st.store,
        &st.bus,
        id,
        &step,
        approved,
        &request.by,
        request.comment.as_deref(),
    )
    .await?;
    match outcome {
        DecisionOutcome::Decided => {
            let decision = if approved { "approved" } else { "rejected" };
            tracing::info!(execution = %id, %step, by = %request.by, decision, "approval decided");
            let response = DecisionResponse {
                execution_id: id,
                step,
                decision,
            };
            Ok((StatusCode::ACCEPTED, Json(response)))
        }
        DecisionOutcome::NotFound => Err(ApiError::not_found(format!("execution {id}"))),
        DecisionOutcome::NoSuchStep => Err(ApiError::not_found(format!(
            "step `{step}` in execution {id}"
        ))),
        DecisionOutcome::NotAnApproval => Err(ApiError::Conflict(format!(
            "step `{step}` is not an approval step"
        ))),
        DecisionOutcome::NotWaiting(status) => Err(ApiError::Conflict(format!(
            "step `{step}` is not waiting for a decision (it is {status})"
        ))),
        DecisionOutcome::NotAllowed(approvers) => Err(ApiError::Forbidden(format!(
            "`{}` may not decide step `{step}`; its approvers are {}",
            request.by,
            approvers.join(", ")
        ))),
    }
}
