//! `GET /api/v1/triggers`: the health of every trigger run by a trigger service.
//!
//! Consumes the `weft_workflows` bucket (which triggers should exist) and the `weft_triggers`
//! bucket (what the trigger services report, with a heartbeat). Produces one entry per trigger:
//! a trigger nobody reports on is `stopped` (its service is not running); a report older than
//! three heartbeats is shown as `error` (its service went away without saying so).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_nats::jetstream::kv;
use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use weft_bus::BusError;
use weft_events::subjects::{TRIGGERS_BUCKET, WORKFLOWS_BUCKET};
use weft_flow::Published;
use weft_trigger::{HEARTBEAT, TriggerHealth, TriggerState};

use crate::{
    AppState,
    error::{ApiError, ErrorBody},
};

/// One trigger.
#[derive(Debug, Serialize, ToSchema)]
pub struct TriggerView {
    /// The workflow it starts.
    pub workflow: String,
    /// The `on:` kind: `email`, `file`, `s3`, `schedule` or `cdc`.
    pub kind: String,
    /// Position in the workflow's list of this kind.
    pub index: usize,
    /// `running`, `error` or `stopped`.
    pub state: String,
    /// When it last published an event.
    pub last_event_at: Option<DateTime<Utc>>,
    /// The last problem, while it lasts.
    pub last_error: Option<String>,
    /// What it has delivered so far (kind-specific).
    #[schema(value_type = Option<Object>)]
    pub cursor: Option<Value>,
    /// When its service last reported.
    pub reported_at: Option<DateTime<Utc>>,
}

/// The list of triggers.
#[derive(Debug, Serialize, ToSchema)]
pub struct TriggerList {
    /// Triggers by workflow, kind and index.
    pub items: Vec<TriggerView>,
}

/// Trigger health.
#[utoipa::path(
    get, path = "/api/v1/triggers", operation_id = "list_triggers", tag = "triggers",
    responses(
        (status = 200, description = "Every trigger run by a trigger service", body = TriggerList),
        (status = 503, description = "The event bus is unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
) -> Result<Json<TriggerList>, ApiError> {
    let workflows: BTreeMap<String, Published> =
        read_all(&state.bus.kv(WORKFLOWS_BUCKET).await?).await?;
    let reports: BTreeMap<String, TriggerHealth> =
        read_all(&state.bus.kv(TRIGGERS_BUCKET).await?).await?;
    let now = Utc::now();
    let mut items = Vec::new();
    for (name, published) in &workflows {
        for (kind, count) in published.workflow.on.service_kinds() {
            for index in 0..count {
                let report = reports.get(&TriggerHealth::key(name, kind, index));
                items.push(view(name, kind, index, report, now));
            }
        }
    }
    Ok(Json(TriggerList { items }))
}

fn view(
    workflow: &str,
    kind: &str,
    index: usize,
    report: Option<&TriggerHealth>,
    now: DateTime<Utc>,
) -> TriggerView {
    let Some(r) = report else {
        return TriggerView {
            workflow: workflow.into(),
            kind: kind.into(),
            index,
            state: "stopped".into(),
            last_event_at: None,
            last_error: Some(format!(
                "no {} service is running this trigger",
                service_of(kind)
            )),
            cursor: None,
            reported_at: None,
        };
    };
    let stale = now - r.updated_at > chrono::Duration::from_std(HEARTBEAT * 3).unwrap_or_default();
    let (state, last_error) = match r.state {
        TriggerState::Running | TriggerState::Error if stale => (
            "error",
            Some(format!(
                "no report from the {} service since {}",
                service_of(kind),
                r.updated_at.to_rfc3339()
            )),
        ),
        TriggerState::Running => ("running", r.last_error.clone()),
        TriggerState::Error => ("error", r.last_error.clone()),
        TriggerState::Stopped => ("stopped", r.last_error.clone()),
    };
    TriggerView {
        workflow: workflow.into(),
        kind: kind.into(),
        index,
        state: state.into(),
        last_event_at: r.last_event_at,
        last_error,
        cursor: r.cursor.clone(),
        reported_at: Some(r.updated_at),
    }
}

/// The `weft serve` name of the service that runs `kind`.
fn service_of(kind: &str) -> &'static str {
    match kind {
        "email" => "imap",
        "file" | "s3" => "files",
        "schedule" => "cron",
        _ => "cdc",
    }
}

async fn read_all<T: serde::de::DeserializeOwned>(
    store: &kv::Store,
) -> Result<BTreeMap<String, T>, ApiError> {
    let fail = |e: &dyn std::fmt::Display| {
        ApiError::Bus(BusError::JetStream {
            what: "reading trigger state".into(),
            message: e.to_string(),
        })
    };
    let keys: Vec<String> = store
        .keys()
        .await
        .map_err(|e| fail(&e))?
        .try_collect()
        .await
        .map_err(|e| fail(&e))?;
    let mut out = BTreeMap::new();
    for key in keys {
        if let Some(bytes) = store.get(&key).await.map_err(|e| fail(&e))?
            && let Ok(value) = serde_json::from_slice(&bytes)
        {
            out.insert(key, value);
        }
    }
    Ok(out)
}
