//! The router's writes on executions, steps and attempts. Every function runs inside a caller's
//! transaction that first locked the execution row ([`lock_execution`]), which serialises all
//! changes to one execution across router replicas and the admin API.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    AttemptStatus, Ctx, ExecutionStatus, StepStatus, StoreError, Tx, executions::ExecutionRow,
};

/// A new execution.
#[derive(Debug, Clone)]
pub struct NewExecution<'a> {
    /// Derived id.
    pub id: Uuid,
    /// Workflow name.
    pub workflow: &'a str,
    /// Version it runs.
    pub version: i32,
    /// Initial status (`queued`, or `failed` when it cannot start).
    pub status: ExecutionStatus,
    /// Triggering event id.
    pub event_id: &'a str,
    /// Triggering event as JSON.
    pub event: &'a Value,
    /// Inputs of a manual run.
    pub inputs: &'a Value,
}

/// Insert an execution unless one with this id exists; returns whether it was inserted.
pub async fn insert_execution(tx: &mut Tx<'_>, e: &NewExecution<'_>) -> Result<bool, StoreError> {
    let done = sqlx::query!(
        "INSERT INTO executions (id, workflow, version, status, event_id, event, inputs) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
        e.id,
        e.workflow,
        e.version,
        e.status.as_str(),
        e.event_id,
        e.event,
        e.inputs,
    )
    .execute(&mut **tx)
    .await
    .ctx("creating an execution")?;
    Ok(done.rows_affected() == 1)
}

/// Lock an execution for the rest of the transaction.
pub async fn lock_execution(tx: &mut Tx<'_>, id: Uuid) -> Result<Option<ExecutionRow>, StoreError> {
    sqlx::query_as!(
        ExecutionRow,
        "SELECT id, workflow, version, status, event_id, event, inputs, output, error, created_at, \
         started_at, finished_at, parent, depth, defaults FROM executions WHERE id = $1 FOR UPDATE",
        id,
    )
    .fetch_optional(&mut **tx)
    .await
    .ctx("locking an execution")
}

/// A step as the router decides on it: its row and its latest attempt.
#[derive(Debug, Clone)]
pub struct LiveStep {
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
    /// Its latest attempt's id.
    pub attempt_id: Option<Uuid>,
    /// Its latest attempt's status text.
    pub attempt_status: Option<String>,
    /// A started `foreach` step's item count.
    pub items_total: Option<i32>,
    /// Items started.
    pub items_next: Option<i32>,
    /// Items that succeeded.
    pub items_succeeded: Option<i32>,
    /// Items that failed.
    pub items_failed: Option<i32>,
}

/// Every step of an execution with its latest attempt.
pub async fn live_steps(tx: &mut Tx<'_>, id: Uuid) -> Result<Vec<LiveStep>, StoreError> {
    sqlx::query_as!(
        LiveStep,
        "SELECT s.step_id, s.status, s.attempts, s.output, s.error, \
                a.id AS \"attempt_id?\", a.status AS \"attempt_status?\", \
                s.items_total, s.items_next, s.items_succeeded, s.items_failed \
         FROM steps s LEFT JOIN attempts a \
           ON a.execution_id = s.execution_id AND a.step_id = s.step_id AND a.n = s.attempts \
          AND coalesce(a.instance, -1) = -1 \
         WHERE s.execution_id = $1",
        id,
    )
    .fetch_all(&mut **tx)
    .await
    .ctx("reading steps")
}

