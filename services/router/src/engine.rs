//! The execution state machine.
//!
//! Every function here runs inside one transaction that first locked the execution row, reads
//! the steps, decides, writes, and queues the messages it emits in the outbox (returned in
//! [`Emitted`] so the caller publishes them right after commit). Because the decision and its
//! messages commit together, a crash at any point either loses the whole step (the triggering
//! message is redelivered and handled again) or keeps all of it (the outbox sweeper publishes
//! what was not yet published).

use std::collections::HashMap;

use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;
use weft_events::{StepError, Task, subjects, trace, types};
use weft_flow::Workflow;
use weft_store::{
    AttemptStatus, ExecutionStatus, StepStatus, Tx, engine as db,
    executions::{ExecutionRow, StepRow},
    outbox::{self, OutboxMessage},
    timers::{self, Timer, TimerKind},
};

use crate::{RouterError, context, lifecycle};

/// Messages queued in the outbox by one transaction.
pub type Emitted = Vec<OutboxMessage>;

/// Commit a decision, then publish what it emitted at once (the outbox sweeper publishes
/// anything this misses, e.g. when the process dies right after the commit).
pub async fn commit(
    store: &weft_store::Store,
    bus: &weft_bus::Bus,
    mut tx: Tx<'_>,
    emitted: Emitted,
    what: &'static str,
) -> Result<(), RouterError> {
    outbox::enqueue_all(&mut tx, &emitted).await?;
    weft_store::commit(tx, what).await?;
    store.flush_outbox(bus, &emitted).await;
    Ok(())
}

/// The execution being worked on, with its steps, inside a transaction.
pub struct Run<'t, 'c> {
    pub tx: &'t mut Tx<'c>,
    pub exec: ExecutionRow,
    pub wf: &'t Workflow,
    steps: Vec<StepRow>,
    pub emitted: Emitted,
}

impl<'t, 'c> Run<'t, 'c> {
    /// Work on a locked execution whose steps were read with the lock.
    pub fn new(
        tx: &'t mut Tx<'c>,
        exec: ExecutionRow,
        steps: Vec<StepRow>,
        wf: &'t Workflow,
    ) -> Self {
        Self {
            tx,
            exec,
            wf,
            steps,
            emitted: Vec::new(),
        }
    }

    fn step(&self, id: &str) -> Option<&StepRow> {
        self.steps.iter().find(|s| s.step_id == id)
    }

    fn status(&self, id: &str) -> Option<StepStatus> {
        self.step(id).and_then(|s| StepStatus::parse(&s.status))
    }

    /// Queue a message; [`commit`] writes every queued message to the outbox in one statement.
    fn emit(&mut self, msg: OutboxMessage) {
        self.emitted.push(msg);
    }

    /// Record a step's new state in the database and in memory.
    async fn set_step(
        &mut self,
        id: &str,
        status: StepStatus,
        output: Option<Value>,
        error: Option<Value>,
    ) -> Result<(), RouterError> {
        db::set_step(
            self.tx,
            self.exec.id,
            id,
            status,
            output.as_ref(),
            error.as_ref(),
        )
        .await?;
        if let Some(s) = self.steps.iter_mut().find(|s| s.step_id == id) {
            s.status = status.as_str().to_string();
            s.output = output;
            s.error = error;
        }
        Ok(())
    }

    /// Start a queued execution (a manual run the API created): mark it running, create its
    /// steps, then [`Run::begin`].
    pub async fn start(&mut self) -> Result<(), RouterError> {
        let ids: Vec<&str> = self.wf.steps.keys().map(String::as_str).collect();
        db::start_execution(self.tx, self.exec.id, &ids).await?;
        self.exec.status = ExecutionStatus::Running.as_str().into();
        self.exec.started_at = Some(Utc::now());
        self.steps = queued_steps(self.wf);
        self.begin().await
    }

