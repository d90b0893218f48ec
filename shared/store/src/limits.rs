//! Runs and attempts past their default time limits (`executions.defaults`, see
//! `weft_engine::Defaults`), for the router's limit sweep, which fires their timeouts. A default
//! limit has no timer row, so a run's hot path writes none; the sweep reads only running
//! executions (a partial index) and their running attempts.

use uuid::Uuid;

use crate::{Ctx, StoreError};

/// A running attempt past its run's default step timeout.
#[derive(Debug, Clone, PartialEq)]
pub struct OverdueAttempt {
    /// Its execution.
    pub execution_id: Uuid,
    /// Its step.
    pub step_id: String,
    /// Its id.
    pub attempt_id: Uuid,
    /// Its item, for a `foreach` step.
    pub instance: Option<u32>,
}

/// Running executions past their default `timeout_ms`, at most `limit`.
pub async fn overdue_runs(pool: &sqlx::PgPool, limit: i64) -> Result<Vec<Uuid>, StoreError> {
    sqlx::query_scalar!(
        "SELECT id FROM executions \
         WHERE status = 'running' AND defaults ? 'timeout_ms' \
           AND started_at + (defaults ->> 'timeout_ms')::bigint * interval '1 millisecond' \
               < now() \
         LIMIT $1",
        limit
    )
    .fetch_all(pool)
    .await
    .ctx("finding runs past their default timeout")
}

/// Running attempts past their run's default `step_timeout_ms`, at most `limit`.
pub async fn overdue_attempts(
    pool: &sqlx::PgPool,
    limit: i64,
) -> Result<Vec<OverdueAttempt>, StoreError> {
    let rows = sqlx::query!(
        "SELECT a.execution_id, a.step_id, a.id, a.instance FROM executions e \
         JOIN attempts a ON a.execution_id = e.id \
         WHERE e.status = 'running' AND e.defaults ? 'step_timeout_ms' \
           AND a.status = 'running' \
           AND a.started_at + (e.defaults ->> 'step_timeout_ms')::bigint \
               * interval '1 millisecond' < now() \
         LIMIT $1",
        limit
    )
    .fetch_all(pool)
    .await
    .ctx("finding attempts past their default timeout")?;
    Ok(rows
        .into_iter()
        .map(|r| OverdueAttempt {
            execution_id: r.execution_id,
            step_id: r.step_id,
            attempt_id: r.id,
            instance: r.instance.and_then(|i| u32::try_from(i).ok()),
        })
        .collect())
}