/// The decision core's view of an execution: its row and steps, the steps in `order` (the
/// workflow's). A status the core does not know is [`StoreError::Corrupt`].
pub fn state<'a>(
    exec: &ExecutionRow,
    steps: Vec<LiveStep>,
    order: impl Iterator<Item = &'a str>,
) -> Result<weft_engine::Execution, StoreError> {
    let corrupt = |what: &'static str, text: &str| StoreError::Corrupt {
        what,
        message: text.to_string(),
    };
    let status = ExecutionStatus::parse(&exec.status)
        .ok_or_else(|| corrupt("execution status", &exec.status))?;
    let mut by_id: std::collections::HashMap<String, LiveStep> =
        steps.into_iter().map(|s| (s.step_id.clone(), s)).collect();
    let mut out = Vec::with_capacity(by_id.len());
    for id in order {
        let Some(s) = by_id.remove(id) else {
            continue; // not created yet (a queued execution)
        };
        let attempt = match (s.attempt_id, s.attempt_status.as_deref()) {
            (Some(id), Some(text)) => Some(weft_engine::Attempt {
                id,
                n: s.attempts,
                status: AttemptStatus::parse(text)
                    .ok_or_else(|| corrupt("attempt status", text))?,
            }),
            _ => None,
        };
        out.push(weft_engine::Step {
            status: StepStatus::parse(&s.status)
                .ok_or_else(|| corrupt("step status", &s.status))?,
            id: s.step_id,
            attempts: s.attempts,
            output: s.output,
            error: s.error,
            attempt,
            fanout: s.items_total.map(|total| {
                let count = |n: Option<i32>| u32::try_from(n.unwrap_or(0)).unwrap_or(0);
                weft_engine::Fanout {
                    total: count(Some(total)),
                    next: count(s.items_next),
                    succeeded: count(s.items_succeeded),
                    failed: count(s.items_failed),
                    ..Default::default()
                }
            }),
        });
    }
    Ok(weft_engine::Execution {
        id: exec.id,
        workflow: exec.workflow.clone(),
        version: exec.version,
        event_id: exec.event_id.clone(),
        event: exec.event.clone(),
        inputs: exec.inputs.clone(),
        status,
        started_at: exec.started_at,
        steps: out,
        output: exec.output.clone(),
        error: exec.error.clone(),
        defaults: exec
            .defaults
            .as_ref()
            .and_then(|d| serde_json::from_value(d.clone()).ok())
            .unwrap_or_default(),
    })
}

/// Lock an execution, then read its steps.
///
/// Two statements on purpose: under READ COMMITTED a `SELECT … FOR UPDATE` that waited for a
/// concurrent transaction re-reads only the locked row; anything else the same statement reads
/// (e.g. the steps in a subquery) keeps the snapshot taken before the wait. Two results of
/// parallel steps would then each see the other step still running, and the execution would
/// stall. The second statement takes a fresh snapshot, after the lock.
pub async fn lock_execution_with_steps(
    tx: &mut Tx<'_>,
    id: Uuid,
) -> Result<Option<(ExecutionRow, Vec<LiveStep>)>, StoreError> {
    let Some(exec) = lock_execution(tx, id).await? else {
        return Ok(None);
    };
    let steps = live_steps(tx, id).await?;
    Ok(Some((exec, steps)))
}

/// Mark an execution running since `at` and create its steps as `queued`.
pub async fn start_execution(
    tx: &mut Tx<'_>,
    id: Uuid,
    steps: &[&str],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE executions SET status = 'running', started_at = $2 WHERE id = $1",
        id,
        at,
    )
    .execute(&mut **tx)
    .await
    .ctx("starting an execution")?;
    sqlx::query!(
        "INSERT INTO steps (execution_id, step_id, status) \
         SELECT $1, s, 'queued' FROM unnest($2::text[]) AS s ON CONFLICT DO NOTHING",
        id,
        steps as &[&str],
    )
    .execute(&mut **tx)
    .await
    .ctx("creating steps")?;
    Ok(())
}

/// A failed execution that runs its `on_failure` steps: record its error (it stays running)
/// and create those steps `queued`.
pub async fn fail_and_add_steps(
    tx: &mut Tx<'_>,
    id: Uuid,
    error: Option<&Value>,
    steps: &[&str],
) -> Result<(), StoreError> {
    sqlx::query!(
        "WITH e AS (UPDATE executions SET error = $2 WHERE id = $1) \
         INSERT INTO steps (execution_id, step_id, status) \
         SELECT $1, s, 'queued' FROM unnest($3::text[]) AS s ON CONFLICT DO NOTHING",
        id,
        error,
        steps as &[&str],
    )
    .execute(&mut **tx)
    .await
    .ctx("starting on_failure steps")?;
    Ok(())
}

