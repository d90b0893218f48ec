//! `on.schedule.overlap`: what a schedule tick does while an execution of its workflow runs.
//!
//! Consumes `dev.weft.schedule.fired` events (from [`crate::events`]) and the terminal
//! lifecycle events of workflows with a schedule; touches PostgreSQL (executions, under the
//! workflow's advisory lock, see `weft_store::overlap`) and, through the outbox, the bus.
//!
//! - `skip`: no execution for the tick while one of the workflow is running;
//! - `buffer_one`: the tick waits as a `queued` execution, at most one; it starts when the
//!   workflow has nothing running any more (on the lifecycle event that says so);
//! - `cancel_previous`: running executions are cancelled, then the tick starts, in one
//!   transaction; after the commit their running attempts' executors are told to stop
//!   (`weft.cancel.<agent>`, see [`crate::cancel`]).
//!
//! Every decision for one workflow happens under one advisory lock, so two router replicas
//! deciding two ticks (or a tick and a promotion) cannot both see "nothing running".
//! Dropped ticks are logged and counted in `weft_schedule_ticks_skipped_total`.

use cloudevents::{AttributesReader, Event};
use serde_json::Value;
use weft_events::types;
use weft_flow::{Workflow, triggers::Overlap};
use weft_store::{ExecutionStatus, engine as db, overlap};

use weft_engine::Input;

use crate::{
    RouterError,
    engine::{self, Batch},
    service::Shared,
};

/// The overlap policy of the schedule trigger that fired `event` (`allow` for any other
/// event): the trigger whose `cron` and `timezone` are the event's, else the first with its
/// `cron`.
pub fn policy(wf: &Workflow, event: &Event, data: &Value) -> Overlap {
    if event.ty() != types::SCHEDULE_FIRED {
        return Overlap::Allow;
    }
    let schedules = wf.on.schedule.as_slice();
    let cron = data["schedule"].as_str();
    let tz = data["timezone"].as_str();
    schedules
        .iter()
        .find(|s| Some(s.cron.as_str()) == cron && Some(s.timezone.as_str()) == tz)
        .or_else(|| schedules.iter().find(|s| Some(s.cron.as_str()) == cron))
        .map_or(Overlap::Allow, |s| s.overlap)
}

/// Decide a tick of a workflow whose schedule has a policy other than `allow`.
pub async fn start(
    shared: &Shared,
    new: &db::NewExecution<'_>,
    wf: &Workflow,
    policy: Overlap,
) -> Result<(), RouterError> {
    let store = &shared.store;
    let mut tx = store.begin().await?;
    overlap::lock_workflow(&mut tx, &wf.name).await?;
    if overlap::execution_exists(&mut tx, new.id).await? {
        return Ok(()); // a redelivered tick: decided before
    }
    let running = overlap::running(&mut tx, &wf.name).await?;
    let mut batch = Batch::default();
    match policy {
        Overlap::Skip if !running.is_empty() => {
            skipped(wf, new, "overlap_skip", "an execution is still running");
            return Ok(());
        }
        Overlap::BufferOne => {
            let waiting = overlap::buffered(&mut tx, &wf.name, types::SCHEDULE_FIRED).await?;
            if let (Some(id), true) = (waiting, running.is_empty()) {
                // Nothing runs, yet a tick waits (its promotion is on the way): start it now,
                // and this tick becomes the waiting one.
                batch.extend(change_locked(shared, &mut tx, id, Change::Promote).await?);
            } else if waiting.is_some() {
                skipped(wf, new, "overlap_buffer_full", "one tick already waits");
                return Ok(());
            }
            if waiting.is_some() || !running.is_empty() {
                let buffered = db::NewExecution {
                    status: ExecutionStatus::Queued,
                    ..new.clone()
                };
                db::insert_execution(&mut tx, &buffered).await?;
                tracing::info!(workflow = %wf.name, execution = %new.id, "schedule tick waits for the running execution (overlap: buffer_one)");
                return engine::commit(shared, tx, batch, "buffering a tick").await;
            }
        }
        Overlap::CancelPrevious => {
            for id in running {
                let reason = "cancelled by a newer schedule tick (overlap: cancel_previous)";
                let change = Change::Cancel(reason.into());
                batch.extend(change_locked(shared, &mut tx, id, change).await?);
            }
        }
        Overlap::Allow | Overlap::Skip => {}
    }
    let steps: Vec<&str> = wf.steps.keys().map(String::as_str).collect();
    let at = engine::now();
    let defaults = shared.defaults_json.as_ref();
    if db::create_running_execution(&mut tx, new, &steps, at, defaults).await? {
        let def = shared.defs.get(store, &wf.name, new.version).await?;
        let (exec, st) = crate::events::created(new, &def, at, defaults);
        batch.extend(engine::decide(&mut tx, &exec, st, &def, shared.start(), at).await?);
    }
    engine::commit(shared, tx, batch, "starting a scheduled execution").await
}

