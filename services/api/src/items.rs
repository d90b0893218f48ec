//! `GET /api/v1/executions/{id}/steps/{step}/items`: the items of a `foreach` step, in item
//! order, a page at a time (cursor: the last index seen), optionally only those in one status —
//! each with its item, status, attempts, output and error. The execution view only counts them.
//!
//! Consumes path and query parameters; reads `instances` (a primary-key range) and the step's
//! row from PostgreSQL; produces JSON. Writes nothing.

use std::sync::Arc;

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::{
    AppState,
    error::{ApiError, ErrorBody},
    extract::{Path, Query},
    params::{StepPath, execution_id, step_id},
};

/// Default page size.
const DEFAULT_LIMIT: i64 = 100;
/// Largest page size; larger requests are cut down to it.
const MAX_LIMIT: i64 = 1000;

/// Paging and filter of the item list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ItemsQuery {
    /// Only items in this status: `queued`, `running`, `succeeded`, `failed`, `timed_out` or
    /// `cancelled`.
    #[param(pattern = "^(queued|running|succeeded|failed|timed_out|cancelled)$")]
    pub status: Option<String>,
    /// Page size (default 100); more than 1000 is cut down to 1000.
    #[param(minimum = 1)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^(0|[1-9][0-9]{0,8})$")]
    pub cursor: Option<String>,
}

/// One item.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemView {
    /// Its index in the list.
    pub index: i32,
    /// The item.
    pub item: Value,
    /// `queued`, `running`, `succeeded`, `failed`, `timed_out` or `cancelled`.
    pub status: String,
    /// Attempts made.
    pub attempts: i32,
    /// Its output once it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Its error once it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

/// A page of items, in item order.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemList {
    /// The page.
    pub items: Vec<ItemView>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

const STATUSES: [&str; 6] = [
    "queued",
    "running",
    "succeeded",
    "failed",
    "timed_out",
    "cancelled",
];

/// The items of a `foreach` step.
#[utoipa::path(
    get, path = "/api/v1/executions/{id}/steps/{step}/items", operation_id = "list_items", tag = "executions",
    params(StepPath, ItemsQuery),
    responses(
        (status = 200, description = "A page of items", body = ItemList),
        (status = 400, description = "A bad id, step, status, limit or cursor", body = ErrorBody),
        (status = 404, description = "Unknown execution, or the step has no items (not a `foreach` step, or not started)", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(st): State<Arc<AppState>>,
    Path((id, step)): Path<(String, String)>,
    Query(q): Query<ItemsQuery>,
) -> Result<Json<ItemList>, ApiError> {
    let id = execution_id(&id)?;
    step_id(&step)?;
    if let Some(s) = q.status.as_deref()
        && !STATUSES.contains(&s)
    {
        let known = STATUSES.join(", ");
        return Err(ApiError::BadRequest(format!(
            "unknown item status `{s}`; use {known}"
        )));
    }
    let limit = crate::params::page_limit(q.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let after = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(
            c.parse::<i32>()
                .ok()
                .filter(|n| *n >= 0 && c == n.to_string())
                .ok_or_else(|| ApiError::BadRequest(format!("invalid cursor `{c}`")))?,
        ),
    };
    let started = st
        .store
        .foreach_started(id, &step)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("execution {id}")))?;
    if !started {
        return Err(ApiError::not_found(format!(
            "items of step `{step}` in execution {id} (not a `foreach` step, or not started)"
        )));
    }
    let rows = st
        .store
        .items(id, &step, q.status.as_deref(), after, limit)
        .await?;
    let full = rows.len() as i64 == limit;
    let next_cursor = rows.last().filter(|_| full).map(|r| r.idx.to_string());
    let items = rows
        .into_iter()
        .map(|r| ItemView {
            index: r.idx,
            item: r.item,
            status: r.status,
            attempts: r.attempts,
            output: r.output,
            error: r.error,
        })
        .collect();
    Ok(Json(ItemList { items, next_cursor }))
}
