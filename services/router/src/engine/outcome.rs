//! Outcomes: an attempt ended (retry, fail or complete the step); the execution ends.

use serde_json::{Value, json};
use uuid::Uuid;
use weft_events::StepError;
use weft_store::{
    AttemptStatus, ExecutionStatus, StepStatus, engine as db,
    timers::{self, TimerKind},
};

use crate::{RouterError, context, lifecycle};

use super::{Run, expr_error, may_have_timers, new_timer};

impl Run<'_, '_> {
    /// An attempt ended: record it (only if it is still running), then retry, fail or
    /// complete the step and advance. Returns `false`, having written nothing, when the attempt
    /// had already ended (a duplicate or late result).
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
        if step.timeout.is_some() || step.heartbeat_timeout.is_some() {
            timers::cancel_for_attempt(self.tx, attempt_id).await?;
        }
        if let Some(delay) = retry_in {
            let timer = new_timer(self.exec.id, TimerKind::Retry, Some(step_id), None, delay);
            timers::insert(self.tx, &timer).await?;
        }
        let Some(step_status) = step_status else {
            return Ok(true);
        };
        self.remember(step_id, step_status, output, error);
        self.advance().await?;
        Ok(true)
    }

    /// Every step has ended: decide the execution's status and output, emit its lifecycle event.
    pub(super) async fn finish(&mut self) -> Result<(), RouterError> {
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
            None => match self.output().await {
                Ok(out) => (ExecutionStatus::Succeeded, Some(out), None),
                Err(e) => (ExecutionStatus::Failed, None, Some(expr_error(&e))),
            },
        };
        self.end(status, output, error).await
    }

    /// The execution's output: the `output:` template, or the outputs of the steps nothing
    /// depends on, keyed by id.
    async fn output(&self) -> Result<Value, weft_flow::ExprError> {
        match &self.wf.output {
            // The context (a copy of the event and every output) only when there is a template.
            Some(template) => {
                let ctx = context::build(&self.exec, &self.steps);
                crate::expr::render(template, &ctx, crate::expr::Lane::InTransaction).await
            }
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
            let running = db::cancel_unfinished(self.tx, self.exec.id, &reason).await?;
            for (attempt, step) in running {
                if let Some(s) = self.wf.steps.get(&step) {
                    let why = format!("execution {status}");
                    self.stops
                        .push(crate::cancel::Stop::new(&s.uses, attempt, why));
                }
            }
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
}