    /// An execution that is running with every step queued: emit `started`, schedule the
    /// workflow timeout, dispatch the first steps.
    pub async fn begin(&mut self) -> Result<(), RouterError> {
        let started = lifecycle::event(&self.exec, ExecutionStatus::Running, None, None);
        self.emit(started);
        if let Some(limit) = self.wf.timeout {
            let timer = new_timer(self.exec.id, TimerKind::WorkflowTimeout, None, None, limit);
            timers::insert(self.tx, &timer).await?;
        }
        metrics::counter!("weft_executions_started_total").increment(1);
        self.advance().await
    }

    /// Dispatch, skip or fail every queued step whose needs have all ended; repeat until nothing
    /// changes; finish the execution when every step has ended.
    pub async fn advance(&mut self) -> Result<(), RouterError> {
        loop {
            let mut changed = false;
            for (id, step) in &self.wf.steps {
                if self.status(id) != Some(StepStatus::Queued) {
                    continue;
                }
                let needs: Vec<Option<StepStatus>> =
                    step.needs.iter().map(|n| self.status(n)).collect();
                if needs
                    .iter()
                    .any(|s| !s.is_some_and(StepStatus::is_terminal))
                {
                    continue;
                }
                changed = true;
                let blocked = step
                    .needs
                    .iter()
                    .zip(&needs)
                    .find(|(n, s)| !self.satisfied(n, **s));
                if let Some((need, _)) = blocked {
                    let why = json!({"reason": format!("needs `{need}`, which did not succeed")});
                    self.set_step(id, StepStatus::Skipped, None, Some(why))
                        .await?;
                    continue;
                }
                self.try_dispatch(id, 1).await?;
            }
            if !changed {
                break;
            }
        }
        if self
            .steps
            .iter()
            .all(|s| StepStatus::parse(&s.status).is_some_and(StepStatus::is_terminal))
        {
            self.finish().await?;
        }
        Ok(())
    }

    /// A need lets its dependents run when it succeeded, or failed with `continue_on_error`.
    fn satisfied(&self, need: &str, status: Option<StepStatus>) -> bool {
        let tolerant = self.wf.steps.get(need).is_some_and(|s| s.continue_on_error);
        match status {
            Some(StepStatus::Succeeded) => true,
            Some(StepStatus::Failed | StepStatus::TimedOut) => tolerant,
            _ => false,
        }
    }

    /// Evaluate the step's `if`, render its `with` and send attempt `n`; a false `if` skips it,
    /// an expression error fails it (no retry can fix an expression).
    pub async fn try_dispatch(&mut self, id: &str, n: i32) -> Result<(), RouterError> {
        let Some(step) = self.wf.steps.get(id) else {
            return Ok(());
        };
        let ctx = context::build(&self.exec, &self.steps);
        if let Some(cond) = &step.condition {
            match weft_flow::eval_condition(cond, &ctx) {
                Ok(true) => {}
                Ok(false) => {
                    let why = json!({"reason": "`if` was false"});
                    return self
                        .set_step(id, StepStatus::Skipped, None, Some(why))
                        .await;
                }
                Err(e) => return self.fail_step(id, StepStatus::Failed, expr_error(&e)).await,
            }
        }
        let with = match weft_flow::render(&step.with, &ctx) {
            Ok(v) => v,
            Err(e) => return self.fail_step(id, StepStatus::Failed, expr_error(&e)).await,
        };
        let attempt_id = db::insert_attempt(self.tx, self.exec.id, id, n).await?;
        if let Some(s) = self.steps.iter_mut().find(|s| s.step_id == id) {
            s.status = StepStatus::Running.as_str().into();
            s.attempts = n;
        }
        let task = Task {
            attempt_id,
            execution_id: self.exec.id,
            workflow: self.exec.workflow.clone(),
            step_id: id.to_string(),
            attempt: n as u32,
            agent: step.uses.clone(),
            with,
            timeout_ms: step.timeout.map(|d| d.as_millis() as u64),
            traceparent: Some(trace::child_of(trace::from_json(&self.exec.event))),
        };
        let data = serde_json::to_value(&task).unwrap_or(Value::Null);
        let mut event = weft_events::new_event(
            attempt_id.to_string(),
            types::TASK,
            types::SOURCE_ROUTER,
            Some(id),
            data,
        );
        if let Some(tp) = &task.traceparent {
            trace::set(&mut event, tp);
        }
        self.emit(OutboxMessage::event(
            subjects::task_subject(&step.uses),
            &event,
        ));
        if let Some(limit) = step.timeout {
            let timer = new_timer(
                self.exec.id,
                TimerKind::StepTimeout,
                Some(id),
                Some(attempt_id),
                limit,
            );
            timers::insert(self.tx, &timer).await?;
        }
        metrics::counter!("weft_steps_dispatched_total").increment(1);
        Ok(())
    }

