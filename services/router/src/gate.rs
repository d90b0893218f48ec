//! A workflow's `concurrency` and `debounce`: which runs of a group (the workflow and its
//! rendered `key`) start, wait, or are dropped.
//!
//! Consumes the events that start runs of such workflows (from [`crate::events`]) and the
//! lifecycle events of their ended runs; touches PostgreSQL (executions and timers, under the
//! group's advisory lock, see `weft_store::groups`) and, through the outbox, the bus.
//!
//! `concurrency`: with fewer than `limit` runs of the group running, a run starts; otherwise
//! `queue` keeps it `queued` until a run of the group ends (oldest first), `skip` records it
//! `cancelled` (code `cancelled`, the reason says `concurrency: skip`), `cancel_previous`
//! cancels the group's oldest running runs to make room and starts it. `debounce`: each event
//! of a group cancels the group's waiting run and waits itself, `queued`, with a `debounce`
//! timer due after `period`; the timer starts it. Every decision for one group happens under
//! its lock, so two router replicas never both see room for one more run.

use serde_json::Value;
use uuid::Uuid;
use weft_engine::TimerKind;
use weft_flow::{
    Limits, Workflow,
    gate::{Concurrency, Policy},
};
use weft_store::{
    ExecutionStatus, Tx, engine as db, groups,
    timers::{self, Timer},
};

use crate::{
    RouterError,
    engine::{self, Batch},
    overlap::{Change, change_locked},
    service::Shared,
};

/// The group of a run: its `key` rendered with the triggering event (`''` without a key). An
/// expression error is the run's error.
pub(crate) fn key(key: Option<&str>, ctx: &Value) -> Result<String, Value> {
    let Some(key) = key else {
        return Ok(String::new());
    };
    let template = Value::String(key.to_string());
    match weft_flow::render_within(&template, ctx, &Limits::STEP) {
        Ok(Value::String(s)) => Ok(s),
        Ok(other) => Ok(other.to_string()),
        Err(e) => {
            let message = format!("`key`: {e}");
            Err(serde_json::json!({"code": e.code().as_str(), "message": message}))
        }
    }
}

/// Admit a run of a workflow with `concurrency` into group `key`: start it, queue it, drop it
/// or make room for it. `queued` says the API created it `queued` already (a manual run).
pub(crate) async fn admit(
    shared: &Shared,
    new: &db::NewExecution<'_>,
    wf: &Workflow,
    gate: &Concurrency,
    key: &str,
    queued: bool,
) -> Result<(), RouterError> {
    let Some(mut tx) = locked_fresh(shared, new, wf, key, queued).await? else {
        return Ok(()); // a redelivered event: decided before
    };
    let running = groups::members(&mut tx, &wf.name, key, ExecutionStatus::Running).await?;
    let limit = gate.limit as usize;
    let mut batch = Batch::default();
    if gate.policy == Policy::Queue {
        let waiting = groups::members(&mut tx, &wf.name, key, ExecutionStatus::Queued).await?;
        if !waiting.is_empty() {
            // Older runs wait (a run just ended, their start is on its way): this one goes
            // behind them, and those that fit start now, oldest first.
            enqueue(&mut tx, new, key, queued).await?;
            let room = limit.saturating_sub(running.len());
            for id in waiting.into_iter().chain([new.id]).take(room) {
                batch.extend(change_locked(shared, &mut tx, id, Change::Promote).await?);
            }
            return engine::commit(shared, tx, batch, "queueing a run").await;
        }
    }
    if running.len() >= limit {
        match gate.policy {
            Policy::Queue => {
                enqueue(&mut tx, new, key, queued).await?;
                tracing::info!(workflow = %wf.name, execution = %new.id, group = key, "run waits for its group (concurrency: queue)");
                return engine::commit(shared, tx, batch, "queueing a run").await;
            }
            Policy::Skip => {
                enqueue(&mut tx, new, key, queued).await?;
                let reason = format!(
                    "not run: {} run(s) of its group were running (concurrency: skip, limit {limit})",
                    running.len()
                );
                let change = Change::Drop(reason);
                batch.extend(change_locked(shared, &mut tx, new.id, change).await?);
                return engine::commit(shared, tx, batch, "skipping a run").await;
            }
            Policy::CancelPrevious => {
                let reason = "cancelled by a newer run of its group (concurrency: cancel_previous)";
                for id in &running[..=running.len() - limit] {
                    let change = Change::Cancel(reason.into());
                    batch.extend(change_locked(shared, &mut tx, *id, change).await?);
                }
            }
        }
    }
    if queued {
        groups::join(&mut tx, new.id, key).await?;
        batch.extend(change_locked(shared, &mut tx, new.id, Change::Promote).await?);
    } else {
        batch.extend(start_running(shared, &mut tx, new, wf, key).await?);
    }
    engine::commit(shared, tx, batch, "admitting a run").await
}

