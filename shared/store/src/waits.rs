//! `wait` steps and the events they may take.
//!
//! Touches `waits` (one row per waiting step, found by the awaited event type) and
//! `wait_events` (events some published `wait` could match, kept a day for waits that count
//! earlier events). An event and a wait that start at the same moment must not miss each
//! other: the event's transaction keeps the event and then reads the waits, the wait's keeps
//! the wait and then reads the events, and both first take [`lock`] for the type, so whichever
//! commits second sees the other.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::{Ctx, StoreError, Tx};

/// The advisory lock space of waits (`pg_advisory_xact_lock(WAITS, hashtext(type))`).
const WAITS: i32 = 0x5745_4654; // "WEFT"

/// The lock key of waits for a type given as a prefix or suffix.
pub const PATTERN: &str = "*";

/// Serialize, until `tx` ends, with every transaction that keeps an event of `event_type` or
/// starts a wait for it (`PATTERN` for waits by prefix or suffix).
pub async fn lock(tx: &mut Tx<'_>, event_type: &str) -> Result<(), StoreError> {
    // In `FROM`: a `void` column cannot be decoded.
    sqlx::query_scalar!(
        "SELECT 1 AS \"locked!\" FROM pg_advisory_xact_lock($1, hashtext($2))",
        WAITS,
        event_type
    )
    .fetch_one(&mut **tx)
    .await
    .ctx("locking the waits of an event type")?;
    Ok(())
}

/// Step `step` of `execution` waits for events of `event_type` (`None`: a type pattern).
pub async fn insert(
    tx: &mut Tx<'_>,
    execution: Uuid,
    step: &str,
    event_type: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO waits (execution_id, step_id, event_type) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
        execution,
        step,
        event_type,
    )
    .execute(&mut **tx)
    .await
    .ctx("recording a wait")?;
    Ok(())
}

/// Step `step` of `execution` no longer waits.
pub async fn remove(tx: &mut Tx<'_>, execution: Uuid, step: &str) -> Result<(), StoreError> {
    sqlx::query!(
        "DELETE FROM waits WHERE execution_id = $1 AND step_id = $2",
        execution,
        step
    )
    .execute(&mut **tx)
    .await
    .ctx("ending a wait")?;
    Ok(())
}

/// The steps (execution, step) that may wait for an event of `event_type`: those waiting for
/// exactly it and those waiting for a pattern.
pub async fn waiting_for(
    tx: &mut Tx<'_>,
    event_type: &str,
) -> Result<Vec<(Uuid, String)>, StoreError> {
    let rows = sqlx::query!(
        "SELECT execution_id, step_id FROM waits \
         WHERE event_type = $1 OR event_type IS NULL ORDER BY execution_id, step_id",
        event_type
    )
    .fetch_all(&mut **tx)
    .await
    .ctx("finding the waits of an event")?;
    Ok(rows
        .into_iter()
        .map(|r| (r.execution_id, r.step_id))
        .collect())
}

/// Keep an event for waits that start later (a redelivered one is kept once).
pub async fn keep_event(
    tx: &mut Tx<'_>,
    event: &Value,
    received_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let text = |k: &str| event.get(k).and_then(Value::as_str).unwrap_or_default();
    sqlx::query!(
        "INSERT INTO wait_events (source, id, type, event, received_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (source, id) DO NOTHING",
        text("source"),
        text("id"),
        text("type"),
        event,
        received_at,
    )
    .execute(&mut **tx)
    .await
    .ctx("keeping an event for waits")?;
    Ok(())
}

/// The kept events of type `exact` (or, when `None`, whose type is `LIKE` `like`) received
/// since `since`, oldest first, at most `limit`.
pub async fn kept_since(
    tx: &mut Tx<'_>,
    exact: Option<&str>,
    like: Option<&str>,
    since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Value>, StoreError> {
    let rows = sqlx::query_scalar!(
        "SELECT event FROM wait_events \
         WHERE (type = $1 OR ($1::text IS NULL AND type LIKE $2)) AND received_at >= $3 \
         ORDER BY received_at, seq LIMIT $4",
        exact,
        like,
        since,
        limit,
    )
    .fetch_all(&mut **tx)
    .await
    .ctx("reading the events kept for waits")?;
    Ok(rows)
}

/// Drop the kept events received before `before`; returns how many.
pub async fn forget_before(pool: &sqlx::PgPool, before: DateTime<Utc>) -> Result<u64, StoreError> {
    let done = sqlx::query!("DELETE FROM wait_events WHERE received_at < $1", before)
        .execute(pool)
        .await
        .ctx("dropping old events kept for waits")?;
    Ok(done.rows_affected())
}
