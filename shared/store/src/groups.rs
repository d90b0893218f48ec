//! What the router reads and locks to enforce a workflow's `concurrency` and `debounce` in a
//! group (the workflow and a rendered `key`): a transaction-scoped advisory lock per group, and
//! the group's running and queued runs (a partial index). Every function runs in the caller's
//! transaction; the lock comes first.
//!
//! Lock order: the group's advisory lock, then execution rows. No transaction takes a group
//! lock while it holds an execution row, so the two cannot wait in a cycle.

use uuid::Uuid;

use crate::{Ctx, StoreError, Tx};

/// Serialise gate decisions for the group until the transaction ends.
pub async fn lock(tx: &mut Tx<'_>, workflow: &str, key: &str) -> Result<(), StoreError> {
    sqlx::query_scalar!(
        "SELECT 1 AS \"locked!\" FROM \
         pg_advisory_xact_lock(hashtextextended('weft.group:' || $1::text || ':' || $2::text, 0))",
        workflow,
        key,
    )
    .fetch_one(&mut **tx)
    .await
    .ctx("locking a run group")?;
    Ok(())
}

/// Put execution `id` in group `key`.
pub async fn join(tx: &mut Tx<'_>, id: Uuid, key: &str) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE executions SET group_key = $2 WHERE id = $1",
        id,
        key
    )
    .execute(&mut **tx)
    .await
    .ctx("putting a run in its group")?;
    Ok(())
}

/// The group of execution `id`, if it has one.
pub async fn of(tx: &mut Tx<'_>, id: Uuid) -> Result<Option<String>, StoreError> {
    let key = sqlx::query_scalar!("SELECT group_key FROM executions WHERE id = $1", id)
        .fetch_optional(&mut **tx)
        .await
        .ctx("reading a run's group")?;
    Ok(key.flatten())
}

/// The group's executions in `status` (`queued` or `running`), oldest first.
pub async fn members(
    tx: &mut Tx<'_>,
    workflow: &str,
    key: &str,
    status: crate::ExecutionStatus,
) -> Result<Vec<Uuid>, StoreError> {
    sqlx::query_scalar!(
        "SELECT id FROM executions \
         WHERE workflow = $1 AND group_key = $2 AND status = $3 \
           AND status IN ('queued', 'running') \
         ORDER BY created_at, id",
        workflow,
        key,
        status.as_str(),
    )
    .fetch_all(&mut **tx)
    .await
    .ctx("reading a run group")
}