/// End an execution.
pub async fn finish_execution(
    tx: &mut Tx<'_>,
    id: Uuid,
    status: ExecutionStatus,
    output: Option<&Value>,
    error: Option<&Value>,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE executions SET status = $2, output = $3, error = $4, \
         started_at = coalesce(started_at, $5), finished_at = $5 \
         WHERE id = $1",
        id,
        status.as_str(),
        output,
        error,
        at,
    )
    .execute(&mut **tx)
    .await
    .ctx("finishing an execution")?;
    Ok(())
}

/// Set a step's status (and output or error when it ended).
pub async fn set_step(
    tx: &mut Tx<'_>,
    id: Uuid,
    step: &str,
    status: StepStatus,
    output: Option<&Value>,
    error: Option<&Value>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE steps SET status = $3, output = $4, error = $5, \
         started_at = CASE WHEN $3 = 'running' THEN coalesce(started_at, clock_timestamp()) \
                      ELSE started_at END, \
         finished_at = CASE WHEN $6 THEN clock_timestamp() ELSE NULL END \
         WHERE execution_id = $1 AND step_id = $2",
        id,
        step,
        status.as_str(),
        output,
        error,
        status.is_terminal(),
    )
    .execute(&mut **tx)
    .await
    .ctx("updating a step")?;
    Ok(())
}

/// Record attempt `n` of a step, with its id, as running; the step becomes `running`.
pub async fn insert_attempt(
    tx: &mut Tx<'_>,
    execution_id: Uuid,
    step: &str,
    n: i32,
    id: Uuid,
) -> Result<(), StoreError> {
    sqlx::query!(
        "WITH a AS (INSERT INTO attempts (id, execution_id, step_id, n, status) \
                    VALUES ($1, $2, $3, $4, 'running')) \
         UPDATE steps SET status = 'running', attempts = $4, \
                started_at = coalesce(started_at, clock_timestamp()) \
         WHERE execution_id = $2 AND step_id = $3",
        id,
        execution_id,
        step,
        n,
    )
    .execute(&mut **tx)
    .await
    .ctx("recording an attempt")?;
    Ok(())
}

/// End an attempt.
pub async fn finish_attempt(
    tx: &mut Tx<'_>,
    id: Uuid,
    status: AttemptStatus,
    output: Option<&Value>,
    error: Option<&Value>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE attempts SET status = $2, output = $3, error = $4, finished_at = clock_timestamp() WHERE id = $1",
        id,
        status.as_str(),
        output,
        error,
    )
    .execute(&mut **tx)
    .await
    .ctx("finishing an attempt")?;
    Ok(())
}

/// End an attempt and set its step's status, in one statement and only while the attempt is
/// still `running`; returns whether it was (a duplicate or late result finds it ended and
/// changes nothing). With `step` `None` the step stays `running` (a retry is scheduled).
#[allow(clippy::too_many_arguments)]
pub async fn finish_running_attempt(
    tx: &mut Tx<'_>,
    attempt_id: Uuid,
    attempt: AttemptStatus,
    execution_id: Uuid,
    step_id: &str,
    step: Option<StepStatus>,
    output: Option<&Value>,
    error: Option<&Value>,
) -> Result<bool, StoreError> {
    let updated: i64 = sqlx::query_scalar!(
        "WITH a AS (UPDATE attempts SET status = $2, output = $3, error = $4, \
                    finished_at = clock_timestamp() \
                    WHERE id = $1 AND status = 'running' RETURNING id), \
              s AS (UPDATE steps SET status = $7, output = $3, error = $4, \
                    finished_at = CASE WHEN $8 THEN clock_timestamp() ELSE NULL END \
                    WHERE execution_id = $5 AND step_id = $6 AND $7::text IS NOT NULL \
                      AND EXISTS (SELECT 1 FROM a)) \
         SELECT count(*) AS \"count!\" FROM a",
        attempt_id,
        attempt.as_str(),
        output,
        error,
        execution_id,
        step_id,
        step.map(StepStatus::as_str),
        step.is_some_and(StepStatus::is_terminal),
    )
    .fetch_one(&mut **tx)
    .await
    .ctx("finishing an attempt")?;
    Ok(updated == 1)
}

