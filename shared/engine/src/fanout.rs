//! `foreach` steps: the step runs once per item of a list, each item an instance with its own
//! attempts and retries, at most `concurrency` at once; its output is the list of the items'
//! outputs in item order — built from their compact JSON bytes, never as one value tree, and
//! stored as an artifact ([`Effect::OutputStored`]) when larger than [`MAX_INLINE_OUTPUT`].
//!
//! A decision touches only the items in flight and the next few to start ([`Fanout`]), so
//! deciding on one item costs the same at 10 or 10,000 items. Items that fail before they are
//! sent (an expression error in `with`, a task too large) end at once; when nothing is left in
//! flight and the items the router read are used up, a `continue` timer due now brings the next
//! ones.

use serde_json::{Value, json};
use weft_events::StepError;
use weft_flow::MAX_ITEMS;

use crate::{
    AttemptStatus, Effect, StepStatus, Timer, TimerKind,
    context::build as context_build,
    decide::{Decider, Heavy, expr_error},
    state::{Fanout, Instance, instance_attempt_id, timer_id},
};

impl Decider<'_> {
    /// A step's fan-out, once it started.
    pub(crate) fn fanout(&self, id: &str) -> Option<&Fanout> {
        self.st.step(id)?.fanout.as_ref()
    }

    fn fanout_mut(&mut self, id: &str) -> Option<&mut Fanout> {
        self.st.step_mut(id)?.fanout.as_mut()
    }

    /// An open item of a step.
    pub(crate) fn item_mut(&mut self, id: &str, index: u32) -> Option<&mut Instance> {
        let f = self.fanout_mut(id)?;
        f.open.iter_mut().find(|i| i.index == index)
    }

    /// Start a `foreach` step: evaluate its list, record its items and start the first ones.
    /// A list that is not one, or too long, fails the step.
    pub(crate) fn fan_out(&mut self, id: &str, expr: &str, ctx: &Value) -> Result<(), Heavy> {
        let limits = self.settings.limits;
        let items = match self.checked(weft_flow::eval_value_within(expr, ctx, limits))? {
            Ok(Value::Array(items)) if items.len() <= MAX_ITEMS => items,
            Ok(Value::Array(items)) => {
                let message = format!(
                    "`foreach` gave {} items; a step takes at most {MAX_ITEMS} (split the list, \
                     or `call` a sub-workflow per chunk)",
                    items.len()
                );
                self.fail_step(id, "too_many_items", message);
                return Ok(());
            }
            Ok(other) => {
                let message = format!("`foreach` must give a list, got {}", kind_of(&other));
                self.fail_step(id, "bad_input", message);
                return Ok(());
            }
            Err(e) => {
                self.set_step(id, StepStatus::Failed, None, Some(expr_error(&e)));
                return Ok(());
            }
        };
        if items.is_empty() {
            self.set_step(id, StepStatus::Succeeded, Some(json!([])), None);
            return Ok(());
        }
        self.emit(Effect::FanoutStarted {
            step: id.to_string(),
            items: items.clone(),
        });
        if let Some(s) = self.st.step_mut(id) {
            s.status = StepStatus::Running;
            s.fanout = Some(Fanout {
                total: u32::try_from(items.len()).unwrap_or(u32::MAX),
                pending: items.into(),
                outputs: Some(Default::default()),
                ..Fanout::default()
            });
        }
        self.fill(id)
    }

    /// Start items while fewer than `concurrency` are in flight; end the step once every item
    /// ended.
    pub(crate) fn fill(&mut self, id: &str) -> Result<(), Heavy> {
        let Some(step) = self.wf.step(id) else {
            return Ok(());
        };
        let limit = step.item_concurrency() as usize;
        let mut ctx: Option<Value> = None;
        loop {
            if self.st.status_of(id) != Some(StepStatus::Running) {
                return Ok(()); // failed fast
            }
            let Some(f) = self.fanout_mut(id) else {
                return Ok(());
            };
            if f.open.len() >= limit || f.next >= f.total {
                break;
            }
            let Some(item) = f.pending.pop_front() else {
                break; // the items the router read are used up
            };
            let index = f.next;
            f.next += 1;
            f.open.push(Instance {
                index,
                item,
                attempts: 0,
                attempt: None,
            });
            let ctx = ctx.get_or_insert_with(|| context_build(&self.st));
            self.start_item(id, index, 1, ctx)?;
        }
        let Some(f) = self.fanout(id) else {
            return Ok(());
        };
        if f.done() {
            self.complete(id);
        } else if f.open.is_empty() {
            // Every item started here ended at once and no result will come: continue with
            // the next ones in a decision of their own.
            let timer = Timer {
                id: timer_id(self.st.id, &format!("continue/{id}/{}", f.next)),
                kind: TimerKind::Continue,
                step: Some(id.to_string()),
                attempt_id: None,
                instance: None,
                due_at: self.at,
            };
            self.emit(Effect::TimerSet(timer));
        }
        Ok(())
    }

    /// Render an item's `with` (with `item` and `index`) and send its attempt `n`; an
    /// expression error fails the item.
    fn start_item(&mut self, id: &str, index: u32, n: i32, ctx: &mut Value) -> Result<(), Heavy> {
        let Some(step) = self.wf.step(id) else {
            return Ok(());
        };
        let Some(item) = self.item_mut(id, index).map(|i| i.item.clone()) else {
            return Ok(());
        };
        ctx["item"] = item;
        ctx["index"] = json!(index);
        let rendered = crate::decide::task_with(step, ctx, self.settings.limits);
        match self.checked(rendered)? {
            Ok(with) => self.send(id, Some(index), n, with),
            Err(e) => {
                let attempt = instance_attempt_id(self.st.id, id, index, n);
                if let Some(i) = self.item_mut(id, index) {
                    i.attempts = n;
                }
                self.refuse(id, Some(index), attempt, n, expr_error(&e));
            }
        }
        Ok(())
    }

    /// A retry timer of item `index` fired: send its next attempt.
    pub(crate) fn retry_item(&mut self, id: &str, index: u32) -> Result<(), Heavy> {
        if self.st.status_of(id) != Some(StepStatus::Running) {
            return Ok(());
        }
        let waiting = self
            .item_mut(id, index)
            .filter(|i| i.attempt.is_none_or(|a| a.status != AttemptStatus::Running));
        let Some(n) = waiting.map(|i| i.attempts + 1) else {
            return Ok(());
        };
        let mut ctx = context_build(&self.st);
        self.start_item(id, index, n, &mut ctx)?;
        self.fill(id)?;
        self.advance()
    }

    /// The running attempt of item `index` ended: retry the item, or end it; then start the
    /// next items, and end the step when they have all ended.
    pub(crate) fn item_attempt_ended(
        &mut self,
        id: &str,
        index: u32,
        attempt: uuid::Uuid,
        n: i32,
        result: Result<Value, StepError>,
        status: AttemptStatus,
    ) -> Result<(), Heavy> {
        let Some(step) = self.wf.step(id) else {
            return Ok(());
        };
        let (item_status, output, error, retry_in) = match result {
            Ok(output) => (Some(StepStatus::Succeeded), Some(output), None, None),
            Err(err) => {
                let error = serde_json::to_value(&err).unwrap_or(Value::Null);
                if err.retryable && (n as u32) < step.retry.attempts {
                    let delay = step.retry.delay_before(n as u32 + 1);
                    (None, None, Some(error), Some(delay))
                } else if status == AttemptStatus::TimedOut {
                    (Some(StepStatus::TimedOut), None, Some(error), None)
                } else {
                    (Some(StepStatus::Failed), None, Some(error), None)
                }
            }
        };
        self.emit(Effect::AttemptEnded {
            attempt_id: attempt,
            step: id.to_string(),
            status,
            instance: Some(index),
            step_status: item_status,
            output: output.clone(),
            error: error.clone(),
        });
        if self.attempt_timers(step) {
            self.emit(Effect::TimersDroppedForAttempt(attempt));
        }
        if let Some(a) = self.item_mut(id, index).and_then(|i| i.attempt.as_mut()) {
            a.status = status;
        }
        if let Some(delay) = retry_in {
            let timer = Timer {
                id: timer_id(self.st.id, &format!("retry/{id}/{index}/{}", n + 1)),
                kind: TimerKind::Retry,
                step: Some(id.to_string()),
                attempt_id: None,
                instance: Some(index),
                due_at: self.due(delay),
            };
            self.emit(Effect::TimerSet(timer));
            return Ok(());
        }
        if let Some(item_status) = item_status {
            self.item_ended(id, index, item_status, output, error);
        }
        self.fill(id)?;
        self.advance()
    }

    /// Item `index` ended with `status`: count it; a failed item fails a `fail_fast` step.
    pub(crate) fn item_ended(
        &mut self,
        id: &str,
        index: u32,
        status: StepStatus,
        output: Option<Value>,
        error: Option<Value>,
    ) {
        let fail_fast = self.wf.step(id).is_some_and(weft_flow::Step::fails_fast);
        let Some(f) = self.fanout_mut(id) else {
            return;
        };
        f.open.retain(|i| i.index != index);
        let failed = matches!(status, StepStatus::Failed | StepStatus::TimedOut);
        if failed {
            f.failed += 1;
        } else if status == StepStatus::Succeeded {
            f.succeeded += 1;
            if let Some(outputs) = f.outputs.as_mut() {
                outputs.insert(index, compact(&output.unwrap_or(Value::Null)));
            }
        }
        if failed && fail_fast {
            let cause = error.unwrap_or(Value::Null);
            let why = cause["message"].as_str().unwrap_or("it failed").to_string();
            let error = json!({"code": "item_failed", "index": index, "cause": cause,
                               "message": format!("item {index} failed: {why}"),
                               "retryable": false});
            self.cancel_items(id, "another item failed");
            self.set_step(id, StepStatus::Failed, None, Some(error));
        }
    }

    /// Every item ended: the step's output is their outputs in item order (`null` for an
    /// item that failed), stored as an artifact (the output is its reference) when larger
    /// than [`MAX_INLINE_OUTPUT`]; it fails if any item failed.
    fn complete(&mut self, id: &str) {
        let Some(f) = self.fanout_mut(id) else {
            return;
        };
        let (total, failed) = (f.total, f.failed);
        let Some(outputs) = f.outputs.take() else {
            let message = "the items' outputs were not read before the step ended (a router bug)";
            return self.fail_step(id, "internal", message.to_string());
        };
        let bytes = list_bytes(total, outputs);
        let output = if bytes.len() <= MAX_INLINE_OUTPUT {
            match serde_json::from_slice(&bytes) {
                Ok(list) => list,
                Err(e) => {
                    let message = format!("the items' outputs do not read back: {e}");
                    return self.fail_step(id, "internal", message);
                }
            }
        } else {
            let reference = stored_output(id, &bytes);
            let output = serde_json::to_value(&reference).unwrap_or(Value::Null);
            self.emit(Effect::OutputStored {
                step: id.to_string(),
                reference,
                bytes,
            });
            output
        };
        if failed == 0 {
            self.set_step(id, StepStatus::Succeeded, Some(output), None);
            return;
        }
        let error = json!({"code": "items_failed", "failed": failed, "retryable": false,
                           "message": format!("{failed} of {total} items failed")});
        self.set_step(id, StepStatus::Failed, Some(output), Some(error));
    }

    /// Cancel the items in flight (their executors are told to stop).
    pub(crate) fn cancel_items(&mut self, id: &str, reason: &str) {
        let agent = self
            .wf
            .step(id)
            .and_then(|s| s.executor())
            .unwrap_or_default();
        let timers = self.wf.step(id).is_some_and(|s| self.attempt_timers(s));
        let open = self
            .fanout_mut(id)
            .map(|f| std::mem::take(&mut f.open))
            .unwrap_or_default();
        let error = json!({"code": "cancelled", "message": reason, "retryable": false});
        for item in open {
            let Some(a) = item.attempt.filter(|a| a.status == AttemptStatus::Running) else {
                continue; // waiting to retry: its timer finds the step ended
            };
            self.emit(Effect::AttemptEnded {
                attempt_id: a.id,
                step: id.to_string(),
                status: AttemptStatus::Cancelled,
                instance: Some(item.index),
                step_status: Some(StepStatus::Cancelled),
                output: None,
                error: Some(error.clone()),
            });
            self.emit(Effect::Stop {
                agent: agent.to_string(),
                attempt_id: a.id,
                reason: reason.to_string(),
            });
            if timers {
                self.emit(Effect::TimersDroppedForAttempt(a.id));
            }
        }
    }

    fn fail_step(&mut self, id: &str, code: &str, message: String) {
        let error = json!({"code": code, "message": message, "retryable": false});
        self.set_step(id, StepStatus::Failed, None, Some(error));
    }
}

