//! Step results → state, several per transaction.
//!
//! A batch of results (whatever the consumer had buffered) is applied in one transaction: the
//! executions are locked in ascending id order — a global order, so concurrent batches on other
//! replicas cannot deadlock with this one (every other transaction locks a single execution) —
//! and one commit makes all of them durable with their outbox rows. If the batch fails, each
//! result is retried in a transaction of its own, so one bad result cannot hold others back —
//! unless the database is unreachable: then every result of the batch waits in the consume loop
//! (`Disposition::Unavailable`) until it is back, and none is ever dead-lettered for it.
//!
//! Heartbeats (`dev.weft.task.heartbeat`, same subjects) push the attempt's heartbeat timer
//! back; they need no lock. A result's log lines are kept with its attempt, even when the result
//! itself comes too late to count.
//!
//! A result counts only while its attempt is `running` (checked by the statement that records
//! it): a duplicate, or the late result of an attempt that timed out or was cancelled, changes
//! nothing.

use std::{sync::Arc, time::Duration};

use cloudevents::AttributesReader as _;
use weft_bus::{BatchHandler, Delivery, Disposition};
use weft_engine::Input;
use weft_events::{Heartbeat, Outcome, TaskResult, types};
use weft_store::{ExecutionStatus, Tx, engine as db};

use crate::{
    RouterError,
    engine::{self, Batch},
    service::Shared,
};

pub(crate) struct ResultHandler {
    shared: Arc<Shared>,
}

impl ResultHandler {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

/// Apply `results` (in the order given; `done[i]`, when there, is the outbox row of result
/// `i`'s task run here) in one transaction; if that fails for another reason than an
/// unreachable database, each alone. `Err`: the database is unreachable and nothing was
/// applied (one by one would fail the same way, each after a pool timeout); else each result's
/// outcome.
pub(crate) async fn apply_or_each(
    shared: &Shared,
    results: &[&TaskResult],
    done: &[&str],
) -> Result<Vec<Result<(), RouterError>>, RouterError> {
    if results.is_empty() {
        return Ok(Vec::new()); // a batch of heartbeats: no transaction
    }
    match apply_all(shared, results, done).await {
        Ok(()) => return Ok(results.iter().map(|_| Ok(())).collect()),
        Err(e) if e.is_unavailable() => return Err(e),
        Err(e) if results.len() == 1 => return Ok(vec![Err(e)]),
        Err(e) => {
            tracing::warn!(error = %e, count = results.len(), "batch of results failed; applying one by one");
        }
    }
    let mut each = Vec::with_capacity(results.len());
    for (i, r) in results.iter().enumerate() {
        let row: Vec<&str> = done.get(i).into_iter().copied().collect();
        each.push(apply_all(shared, &[r], &row).await);
    }
    Ok(each)
}

/// Apply results in one transaction, in the order given, and delete the outbox rows `done`
/// (the tasks of results run in this process) in it.
pub(crate) async fn apply_all(
    shared: &Shared,
    results: &[&TaskResult],
    done: &[&str],
) -> Result<(), RouterError> {
    let mut tx = shared.store.begin().await?;
    let mut batch = Batch::default();
    for r in results {
        batch.extend(apply(shared, &mut tx, r).await?);
    }
    weft_store::outbox::delete_in(&mut tx, done).await?;
    engine::commit(shared, tx, batch, "committing results").await
}

/// Apply one result inside `tx`; returns what its decision leaves for the commit.
async fn apply(shared: &Shared, tx: &mut Tx<'_>, r: &TaskResult) -> Result<Batch, RouterError> {
    let Some((exec, steps)) = db::lock_execution_with_steps(tx, r.execution_id).await? else {
        tracing::warn!(execution = %r.execution_id, "result for an unknown execution ignored");
        return Ok(Batch::default());
    };
    if !r.logs.is_empty() || r.logs_dropped > 0 {
        let logs = serde_json::to_value(&r.logs).unwrap_or_default();
        let dropped = i64::try_from(r.logs_dropped).unwrap_or(i64::MAX);
        db::record_logs(tx, r.attempt_id, &logs, dropped).await?;
    }
    if ExecutionStatus::parse(&exec.status).is_none_or(ExecutionStatus::is_terminal) {
        return Ok(Batch::default());
    }
    let store = &shared.store;
    let def = shared.defs.get(store, &exec.workflow, exec.version).await?;
    let st = engine::state(tx, &exec, steps, &def).await?;
    let outcome = match &r.outcome {
        Outcome::Succeeded(v) => weft_engine::Outcome::Succeeded(v.clone()),
        Outcome::Failed(e) => weft_engine::Outcome::Failed(e.clone()),
    };
    let input = Input::Result {
        attempt_id: r.attempt_id,
        step: r.step_id.clone(),
        n: i32::try_from(r.attempt).unwrap_or(i32::MAX),
        outcome: Some(outcome),
    };
    // A duplicate or late result decides nothing and writes nothing.
    engine::decide(tx, &exec, st, &def, input, engine::now()).await
}

/// What executors send on `weft.results.>`.
enum Message {
    Result(Box<TaskResult>),
    Heartbeat(Heartbeat),
}

fn decode(delivery: &Delivery) -> Result<Message, String> {
    let event = weft_events::decode_event(&delivery.payload).map_err(|e| e.to_string())?;
    let mut data = weft_events::envelope::data_json(&event).map_err(|e| e.to_string())?;
    if event.ty() == types::TASK_HEARTBEAT {
        return serde_json::from_value(data)
            .map(Message::Heartbeat)
            .map_err(|e| e.to_string());
    }
    // PostgreSQL cannot store U+0000 (an HTTP response body may hold it): store U+FFFD.
    weft_events::text::replace_nul(&mut data);
    serde_json::from_value(data)
        .map(|r| Message::Result(Box::new(r)))
        .map_err(|e| e.to_string())
}

impl BatchHandler for ResultHandler {
    async fn handle_batch(&self, deliveries: Vec<Delivery>) -> Vec<Disposition> {
        let mut out = vec![Disposition::Ack; deliveries.len()];
        let mut results: Vec<(usize, TaskResult)> = Vec::with_capacity(deliveries.len());
        for (i, d) in deliveries.iter().enumerate() {
            match decode(d) {
                Ok(Message::Result(r)) => results.push((i, *r)),
                Ok(Message::Heartbeat(h)) => {
                    let after = Duration::from_millis(h.heartbeat_timeout_ms);
                    if let Err(e) = self.shared.store.push_heartbeat(h.attempt_id, after).await {
                        // The next heartbeat (a third of the period later) tries again.
                        tracing::debug!(attempt = %h.attempt_id, error = %e, "heartbeat not recorded");
                    }
                }
                Err(reason) => out[i] = Disposition::DeadLetter(reason),
            }
        }
        results.sort_by_key(|(_, r)| r.execution_id);
        let all: Vec<&TaskResult> = results.iter().map(|(_, r)| r).collect();
        match apply_or_each(&self.shared, &all, &[]).await {
            Err(e) => {
                tracing::warn!(error = %e, count = all.len(), "cannot apply results; waiting for the database");
                let wait = e.disposition(Duration::from_secs(1));
                for (i, _) in &results {
                    out[*i] = wait.clone();
                }
            }
            Ok(each) => {
                for ((i, _), applied) in results.iter().zip(each) {
                    if let Err(e) = applied {
                        tracing::warn!(error = %e, "cannot apply result; will retry");
                        out[*i] = e.disposition(Duration::from_secs(1));
                    }
                }
            }
        }
        out
    }
}