/// An execution of `workflow` ended: start its buffered tick, if one waits and nothing else of
/// the workflow runs.
pub async fn promote(shared: &Shared, workflow: &str) -> Result<(), RouterError> {
    let store = &shared.store;
    let mut tx = store.begin().await?;
    overlap::lock_workflow(&mut tx, workflow).await?;
    if !overlap::running(&mut tx, workflow).await?.is_empty() {
        return Ok(());
    }
    let Some(id) = overlap::buffered(&mut tx, workflow, types::SCHEDULE_FIRED).await? else {
        return Ok(());
    };
    let batch = change_locked(shared, &mut tx, id, Change::Promote).await?;
    engine::commit(shared, tx, batch, "starting a buffered tick").await
}

/// What a tick (or a run of a `concurrency` / `debounce` group) does to another execution.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    /// Start the buffered (queued) execution.
    Promote,
    /// Cancel the running execution, for this reason.
    Cancel(String),
    /// Cancel the queued execution before it starts, for this reason.
    Drop(String),
}

/// Apply `change` to execution `id` under its row lock, if it is still in the status the
/// change applies to (queued to promote, running to cancel).
pub(crate) async fn change_locked(
    shared: &Shared,
    tx: &mut weft_store::Tx<'static>,
    id: uuid::Uuid,
    change: Change,
) -> Result<Batch, RouterError> {
    let Some((exec, steps)) = db::lock_execution_with_steps(tx, id).await? else {
        return Ok(Batch::default());
    };
    let applies_to = match change {
        Change::Promote | Change::Drop(_) => ExecutionStatus::Queued,
        Change::Cancel(_) => ExecutionStatus::Running,
    };
    if exec.status != applies_to.as_str() {
        return Ok(Batch::default());
    }
    let def = shared
        .defs
        .get(&shared.store, &exec.workflow, exec.version)
        .await?;
    let workflow = &exec.workflow;
    let input = match change {
        Change::Promote => {
            tracing::info!(%workflow, execution = %id, "a waiting run starts");
            shared.start()
        }
        Change::Cancel(reason) | Change::Drop(reason) => {
            tracing::info!(%workflow, execution = %id, "{reason}");
            Input::Cancel { reason }
        }
    };
    let st = engine::state(tx, &exec, steps, &def).await?;
    engine::decide(tx, &exec, st, &def, input, engine::now()).await
}

fn skipped(wf: &Workflow, new: &db::NewExecution<'_>, reason: &'static str, why: &str) {
    tracing::info!(workflow = %wf.name, event = %new.event_id, reason, "schedule tick skipped: {why}");
    metrics::counter!("weft_schedule_ticks_skipped_total", "workflow" => wf.name.clone(), "reason" => reason)
        .increment(1);
}

/// Whether `event` says an execution of a workflow ended; returns that workflow.
pub fn ended_workflow<'a>(event: &Event, data: &'a Value) -> Option<&'a str> {
    let ended = [
        types::EXECUTION_SUCCEEDED,
        types::EXECUTION_FAILED,
        types::EXECUTION_CANCELLED,
        types::EXECUTION_TIMED_OUT,
    ];
    let from_router = event.source().as_str() == types::SOURCE_ROUTER;
    (from_router && ended.contains(&event.ty())).then(|| data["workflow"].as_str())?
}
