//! What the router reads and locks to enforce a schedule's `overlap` policy: a per-workflow
//! transaction-scoped advisory lock, the workflow's running executions and its one buffered
//! (queued) tick. Every function runs in the caller's transaction; the lock comes first, so
//! ticks of one workflow are decided one at a time across router replicas.
//!
//! Lock order: the workflow's advisory lock, then execution rows (ascending id). No transaction
//! takes the advisory lock while it holds an execution row, so the two cannot wait in a cycle.

use uuid::Uuid;

use crate::{Ctx, StoreError, Tx};

/// Serialise overlap decisions for `workflow` until the transaction ends.
pub async fn lock_workflow(tx: &mut Tx<'_>, workflow: &str) -> Result<(), StoreError> {
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtextextended('weft.overlap:' || $1::text, 0))",
        workflow,
    )
    .fetch_one(&mut **tx)
    .await
    .ctx("locking a workflow's schedule")?;
    Ok(())
}

/// Whether an execution with this id exists (a redelivered tick was decided already).
pub async fn execution_exists(tx: &mut Tx<'_>, id: Uuid) -> Result<bool, StoreError> {
    let found = sqlx::query_scalar!("SELECT 1 AS one FROM executions WHERE id = $1", id)
        .fetch_optional(&mut **tx)
        .await
        .ctx("looking up an execution")?;
    Ok(found.is_some())
}

/// Ids of the workflow's running executions, ascending (the lock order).
pub async fn running(tx: &mut Tx<'_>, workflow: &str) -> Result<Vec<Uuid>, StoreError> {
    sqlx::query_scalar!(
        "SELECT id FROM executions WHERE workflow = $1 AND status = 'running' ORDER BY id",
        workflow,
    )
    .fetch_all(&mut **tx)
    .await
    .ctx("reading running executions")
}

/// The oldest queued execution of the workflow triggered by an event of type `ty` (a tick
/// buffered by `overlap: buffer_one`), if any.
pub async fn buffered(
    tx: &mut Tx<'_>,
    workflow: &str,
    ty: &str,
) -> Result<Option<Uuid>, StoreError> {
    sqlx::query_scalar!(
        "SELECT id FROM executions WHERE workflow = $1 AND status = 'queued' \
           AND event->>'type' = $2 ORDER BY created_at, id LIMIT 1",
        workflow,
        ty,
    )
    .fetch_optional(&mut **tx)
    .await
    .ctx("reading a buffered execution")
}
