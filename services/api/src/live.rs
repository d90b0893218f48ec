//! `GET /api/v1/executions/{id}/events`: one run, live, as server-sent events — every step
//! that moves (`dev.weft.step.<status>`) and, last, the run's end
//! (`dev.weft.execution.<status>`), after which the stream closes.
//!
//! Consumes the router's live subject `weft.steps.<id>` (core NATS, best effort) and the
//! execution's row (to close at once when it has already ended); produces `text/event-stream`
//! with one CloudEvent (JSON) per `data:` and its type as the SSE `event:`. A viewer that needs
//! every detail reads `GET /api/v1/executions/{id}` when the stream ends. Writes nothing.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    extract::{Path, State},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures::{Stream, StreamExt, stream};
use serde_json::Value;
use weft_engine::ExecutionStatus;
use weft_events::subjects;

use crate::{
    AppState,
    error::{ApiError, ErrorBody},
    params::{ExecutionPath, execution_id},
};

/// One server-sent event of the stream.
#[allow(dead_code)] // describes the wire format for the OpenAPI document only
#[derive(Debug, utoipa::ToSchema)]
pub struct LiveEvent {
    /// The CloudEvent's type, e.g. `dev.weft.step.succeeded`.
    pub event: String,
    /// The CloudEvent, as JSON text.
    pub data: String,
}

type EventStream = std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>>;

/// Follow one execution live.
#[utoipa::path(
    get, path = "/api/v1/executions/{id}/events", operation_id = "execution_events", tag = "executions",
    params(ExecutionPath),
    responses(
        (status = 200, description = "`text/event-stream`: `dev.weft.step.<status>` events, then one `dev.weft.execution.<status>`", content_type = "text/event-stream", body = LiveEvent),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "Unknown execution", body = ErrorBody),
        (status = 503, description = "The event bus is unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn events(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = execution_id(&id)?;
    // Subscribe first, then read the row: an end between the two is still seen.
    let subscription = st
        .bus
        .client()
        .subscribe(subjects::step_events_subject(&id))
        .await
        .map_err(|e| ApiError::Unavailable {
            message: "the event bus is unavailable; try again later".into(),
            cause: e.to_string(),
        })?;
    let row = st
        .store
        .get_execution(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("execution {id}")))?;
    let ended = ExecutionStatus::parse(&row.status).filter(|s| s.is_terminal());
    let stream: EventStream = match ended {
        Some(status) => {
            let ty = format!("dev.weft.execution.{status}");
            let ended = weft_events::live::run_ended(
                id,
                &row.workflow,
                status.as_str(),
                row.error.as_ref(),
            );
            let event = weft_events::event_json(&ended);
            Box::pin(stream::once(async move { Ok(sse(&ty, &event)) }))
        }
        None => Box::pin(stream::unfold(
            (subscription, false),
            |(mut subscription, ended)| async move {
                if ended {
                    return None; // close right after the run's end
                }
                loop {
                    let message = subscription.next().await?;
                    let Ok(event) = serde_json::from_slice::<Value>(&message.payload) else {
                        continue;
                    };
                    let ty = event["type"].as_str().unwrap_or_default().to_string();
                    let end = ty.starts_with("dev.weft.execution.");
                    return Some((Ok(sse(&ty, &event)), (subscription, end)));
                }
            },
        )),
    };
    let keep_alive = KeepAlive::new().interval(Duration::from_secs(15));
    Ok(Sse::new(stream).keep_alive(keep_alive).into_response())
}

fn sse(ty: &str, data: &Value) -> Event {
    Event::default().event(ty).data(data.to_string())
}
