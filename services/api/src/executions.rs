//! `/api/v1/executions`: list (filter by workflow, status, triggering event; newest first,
//! cursor pagination), get with every step attempt, and cancel.
//!
//! Reads `executions`, `steps` and `attempts` from PostgreSQL; a cancel is a `cancel` run
//! command to the router over the bus (see [`crate::commands`]), which cancels the execution
//! under its lock and publishes `dev.weft.execution.cancelled`. Produces JSON views that are
//! separate from the store's rows.

use std::sync::Arc;

use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use weft_store::{
    ExecutionStatus,
    executions::{AttemptRow, Cursor, ExecutionFilter, ExecutionRow, StepRow},
};

use crate::{
    AppState,
    error::{ApiError, ErrorBody},
    extract::{Path, Query},
    params::{ExecutionPath, execution_id},
};

/// Default page size.
const DEFAULT_LIMIT: i64 = 50;
/// Largest page size; larger requests are cut down to it.
const MAX_LIMIT: i64 = 500;

/// Filters and paging of the execution list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only executions of this workflow.
    pub workflow: Option<String>,
    /// Only executions in this status.
    #[param(value_type = Option<StatusName>, inline)]
    pub status: Option<String>,
    /// Only executions triggered by this event id.
    pub event_id: Option<String>,
    /// Page size (default 50); more than 500 is cut down to 500.
    #[param(minimum = 1)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The status of an execution (for the list's filter).
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // documentation only: the filter is checked by `ExecutionStatus::parse`
pub enum StatusName {
    /// Waiting for the router.
    Queued,
    /// Steps are running.
    Running,
    /// Ended well.
    Succeeded,
    /// A step failed for good.
    Failed,
    /// Cancelled by hand.
    Cancelled,
    /// Ran past its timeout.
    TimedOut,
}

/// One execution in the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionSummary {
    /// Execution id.
    pub id: Uuid,
    /// Workflow name.
    pub workflow: String,
    /// Workflow version it runs.
    pub version: i32,
    /// `queued`, `running`, `succeeded`, `failed`, `cancelled` or `timed_out`.
    pub status: String,
    /// Triggering event id.
    pub event_id: String,
    /// Accepted at.
    pub created_at: DateTime<Utc>,
    /// Started at.
    pub started_at: Option<DateTime<Utc>>,
    /// Ended at.
    pub finished_at: Option<DateTime<Utc>>,
}

/// A page of executions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionList {
    /// The page.
    pub items: Vec<ExecutionSummary>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// One attempt of a step.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    /// Attempt number, from 1.
    pub n: i32,
    /// `running`, `succeeded`, `failed`, `timed_out` or `cancelled`.
    pub status: String,
    /// Dispatched at.
    pub started_at: DateTime<Utc>,
    /// Ended at.
    pub finished_at: Option<DateTime<Utc>>,
    /// Output, when it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Error, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// Lines the attempt logged, oldest first: `[{"at", "line"}]` (bounded by the executor;
    /// secrets masked).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub logs: Vec<Value>,
    /// Lines it logged beyond the executor's bound, dropped.
    #[serde(skip_serializing_if = "is_zero")]
    pub logs_dropped: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// One step of an execution.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepView {
    /// Step id.
    pub id: String,
    /// `queued`, `running`, `succeeded`, `failed`, `skipped`, `cancelled` or `timed_out`.
    pub status: String,
    /// First attempt started at.
    pub started_at: Option<DateTime<Utc>>,
    /// Ended at.
    pub finished_at: Option<DateTime<Utc>>,
    /// Its output once it succeeded (an agent step's is its last attempt's; a `switch`'s is
    /// `{value, case}`, a `sleep`'s `{woke_at}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Why it failed or was skipped or cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// Every attempt, in order (none for a `sleep`, `until` or `switch`; a `foreach` step's
    /// items have theirs, not listed here).
    pub attempts: Vec<AttemptView>,
    /// A `foreach` step's items, once it started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<ItemCounts>,
}

/// How far a `foreach` step's items got.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemCounts {
    /// Items in all.
    pub total: i32,
    /// Items started.
    pub started: i32,
    /// Items that succeeded.
    pub succeeded: i32,
    /// Items that failed or timed out.
    pub failed: i32,
}

/// An execution with its steps and attempts.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionDetail {
    /// Execution id.
    pub id: Uuid,
    /// Workflow name.
    pub workflow: String,
    /// Workflow version it runs.
    pub version: i32,
    /// Status.
    pub status: String,
    /// Triggering event id.
    pub event_id: String,
    /// Triggering event (as `event` in expressions).
    pub event: Value,
    /// Inputs of a manual run.
    pub inputs: Value,
    /// Accepted at.
    pub created_at: DateTime<Utc>,
    /// Started at.
    pub started_at: Option<DateTime<Utc>>,
    /// Ended at.
    pub finished_at: Option<DateTime<Utc>>,
    /// Output once succeeded.
    pub output: Option<Value>,
    /// Error once failed.
    pub error: Option<Value>,
    /// Steps in dispatch order.
    pub steps: Vec<StepView>,
}

