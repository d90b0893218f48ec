//! The executor runner: every agent service (http, email, browser, …) is an [`Executor`] run by
//! [`run_executor`] on the shared consume loop.
//!
//! Consumes `dev.weft.task` events from `weft.tasks.<agent>` (durable consumer `exec-<agent>`,
//! shared by every replica); produces one `dev.weft.task.result` on `weft.results.<agent>` per
//! attempt, whose event id is derived from the attempt id so a re-published result is dropped by
//! JetStream and ignored by the router. Order: run → publish result → ack. A crash before the
//! ack means the task is delivered again and run again; the attempt id travels with it as the
//! idempotency key so the far side can drop the duplicate.

use std::{future::Future, sync::Arc, time::Duration};

use serde_json::Value;
use weft_events::{StepError, Task, TaskResult, subjects, trace, types};
use weft_runtime::Shutdown;

use crate::{Bus, ConsumerSpec, Delivery, Disposition, Handler, consume};

/// One kind of agent.
pub trait Executor: Send + Sync + 'static {
    /// The `uses:` name this executor serves, e.g. `http`.
    fn agent(&self) -> &str;

    /// Run one attempt. The runner bounds it by the task's timeout.
    fn execute(&self, task: &Task) -> impl Future<Output = Result<Value, StepError>> + Send;
}

/// Resolves what a task's `with` refers to but does not carry — `${{ secrets.NAME }}` — just
/// before the attempt runs, so clear values exist only inside the executor process.
pub trait ResolveInputs: Send + Sync + 'static {
    /// `with` with every reference replaced (`None`: it holds none), or why it cannot be.
    fn resolve(&self, with: &Value) -> Result<Option<Value>, String>;
}

/// For executors started without secrets: any reference fails the attempt with a clear error.
#[derive(Debug, Clone, Copy)]
pub struct NoSecrets;

impl ResolveInputs for NoSecrets {
    fn resolve(&self, with: &Value) -> Result<Option<Value>, String> {
        fn mentions(v: &Value) -> bool {
            match v {
                Value::String(s) => s.contains("${{") && s.contains("secrets."),
                Value::Array(items) => items.iter().any(mentions),
                Value::Object(map) => map.values().any(mentions),
                _ => false,
            }
        }
        if mentions(with) {
            return Err(
                "the step references a secret, but this executor has no secrets \
                        (set WEFT_MASTER_KEY)"
                    .into(),
            );
        }
        Ok(None)
    }
}

/// Run `executor` until `shutdown`, resolving secret references in each task with `inputs`.
pub async fn run_executor<E: Executor>(
    bus: Bus,
    executor: Arc<E>,
    spec: ConsumerSpec,
    inputs: Arc<dyn ResolveInputs>,
    shutdown: Shutdown,
) {
    let handler = Arc::new(TaskHandler {
        bus: bus.clone(),
        executor,
        inputs,
    });
    consume(bus, spec, handler, shutdown).await
}

/// The consumer spec for an agent with Weft's defaults.
pub fn executor_spec(agent: &str, concurrency: usize) -> ConsumerSpec {
    let mut spec = ConsumerSpec::new(
        subjects::TASKS_STREAM,
        &subjects::executor_consumer(agent),
        &subjects::task_subject(agent),
    );
    spec.concurrency = concurrency.max(1);
    spec
}

struct TaskHandler<E> {
    bus: Bus,
    executor: Arc<E>,
    inputs: Arc<dyn ResolveInputs>,
}

impl<E: Executor> Handler for TaskHandler<E> {
    async fn handle(&self, delivery: Delivery) -> Disposition {
        let task = match decode_task(&delivery.payload) {
            Ok(task) => task,
            Err(reason) => return Disposition::DeadLetter(reason),
        };
        let outcome = match self.prepare(&task) {
            Ok(None) => run_bounded(self.executor.as_ref(), &task).await,
            Ok(Some(prepared)) => run_bounded(self.executor.as_ref(), &prepared).await,
            Err(e) => weft_events::Outcome::Failed(e),
        };
        let result = TaskResult {
            attempt_id: task.attempt_id,
            execution_id: task.execution_id,
            step_id: task.step_id.clone(),
            attempt: task.attempt,
            outcome,
        };
        match publish_result(&self.bus, &task, &result).await {
            Ok(()) => Disposition::Ack,
            Err(e) => {
                tracing::warn!(attempt = %task.attempt_id, error = %e, "cannot publish result; task will be redelivered");
                Disposition::Retry(Duration::from_secs(1))
            }
        }
    }
}

impl<E> TaskHandler<E> {
    /// The task as the executor sees it: secret references resolved. The original (with the
    /// references only) is what the result and the execution history keep.
    fn prepare(&self, task: &Task) -> Result<Option<Task>, StepError> {
        let resolved = self
            .inputs
            .resolve(&task.with)
            .map_err(|e| StepError::permanent("secret", e))?;
        Ok(resolved.map(|with| Task {
            with,
            ..task.clone()
        }))
    }
}

fn decode_task(payload: &[u8]) -> Result<Task, String> {
    let event = weft_events::decode_event(payload).map_err(|e| e.to_string())?;
    let data = weft_events::envelope::data_json(&event).map_err(|e| e.to_string())?;
    serde_json::from_value(data).map_err(|e| format!("not a task: {e}"))
}

/// Extra time an executor gives an attempt past the step timeout. The router's durable timer is
/// the authority on step timeouts (it marks the attempt `timed_out` and ignores the late
/// result); this bound only keeps an executor from working on an abandoned attempt forever.
const TIMEOUT_GRACE: Duration = Duration::from_secs(1);

async fn run_bounded<E: Executor>(executor: &E, task: &Task) -> weft_events::Outcome {
    let run = executor.execute(task);
    let result = match task.timeout_ms {
        Some(ms) => {
            match tokio::time::timeout(Duration::from_millis(ms) + TIMEOUT_GRACE, run).await {
                Ok(r) => r,
                Err(_) => Err(StepError::retryable(
                    "timeout",
                    format!("step did not finish within {ms} ms"),
                )),
            }
        }
        None => run.await,
    };
    metrics::counter!("weft_executor_attempts_total", "agent" => executor.agent().to_string(), "ok" => result.is_ok().to_string()).increment(1);
    match result {
        Ok(v) => weft_events::Outcome::Succeeded(v),
        Err(e) => weft_events::Outcome::Failed(e),
    }
}

/// Publish, retrying briefly: once the work is done, losing only the result would force a rerun.
async fn publish_result(
    bus: &Bus,
    task: &Task,
    result: &TaskResult,
) -> Result<(), crate::BusError> {
    let data = serde_json::to_value(result).unwrap_or(Value::Null);
    let id = format!("result-{}", task.attempt_id);
    let mut event = weft_events::new_event(
        id,
        types::TASK_RESULT,
        &format!("weft/exec/{}", task.agent),
        Some(&task.step_id),
        data,
    );
    trace::set(&mut event, &trace::child_of(task.traceparent.as_deref()));
    let subject = subjects::result_subject(&task.agent);
    let mut delay = Duration::from_millis(100);
    let mut last = None;
    for _ in 0..6 {
        match bus.publish_event(&subject, &event).await {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
    Err(last.unwrap_or(crate::BusError::Unavailable))
}