/// Create an execution already `running` since `at` with its default limits, its steps
/// `queued`, unless one with this id exists; returns whether it was created. The creating
/// transaction holds the new row's lock.
pub async fn create_running_execution(
    tx: &mut Tx<'_>,
    e: &NewExecution<'_>,
    steps: &[&str],
    at: DateTime<Utc>,
    defaults: Option<&Value>,
) -> Result<bool, StoreError> {
    let created: i64 = sqlx::query_scalar!(
        "WITH e AS (INSERT INTO executions \
                      (id, workflow, version, status, event_id, event, inputs, started_at, \
                       defaults) \
                    VALUES ($1, $2, $3, 'running', $4, $5, $6, $8, $9) \
                    ON CONFLICT (id) DO NOTHING RETURNING id), \
              s AS (INSERT INTO steps (execution_id, step_id, status) \
                    SELECT e.id, s, 'queued' FROM e, unnest($7::text[]) AS s) \
         SELECT count(*) AS \"count!\" FROM e",
        e.id,
        e.workflow,
        e.version,
        e.event_id,
        e.event,
        e.inputs,
        steps as &[&str],
        at,
        defaults,
    )
    .fetch_one(&mut **tx)
    .await
    .ctx("creating an execution")?;
    Ok(created == 1)
}

/// Keep the log lines an attempt sent with its result (also for a late result: the attempt
/// ended, but what it logged still explains it). The first result's lines win.
pub async fn record_logs(
    tx: &mut Tx<'_>,
    attempt_id: Uuid,
    logs: &Value,
    dropped: i64,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE attempts SET logs = $2, logs_dropped = $3 WHERE id = $1 AND logs IS NULL",
        attempt_id,
        logs,
        dropped,
    )
    .execute(&mut **tx)
    .await
    .ctx("recording an attempt's logs")?;
    Ok(())
}

/// Keep the default limits an execution started with.
pub async fn set_defaults(tx: &mut Tx<'_>, id: Uuid, defaults: &Value) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE executions SET defaults = $2 WHERE id = $1",
        id,
        defaults
    )
    .execute(&mut **tx)
    .await
    .ctx("keeping an execution's default limits")?;
    Ok(())
}

/// Make a new execution the child of a `call` attempt (`parent`), `depth` deep.
pub async fn set_parent(
    tx: &mut Tx<'_>,
    id: Uuid,
    parent: &Value,
    depth: i32,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE executions SET parent = $2, depth = $3 WHERE id = $1",
        id,
        parent,
        depth,
    )
    .execute(&mut **tx)
    .await
    .ctx("linking a child execution")?;
    Ok(())
}

/// The child execution of a `call` attempt, if it was started.
pub async fn child_of(tx: &mut Tx<'_>, attempt_id: Uuid) -> Result<Option<Uuid>, StoreError> {
    sqlx::query_scalar!(
        "SELECT id FROM executions \
         WHERE parent IS NOT NULL AND (parent ->> 'attempt_id')::uuid = $1",
        attempt_id,
    )
    .fetch_optional(&mut **tx)
    .await
    .ctx("finding a child execution")
}

/// How deep an execution nests in `call`s.
pub async fn depth(tx: &mut Tx<'_>, id: Uuid) -> Result<Option<i32>, StoreError> {
    sqlx::query_scalar!("SELECT depth FROM executions WHERE id = $1", id)
        .fetch_optional(&mut **tx)
        .await
        .ctx("reading an execution's depth")
}

/// Whether an attempt is still running.
pub async fn attempt_running(tx: &mut Tx<'_>, id: Uuid) -> Result<bool, StoreError> {
    let status: Option<String> =
        sqlx::query_scalar!("SELECT status FROM attempts WHERE id = $1", id)
            .fetch_optional(&mut **tx)
            .await
            .ctx("reading an attempt's status")?;
    Ok(status.as_deref() == Some(AttemptStatus::Running.as_str()))
}
