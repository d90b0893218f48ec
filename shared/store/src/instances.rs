//! The items of `foreach` steps (instances) and their attempts. Like every write on an
//! execution, each function runs inside a transaction that locked the execution row.
//!
//! Reads are bounded by what one decision needs — the items in flight (a partial index), the
//! next few to start (a primary-key range), and all outputs only when the step may end — so
//! deciding on one item costs the same at 10 or 10,000 items.

use serde_json::Value;
use uuid::Uuid;

use crate::{AttemptStatus, Ctx, StepStatus, StoreError, Tx};

/// A started `foreach` step: it runs, with one `queued` instance per item.
pub async fn start(
    tx: &mut Tx<'_>,
    execution_id: Uuid,
    step: &str,
    items: &[Value],
) -> Result<(), StoreError> {
    let total = i32::try_from(items.len()).unwrap_or(i32::MAX);
    sqlx::query!(
        "WITH s AS (UPDATE steps SET status = 'running', items_total = $3, items_next = 0, \
                    items_succeeded = 0, items_failed = 0, \
                    started_at = coalesce(started_at, clock_timestamp()) \
                    WHERE execution_id = $1 AND step_id = $2) \
         INSERT INTO instances (execution_id, step_id, idx, item, status) \
         SELECT $1, $2, (i.n - 1)::int, i.item, 'queued' \
         FROM jsonb_array_elements($4::jsonb) WITH ORDINALITY AS i(item, n)",
        execution_id,
        step,
        total,
        Value::Array(items.to_vec()) as Value,
    )
    .execute(&mut **tx)
    .await
    .ctx("starting a foreach step")?;
    Ok(())
}

/// Record attempt `n` of item `index` as running.
pub async fn insert_attempt(
    tx: &mut Tx<'_>,
    execution_id: Uuid,
    step: &str,
    index: u32,
    n: i32,
    id: Uuid,
) -> Result<(), StoreError> {
    let index = i32::try_from(index).unwrap_or(i32::MAX);
    sqlx::query!(
        "WITH a AS (INSERT INTO attempts (id, execution_id, step_id, instance, n, status) \
                    VALUES ($1, $2, $3, $4, $5, 'running')), \
              i AS (UPDATE instances SET status = 'running', attempts = $5 \
                    WHERE execution_id = $2 AND step_id = $3 AND idx = $4) \
         UPDATE steps SET items_next = greatest(items_next, $4 + 1) \
         WHERE execution_id = $2 AND step_id = $3",
        id,
        execution_id,
        step,
        index,
        n,
    )
    .execute(&mut **tx)
    .await
    .ctx("recording an item's attempt")?;
    Ok(())
}

/// End a running attempt of item `index` and, with `item` set, the item (counted on its
/// step); returns whether the attempt was running.
#[allow(clippy::too_many_arguments)]
pub async fn finish_attempt(
    tx: &mut Tx<'_>,
    attempt_id: Uuid,
    attempt: AttemptStatus,
    execution_id: Uuid,
    step: &str,
    index: u32,
    item: Option<StepStatus>,
    output: Option<&Value>,
    error: Option<&Value>,
) -> Result<bool, StoreError> {
    let index = i32::try_from(index).unwrap_or(i32::MAX);
    let succeeded = i32::from(item == Some(StepStatus::Succeeded));
    let failed = i32::from(matches!(
        item,
        Some(StepStatus::Failed | StepStatus::TimedOut)
    ));
    let updated: i64 = sqlx::query_scalar!(
        "WITH a AS (UPDATE attempts SET status = $2, output = $3, error = $4, \
                    finished_at = clock_timestamp() \
                    WHERE id = $1 AND status = 'running' RETURNING id), \
              i AS (UPDATE instances SET status = $8, output = $3, error = $4 \
                    WHERE execution_id = $5 AND step_id = $6 AND idx = $7 \
                      AND $8::text IS NOT NULL AND EXISTS (SELECT 1 FROM a)), \
              s AS (UPDATE steps SET items_succeeded = items_succeeded + $9::int, \
                    items_failed = items_failed + $10::int \
                    WHERE execution_id = $5 AND step_id = $6 AND ($9::int + $10::int) > 0 \
                      AND EXISTS (SELECT 1 FROM a)) \
         SELECT count(*) AS \"count!\" FROM a",
        attempt_id,
        attempt.as_str(),
        output,
        error,
        execution_id,
        step,
        index,
        item.map(StepStatus::as_str),
        succeeded,
        failed,
    )
    .fetch_one(&mut **tx)
    .await
    .ctx("finishing an item's attempt")?;
    Ok(updated == 1)
}