/// Answer to a cancel.
#[derive(Debug, Serialize, ToSchema)]
pub struct CancelResponse {
    /// Execution id.
    pub id: Uuid,
    /// Always `cancelled`.
    pub status: String,
}

/// List executions, newest first.
#[utoipa::path(
    get, path = "/api/v1/executions", operation_id = "list_executions", tag = "executions",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of executions", body = ExecutionList),
        (status = 400, description = "Invalid status, limit or cursor", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(st): State<Arc<AppState>>,
    Query(q): Query<ListQuery>,
) -> Result<Json<ExecutionList>, ApiError> {
    let filter = filter(q)?;
    let (rows, next) = st.store.list_executions(&filter).await?;
    Ok(Json(ExecutionList {
        items: rows.into_iter().map(summary).collect(),
        next_cursor: next.map(|c| c.encode()),
    }))
}

/// Get an execution with every step attempt.
#[utoipa::path(
    get, path = "/api/v1/executions/{id}", operation_id = "get_execution", tag = "executions",
    params(ExecutionPath),
    responses(
        (status = 200, description = "The execution", body = ExecutionDetail),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "Unknown execution", body = ErrorBody),
    )
)]
pub(crate) async fn get(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<ExecutionDetail>, ApiError> {
    let id = execution_id(&id)?;
    let row = st
        .store
        .get_execution(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("execution {id}")))?;
    let (steps, attempts) = st.store.execution_steps(id).await?;
    Ok(Json(detail(row, steps, attempts)))
}

/// Cancel a queued or running execution.
#[utoipa::path(
    post, path = "/api/v1/executions/{id}/cancel", operation_id = "cancel_execution", tag = "executions",
    params(ExecutionPath),
    responses(
        (status = 202, description = "Cancelled", body = CancelResponse),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "Unknown execution", body = ErrorBody),
        (status = 409, description = "Already finished", body = ErrorBody),
        (status = 503, description = "The event bus is unavailable; nothing was cancelled", body = ErrorBody),
    )
)]
pub(crate) async fn cancel(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<CancelResponse>), ApiError> {
    let id = execution_id(&id)?;
    crate::commands::unended(&st, id).await?;
    let command = weft_events::Command::Cancel {
        execution_id: id,
        reason: "cancelled by an operator".into(),
    };
    crate::commands::send(&st, &command).await?;
    tracing::info!(execution = %id, "execution cancel asked");
    let status = ExecutionStatus::Cancelled.as_str().to_owned();
    Ok((StatusCode::ACCEPTED, Json(CancelResponse { id, status })))
}

fn filter(q: ListQuery) -> Result<ExecutionFilter, ApiError> {
    if let Some(s) = &q.status
        && ExecutionStatus::parse(s).is_none()
    {
        return Err(ApiError::BadRequest(format!(
            "unknown status `{s}`; use queued, running, succeeded, failed, cancelled or timed_out"
        )));
    }
    let limit = crate::params::page_limit(q.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = match &q.cursor {
        None => None,
        Some(c) => Some(
            Cursor::decode(c)
                .ok_or_else(|| ApiError::BadRequest(format!("invalid cursor `{c}`")))?,
        ),
    };
    Ok(ExecutionFilter {
        workflow: q.workflow,
        status: q.status,
        event_id: q.event_id,
        limit,
        cursor,
    })
}

fn summary(r: ExecutionRow) -> ExecutionSummary {
    ExecutionSummary {
        id: r.id,
        workflow: r.workflow,
        version: r.version,
        status: r.status,
        event_id: r.event_id,
        created_at: r.created_at,
        started_at: r.started_at,
        finished_at: r.finished_at,
    }
}

fn detail(r: ExecutionRow, steps: Vec<StepRow>, attempts: Vec<AttemptRow>) -> ExecutionDetail {
    let mut attempts = attempts;
    let steps = steps
        .into_iter()
        .map(|s| {
            let (mine, rest): (Vec<_>, Vec<_>) =
                attempts.drain(..).partition(|a| a.step_id == s.step_id);
            attempts = rest;
            StepView {
                attempts: mine
                    .into_iter()
                    .map(|a| AttemptView {
                        n: a.n,
                        status: a.status,
                        started_at: a.started_at,
                        finished_at: a.finished_at,
                        output: a.output,
                        error: a.error,
                        logs: match a.logs {
                            Some(Value::Array(lines)) => lines,
                            _ => Vec::new(),
                        },
                        logs_dropped: a.logs_dropped,
                    })
                    .collect(),
                id: s.step_id,
                status: s.status,
                started_at: s.started_at,
                finished_at: s.finished_at,
                output: s.output,
                error: s.error,
                items: s.items_total.map(|total| ItemCounts {
                    total,
                    started: s.items_next.unwrap_or(0),
                    succeeded: s.items_succeeded.unwrap_or(0),
                    failed: s.items_failed.unwrap_or(0),
                }),
            }
        })
        .collect();
    ExecutionDetail {
        id: r.id,
        workflow: r.workflow,
        version: r.version,
        status: r.status,
        event_id: r.event_id,
        event: r.event,
        inputs: r.inputs,
        created_at: r.created_at,
        started_at: r.started_at,
        finished_at: r.finished_at,
        output: r.output,
        error: r.error,
        steps,
    }
}
