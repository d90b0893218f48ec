//! Background loops of every router replica: firing due timers and sweeping the outbox.

use std::{sync::Arc, time::Duration};

use serde_json::json;
use weft_events::{ErrorCode, StepError};
use weft_runtime::Shutdown;
use weft_store::{
    AttemptStatus, ExecutionStatus, StepStatus, engine as db,
    timers::{self, Timer, TimerKind},
};

use crate::{
    RouterError,
    engine::{self, Run},
    service::Shared,
};

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
    let attempt = match timer.attempt_id {
        Some(id) => db::attempt(&mut tx, id).await?,
        None => None,
    };
    let def = shared.defs.get(store, &exec.workflow, exec.version).await?;
    let mut run = Run::new(&mut tx, exec, steps, &def);
    match (timer.kind, timer.step_id.as_deref()) {
        (TimerKind::Retry, Some(step)) => {
            let next = run
                .step(step)
                .filter(|s| s.status == StepStatus::Running.as_str())
                .map(|s| s.attempts + 1);
            if let Some(n) = next {
                run.try_dispatch(step, n).await?;
                run.advance().await?;
            }
        }
        (kind @ (TimerKind::StepTimeout | TimerKind::HeartbeatTimeout), Some(step)) => {
            if let Some(a) = attempt.filter(|a| a.status == AttemptStatus::Running.as_str()) {
                let Some(s) = def.steps.get(step) else {
                    return Ok(weft_store::commit(tx, "dropping a stale timer").await?);
                };
                let message = if kind == TimerKind::StepTimeout {
                    format!(
                        "no result within {}",
                        humanize(s.timeout.unwrap_or_default())
                    )
                } else {
                    let limit = humanize(s.heartbeat_timeout.unwrap_or_default());
                    format!("no heartbeat within {limit}: the executor went silent")
                };
                run.stops
                    .push(crate::cancel::Stop::new(&s.uses, a.id, message.clone()));
                let err = StepError::retryable(ErrorCode::Timeout, message);
                run.attempt_ended(a.id, step, a.n, Err(err), AttemptStatus::TimedOut)
                    .await?;
                // (`false` cannot happen: the attempt was read as running under the lock.)
            }
        }
        (TimerKind::WorkflowTimeout, _) => {
            let limit = humanize(def.timeout.unwrap_or_default());
            let error = json!({"code": "timeout", "message": format!("execution did not finish within {limit}")});
            run.end(ExecutionStatus::TimedOut, None, Some(error))
                .await?;
        }
        _ => tracing::warn!(timer = %timer.id, "timer without a step dropped"),
    }
    let emitted = std::mem::take(&mut run.emitted);
    let stops = std::mem::take(&mut run.stops);
    engine::commit(store, &shared.bus, tx, emitted, "firing a timer").await?;
    crate::cancel::publish(&shared.bus, stops).await;
    Ok(())
}

fn humanize(d: Duration) -> String {
    humantime::format_duration(d).to_string()
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
