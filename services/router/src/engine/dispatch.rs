//! Dispatch: which queued steps run next, are skipped or fail before running.

use serde_json::{Value, json};
use weft_events::{ErrorCode, StepError, Task, subjects, trace, types};
use weft_store::{
    AttemptStatus, StepStatus, engine as db,
    outbox::OutboxMessage,
    timers::{self, TimerKind},
};

use crate::{RouterError, context, expr::Lane};

use super::{Run, expr_error, new_timer};

impl Run<'_, '_> {
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
            match crate::expr::condition(cond, &ctx, Lane::InTransaction).await {
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
        let with = match crate::expr::render(&step.with, &ctx, Lane::InTransaction).await {
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
            heartbeat_timeout_ms: step.heartbeat_timeout.map(|d| d.as_millis() as u64),
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
        let msg = OutboxMessage::event(subjects::task_subject(&step.uses), &event);
        if msg.payload.len() > crate::cancel::max_task_bytes() {
            // Never queue what the bus refuses: it would stay in the outbox and the step would
            // hang in `running`. No retry can shrink it.
            let error = StepError::permanent(
                ErrorCode::PayloadTooLarge,
                format!(
                    "the step's task is {} bytes; the bus carries at most {} (pass large data \
                     as an artifact reference)",
                    msg.payload.len(),
                    crate::cancel::max_task_bytes()
                ),
            );
            let error = serde_json::to_value(&error).unwrap_or(Value::Null);
            db::finish_attempt(
                self.tx,
                attempt_id,
                AttemptStatus::Failed,
                None,
                Some(&error),
            )
            .await?;
            return self.fail_step(id, StepStatus::Failed, error).await;
        }
        self.emit(msg);
        if let Some(limit) = step.heartbeat_timeout {
            let timer = new_timer(
                self.exec.id,
                TimerKind::HeartbeatTimeout,
                Some(id),
                Some(attempt_id),
                limit,
            );
            timers::insert(self.tx, &timer).await?;
        }
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
}