/// The items of a step that ended otherwise than by its items all ending (failed fast,
/// cancelled): those not ended are `cancelled`.
pub async fn close(tx: &mut Tx<'_>, execution_id: Uuid, step: &str) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE instances SET status = 'cancelled' \
         WHERE execution_id = $1 AND step_id = $2 AND status IN ('queued', 'running')",
        execution_id,
        step,
    )
    .execute(&mut **tx)
    .await
    .ctx("closing a foreach step's items")?;
    Ok(())
}

/// An item in flight, with its latest attempt.
#[derive(Debug, Clone)]
pub struct OpenItem {
    /// Its index.
    pub idx: i32,
    /// The item.
    pub item: Value,
    /// Attempts made.
    pub attempts: i32,
    /// Its latest attempt's id.
    pub attempt_id: Option<Uuid>,
    /// Its latest attempt's status text.
    pub attempt_status: Option<String>,
}

/// The items of a step in flight (running, or waiting to retry).
pub async fn open(
    tx: &mut Tx<'_>,
    execution_id: Uuid,
    step: &str,
) -> Result<Vec<OpenItem>, StoreError> {
    sqlx::query_as!(
        OpenItem,
        "SELECT i.idx, i.item, i.attempts, a.id AS \"attempt_id?\", \
                a.status AS \"attempt_status?\" \
         FROM instances i LEFT JOIN attempts a \
           ON a.execution_id = i.execution_id AND a.step_id = i.step_id \
          AND coalesce(a.instance, -1) = i.idx AND a.n = i.attempts \
         WHERE i.execution_id = $1 AND i.step_id = $2 AND i.status = 'running' \
         ORDER BY i.idx",
        execution_id,
        step,
    )
    .fetch_all(&mut **tx)
    .await
    .ctx("reading a step's items in flight")
}

/// Items `[from, from + count)` of a step, in order.
pub async fn next(
    tx: &mut Tx<'_>,
    execution_id: Uuid,
    step: &str,
    from: u32,
    count: u32,
) -> Result<Vec<Value>, StoreError> {
    let from = i32::try_from(from).unwrap_or(i32::MAX);
    let to = from.saturating_add(i32::try_from(count).unwrap_or(i32::MAX));
    let rows = sqlx::query_scalar!(
        "SELECT item FROM instances \
         WHERE execution_id = $1 AND step_id = $2 AND idx >= $3 AND idx < $4 ORDER BY idx",
        execution_id,
        step,
        from,
        to,
    )
    .fetch_all(&mut **tx)
    .await
    .ctx("reading a step's next items")?;
    Ok(rows)
}

/// The outputs of a step's items that succeeded, by index, each as compact JSON. The rows are
/// streamed and each output is a value only while it is re-encoded, so reading 10,000 outputs
/// never holds 10,000 value trees.
pub async fn outputs(
    tx: &mut Tx<'_>,
    execution_id: Uuid,
    step: &str,
) -> Result<std::collections::BTreeMap<u32, Vec<u8>>, StoreError> {
    use futures::TryStreamExt as _;
    let mut rows = sqlx::query!(
        "SELECT idx, output FROM instances \
         WHERE execution_id = $1 AND step_id = $2 AND status = 'succeeded' ORDER BY idx",
        execution_id,
        step,
    )
    .fetch(&mut **tx);
    let mut outputs = std::collections::BTreeMap::new();
    while let Some(r) = rows.try_next().await.ctx("reading a step's item outputs")? {
        let Ok(idx) = u32::try_from(r.idx) else {
            continue;
        };
        outputs.insert(idx, weft_engine::compact(&r.output.unwrap_or(Value::Null)));
    }
    Ok(outputs)
}

/// One item of a `foreach` step, as listed by the API.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemRow {
    /// Its index in the list.
    pub idx: i32,
    /// The item.
    pub item: Value,
    /// `queued`, `running`, `succeeded`, `failed`, `timed_out` or `cancelled`.
    pub status: String,
    /// Attempts made.
    pub attempts: i32,
    /// Its output once it succeeded.
    pub output: Option<Value>,
    /// Its error once it failed.
    pub error: Option<Value>,
}

impl crate::Store {
    /// The items of `foreach` step `step` of `execution_id` after index `after`, in index order,
    /// at most `limit`, only those in `status` when given (the primary key's range).
    pub async fn items(
        &self,
        execution_id: Uuid,
        step: &str,
        status: Option<&str>,
        after: Option<i32>,
        limit: i64,
    ) -> Result<Vec<ItemRow>, StoreError> {
        sqlx::query_as!(
            ItemRow,
            "SELECT idx, item, status, attempts, output, error FROM instances \
             WHERE execution_id = $1 AND step_id = $2 AND idx > $3 \
               AND ($4::text IS NULL OR status = $4) \
             ORDER BY idx LIMIT $5",
            execution_id,
            step,
            after.unwrap_or(-1),
            status,
            limit,
        )
        .fetch_all(&self.pool)
        .await
        .ctx("listing a step's items")
    }
}