/// Largest `foreach` output kept in the step row, as compact JSON bytes (the executors' default
/// `max_output_bytes`): a larger list is stored as an artifact and the step's output is its
/// reference, like any large output.
pub const MAX_INLINE_OUTPUT: usize = 256 * 1024;

/// An item's output as compact JSON.
pub fn compact(output: &Value) -> Vec<u8> {
    serde_json::to_vec(output).unwrap_or_else(|_| b"null".to_vec())
}

/// The JSON list of `total` items' outputs (compact JSON by index; `null` where missing).
fn list_bytes(total: u32, mut outputs: std::collections::BTreeMap<u32, Vec<u8>>) -> Vec<u8> {
    let missing = (total as usize).saturating_sub(outputs.len());
    let size: usize = outputs.values().map(|o| o.len() + 1).sum::<usize>() + 5 * missing + 2;
    let mut bytes = Vec::with_capacity(size);
    bytes.push(b'[');
    for i in 0..total {
        if i > 0 {
            bytes.push(b',');
        }
        match outputs.remove(&i) {
            Some(o) => bytes.extend_from_slice(&o),
            None => bytes.extend_from_slice(b"null"),
        }
    }
    bytes.push(b']');
    bytes
}

/// The artifact reference of step `step`'s output when its bytes are `bytes`: what the
/// artifact store names them (by their SHA-256), so the router's store and replay agree.
pub fn stored_output(step: &str, bytes: &[u8]) -> weft_events::ArtifactRef {
    use sha2::Digest as _;
    let sha256 = hex::encode(sha2::Sha256::digest(bytes));
    weft_events::ArtifactRef {
        id: sha256.clone(),
        name: format!("{step}.output.json"),
        content_type: "application/json".into(),
        size: bytes.len() as u64,
        sha256,
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
