//! `POST /events`: CloudEvents from outside onto the bus.
//!
//! Consumes an HTTP request in binary, structured or batch mode (parsed by [`crate::incoming`]);
//! produces each event, unchanged except for a `traceparent` when it has none, on
//! `weft.events.external` with a JetStream message id derived from the event's `(source, id)`
//! (a resend inside the duplicate window is dropped; the same id from another source is another
//! event). Answers 202 `{"event_ids": […]}` once JetStream stored every event (`[]` for an empty
//! batch); 400 `bad_request` naming the problem (nothing published) when any event of the
//! request is malformed or claims a reserved `dev.weft.*` type, 400 `invalid_text` when its text
//! holds U+0000; 503 `{code, message, event_ids, failed}` when some could
//! not be stored (resending the whole request is safe: stored ids are deduplicated). The router
//! consumes `weft.events.>` and matches these events against `on.event`. Counts requests in
//! `weft_events_requests_total`. Touches NATS only.

use std::sync::Arc;

use axum::{
    Json,
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use cloudevents::{AttributesReader, Event};
use serde_json::json;
use weft_events::{subjects, trace};

use crate::{HookError, handler::HookState, incoming};

/// The handler.
pub async fn receive(
    State(state): State<Arc<HookState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = accept(&state, &headers, body).await;
    let outcome = match &result {
        Ok((status, _)) if *status == StatusCode::ACCEPTED => "accepted",
        Ok(_) => "partial",
        Err(e) => e.outcome(),
    };
    metrics::counter!("weft_events_requests_total", "outcome" => outcome).increment(1);
    match result {
        Ok((status, body)) => (status, Json(body)).into_response(),
        Err(e) => {
            tracing::debug!(outcome, error = %e, "event refused");
            e.into_response()
        }
    }
}

async fn accept(
    state: &HookState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(StatusCode, serde_json::Value), HookError> {
    let body = crate::handler::read_body(headers, body, state.config.max_body_bytes).await?;
    let mut events = incoming::parse(headers, &body)?;
    let parent = headers
        .get(trace::TRACEPARENT)
        .and_then(|v| v.to_str().ok());
    for event in events.iter_mut() {
        if trace::get(event).is_none() {
            trace::set(event, &trace::child_of(parent));
        }
    }
    let results = futures::future::join_all(events.iter().map(|e| publish(state, e))).await;
    let (mut stored, mut failed) = (Vec::new(), Vec::new());
    for (event, ok) in events.iter().zip(results) {
        if ok {
            stored.push(event.id().to_string());
        } else {
            failed.push(event.id().to_string());
        }
    }
    if failed.is_empty() {
        return Ok((StatusCode::ACCEPTED, json!({"event_ids": stored})));
    }
    if stored.is_empty() {
        return Err(HookError::Unavailable);
    }
    let message = format!(
        "{} of {} events were not stored; resend them (stored ids are deduplicated)",
        failed.len(),
        events.len()
    );
    let body =
        json!({"code": "unavailable", "message": message, "event_ids": stored, "failed": failed});
    Ok((StatusCode::SERVICE_UNAVAILABLE, body))
}

/// Publish one event with a JetStream ack within the configured time.
async fn publish(state: &HookState, event: &Event) -> bool {
    let publish = state.bus.publish_event(subjects::EVENTS_EXTERNAL, event);
    match tokio::time::timeout(state.config.publish_timeout(), publish).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(event = %event.id(), error = %e, "external event not published");
            false
        }
        Err(_) => {
            tracing::warn!(event = %event.id(), "external event not acknowledged in time");
            false
        }
    }
}
