//! `GET /api/v1/executions/{id}/history`: an execution's journal — every input the router's
//! decision core decided on (start, result, timer, decision, event, cancel, refuse), in order,
//! with the time of each decision. Feeding it through the core again gives the recorded state (`weft replay`).
//!
//! Consumes the `journal` table through `weft_store`; produces JSON. Writes nothing.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Path, State},
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    AppState,
    error::{ApiError, ErrorBody},
    params::{ExecutionPath, execution_id},
};

/// An execution's journal.
#[derive(Debug, Serialize, ToSchema)]
pub struct History {
    /// The execution.
    pub execution_id: Uuid,
    /// Its entries, oldest first.
    pub entries: Vec<HistoryEntry>,
}

/// One decision's input.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    /// When it was decided.
    pub at: DateTime<Utc>,
    /// What was decided on: `{"kind": "start" | "result" | "timer" | "decision" | "event" |
    /// "cancel" | "refuse", …}`.
    #[schema(value_type = Object)]
    pub input: Value,
}

/// An execution's journal.
#[utoipa::path(
    get, path = "/api/v1/executions/{id}/history", operation_id = "execution_history", tag = "executions",
    params(ExecutionPath),
    responses(
        (status = 200, description = "The journal, oldest entry first", body = History),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "Unknown execution", body = ErrorBody),
    )
)]
pub(crate) async fn history(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<History>, ApiError> {
    let id = execution_id(&id)?;
    if st.store.get_execution(id).await?.is_none() {
        return Err(ApiError::not_found(format!("execution {id}")));
    }
    let entries = st
        .store
        .journal(id)
        .await?
        .into_iter()
        .map(|e| HistoryEntry {
            at: e.at,
            input: serde_json::to_value(&e.input).unwrap_or(Value::Null),
        })
        .collect();
    Ok(Json(History {
        execution_id: id,
        entries,
    }))
}