/// A run of a `debounce` workflow in group `key`: the group's waiting run is dropped and this
/// one waits `period` for the next.
pub(crate) async fn debounce(
    shared: &Shared,
    new: &db::NewExecution<'_>,
    wf: &Workflow,
    period: std::time::Duration,
    key: &str,
    queued: bool,
) -> Result<(), RouterError> {
    let Some(mut tx) = locked_fresh(shared, new, wf, key, queued).await? else {
        return Ok(()); // a redelivered event: decided before
    };
    let mut batch = Batch::default();
    for id in groups::members(&mut tx, &wf.name, key, ExecutionStatus::Queued).await? {
        let reason = "debounced: a newer event of its group came within the period";
        batch.extend(change_locked(shared, &mut tx, id, Change::Drop(reason.into())).await?);
    }
    enqueue(&mut tx, new, key, queued).await?;
    let after = chrono::Duration::from_std(period).unwrap_or(chrono::Duration::MAX);
    let timer = Timer {
        id: Uuid::new_v5(&new.id, b"timer/debounce"),
        execution_id: new.id,
        kind: TimerKind::Debounce,
        step_id: None,
        attempt_id: None,
        instance: None,
        due_at: engine::now() + after,
    };
    timers::insert(&mut tx, &timer).await?;
    engine::commit(shared, tx, batch, "debouncing a run").await
}

/// A run of workflow `wf` (with `concurrency: queue`) ended: start the oldest waiting runs of
/// its group while the group has room.
pub(crate) async fn ended(
    shared: &Shared,
    wf: &Workflow,
    execution: Uuid,
) -> Result<(), RouterError> {
    let Some(gate) = wf
        .concurrency
        .as_ref()
        .filter(|c| c.policy == Policy::Queue)
    else {
        return Ok(());
    };
    let store = &shared.store;
    let mut tx = store.begin().await?;
    let Some(key) = groups::of(&mut tx, execution).await? else {
        return Ok(());
    };
    groups::lock(&mut tx, &wf.name, &key).await?;
    let running = groups::members(&mut tx, &wf.name, &key, ExecutionStatus::Running).await?;
    let room = (gate.limit as usize).saturating_sub(running.len());
    let waiting = groups::members(&mut tx, &wf.name, &key, ExecutionStatus::Queued).await?;
    let mut batch = Batch::default();
    for id in waiting.into_iter().take(room) {
        batch.extend(change_locked(shared, &mut tx, id, Change::Promote).await?);
    }
    engine::commit(shared, tx, batch, "starting waiting runs").await
}

/// A transaction holding group `key`'s lock, when the run is new to the gate.
async fn locked_fresh(
    shared: &Shared,
    new: &db::NewExecution<'_>,
    wf: &Workflow,
    key: &str,
    queued: bool,
) -> Result<Option<Tx<'static>>, RouterError> {
    let mut tx = shared.store.begin().await?;
    groups::lock(&mut tx, &wf.name, key).await?;
    Ok(fresh(&mut tx, new, queued).await?.then_some(tx))
}

/// Whether the run is new to the gate: not created yet, or created `queued` by the API and in
/// no group yet.
async fn fresh(
    tx: &mut Tx<'static>,
    new: &db::NewExecution<'_>,
    queued: bool,
) -> Result<bool, RouterError> {
    if !weft_store::overlap::execution_exists(tx, new.id).await? {
        return Ok(!queued);
    }
    Ok(queued && groups::of(tx, new.id).await?.is_none())
}

/// The run waits, `queued`, in group `key`.
async fn enqueue(
    tx: &mut Tx<'static>,
    new: &db::NewExecution<'_>,
    key: &str,
    queued: bool,
) -> Result<(), RouterError> {
    if !queued {
        let waiting = db::NewExecution {
            status: ExecutionStatus::Queued,
            ..new.clone()
        };
        db::insert_execution(tx, &waiting).await?;
    }
    groups::join(tx, new.id, key).await?;
    Ok(())
}

/// Create the run `running` in group `key` and decide its start.
async fn start_running(
    shared: &Shared,
    tx: &mut Tx<'static>,
    new: &db::NewExecution<'_>,
    wf: &Workflow,
    key: &str,
) -> Result<Batch, RouterError> {
    let steps: Vec<&str> = wf.steps.keys().map(String::as_str).collect();
    let at = engine::now();
    let defaults = shared.defaults_json.as_ref();
    if !db::create_running_execution(tx, new, &steps, at, defaults).await? {
        return Ok(Batch::default());
    }
    groups::join(tx, new.id, key).await?;
    let def = shared
        .defs
        .get(&shared.store, &wf.name, new.version)
        .await?;
    let (exec, st) = crate::events::created(new, &def, at, defaults);
    engine::decide(tx, &exec, st, &def, shared.start(), at).await
}
