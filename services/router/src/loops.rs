//! Background loops of every router replica: firing due timers and sweeping the outbox.

use std::{sync::Arc, time::Duration};

use weft_engine::Input;
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
    let input = Input::Timer {
        timer: timer.kind,
        step: timer.step_id.clone(),
        attempt_id: timer.attempt_id,
        instance: timer.instance,
    };
    let batch = engine::decide(&mut tx, &exec, st, &def, input, engine::now()).await?;
    if batch.journal.is_empty() {
        // Stale (its attempt ended first): only the claim is written.
        return Ok(weft_store::commit(tx, "dropping a stale timer").await?);
    }
    engine::commit(store, &shared.bus, tx, batch, "firing a timer").await
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
