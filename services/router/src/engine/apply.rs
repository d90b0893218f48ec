//! Applying a decision's effects inside the execution's transaction.
//!
//! Consumes [`weft_engine::Effect`]s; writes executions, steps, attempts, `foreach` items
//! (instances), timers and waits through `weft_store` (a wait that starts leaves the kept events
//! it may take in the [`Batch`]'s `offers`); queues tasks, lifecycle events and — when a
//! child execution of a `call` ends — its parent attempt's result for the outbox, and stops
//! for after the commit (in the [`Batch`]). A stopped `call` attempt is not a message: its
//! child gets a `cancel` timer. Counts `weft_steps_dispatched_total`,
//! `weft_executions_started_total`, `weft_executions_finished_total{status}` and
//! `weft_expressions_over_limit_total`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use weft_engine::{Effect, ExecutionStatus, StepStatus};
use weft_events::{Task, subjects, trace, types};
use weft_flow::Workflow;
use weft_store::{
    AttemptStatus, Tx, engine as db,
    executions::ExecutionRow,
    instances,
    outbox::OutboxMessage,
    timers::{self, Timer},
};

use super::{
    Batch, LiveEvent,
    rate::{self, Delays},
};
use crate::{RouterError, cancel::Stop, lifecycle};

/// Write `effects` in order.
pub(super) async fn apply(
    tx: &mut Tx<'_>,
    exec: &ExecutionRow,
    wf: &Workflow,
    effects: Vec<Effect>,
    at: DateTime<Utc>,
    batch: &mut Batch,
) -> Result<(), RouterError> {
    let id = exec.id;
    let mut delays = Delays::default();
    for effect in effects {
        // A task is moved into its message, not copied (its `with` may be large).
        let effect = match effect {
            Effect::Dispatch(task) => {
                let slot = delays
                    .reserve(tx, wf, &task.step_id, task.attempt_id, at)
                    .await?;
                dispatch(tx, exec, *task, slot, batch).await?;
                continue;
            }
            // Stored before the commit (so are the bytes: moved, not copied).
            Effect::OutputStored {
                reference, bytes, ..
            } => {
                batch.stored.push((reference, bytes));
                continue;
            }
            other => other,
        };
        if let Effect::AttemptEnded {
            attempt_id,
            step,
            status,
            ..
        } = &effect
        {
            rate::withdraw(tx, wf, step, *attempt_id, *status).await?;
        }
        match &effect {
            Effect::FanoutStarted { step, items } => {
                instances::start(tx, id, step, items).await?;
                batch.live.push(live(exec, step, "started", None, None));
            }
            Effect::DefaultsSet(defaults) => {
                let json = serde_json::to_value(defaults).unwrap_or_default();
                if exec.defaults.as_ref() != Some(&json) {
                    db::set_defaults(tx, id, &json).await?;
                }
            }
            Effect::ExecutionStarted => {
                let steps: Vec<&str> = wf.steps.keys().map(String::as_str).collect();
                db::start_execution(tx, id, &steps, at).await?;
            }
            Effect::StepSet {
                step,
                status,
                output,
                error,
            } => {
                if error
                    .as_ref()
                    .is_some_and(|e| e["code"] == "expression_limit")
                {
                    metrics::counter!("weft_expressions_over_limit_total").increment(1);
                }
                db::set_step(tx, id, step, *status, output.as_ref(), error.as_ref()).await?;
                let def = wf.step(step);
                let foreach = def.is_some_and(|s| s.foreach.is_some());
                if foreach && status.is_terminal() && *status != StepStatus::Succeeded {
                    instances::close(tx, id, step).await?;
                }
                if def.is_some_and(|s| s.wait.is_some()) && status.is_terminal() {
                    weft_store::waits::remove(tx, id, step).await?;
                }
                // A step that starts without an attempt (a sleep) is `started`, as a dispatch.
                let moved = match status {
                    StepStatus::Running => "started",
                    other => other.as_str(),
                };
                batch
                    .live
                    .push(live(exec, step, moved, None, error.as_ref()));
            }
            Effect::Dispatch(_) | Effect::OutputStored { .. } => {} // applied above
            Effect::WaitStarted { step, since } => {
                let kept = crate::waits::start(tx, id, wf, step, *since).await?;
                batch
                    .offers
                    .extend(kept.into_iter().map(|e| (step.clone(), e)));
            }
            Effect::AttemptRefused {
                attempt_id,
                step,
                n,
                instance: Some(index),
                error,
            } => {
                instances::insert_attempt(tx, id, step, *index, *n, *attempt_id).await?;
                let (failed, item) = (AttemptStatus::Failed, Some(StepStatus::Failed));
                let (a, i) = (*attempt_id, *index);
                instances::finish_attempt(tx, a, failed, id, step, i, item, None, Some(error))
                    .await?;
            }
            Effect::AttemptRefused {
                attempt_id,
                step,
                n,
                instance: None,
                error,
            } => {
                db::insert_attempt(tx, id, step, *n, *attempt_id).await?;
                let status = AttemptStatus::Failed;
                db::finish_attempt(tx, *attempt_id, status, None, Some(error)).await?;
                batch
                    .live
                    .push(live(exec, step, "failed", Some(*n), Some(error)));
            }
            Effect::AttemptEnded {
                attempt_id,
                step,
                status,
                instance: Some(index),
                step_status,
                output,
                error,
            } => {
                let (output, error) = (output.as_ref(), error.as_ref());
                let (a, s, i) = (*attempt_id, *status, *index);
                let applied =
                    instances::finish_attempt(tx, a, s, id, step, i, *step_status, output, error)
                        .await?;
                if !applied {
                    tracing::error!(execution = %id, attempt = %a, "item attempt was not running");
                }
            }
            Effect::AttemptEnded {
                attempt_id,
                step,
                status,
                instance: None,
                step_status,
                output,
                error,
            } => {
                let (output, error) = (output.as_ref(), error.as_ref());
                let applied = db::finish_running_attempt(
                    tx,
                    *attempt_id,
                    *status,
                    id,
                    step,
                    *step_status,
                    output,
                    error,
                )
                .await?;
                if !applied {
                    // The core read it as running under this lock: the rows disagree.
                    tracing::error!(execution = %id, attempt = %attempt_id, "attempt was not running");
                }
                let moved = step_status.map_or("retrying", |s| s.as_str());
                batch.live.push(live(exec, step, moved, None, error));
            }
            Effect::TimerSet(t) => {
                let timer = Timer {
                    id: t.id,
                    execution_id: id,
                    kind: t.kind,
                    step_id: t.step.clone(),
                    attempt_id: t.attempt_id,
                    instance: t.instance,
                    due_at: delays.shift(t.attempt_id, t.due_at),
                };
                timers::insert(tx, &timer).await?;
            }
            Effect::TimersDroppedForAttempt(attempt) => {
                timers::cancel_for_attempt(tx, *attempt).await?;
            }
            Effect::TimersDropped => timers::cancel_for_execution(tx, id).await?,
            Effect::Failing { error, steps } => {
                let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
                db::fail_and_add_steps(tx, id, error.as_ref(), &steps).await?;
            }
            Effect::Stop {
                agent, attempt_id, ..
            } if agent == weft_flow::CALL_AGENT => cancel_child(tx, *attempt_id, at).await?,
            Effect::Stop {
                agent,
                attempt_id,
                reason,
            } => batch
                .stops
                .push(Stop::new(agent, *attempt_id, reason.clone())),
            Effect::ExecutionEnded {
                status,
                output,
                error,
            } => {
                let (output, error) = (output.as_ref(), error.as_ref());
                db::finish_execution(tx, id, *status, output, error, at).await?;
                if let Some(link) = &exec.parent {
                    let outcome = crate::calls::outcome(id, *status, output, error);
                    batch
                        .emitted
                        .push(crate::calls::result_message(link, outcome));
                }
                batch.live.push(ended(exec, *status, error));
                metrics::counter!("weft_executions_finished_total", "status" => status.as_str())
                    .increment(1);
            }
            Effect::Lifecycle {
                status,
                output,
                error,
            } => {
                if *status == ExecutionStatus::Running {
                    metrics::counter!("weft_executions_started_total").increment(1);
                }
                let msg = lifecycle::event(exec, *status, output.as_ref(), error.as_ref());
                batch.emitted.push(msg);
            }
        }
    }
    Ok(())
}

