//! One attempt, start to finish: the [`weft_bus::Handler`] behind every executor.
//!
//! Consumes a `dev.weft.task` delivery; resolves secret references in its `with`, parses the
//! agent's typed `With` (a mismatch is a permanent `bad_input` naming the field), runs the agent
//! under its context (deadline, cancellation, heartbeats to the router while it runs), masks
//! secret values in what comes back, moves an output larger than `max_output_bytes` to the
//! artifact store (the output becomes its reference), and publishes one `dev.weft.task.result`
//! whose id is derived from the attempt id (a re-published result is dropped by JetStream and
//! ignored by the router). Then it acks. A crash before the ack means the task is delivered
//! again and run again, with the same attempt id as the idempotency key. A result that would
//! still not fit in one bus message loses its logs, then its output: the step fails with
//! `payload_too_large` rather than hanging. A result that cannot be published because the bus is
//! unavailable is kept in memory while the loop holds its task (`Disposition::Unavailable`), and
//! sent when the task is handed back: the attempt does not run twice.

use std::{collections::HashMap, sync::Arc, time::Duration};

use bytes::Bytes;
use serde_json::Value;
use tokio::time::Instant;
use uuid::Uuid;
use weft_bus::{Bus, Delivery, Disposition, Handler};
use weft_events::{
    ErrorCode, Heartbeat, Outcome, StepError, Task, TaskResult, subjects, trace, types,
};

use crate::{
    Agent, Artifacts, Context, ResolveInputs, StopReason,
    context::{Attempt, LogLimits},
    redact::Redactor,
};

/// Settings of the runner around every agent.
#[derive(Debug, Clone, PartialEq)]
pub struct RunnerSettings {
    /// Largest output kept inline in a result, in bytes (JSON); larger outputs are stored as an
    /// artifact and replaced by its reference.
    pub max_output_bytes: usize,
    /// Bounds of each attempt's log.
    pub log: LogLimits,
    /// Time an agent gets to stop on its own after a cancel or its deadline, before the runner
    /// drops its work.
    pub stop_grace: Duration,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        Self {
            max_output_bytes: 256 * 1024,
            log: LogLimits::default(),
            stop_grace: Duration::from_secs(1),
        }
    }
}

/// Attempts running in this process, by attempt id (for cancels).
pub(crate) type InFlight = Arc<std::sync::Mutex<HashMap<Uuid, Context>>>;

/// Encoded results that could not be published because the bus was unavailable, by attempt id.
/// Their task is held by the consume loop and handed back; then the result is sent without
/// running the attempt again.
pub(crate) type Unpublished = std::sync::Mutex<HashMap<Uuid, Bytes>>;

pub(crate) struct TaskHandler<A: Agent> {
    pub bus: Bus,
    pub agent: Arc<A>,
    pub inputs: Arc<dyn ResolveInputs>,
    pub artifacts: Artifacts,
    pub settings: RunnerSettings,
    pub in_flight: InFlight,
    pub unpublished: Unpublished,
}

impl<A: Agent> Handler for TaskHandler<A> {
    async fn handle(&self, delivery: Delivery) -> Disposition {
        let mut task = match decode_task(&delivery.payload) {
            Ok(task) => task,
            Err(reason) => return Disposition::DeadLetter(reason),
        };
        let payload = match self.unpublished(task.attempt_id, None) {
            Some(payload) => payload,
            None => {
                let result = self.attempt(&mut task).await;
                Bytes::from(result_event(&task, result, self.bus.max_payload()))
            }
        };
        match publish_result(&self.bus, &task, payload.clone()).await {
            Ok(()) => Disposition::Ack,
            Err(e) if e.is_unavailable() => {
                tracing::warn!(attempt = %task.attempt_id, error = %e, "cannot publish result: the bus is unavailable; the task waits and its result is sent when it is back");
                self.unpublished(task.attempt_id, Some(payload));
                Disposition::Unavailable(e.to_string())
            }
            Err(e) => {
                tracing::warn!(attempt = %task.attempt_id, error = %e, "cannot publish result; task will be redelivered");
                Disposition::Retry(Duration::from_secs(1))
            }
        }
    }
}