    async fn fail_step(
        &mut self,
        id: &str,
        status: StepStatus,
        error: Value,
    ) -> Result<(), RouterError> {
        self.set_step(id, status, None, Some(error)).await
    }

    /// An attempt ended: record it (only if it is still running), then retry, fail or
    /// complete the step and advance. Returns `false`, having changed nothing, when the attempt
    /// had already ended (a duplicate or late result): the caller then drops the transaction.
    pub async fn attempt_ended(
        &mut self,
        attempt_id: Uuid,
        step_id: &str,
        n: i32,
        result: Result<Value, StepError>,
        status: AttemptStatus,
    ) -> Result<bool, RouterError> {
        let Some(step) = self.wf.steps.get(step_id) else {
            return Ok(false);
        };
        let mut retry_in = None;
        let (attempt_status, step_status, output, error) = match result {
            Ok(output) => (
                AttemptStatus::Succeeded,
                Some(StepStatus::Succeeded),
                Some(output),
                None,
            ),
            Err(err) => {
                let error = serde_json::to_value(&err).unwrap_or(Value::Null);
                if err.retryable && (n as u32) < step.retry.attempts {
                    // The step stays `running` until the retry timer fires.
                    retry_in = Some(step.retry.delay_before(n as u32 + 1));
                    (status, None, None, Some(error))
                } else if status == AttemptStatus::TimedOut {
                    (status, Some(StepStatus::TimedOut), None, Some(error))
                } else {
                    (status, Some(StepStatus::Failed), None, Some(error))
                }
            }
        };
        let applied = db::finish_running_attempt(
            self.tx,
            attempt_id,
            attempt_status,
            self.exec.id,
            step_id,
            step_status,
            output.as_ref(),
            error.as_ref(),
        )
        .await?;
        if !applied {
            return Ok(false);
        }
        if step.timeout.is_some() {
            timers::cancel_for_attempt(self.tx, attempt_id).await?;
        }
        if let Some(delay) = retry_in {
            let timer = new_timer(self.exec.id, TimerKind::Retry, Some(step_id), None, delay);
            timers::insert(self.tx, &timer).await?;
        }
        let Some(step_status) = step_status else {
            return Ok(true);
        };
        if let Some(s) = self.steps.iter_mut().find(|s| s.step_id == step_id) {
            s.status = step_status.as_str().to_string();
            s.output = output;
            s.error = error;
        }
        self.advance().await?;
        Ok(true)
    }

    /// Every step has ended: decide the execution's status and output, emit its lifecycle event.
    async fn finish(&mut self) -> Result<(), RouterError> {
        let failed = self.wf.steps.iter().find(|(id, s)| {
            !s.continue_on_error
                && matches!(
                    self.status(id),
                    Some(StepStatus::Failed | StepStatus::TimedOut)
                )
        });
        let (status, output, error) = match failed {
            Some((id, _)) => {
                let cause = self
                    .step(id)
                    .and_then(|s| s.error.clone())
                    .unwrap_or(Value::Null);
                let error =
                    json!({"step": id, "message": format!("step `{id}` failed"), "cause": cause});
                (ExecutionStatus::Failed, None, Some(error))
            }
            None => match self.output() {
                Ok(out) => (ExecutionStatus::Succeeded, Some(out), None),
                Err(e) => (ExecutionStatus::Failed, None, Some(expr_error(&e))),
            },
        };
        self.end(status, output, error).await
    }