/// A live step event for the views that follow one run; published after the commit.
fn live(
    exec: &ExecutionRow,
    step: &str,
    status: &str,
    attempt: Option<i32>,
    error: Option<&Value>,
) -> LiveEvent {
    let event =
        weft_events::live::step_moved(exec.id, &exec.workflow, step, status, attempt, error);
    live_event(exec, &event)
}

/// The live event that ends a run's stream.
fn ended(exec: &ExecutionRow, status: ExecutionStatus, error: Option<&Value>) -> LiveEvent {
    let event = weft_events::live::run_ended(exec.id, &exec.workflow, status.as_str(), error);
    live_event(exec, &event)
}

fn live_event(exec: &ExecutionRow, event: &cloudevents::Event) -> LiveEvent {
    LiveEvent {
        subject: subjects::step_events_subject(&exec.id),
        payload: weft_events::encode_event(event).into(),
    }
}

/// Record attempt `n` of a step and queue its task (to be sent at `slot`, if rate-limited).
async fn dispatch(
    tx: &mut Tx<'_>,
    exec: &ExecutionRow,
    task: Task,
    slot: Option<DateTime<Utc>>,
    batch: &mut Batch,
) -> Result<(), RouterError> {
    let n = i32::try_from(task.attempt).unwrap_or(i32::MAX);
    match task.instance {
        // Items are not live events: a 10,000-item step would flood a view; their step's
        // start and end are.
        Some(index) => {
            instances::insert_attempt(tx, exec.id, &task.step_id, index, n, task.attempt_id)
                .await?;
        }
        None => {
            db::insert_attempt(tx, exec.id, &task.step_id, n, task.attempt_id).await?;
            batch
                .live
                .push(live(exec, &task.step_id, "started", Some(n), None));
        }
    }
    let mut msg = task_message(exec, task);
    msg.not_before = slot;
    batch.emitted.push(msg);
    metrics::counter!("weft_steps_dispatched_total").increment(1);
    Ok(())
}