impl<A: Agent> crate::local::RunTask for TaskHandler<A> {
    fn run_task(
        &self,
        mut task: Task,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = TaskResult> + Send + '_>> {
        Box::pin(async move { self.attempt(&mut task).await })
    }
}

impl<A: Agent> TaskHandler<A> {
    /// Run the attempt and build its result (masked, output size-checked). Takes the task's
    /// `with` (the agent gets it by value; nothing after needs it).
    async fn attempt(&self, task: &mut Task) -> TaskResult {
        let deadline = task
            .timeout_ms
            .map(|ms| Instant::now() + Duration::from_millis(ms));
        let cx = Context::new(
            attempt_of(task),
            deadline,
            self.artifacts.clone(),
            self.settings.log,
        );
        let (outcome, redactor) = match self.inputs.resolve(&task.with) {
            Err(e) => (
                Outcome::Failed(StepError::permanent(ErrorCode::Secret, e)),
                Redactor::default(),
            ),
            Ok(resolved) => {
                let (with, redactor) = match resolved {
                    Some(r) => (r.with, Redactor::new(r.values)),
                    None => (std::mem::take(&mut task.with), Redactor::default()),
                };
                (self.run(task, with, &cx).await, redactor)
            }
        };
        let outcome = self.finish(task, outcome, &redactor, &cx).await;
        let (mut logs, logs_dropped) = cx.take_log();
        redactor.logs(&mut logs);
        metrics::counter!("weft_executor_attempts_total", "agent" => A::NAME, "ok" => matches!(outcome, Outcome::Succeeded(_)).to_string()).increment(1);
        TaskResult {
            attempt_id: task.attempt_id,
            execution_id: task.execution_id,
            step_id: task.step_id.clone(),
            attempt: task.attempt,
            outcome,
            logs,
            logs_dropped,
        }
    }

    /// Parse `with`, run the agent under its context.
    async fn run(&self, task: &Task, with: Value, cx: &Context) -> Outcome {
        let with: A::With = match parse_with::<A>(with) {
            Ok(w) => w,
            Err(e) => return Outcome::Failed(e),
        };
        self.in_flight_insert(task.attempt_id, cx);
        let heartbeats = spawn_heartbeats(&self.bus, task);
        let watchdog = cx.deadline().map(|at| {
            let cx = cx.clone();
            tokio::spawn(async move {
                tokio::time::sleep_until(at).await;
                cx.stop(StopReason::Deadline);
            })
        });
        let run = self.agent.execute(with, cx.clone());
        let grace = self.settings.stop_grace;
        let result = tokio::select! {
            r = run => r,
            _ = async { cx.cancelled().await; tokio::time::sleep(grace).await } => Err(cx.stopped_error()),
        };
        if let Some(w) = watchdog {
            w.abort();
        }
        if let Some(h) = heartbeats {
            h.abort();
        }
        if let Ok(mut map) = self.in_flight.lock() {
            map.remove(&task.attempt_id);
        }
        match result.and_then(|out| {
            serde_json::to_value(out).map_err(|e| {
                StepError::permanent(ErrorCode::Internal, format!("output is not JSON: {e}"))
            })
        }) {
            Ok(v) => Outcome::Succeeded(v),
            // A stop the agent turned into its own error is still a stop.
            Err(_) if cx.stop_reason().is_some() => Outcome::Failed(cx.stopped_error()),
            Err(e) => Outcome::Failed(e),
        }
    }

    /// Take the unpublished result of attempt `id`, or (with `keep`) set it.
    fn unpublished(&self, id: Uuid, keep: Option<Bytes>) -> Option<Bytes> {
        let mut map = self.unpublished.lock().ok()?;
        match keep {
            Some(payload) => map.insert(id, payload),
            None => map.remove(&id),
        }
    }

    fn in_flight_insert(&self, id: Uuid, cx: &Context) {
        if let Ok(mut map) = self.in_flight.lock() {
            map.insert(id, cx.clone());
        }
    }

