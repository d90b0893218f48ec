//! Reading executions, their steps and attempts (the admin API's view).

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::{Ctx, Store, StoreError};

/// An execution row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExecutionRow {
    /// Id (derived from workflow and event id).
    pub id: Uuid,
    /// Workflow name.
    pub workflow: String,
    /// Workflow version it runs.
    pub version: i32,
    /// Status text.
    pub status: String,
    /// Triggering event id.
    pub event_id: String,
    /// Triggering event (`event` in expressions).
    pub event: Value,
    /// Inputs of a manual run.
    pub inputs: Value,
    /// Output once succeeded.
    pub output: Option<Value>,
    /// Error once failed.
    pub error: Option<Value>,
    /// Accepted at.
    pub created_at: DateTime<Utc>,
    /// Started at.
    pub started_at: Option<DateTime<Utc>>,
    /// Ended at.
    pub finished_at: Option<DateTime<Utc>>,
    /// For a child execution (a `call`): the parent's attempt it answers.
    pub parent: Option<Value>,
    /// How deep it nests in `call`s (a root execution is 0).
    pub depth: i32,
    /// The default limits it started with (`weft_engine::Defaults` as JSON).
    pub defaults: Option<Value>,
}

/// A step row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StepRow {
    /// Step id.
    pub step_id: String,
    /// Status text.
    pub status: String,
    /// Attempts made.
    pub attempts: i32,
    /// Output once succeeded.
    pub output: Option<Value>,
    /// Error once failed.
    pub error: Option<Value>,
    /// First attempt started at.
    pub started_at: Option<DateTime<Utc>>,
    /// Ended at.
    pub finished_at: Option<DateTime<Utc>>,
    /// A started `foreach` step's item count.
    pub items_total: Option<i32>,
    /// Items started.
    pub items_next: Option<i32>,
    /// Items that succeeded.
    pub items_succeeded: Option<i32>,
    /// Items that failed or timed out.
    pub items_failed: Option<i32>,
}

/// A step a rerun cannot keep: it did not succeed and was not skipped.
#[derive(Debug, Clone, Copy)]
pub struct NotKept<'a> {
    /// The step.
    pub step: &'a str,
    /// Its status text (`None`: never created).
    pub status: Option<&'a str>,
}

/// The steps `ids` (those upstream of a rerun's `from`) as a run's `rows` left them, with their
/// status, when each succeeded or was skipped — what a rerun keeps; else the first that did not.
/// The API refuses such a rerun; the router checks again when it starts one.
pub fn kept_steps<'a>(
    rows: &'a [StepRow],
    ids: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<(&'a StepRow, crate::StepStatus)>, NotKept<'a>> {
    use crate::StepStatus;
    ids.into_iter()
        .map(|id| {
            let row = rows.iter().find(|s| s.step_id == id);
            match (row, row.and_then(|s| StepStatus::parse(&s.status))) {
                (Some(row), Some(status @ (StepStatus::Succeeded | StepStatus::Skipped))) => {
                    Ok((row, status))
                }
                _ => Err(NotKept {
                    step: id,
                    status: row.map(|s| s.status.as_str()),
                }),
            }
        })
        .collect()
}

/// An attempt row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    /// Attempt id (the idempotency key executors pass on).
    pub id: Uuid,
    /// Execution.
    pub execution_id: Uuid,
    /// Step id.
    pub step_id: String,
    /// Attempt number, from 1.
    pub n: i32,
    /// Status text.
    pub status: String,
    /// Output when it succeeded.
    pub output: Option<Value>,
    /// Error when it failed.
    pub error: Option<Value>,
    /// Dispatched at.
    pub started_at: DateTime<Utc>,
    /// Ended at.
    pub finished_at: Option<DateTime<Utc>>,
    /// Lines the attempt logged (`[{at, line}]`), when its result carried any.
    pub logs: Option<Value>,
    /// Lines it logged beyond the executor's bound.
    pub logs_dropped: i64,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub struct EndedAttempt {
    /// Attempt id.
    pub id: Uuid,
    /// Status text.
    pub status: String,
    /// Output when it succeeded.
    pub output: Option<Value>,
    /// Error when it failed.
    pub error: Option<Value>,
}

/// Filters of the execution list.
#[derive(Debug, Clone, Default)]
pub struct ExecutionFilter {
    /// Only this workflow.
    pub workflow: Option<String>,
    /// Only this status.
    pub status: Option<String>,
    /// Only executions triggered by this event.
    pub event_id: Option<String>,
    /// Page size (1..=500).
    pub limit: i64,
    /// Continue after this cursor (from a previous page).
    pub cursor: Option<Cursor>,
}

/// Position in the newest-first list: `(created_at, id)` of the last item of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Created-at of the last item seen.
    pub created_at: DateTime<Utc>,
    /// Id of the last item seen.
    pub id: Uuid,
}

impl Cursor {
    /// Opaque text form.
    pub fn encode(&self) -> String {
        format!(
            "{}_{}",
            self.created_at.timestamp_micros(),
            self.id.simple()
        )
    }