    /// The execution's output: the `output:` template, or the outputs of the steps nothing
    /// depends on, keyed by id.
    fn output(&self) -> Result<Value, weft_flow::ExprError> {
        let ctx = context::build(&self.exec, &self.steps);
        match &self.wf.output {
            Some(template) => weft_flow::render(template, &ctx),
            None => {
                let outputs: serde_json::Map<String, Value> = weft_flow::dag::sinks(self.wf)
                    .into_iter()
                    .filter_map(|id| {
                        self.step(id)
                            .map(|s| (id.to_string(), s.output.clone().unwrap_or(Value::Null)))
                    })
                    .collect();
                Ok(Value::Object(outputs))
            }
        }
    }

    /// End the execution with `status`, cancelling whatever still runs.
    pub async fn end(
        &mut self,
        status: ExecutionStatus,
        output: Option<Value>,
        error: Option<Value>,
    ) -> Result<(), RouterError> {
        if status != ExecutionStatus::Succeeded && status != ExecutionStatus::Failed {
            let reason = json!({"code": status.as_str(), "message": format!("execution {status}")});
            db::cancel_unfinished(self.tx, self.exec.id, &reason).await?;
        }
        if status != ExecutionStatus::Succeeded || may_have_timers(self.wf) {
            timers::cancel_for_execution(self.tx, self.exec.id).await?;
        }
        db::finish_execution(
            self.tx,
            self.exec.id,
            status,
            output.as_ref(),
            error.as_ref(),
        )
        .await?;
        self.exec.status = status.as_str().into();
        let event = lifecycle::event(&self.exec, status, output.as_ref(), error.as_ref());
        self.emit(event);
        metrics::counter!("weft_executions_finished_total", "status" => status.as_str())
            .increment(1);
        Ok(())
    }

    /// Steps as a map, for callers that need more than one lookup.
    pub fn step_map(&self) -> HashMap<&str, &StepRow> {
        self.steps.iter().map(|s| (s.step_id.as_str(), s)).collect()
    }
}

/// Steps of a just-started execution: all queued.
pub fn queued_steps(wf: &Workflow) -> Vec<StepRow> {
    wf.steps
        .keys()
        .map(|id| StepRow {
            step_id: id.clone(),
            status: StepStatus::Queued.as_str().into(),
            attempts: 0,
            output: None,
            error: None,
            started_at: None,
            finished_at: None,
        })
        .collect()
}

/// Whether executions of `wf` can have timers (a timeout, a step timeout or retries); a failed
/// one can have a pending retry timer only if some step retries.
fn may_have_timers(wf: &Workflow) -> bool {
    wf.timeout.is_some()
        || wf
            .steps
            .values()
            .any(|s| s.timeout.is_some() || s.retry.attempts > 1)
}

fn expr_error(e: &weft_flow::ExprError) -> Value {
    json!({"code": "expression", "message": e.to_string(), "retryable": false})
}

fn new_timer(
    execution_id: Uuid,
    kind: TimerKind,
    step: Option<&str>,
    attempt: Option<Uuid>,
    after: std::time::Duration,
) -> Timer {
    let after = chrono::Duration::from_std(after).unwrap_or(chrono::Duration::MAX);
    Timer {
        id: Uuid::now_v7(),
        execution_id,
        kind,
        step_id: step.map(str::to_string),
        attempt_id: attempt,
        due_at: Utc::now() + after,
    }
}