    /// Mask secrets; move a large output to the artifact store.
    async fn finish(
        &self,
        task: &Task,
        outcome: Outcome,
        redactor: &Redactor,
        cx: &Context,
    ) -> Outcome {
        match outcome {
            Outcome::Failed(mut e) => {
                redactor.error(&mut e);
                Outcome::Failed(e)
            }
            Outcome::Succeeded(mut v) => {
                redactor.value(&mut v);
                let bytes = serde_json::to_vec(&v).unwrap_or_default();
                if bytes.len() <= self.settings.max_output_bytes {
                    return Outcome::Succeeded(v);
                }
                let name = format!("{}.output.json", task.step_id);
                match cx.artifacts().put(bytes, &name, "application/json").await {
                    Ok(r) => {
                        cx.log(format!(
                            "output of {} bytes stored as artifact {} (over {} bytes)",
                            r.size, r.id, self.settings.max_output_bytes
                        ));
                        Outcome::Succeeded(serde_json::to_value(r).unwrap_or(Value::Null))
                    }
                    Err(e) => Outcome::Failed(e),
                }
            }
        }
    }
}

/// The agent's typed `with`; a mismatch is a permanent `bad_input` naming the field.
pub(crate) fn parse_with<A: Agent>(with: Value) -> Result<A::With, StepError> {
    serde_path_to_error::deserialize(with).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            String::new()
        } else {
            format!(".{path}")
        };
        StepError::permanent(
            ErrorCode::BadInput,
            format!("with{field}: {}", e.into_inner()),
        )
    })
}

/// Run `agent` on `task` in this process, without a bus (for tests of an agent): `with` is
/// parsed as the runner parses it; the context has the task's attempt, its deadline and
/// `artifacts`. Secret references are not resolved.
pub async fn execute_task<A: Agent>(
    agent: &A,
    task: &Task,
    artifacts: Artifacts,
) -> (Result<Value, StepError>, Context) {
    let deadline = task
        .timeout_ms
        .map(|ms| Instant::now() + Duration::from_millis(ms));
    let cx = Context::new(attempt_of(task), deadline, artifacts, LogLimits::default());
    let result = match parse_with::<A>(task.with.clone()) {
        Ok(with) => agent.execute(with, cx.clone()).await.and_then(|out| {
            serde_json::to_value(out)
                .map_err(|e| StepError::permanent(ErrorCode::Internal, e.to_string()))
        }),
        Err(e) => Err(e),
    };
    (result, cx)
}

fn attempt_of(task: &Task) -> Attempt {
    Attempt {
        attempt_id: task.attempt_id,
        execution_id: task.execution_id,
        workflow: task.workflow.clone(),
        step_id: task.step_id.clone(),
        attempt: task.attempt,
        traceparent: task.traceparent.clone(),
    }
}

/// The task in an encoded `dev.weft.task` CloudEvent.
pub fn decode_task(payload: &[u8]) -> Result<Task, String> {
    let event = weft_events::decode_event(payload).map_err(|e| e.to_string())?;
    let data = weft_events::envelope::data_json(&event).map_err(|e| e.to_string())?;
    serde_json::from_value(data).map_err(|e| format!("not a task: {e}"))
}

/// When the step has a `heartbeat_timeout`, tell the router the attempt is alive three times
/// per period while it runs. Best effort: a lost heartbeat is covered by the next one.
fn spawn_heartbeats(bus: &Bus, task: &Task) -> Option<tokio::task::JoinHandle<()>> {
    let timeout_ms = task.heartbeat_timeout_ms?;
    let period = Duration::from_millis(timeout_ms / 3).max(Duration::from_millis(100));
    let bus = bus.clone();
    let beat = Heartbeat {
        attempt_id: task.attempt_id,
        execution_id: task.execution_id,
        step_id: task.step_id.clone(),
        heartbeat_timeout_ms: timeout_ms,
    };
    let subject = subjects::result_subject(&task.agent);
    let source = format!("weft/exec/{}", task.agent);
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.tick().await;
        loop {
            tick.tick().await;
            let data = serde_json::to_value(&beat).unwrap_or(Value::Null);
            let event = weft_events::new_event(
                Uuid::now_v7().to_string(),
                types::TASK_HEARTBEAT,
                &source,
                Some(&beat.step_id),
                data,
            );
            if let Err(e) = bus.publish_event(&subject, &event).await {
                tracing::debug!(attempt = %beat.attempt_id, error = %e, "heartbeat not sent");
            }
        }
    }))
}

