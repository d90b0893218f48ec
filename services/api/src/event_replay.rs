//! `POST /api/v1/events/{id}/replay`: start the workflows a stored event matches again — the
//! same event (type, source, subject, data, extensions) under a new id, so every execution it
//! starts is new, linked to the original by the `replayof` extension attribute (the original
//! id, visible as `event.replayof` in the executions it starts).
//!
//! Consumes an event id (and an optional `Idempotency-Key`, which makes the new id derived);
//! reads the event as the first execution it started stored it (else as kept for `wait`
//! steps); publishes the copy on `weft.events.webhook` (a webhook's event) or
//! `weft.events.external`. A manual run's event is refused: `retry` reruns those.

use std::sync::Arc;

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use weft_events::{ids, subjects, types};

use crate::{
    AppState,
    error::{ApiError, ErrorBody},
    extract::Path,
    params::{EventPath, IdempotencyHeader, event_id, idempotency_key},
};

/// The extension attribute naming the event a replay copies.
pub const REPLAY_OF: &str = "replayof";

/// A replayed event.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayResponse {
    /// The new event's id.
    pub event_id: String,
    /// The event it copies.
    pub replay_of: String,
}

/// Start the workflows a stored event matches again, as a new event linked to it.
#[utoipa::path(
    post, path = "/api/v1/events/{id}/replay", operation_id = "replay_event", tag = "executions",
    params(EventPath, IdempotencyHeader),
    responses(
        (status = 202, description = "The copy is on the bus", body = ReplayResponse),
        (status = 400, description = "A bad id or `Idempotency-Key`", body = ErrorBody),
        (status = 404, description = "No stored event with this id", body = ErrorBody),
        (status = 409, description = "A manual run's event (retry its execution instead)", body = ErrorBody),
        (status = 503, description = "The event bus is unavailable; nothing was replayed", body = ErrorBody),
    )
)]
pub(crate) async fn replay(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<ReplayResponse>), ApiError> {
    event_id(&id)?;
    let key = idempotency_key(&headers)?;
    let mut event = st
        .store
        .stored_event(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("event `{id}`")))?;
    let ty = event["type"].as_str().unwrap_or_default().to_string();
    if ty == types::MANUAL_REQUESTED || ty == types::CALL {
        return Err(ApiError::Conflict(format!(
            "event `{id}` asked for one run (a manual run or a `call`): retry its execution instead"
        )));
    }
    let new_id = ids::new_event_id(&format!("replay/{id}"), key);
    event["id"] = Value::String(new_id.clone());
    event[REPLAY_OF] = Value::String(id.clone());
    let event: cloudevents::Event = serde_json::from_value(event)
        .map_err(|e| ApiError::Internal(format!("stored event `{id}` is not a CloudEvent: {e}")))?;
    let subject = if ty == types::WEBHOOK_RECEIVED {
        subjects::EVENTS_WEBHOOK
    } else {
        subjects::EVENTS_EXTERNAL
    };
    st.bus.publish_event(subject, &event).await?;
    tracing::info!(original = %id, replay = %new_id, "event replayed");
    Ok((
        StatusCode::ACCEPTED,
        Json(ReplayResponse {
            event_id: new_id,
            replay_of: id,
        }),
    ))
}
