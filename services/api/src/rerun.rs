//! `POST /api/v1/executions/{id}/rerun` with `{"from": "<step>"}`: run an ended execution
//! again from a step — a new execution of the same workflow version, with the same event and
//! inputs, whose steps upstream of `from` keep the outputs they had (n8n's and Kestra's
//! "replay from here"); `from` and everything else runs again. `retry` stays the whole-run
//! rerun.
//!
//! Consumes an execution id, a JSON body and an optional `Idempotency-Key`; checks the step
//! exists in that version and everything upstream of it succeeded or was skipped; queues the
//! run like `retry` does (its announcing event's data names `rerun_of` and `from`, which the
//! router reads when it starts it). Touches PostgreSQL and the outbox (see `runs::queue`).

use std::sync::Arc;

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use weft_store::executions::kept_steps;

use crate::{
    AppState,
    error::{ApiError, ErrorBody},
    extract::{Body, Path},
    params::{
        ExecutionPath, IdempotencyHeader, execution_id, idempotency_key, json_content_type, step_id,
    },
    runs::{RunResponse, requeue},
};

/// What to rerun from.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RerunRequest {
    /// The step to run again, with everything after it; the steps it needs keep their outputs.
    pub from: String,
}

/// Run an ended execution again from a step, keeping the outputs of the steps upstream of it.
#[utoipa::path(
    post, path = "/api/v1/executions/{id}/rerun", operation_id = "rerun_execution", tag = "executions",
    params(ExecutionPath, IdempotencyHeader),
    request_body = RerunRequest,
    responses(
        (status = 202, description = "A new execution is queued", body = RunResponse),
        (status = 400, description = "Not a UUID, a bad body, or an invalid `Idempotency-Key`", body = ErrorBody),
        (status = 404, description = "Unknown execution, or no such step in its workflow version", body = ErrorBody),
        (status = 409, description = "Still running, or a step upstream of `from` did not succeed", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    )
)]
pub(crate) async fn rerun(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<(StatusCode, Json<RunResponse>), ApiError> {
    let id = execution_id(&id)?;
    let key = idempotency_key(&headers)?;
    json_content_type(&headers)?;
    let request: RerunRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("expected {{\"from\": \"<step>\"}}: {e}")))?;
    step_id(&request.from)?;
    let exec = crate::commands::ended(&st, id).await?;
    let def = crate::commands::definition(&st, &exec).await?;
    let from = request.from;
    if !def.steps.contains_key(&from) {
        return Err(ApiError::not_found(format!(
            "step `{from}` in workflow `{}` version {}",
            exec.workflow, exec.version
        )));
    }
    let (steps, _) = st.store.execution_steps(id).await?;
    let upstream = weft_flow::dag::upstream(&def, &from);
    if let Err(not) = kept_steps(&steps, upstream) {
        return Err(ApiError::Conflict(format!(
            "step `{}` upstream of `{from}` is {}, not succeeded: rerun from it, or retry the \
             whole run",
            not.step,
            not.status.unwrap_or("not started")
        )));
    }
    let scope = format!("rerun/{id}/{from}");
    let data = json!({"rerun_of": id, "from": from});
    let response = requeue(&st, &exec, exec.version, &scope, key, data).await?;
    tracing::info!(original = %id, rerun = %response.execution_id, %from, "execution rerun from a step");
    Ok((StatusCode::ACCEPTED, Json(response)))
}
