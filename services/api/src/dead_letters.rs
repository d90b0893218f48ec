//! `/api/v1/dead-letters`: the messages a consumer gave up on (the `WEFT_DLQ` stream) — list
//! (oldest first, cursor pagination), get one, and replay one to where it came from.
//!
//! Consumes the dead-letter stream through `weft_bus::dlq`. A replay produces the message again
//! on its original subject (under `weft.events.`, `weft.tasks.` or `weft.results.`, with its
//! original headers and a new `Nats-Msg-Id`), then deletes the dead letter. Produces JSON
//! views; touches no database.

use std::sync::Arc;

use axum::{Json, extract::State, http::StatusCode};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use weft_bus::dlq::{DeadLetter, DlqError};

use crate::{
    AppState,
    error::{ApiError, ErrorBody},
    extract::{Path, Query},
    params::{DeadLetterPath, dead_letter_id},
};

/// Default page size.
const DEFAULT_LIMIT: usize = 50;
/// Largest page size (each item carries its message, up to the bus's largest); larger requests
/// are cut down to it.
const MAX_LIMIT: usize = 100;

/// Paging of the dead-letter list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size (default 50); more than 100 is cut down to 100.
    #[param(minimum = 1)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[1-9][0-9]{0,18}$")]
    pub cursor: Option<String>,
}

/// A message a consumer gave up on.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterView {
    /// Its id: its sequence in the dead-letter stream.
    pub id: u64,
    /// The stream it was in (`WEFT_EVENTS`, `WEFT_TASKS`, `WEFT_RESULTS`).
    pub stream: String,
    /// The subject it was published to, where a replay sends it.
    pub subject: Option<String>,
    /// The durable consumer that gave up on it.
    pub consumer: Option<String>,
    /// Why.
    pub reason: String,
    /// When it was dead-lettered.
    pub dead_lettered_at: DateTime<Utc>,
    /// How many times it had been delivered.
    pub delivered: Option<i64>,
    /// Its size in bytes.
    pub size: usize,
    /// The message, when it is JSON (a CloudEvent in structured mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// The message in base64, when it is not JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_base64: Option<String>,
    /// Whether it can be replayed (it came from one of Weft's streams and says from where).
    pub replayable: bool,
}

/// A page of dead letters, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterList {
    /// The page.
    pub items: Vec<DeadLetterView>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// What a replay did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayResponse {
    /// The dead letter replayed (now gone from the list).
    pub id: u64,
    /// The subject it was published to again.
    pub subject: String,
    /// Its new sequence in the stream that took it.
    pub sequence: u64,
}

/// List dead letters, oldest first.
#[utoipa::path(
    get, path = "/api/v1/dead-letters", operation_id = "list_dead_letters", tag = "dead-letters",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of dead letters", body = DeadLetterList),
        (status = 400, description = "Invalid limit or cursor", body = ErrorBody),
        (status = 503, description = "The event bus is unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(st): State<Arc<AppState>>,
    Query(q): Query<ListQuery>,
) -> Result<Json<DeadLetterList>, ApiError> {
    let limit = crate::params::page_limit(q.limit, DEFAULT_LIMIT as i64, MAX_LIMIT as i64)?;
    let limit = usize::try_from(limit).unwrap_or(MAX_LIMIT);
    let from = match &q.cursor {
        None => 1,
        Some(c) => {
            dead_letter_id(c).map_err(|_| ApiError::BadRequest(format!("invalid cursor `{c}`")))?
        }
    };
    let page = st.bus.dead_letters(from, limit).await?;
    Ok(Json(DeadLetterList {
        items: page.items.into_iter().map(view).collect(),
        next_cursor: page.next.map(|n| n.to_string()),
    }))
}

/// One dead letter.
#[utoipa::path(
    get, path = "/api/v1/dead-letters/{id}", operation_id = "get_dead_letter", tag = "dead-letters",
    params(DeadLetterPath),
    responses(
        (status = 200, description = "The dead letter", body = DeadLetterView),
        (status = 400, description = "Not a dead-letter id", body = ErrorBody),
        (status = 404, description = "No dead letter has this id", body = ErrorBody),
        (status = 503, description = "The event bus is unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn get(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<DeadLetterView>, ApiError> {
    let id = dead_letter_id(&id)?;
    st.bus
        .dead_letter(id)
        .await?
        .map(|d| Json(view(d)))
        .ok_or_else(|| ApiError::not_found(format!("dead letter {id}")))
}

/// Publish a dead letter again to its original subject, then delete it.
#[utoipa::path(
    post, path = "/api/v1/dead-letters/{id}/replay", operation_id = "replay_dead_letter", tag = "dead-letters",
    params(DeadLetterPath),
    responses(
        (status = 202, description = "Published again to its original subject and deleted", body = ReplayResponse),
        (status = 400, description = "Not a dead-letter id", body = ErrorBody),
        (status = 404, description = "No dead letter has this id", body = ErrorBody),
        (status = 409, description = "It does not say where it came from, or that is not one of Weft's streams", body = ErrorBody),
        (status = 503, description = "The event bus is unavailable; nothing was replayed or it was replayed but not yet deleted (replaying again publishes nothing twice)", body = ErrorBody),
    )
)]
pub(crate) async fn replay(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<ReplayResponse>), ApiError> {
    let id = dead_letter_id(&id)?;
    match st.bus.replay_dead_letter(id).await {
        Ok(r) => Ok((
            StatusCode::ACCEPTED,
            Json(ReplayResponse {
                id: r.id,
                subject: r.subject,
                sequence: r.sequence,
            }),
        )),
        Err(DlqError::NotFound(_)) => Err(ApiError::not_found(format!("dead letter {id}"))),
        Err(e @ DlqError::NotReplayable { .. }) => Err(ApiError::Conflict(e.to_string())),
        Err(DlqError::Bus(e)) => Err(e.into()),
    }
}

fn view(d: DeadLetter) -> DeadLetterView {
    let json = serde_json::from_slice::<Value>(&d.payload).ok();
    let payload_base64 = json
        .is_none()
        .then(|| base64::engine::general_purpose::STANDARD.encode(&d.payload));
    DeadLetterView {
        replayable: d.replay_subject().is_some(),
        id: d.id,
        stream: d.stream,
        subject: d.subject,
        consumer: d.consumer,
        reason: d.reason,
        dead_lettered_at: d.at,
        delivered: d.delivered,
        size: d.payload.len(),
        payload: json,
        payload_base64,
    }
}
