//! Durable timers: retry backoffs, step timeouts and workflow timeouts survive a router crash
//! and fire on whichever replica looks first.
//!
//! Lock order is always execution row, then timer row (the same as the result path), so a
//! timer firing never deadlocks with a result arriving for the same execution.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{Ctx, Store, StoreError, Tx};

pub use weft_engine::TimerKind;

/// A timer.
#[derive(Debug, Clone, PartialEq)]
pub struct Timer {
    /// Id.
    pub id: Uuid,
    /// Execution it belongs to.
    pub execution_id: Uuid,
    /// What it does.
    pub kind: TimerKind,
    /// Step, for retries and step timeouts.
    pub step_id: Option<String>,
    /// Attempt, for step timeouts.
    pub attempt_id: Option<Uuid>,
    /// Item of a `foreach` step, for its retries.
    pub instance: Option<u32>,
    /// When it fires.
    pub due_at: DateTime<Utc>,
}

/// A `timers` row as stored (`kind` still text).
struct TimerRow {
    id: Uuid,
    execution_id: Uuid,
    kind: String,
    step_id: Option<String>,
    attempt_id: Option<Uuid>,
    instance: Option<i32>,
    due_at: DateTime<Utc>,
}

fn from_row(r: TimerRow) -> Result<Timer, StoreError> {
    Ok(Timer {
        id: r.id,
        execution_id: r.execution_id,
        kind: TimerKind::parse(&r.kind).ok_or_else(|| StoreError::Corrupt {
            what: "timer kind",
            message: r.kind.clone(),
        })?,
        step_id: r.step_id,
        attempt_id: r.attempt_id,
        instance: r.instance.and_then(|i| u32::try_from(i).ok()),
        due_at: r.due_at,
    })
}

/// Schedule a timer inside `tx`, unless one with its id exists: ids derive from what a timer
/// is for, so the same id is the same timer (e.g. a cancel cascade that came twice).
pub async fn insert(tx: &mut Tx<'_>, t: &Timer) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO timers (id, execution_id, kind, step_id, attempt_id, instance, due_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
        t.id,
        t.execution_id,
        t.kind.as_str(),
        t.step_id.as_deref(),
        t.attempt_id,
        t.instance.and_then(|i| i32::try_from(i).ok()),
        t.due_at,
    )
    .execute(&mut **tx)
    .await
    .ctx("scheduling a timer")?;
    Ok(())
}

/// Claim a timer inside `tx` (whose execution row is already locked): deletes it and returns it,
/// or `None` when another replica or an earlier event already took it.
pub async fn claim(tx: &mut Tx<'_>, id: Uuid) -> Result<Option<Timer>, StoreError> {
    let row = sqlx::query_as!(
        TimerRow,
        "DELETE FROM timers WHERE id = $1 \
         RETURNING id, execution_id, kind, step_id, attempt_id, instance, due_at",
        id,
    )
    .fetch_optional(&mut **tx)
    .await
    .ctx("claiming a timer")?;
    row.map(from_row).transpose()
}

/// Drop the step-timeout timer of an attempt that ended.
pub async fn cancel_for_attempt(tx: &mut Tx<'_>, attempt_id: Uuid) -> Result<(), StoreError> {
    sqlx::query!("DELETE FROM timers WHERE attempt_id = $1", attempt_id)
        .execute(&mut **tx)
        .await
        .ctx("cancelling an attempt's timer")?;
    Ok(())
}

/// Drop every timer of an execution that ended.
pub async fn cancel_for_execution(tx: &mut Tx<'_>, execution_id: Uuid) -> Result<(), StoreError> {
    sqlx::query!("DELETE FROM timers WHERE execution_id = $1", execution_id)
        .execute(&mut **tx)
        .await
        .ctx("cancelling an execution's timers")?;
    Ok(())
}

impl Store {
    /// A heartbeat from a running attempt: its heartbeat timer is due `after` from now. A no-op
    /// when the attempt has no such timer (it ended, or its step declares no
    /// `heartbeat_timeout`).
    pub async fn push_heartbeat(
        &self,
        attempt_id: Uuid,
        after: std::time::Duration,
    ) -> Result<(), StoreError> {
        let ms = i64::try_from(after.as_millis()).unwrap_or(i64::MAX);
        sqlx::query!(
            "UPDATE timers SET due_at = clock_timestamp() + make_interval(secs => $2::bigint / 1000.0) \
             WHERE attempt_id = $1 AND kind = 'heartbeat_timeout'",
            attempt_id,
            ms,
        )
        .execute(&self.pool)
        .await
        .ctx("pushing a heartbeat timer back")?;
        Ok(())
    }

    /// Timers due now, oldest first (not locked: [`claim`] decides who fires each).
    pub async fn due_timers(&self, limit: i64) -> Result<Vec<Timer>, StoreError> {
        let rows = sqlx::query_as!(
            TimerRow,
            "SELECT id, execution_id, kind, step_id, attempt_id, instance, due_at FROM timers \
             WHERE due_at <= clock_timestamp() ORDER BY due_at LIMIT $1",
            limit,
        )
        .fetch_all(&self.pool)
        .await
        .ctx("reading due timers")?;
        rows.into_iter().map(from_row).collect()
    }
}