/// The task CloudEvent for the outbox, in the trace of the execution's event.
fn task_message(exec: &ExecutionRow, mut task: Task) -> OutboxMessage {
    let tp = trace::child_of(trace::from_json(&exec.event));
    task.traceparent = Some(tp.clone());
    let data = serde_json::to_value(&task).unwrap_or(Value::Null);
    let mut event = weft_events::new_event(
        task.attempt_id.to_string(),
        types::TASK,
        types::SOURCE_ROUTER,
        Some(&task.step_id),
        data,
    );
    trace::set(&mut event, &tp);
    OutboxMessage::event(subjects::task_subject(&task.agent), &event)
}

/// The `call` attempt `attempt_id` ended before its child: the child (if it started) gets a
/// `cancel` timer due now, fired in a decision of its own (so a cascade never holds two
/// executions' locks).
async fn cancel_child(
    tx: &mut Tx<'_>,
    attempt_id: uuid::Uuid,
    at: DateTime<Utc>,
) -> Result<(), RouterError> {
    let Some(child) = db::child_of(tx, attempt_id).await? else {
        return Ok(()); // not started: its task finds the attempt ended and starts nothing
    };
    let timer = Timer {
        id: uuid::Uuid::new_v5(&child, b"timer/cancel"),
        execution_id: child,
        kind: weft_engine::TimerKind::Cancel,
        step_id: None,
        attempt_id: None,
        instance: None,
        due_at: at,
    };
    timers::insert(tx, &timer).await?;
    Ok(())
}