/// The result as an encoded CloudEvent (encoded once: the size check and the publish share
/// it) that fits in one bus message: first without its logs, then with
/// a `payload_too_large` failure instead of its outcome.
fn result_event(task: &Task, mut result: TaskResult, max_payload: usize) -> Vec<u8> {
    let encode = |r: &TaskResult| {
        let data = serde_json::to_value(r).unwrap_or(Value::Null);
        let mut event = weft_events::new_event(
            format!("result-{}", task.attempt_id),
            types::TASK_RESULT,
            &format!("weft/exec/{}", task.agent),
            Some(&task.step_id),
            data,
        );
        trace::set(&mut event, &trace::child_of(task.traceparent.as_deref()));
        weft_events::encode_event(&event)
    };
    // Headroom for the headers and the NATS protocol line.
    let limit = max_payload.saturating_sub(1024);
    let encoded = encode(&result);
    let size = encoded.len();
    if size <= limit {
        return encoded;
    }
    if !result.logs.is_empty() {
        result.logs_dropped += result.logs.len() as u64;
        result.logs.clear();
        let encoded = encode(&result);
        if encoded.len() <= limit {
            return encoded;
        }
    }
    result.outcome = Outcome::Failed(StepError::permanent(
        ErrorCode::PayloadTooLarge,
        format!("the attempt's result is {size} bytes; the bus carries at most {max_payload}"),
    ));
    encode(&result)
}

/// Publish, retrying briefly: once the work is done, losing only the result would force a rerun.
async fn publish_result(bus: &Bus, task: &Task, payload: Bytes) -> Result<(), weft_bus::BusError> {
    let source = format!("weft/exec/{}", task.agent);
    let msg_id = weft_events::ids::message_id(&source, &format!("result-{}", task.attempt_id));
    let subject = subjects::result_subject(&task.agent);
    let mut delay = Duration::from_millis(100);
    let mut last = None;
    for _ in 0..6 {
        match bus.publish_bytes(&subject, &msg_id, payload.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
    Err(last.unwrap_or(weft_bus::BusError::Unavailable))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn task() -> Task {
        Task {
            attempt_id: Uuid::now_v7(),
            execution_id: Uuid::now_v7(),
            workflow: "w".into(),
            step_id: "s".into(),
            instance: None,
            attempt: 1,
            agent: "a".into(),
            with: json!({}),
            timeout_ms: None,
            traceparent: None,
            heartbeat_timeout_ms: None,
        }
    }

    fn result(t: &Task, output: Value, lines: usize) -> TaskResult {
        TaskResult {
            attempt_id: t.attempt_id,
            execution_id: t.execution_id,
            step_id: t.step_id.clone(),
            attempt: 1,
            outcome: Outcome::Succeeded(output),
            logs: (0..lines)
                .map(|i| weft_events::LogLine {
                    at: chrono::Utc::now(),
                    line: format!("line {i} {}", "x".repeat(100)),
                })
                .collect(),
            logs_dropped: 0,
        }
    }

    fn decoded(bytes: &[u8]) -> TaskResult {
        let e = weft_events::decode_event(bytes).expect("event");
        serde_json::from_value(weft_events::envelope::data_json(&e).expect("data")).expect("result")
    }

    #[test]
    fn a_result_too_big_for_the_bus_drops_logs_then_fails_the_step() {
        let t = task();
        let fits = result_event(&t, result(&t, json!("ok"), 3), 64 * 1024);
        assert_eq!(decoded(&fits).logs.len(), 3);
        let no_logs = result_event(&t, result(&t, json!("ok"), 200), 8 * 1024);
        let r = decoded(&no_logs);
        assert!(r.logs.is_empty());
        assert_eq!(r.logs_dropped, 200);
        assert_eq!(r.outcome, Outcome::Succeeded(json!("ok")));
        let huge = result_event(&t, result(&t, json!("y".repeat(20_000)), 0), 8 * 1024);
        match decoded(&huge).outcome {
            Outcome::Failed(e) => assert_eq!(e.code, ErrorCode::PayloadTooLarge),
            other => panic!("expected a failure, got {other:?}"),
        }
    }
}