    /// Parse the text form.
    pub fn decode(s: &str) -> Option<Self> {
        let (micros, id) = s.split_once('_')?;
        Some(Self {
            created_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: Uuid::parse_str(id).ok()?,
        })
    }
}

impl Store {
    /// A page of executions, newest first, and the cursor of the next page.
    pub async fn list_executions(
        &self,
        f: &ExecutionFilter,
    ) -> Result<(Vec<ExecutionRow>, Option<Cursor>), StoreError> {
        let limit = f.limit.clamp(1, 500);
        let rows: Vec<ExecutionRow> = sqlx::query_as!(
            ExecutionRow,
            "SELECT id, workflow, version, status, event_id, event, inputs, output, error, created_at, \
             started_at, finished_at, parent, depth, defaults FROM executions \
             WHERE ($1::text IS NULL OR workflow = $1) \
               AND ($2::text IS NULL OR status = $2) \
               AND ($3::text IS NULL OR event_id = $3) \
               AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5)) \
             ORDER BY created_at DESC, id DESC LIMIT $6",
            f.workflow.as_deref(),
            f.status.as_deref(),
            f.event_id.as_deref(),
            f.cursor.map(|c| c.created_at),
            f.cursor.map(|c| c.id),
            limit + 1,
        )
        .fetch_all(&self.pool)
        .await
        .ctx("listing executions")?;
        let mut rows = rows;
        let next = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|r| Cursor {
                created_at: r.created_at,
                id: r.id,
            })
        } else {
            None
        };
        Ok((rows, next))
    }

    /// One execution.
    pub async fn get_execution(&self, id: Uuid) -> Result<Option<ExecutionRow>, StoreError> {
        sqlx::query_as!(
            ExecutionRow,
            "SELECT id, workflow, version, status, event_id, event, inputs, output, error, created_at, \
             started_at, finished_at, parent, depth, defaults FROM executions WHERE id = $1",
            id,
        )
        .fetch_optional(&self.pool)
        .await
        .ctx("reading an execution")
    }

    /// A stored event by id (CloudEvent as JSON): as the first execution it started saw it,
    /// else as kept for waits.
    pub async fn stored_event(&self, event_id: &str) -> Result<Option<Value>, StoreError> {
        sqlx::query_scalar!(
            "SELECT event AS \"event!\" FROM ( \
                 (SELECT event, 0 AS pick, created_at AS at FROM executions \
                  WHERE event_id = $1 ORDER BY created_at LIMIT 1) \
                 UNION ALL \
                 (SELECT event, 1, received_at FROM wait_events WHERE id = $1 \
                  ORDER BY received_at LIMIT 1) \
             ) e ORDER BY pick, at LIMIT 1",
            event_id,
        )
        .fetch_optional(&self.pool)
        .await
        .ctx("reading a stored event")
    }

    /// Whether step `step` of execution `id` is a `foreach` step that started (its items
    /// exist); `None` when there is no such execution. One small read, for item listings.
    pub async fn foreach_started(&self, id: Uuid, step: &str) -> Result<Option<bool>, StoreError> {
        sqlx::query_scalar!(
            "SELECT EXISTS (SELECT 1 FROM steps WHERE execution_id = $1 AND step_id = $2 \
                            AND items_total IS NOT NULL) AS \"started!\" \
             FROM executions WHERE id = $1",
            id,
            step,
        )
        .fetch_optional(&self.pool)
        .await
        .ctx("reading a step's item count")
    }

    /// Steps and attempts of an execution, in dispatch order.
    pub async fn execution_steps(
        &self,
        id: Uuid,
    ) -> Result<(Vec<StepRow>, Vec<AttemptRow>), StoreError> {
        let steps = sqlx::query_as!(
            StepRow,
            "SELECT step_id, status, attempts, output, error, started_at, finished_at, \
                    items_total, items_next, items_succeeded, items_failed \
             FROM steps WHERE execution_id = $1 ORDER BY started_at NULLS LAST, step_id",
            id,
        )
        .fetch_all(&self.pool)
        .await
        .ctx("reading steps")?;
        let attempts = sqlx::query_as!(
            AttemptRow,
            "SELECT id, execution_id, step_id, n, status, output, error, started_at, finished_at \
             , logs, logs_dropped FROM attempts WHERE execution_id = $1 AND instance IS NULL \
             ORDER BY step_id, n",
            id,
        )
        .fetch_all(&self.pool)
        .await
        .ctx("reading attempts")?;
        Ok((steps, attempts))
    }

    /// How every ended attempt of an execution ended (also its items'), by attempt id: what
    /// replay feeds back as results.
    pub async fn ended_attempts(
        &self,
        id: Uuid,
    ) -> Result<std::collections::HashMap<Uuid, EndedAttempt>, StoreError> {
        let rows = sqlx::query_as!(
            EndedAttempt,
            "SELECT id, status, output, error FROM attempts \
             WHERE execution_id = $1 AND status <> 'running'",
            id,
        )
        .fetch_all(&self.pool)
        .await
        .ctx("reading ended attempts")?;
        Ok(rows.into_iter().map(|a| (a.id, a)).collect())
    }
}
