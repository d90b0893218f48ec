//! Background loops of every router replica: firing due timers, timing out runs and attempts
//! past their default limits, publishing rate-limited tasks when their slot comes, and
//! sweeping the outbox.

use std::{sync::Arc, time::Duration};

use weft_engine::{Input, TimerKind};
use weft_runtime::Shutdown;
use weft_store::{
    ExecutionStatus, engine as db,
    timers::{self, Timer},
};

use crate::{RouterError, engine, service::Shared};

/// Fire due timers every `poll` until shutdown.
pub(crate) async fn timers(shared: Arc<Shared>, poll: Duration, shutdown: Shutdown) {
    while !shutdown.is_triggered() {
        match shared.store.due_timers(200).await {
            Ok(due) => {
                for timer in due {
                    if let Err(e) = fire(&shared, &timer).await {
                        tracing::warn!(timer = %timer.id, error = %e, "timer not fired; will retry");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read timers"),
        }
        tokio::select! {
            _ = shutdown.wait() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

/// Fire one timer: claim it under its execution's lock, so exactly one replica acts on it.
async fn fire(shared: &Shared, timer: &Timer) -> Result<(), RouterError> {
    let store = &shared.store;
    let mut tx = store.begin().await?;
    let Some((exec, steps)) = db::lock_execution_with_steps(&mut tx, timer.execution_id).await?
    else {
        return Ok(());
    };
    if timers::claim(&mut tx, timer.id).await?.is_none() {
        return Ok(()); // another replica, or the result, got there first
    }
    if ExecutionStatus::parse(&exec.status).is_none_or(ExecutionStatus::is_terminal) {
        return Ok(weft_store::commit(tx, "dropping a stale timer").await?);
    }
    let def = shared.defs.get(store, &exec.workflow, exec.version).await?;
    let st = engine::state(&mut tx, &exec, steps, &def).await?;
    let input = match timer.kind {
        // A debounced run's group stayed quiet: it starts.
        TimerKind::Debounce => shared.start(),
        kind => Input::Timer {
            timer: kind,
            step: timer.step_id.clone(),
            attempt_id: timer.attempt_id,
            instance: timer.instance,
        },
    };
    let batch = engine::decide(&mut tx, &exec, st, &def, input, engine::now()).await?;
    if batch.journal.is_empty() {
        // Stale (its attempt ended first): only the claim is written.
        return Ok(weft_store::commit(tx, "dropping a stale timer").await?);
    }
    engine::commit(shared, tx, batch, "firing a timer").await
}

/// Every `every` until shutdown, time out the runs and attempts past their default limits (a
/// default limit has no timer row; see `weft_engine::Defaults`).
pub(crate) async fn limits(shared: Arc<Shared>, every: Duration, shutdown: Shutdown) {
    while !shutdown.is_triggered() {
        if let Err(e) = sweep_limits(&shared).await {
            tracing::warn!(error = %e, "default limit sweep failed; will retry");
        }
        tokio::select! {
            _ = shutdown.wait() => {}
            _ = tokio::time::sleep(every) => {}
        }
    }
}

async fn sweep_limits(shared: &Shared) -> Result<(), RouterError> {
    let pool = shared.store.pool();
    for id in weft_store::limits::overdue_runs(pool, 200).await? {
        let input = Input::Timer {
            timer: TimerKind::WorkflowTimeout,
            step: None,
            attempt_id: None,
            instance: None,
        };
        fire_default(shared, id, input, |wf| wf.timeout.is_none()).await?;
    }
    for a in weft_store::limits::overdue_attempts(pool, 200).await? {
        let step = a.step_id.clone();
        let input = Input::Timer {
            timer: TimerKind::StepTimeout,
            step: Some(a.step_id),
            attempt_id: Some(a.attempt_id),
            instance: a.instance,
        };
        let default =
            |wf: &weft_flow::Workflow| wf.step(&step).is_some_and(|s| s.timeout.is_none());
        fire_default(shared, a.execution_id, input, default).await?;
    }
    Ok(())
}

/// Decide a default limit's timeout for execution `id` under its lock, when its workflow sets
/// no limit of its own (`default`); a run or attempt that ended meanwhile decides nothing.
async fn fire_default(
    shared: &Shared,
    id: uuid::Uuid,
    input: Input,
    default: impl Fn(&weft_flow::Workflow) -> bool,
) -> Result<(), RouterError> {
    let store = &shared.store;
    let mut tx = store.begin().await?;
    let Some(engine::Locked { exec, def, st }) = engine::lock_unended(shared, &mut tx, id).await?
    else {
        return Ok(());
    };
    if !default(def.as_ref()) {
        return Ok(()); // its own timer fires it
    }
    let batch = engine::decide(&mut tx, &exec, st, &def, input, engine::now()).await?;
    if batch.journal.is_empty() {
        return Ok(());
    }
    engine::commit(shared, tx, batch, "timing out past a default limit").await
}

/// Publish rate-limited tasks whose slot came, every `poll`, until shutdown.
pub(crate) async fn delayed(shared: Arc<Shared>, poll: Duration, shutdown: Shutdown) {
    while !shutdown.is_triggered() {
        if let Err(e) = shared.store.publish_due(&shared.bus, 500).await {
            tracing::warn!(error = %e, "cannot publish delayed tasks; will retry");
        }
        tokio::select! {
            _ = shutdown.wait() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

/// Publish outbox rows their writers left behind, every `every`, until shutdown.
pub(crate) async fn sweeper(
    shared: Arc<Shared>,
    every: Duration,
    grace: Duration,
    shutdown: Shutdown,
) {
    while !shutdown.is_triggered() {
        if let Err(e) = shared.store.sweep_outbox(&shared.bus, grace, 500).await {
            tracing::warn!(error = %e, "outbox sweep failed");
        }
        tokio::select! {
            _ = shutdown.wait() => {}
            _ = tokio::time::sleep(every) => {}
        }
    }
}
