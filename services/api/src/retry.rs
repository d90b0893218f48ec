//! `POST /api/v1/executions/{id}/retry`: run an ended execution again.
//!
//! Consumes an execution id (and an optional `Idempotency-Key`); produces a new `queued`
//! execution of the workflow's current version that sees the same triggering `event` and
//! `inputs` as the original, announced by a `dev.weft.manual.requested` event whose data names
//! the original (`retry_of`). The router starts it like any manual run. Touches PostgreSQL and
//! the outbox (see `runs::queue`).

use std::sync::Arc;

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use serde_json::json;

use crate::{
    AppState,
    error::{ApiError, ErrorBody},
    extract::Path,
    params::{ExecutionPath, IdempotencyHeader, execution_id, idempotency_key},
    runs::{RunResponse, requeue},
};

/// Run an ended execution again with the same event and inputs, on the current version.
#[utoipa::path(
    post, path = "/api/v1/executions/{id}/retry", operation_id = "retry_execution", tag = "executions",
    params(ExecutionPath, IdempotencyHeader),
    responses(
        (status = 202, description = "A new execution is queued", body = RunResponse),
        (status = 400, description = "Not a UUID, or an invalid `Idempotency-Key`", body = ErrorBody),
        (status = 404, description = "Unknown execution", body = ErrorBody),
        (status = 409, description = "Still running, or its workflow was deleted", body = ErrorBody),
    )
)]
pub(crate) async fn retry(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<RunResponse>), ApiError> {
    let id = execution_id(&id)?;
    let key = idempotency_key(&headers)?;
    let exec = crate::commands::ended(&st, id).await?;
    let record = st
        .store
        .get_workflow(&exec.workflow)
        .await?
        .ok_or_else(|| {
            ApiError::Conflict(format!(
                "workflow `{}` was deleted; apply it again to retry its executions",
                exec.workflow
            ))
        })?;
    let data = json!({"retry_of": id});
    let scope = format!("retry/{id}");
    let response = requeue(&st, &exec, record.current_version, &scope, key, data).await?;
    tracing::info!(original = %id, retry = %response.execution_id, "execution retried");
    Ok((StatusCode::ACCEPTED, Json(response)))
}
