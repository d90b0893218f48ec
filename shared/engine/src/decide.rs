//! The decision: state + input → effects (and the state after them).
//!
//! Pure: no database, no bus, no clock (times come from the [`Entry`], ids are derived). Ported
//! from the router's interleaved engine with the same semantics: `needs` (a need that did not
//! succeed skips its dependents unless it has `continue_on_error`), `if`, retries with backoff,
//! step, heartbeat and workflow timeouts, cancellation, the execution's output.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;
use weft_events::{ErrorCode, StepError, Task};
use weft_flow::{ExprError, Limits, StepKind, When, Workflow};

use crate::{
    AttemptStatus, Effect, Entry, ExecutionStatus, Input, Outcome, StepStatus, Timer, TimerKind,
    context::build as context_build,
    state::{Attempt, Defaults, Execution, Step, attempt_id, instance_attempt_id, timer_id},
};

/// How a decision evaluates expressions and sizes tasks.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// The budget of each expression evaluation.
    pub limits: &'static Limits,
    /// When set, an expression over `limits` is not a step failure but [`Heavy`]: decide
    /// again with a larger budget (the router tries [`Limits::FAST`] inline first).
    pub escalate: bool,
    /// Largest task the bus carries (its JSON plus [`TASK_ENVELOPE_BYTES`]); a larger one
    /// fails its step with `payload_too_large`.
    pub max_task_bytes: usize,
}

impl Settings {
    /// The budget a step's `if`/`with` and the `output:` get when evaluated for good.
    pub const STEP: Settings = Settings {
        limits: &Limits::STEP,
        escalate: false,
        max_task_bytes: 1024 * 1024 - 1024,
    };
}

/// Room left for the CloudEvent envelope around a task's JSON (attributes, trace context).
pub const TASK_ENVELOPE_BYTES: usize = 1024;

/// An expression needed more than the fast budget: decide again with [`Settings::STEP`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heavy;

/// The effects of a decision and the state after them.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The state after the effects.
    pub state: Execution,
    /// The effects, in order.
    pub effects: Vec<Effect>,
}

impl Decision {
    /// Whether the decision changes anything (a duplicate or late result does not).
    pub fn is_empty(&self) -> bool {
        self.effects.is_empty()
    }
}

/// Decide `entry` for `state` of an execution of `wf`.
pub fn decide(
    wf: &Workflow,
    state: &Execution,
    entry: &Entry,
    settings: &Settings,
) -> Result<Decision, Heavy> {
    decide_owned(wf, state.clone(), entry, settings)
}

/// [`decide`], taking the state; an expression over the budget is [`Heavy`] when
/// `settings.escalate`.
pub fn decide_owned(
    wf: &Workflow,
    state: Execution,
    entry: &Entry,
    settings: &Settings,
) -> Result<Decision, Heavy> {
    let mut d = Decider::new(wf, state, entry, settings);
    d.run(&entry.input)?;
    Ok(d.into_decision())
}

/// Decide for good, without escalation (an expression over the budget fails its step):
/// replay's decision.
pub fn decide_final(
    wf: &Workflow,
    state: Execution,
    entry: &Entry,
    settings: &Settings,
) -> Decision {
    let settings = Settings {
        escalate: false,
        ..*settings
    };
    let mut d = Decider::new(wf, state, entry, &settings);
    // Without escalation nothing is `Heavy`; were it, the state so far is the decision.
    let _ = d.run(&entry.input);
    d.into_decision()
}

pub(crate) struct Decider<'a> {
    pub(crate) wf: &'a Workflow,
    pub(crate) st: Execution,
    pub(crate) at: DateTime<Utc>,
    pub(crate) settings: &'a Settings,
    pub(crate) effects: Vec<Effect>,
}

impl<'a> Decider<'a> {
    fn new(wf: &'a Workflow, st: Execution, entry: &Entry, settings: &'a Settings) -> Self {
        Self {
            wf,
            st,
            at: entry.at,
            settings,
            effects: Vec::new(),
        }
    }

    fn run(&mut self, input: &Input) -> Result<(), Heavy> {
        if self.st.status.is_terminal() {
            return Ok(()); // an ended execution takes no input
        }
        match input {
            Input::Start { defaults, kept } => self.start(*defaults, kept),
            Input::Result {
                attempt_id,
                step,
                n,
                outcome,
            } => match outcome {
                Some(outcome) => self.result(*attempt_id, step, *n, outcome),
                None => Ok(()),
            },
            Input::Timer {
                timer,
                step,
                attempt_id,
                instance,
            } => self.timer(*timer, step.as_deref(), *attempt_id, *instance),
            Input::Decision {
                step,
                approved,
                by,
                comment,
            } => self.decision(step, *approved, by, comment.as_deref()),
            Input::Event { step, event } => self.event(step, event),
            Input::Refuse { error } => {
                self.end(ExecutionStatus::Failed, None, Some(error.clone()));
                Ok(())
            }
            Input::Cancel { reason } => {
                let error = json!({"code": "cancelled", "message": reason});
                self.end(ExecutionStatus::Cancelled, None, Some(error));
                Ok(())
            }
        }
    }

    fn into_decision(self) -> Decision {
        Decision {
            state: self.st,
            effects: self.effects,
        }
    }

    pub(crate) fn emit(&mut self, effect: Effect) {
        self.effects.push(effect);
    }

    pub(crate) fn due(&self, after: std::time::Duration) -> DateTime<Utc> {
        let after = chrono::Duration::from_std(after).unwrap_or(chrono::Duration::MAX);
        self.at
            .checked_add_signed(after)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    fn timer(
        &mut self,
        kind: TimerKind,
        step: Option<&str>,
        attempt: Option<Uuid>,
        instance: Option<u32>,
    ) -> Result<(), Heavy> {
        match (kind, step) {
            (TimerKind::Retry, Some(step)) if instance.is_some() => {
                self.retry_item(step, instance.unwrap_or_default())?;
            }
            (TimerKind::Continue, Some(step)) => {
                self.fill(step)?;
                self.advance()?;
            }
            (TimerKind::Retry, Some(step)) => {
                let next = self
                    .st
                    .step(step)
                    .filter(|s| s.status == StepStatus::Running && s.running_attempt().is_none())
                    .map(|s| s.attempts + 1);
                if let Some(n) = next {
                    self.dispatch(step, n)?;
                    self.advance()?;
                }
            }
            (TimerKind::StepTimeout | TimerKind::HeartbeatTimeout, Some(step)) => {
                let running = attempt.and_then(|a| self.running_attempt(step, a));
                let Some(a) = running else {
                    return Ok(()); // the attempt ended first
                };
                let Some(def) = self.wf.step(step) else {
                    return Ok(());
                };
                let message = match kind {
                    TimerKind::StepTimeout => {
                        format!(
                            "no result within {}",
                            humanize(self.step_timeout(def).unwrap_or_default())
                        )
                    }
                    _ => format!(
                        "no heartbeat within {}: the executor went silent",
                        humanize(def.heartbeat_timeout.unwrap_or_default())
                    ),
                };
                self.emit(Effect::Stop {
                    agent: def.executor().unwrap_or_default().to_string(),
                    attempt_id: a.id,
                    reason: message.clone(),
                });
                let error = StepError::retryable(ErrorCode::Timeout, message);
                self.attempt_ended(a.id, step, a.n, Err(error), AttemptStatus::TimedOut)?;
            }
            (TimerKind::Wake, Some(step)) => {
                let sleeping = self
                    .st
                    .step(step)
                    .is_some_and(|s| s.status == StepStatus::Running && s.attempt.is_none());
                if sleeping {
                    let output = json!({"woke_at": self.at});
                    self.set_step(step, StepStatus::Succeeded, Some(output), None);
                    self.advance()?;
                }
            }
            (TimerKind::ApprovalTimeout, Some(step)) => {
                let Some(approval) = self.awaiting(step) else {
                    return Ok(()); // decided first
                };
                let limit = humanize(approval.timeout.unwrap_or_default());
                let message = format!("no decision within {limit}");
                let error = json!({"code": "timeout", "message": message, "retryable": false});
                self.set_step(step, StepStatus::TimedOut, None, Some(error));
                self.advance()?;
            }
            (TimerKind::WaitTimeout, Some(step)) => {
                let Some(wait) = self.waiting(step) else {
                    return Ok(()); // its event came first
                };
                let limit = humanize(wait.timeout.unwrap_or_default());
                let message = format!("no matching event within {limit}");
                let error = json!({"code": "timeout", "message": message, "retryable": false});
                self.set_step(step, StepStatus::TimedOut, None, Some(error));
                self.advance()?;
            }
            (TimerKind::Cancel, _) => {
                let message = "the `call` step that started it ended first";
                let error = json!({"code": "cancelled", "message": message});
                self.end(ExecutionStatus::Cancelled, None, Some(error));
            }
            (TimerKind::WorkflowTimeout, _) => {
                let limit = humanize(self.workflow_timeout().unwrap_or_default());
                let message = format!("execution did not finish within {limit}");
                let error = json!({"code": "timeout", "message": message});
                self.end(ExecutionStatus::TimedOut, None, Some(error));
            }
            _ => {} // a step timer without its step: nothing to do
        }
        Ok(())
    }

    /// Start a queued execution, or begin one created running.
    fn start(&mut self, defaults: Defaults, kept: &[crate::Kept]) -> Result<(), Heavy> {
        if self.st.status == ExecutionStatus::Queued {
            self.emit(Effect::ExecutionStarted);
            self.st.status = ExecutionStatus::Running;
            self.st.started_at = Some(self.at);
            self.st.steps = self.wf.steps.keys().map(|id| Step::queued(id)).collect();
        } else if self.st.steps.iter().any(|s| s.status != StepStatus::Queued) {
            return Ok(()); // begun before: a start is decided once
        }
        if !defaults.is_none() {
            self.emit(Effect::DefaultsSet(defaults));
            self.st.defaults = defaults;
        }
        for k in kept.iter().filter(|k| k.status.is_terminal()) {
            if self.st.step(&k.id).is_some() {
                self.set_step(&k.id, k.status, k.output.clone(), k.error.clone());
            }
        }
        self.emit(Effect::Lifecycle {
            status: ExecutionStatus::Running,
            output: None,
            error: None,
        });
        // A default limit has no timer: the router's limit sweep fires it (see `Defaults`).
        if let Some(limit) = self.wf.timeout {
            let timer = Timer {
                id: timer_id(self.st.id, "workflow_timeout"),
                kind: TimerKind::WorkflowTimeout,
                step: None,
                attempt_id: None,
                instance: None,
                due_at: self.due(limit),
            };
            self.emit(Effect::TimerSet(timer));
        }
        self.advance()
    }

    fn result(
        &mut self,
        attempt: Uuid,
        step: &str,
        n: i32,
        outcome: &Outcome,
    ) -> Result<(), Heavy> {
        let (result, status) = match outcome {
            Outcome::Succeeded(v) => (Ok(v.clone()), AttemptStatus::Succeeded),
            // The agent gave up on time (e.g. the HTTP request timeout): a timeout.
            Outcome::Failed(e) if e.code == ErrorCode::Timeout => {
                (Err(e.clone()), AttemptStatus::TimedOut)
            }
            Outcome::Failed(e) => (Err(e.clone()), AttemptStatus::Failed),
        };
        self.attempt_ended(attempt, step, n, result, status)
    }

    /// An attempt ended: only while it is the step's running attempt (a duplicate or late
    /// result changes nothing). Retry, fail or complete the step, then advance.
    fn attempt_ended(
        &mut self,
        attempt: Uuid,
        step_id: &str,
        n: i32,
        result: Result<Value, StepError>,
        status: AttemptStatus,
    ) -> Result<(), Heavy> {
        let Some(step) = self.wf.step(step_id) else {
            return Ok(());
        };
        let item = self.fanout(step_id).and_then(|f| f.running(attempt));
        if let Some(index) = item.map(|i| i.index) {
            return self.item_attempt_ended(step_id, index, attempt, n, result, status);
        }
        let running = self.st.step(step_id).and_then(Step::running_attempt);
        if running.is_none_or(|a| a.id != attempt) {
            return Ok(());
        }
        let mut retry_in = None;
        let (attempt_status, step_status, output, error) = match result {
            Ok(output) => (status, Some(StepStatus::Succeeded), Some(output), None),
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
        self.emit(Effect::AttemptEnded {
            attempt_id: attempt,
            step: step_id.to_string(),
            status: attempt_status,
            instance: None,
            step_status,
            output: output.clone(),
            error: error.clone(),
        });
        if self.attempt_timers(step) {
            self.emit(Effect::TimersDroppedForAttempt(attempt));
        }
        if let Some(delay) = retry_in {
            let what = format!("retry/{step_id}/{}", n + 1);
            self.step_timer(&what, TimerKind::Retry, step_id, self.due(delay));
        }
        if let Some(s) = self.st.step_mut(step_id) {
            if let Some(a) = s.attempt.as_mut() {
                a.status = attempt_status;
            }
            if let Some(step_status) = step_status {
                s.status = step_status;
                s.output = output;
                s.error = error;
            }
        }
        if step_status.is_some() {
            self.advance()?;
        }
        Ok(())
    }

    /// Dispatch, skip or fail every queued step whose needs have all ended; repeat until
    /// nothing changes; finish the execution when every step has ended.
    pub(crate) fn advance(&mut self) -> Result<(), Heavy> {
        loop {
            let mut changed = false;
            let handlers = self.handlers_started().then_some(&self.wf.on_failure);
            for (id, step) in self.wf.steps.iter().chain(handlers.into_iter().flatten()) {
                if self.st.status_of(id) != Some(StepStatus::Queued) {
                    continue;
                }
                let needs: Vec<Option<StepStatus>> =
                    step.needs.iter().map(|n| self.st.status_of(n)).collect();
                if needs
                    .iter()
                    .any(|s| !s.is_some_and(StepStatus::is_terminal))
                {
                    continue;
                }
                changed = true;
                if let Some(why) = self.not_run(id, step, &needs) {
                    self.set_step(id, StepStatus::Skipped, None, Some(json!({"reason": why})));
                    continue;
                }
                self.dispatch(id, 1)?;
            }
            if !changed {
                break;
            }
        }
        if self.st.all_steps_ended() {
            self.finish()?;
        }
        Ok(())
    }

    /// Why a step whose needs have all ended does not run (it is skipped), if it does not: a
    /// `switch` it needs took another branch, or its needs ended in a way its `when` excludes.
    fn not_run(
        &self,
        id: &str,
        step: &weft_flow::Step,
        needs: &[Option<StepStatus>],
    ) -> Option<String> {
        for need in &step.needs {
            if let Some(case) = self.branch_not_taken(need, id) {
                return Some(format!("switch `{need}` took {case}"));
            }
        }
        match step.when {
            When::Always => None,
            When::Failure => {
                let failed = needs
                    .iter()
                    .any(|s| matches!(s, Some(StepStatus::Failed | StepStatus::TimedOut)));
                (!failed).then(|| "`when: failure` and no need failed".to_string())
            }
            When::Success => step
                .needs
                .iter()
                .zip(needs)
                .find(|(n, s)| !self.satisfied(n, **s))
                .map(|(need, _)| format!("needs `{need}`, which did not succeed")),
        }
    }

    /// When `switch` is a switch step that succeeded and `id` is in one of its branches but not
    /// in the one it took: that branch, for the reason.
    fn branch_not_taken(&self, switch: &str, id: &str) -> Option<String> {
        let def = self.wf.step(switch)?;
        def.switch.as_ref()?;
        let state = self.st.step(switch)?;
        if state.status != StepStatus::Succeeded || !def.branch_steps().any(|t| t == id) {
            return None;
        }
        let case = state.output.as_ref().and_then(|o| o["case"].as_str());
        // `default` is never a case key (validation refuses it).
        let taken = match case {
            Some("default") => def.default.as_ref(),
            Some(key) => def.cases.get(key),
            None => None,
        };
        if taken.is_some_and(|ids| ids.iter().any(|t| t == id)) {
            return None;
        }
        Some(match case {
            Some(key) => format!("case `{key}`"),
            None => "no branch".to_string(),
        })
    }

    /// A need lets its dependents run when it succeeded, or failed with `continue_on_error`.
    fn satisfied(&self, need: &str, status: Option<StepStatus>) -> bool {
        let tolerant = self.wf.step(need).is_some_and(|s| s.continue_on_error);
        match status {
            Some(StepStatus::Succeeded) => true,
            Some(StepStatus::Failed | StepStatus::TimedOut) => tolerant,
            _ => false,
        }
    }

    pub(crate) fn set_step(
        &mut self,
        id: &str,
        status: StepStatus,
        output: Option<Value>,
        error: Option<Value>,
    ) {
        self.emit(Effect::StepSet {
            step: id.to_string(),
            status,
            output: output.clone(),
            error: error.clone(),
        });
        if let Some(s) = self.st.step_mut(id) {
            s.status = status;
            s.output = output;
            s.error = error;
        }
    }

    /// Evaluate an expression result: over the budget while escalating is [`Heavy`].
    pub(crate) fn checked<T>(
        &self,
        r: Result<T, ExprError>,
    ) -> Result<Result<T, ExprError>, Heavy> {
        match r {
            Err(ExprError::Limit { .. }) if self.settings.escalate => Err(Heavy),
            r => Ok(r),
        }
    }

    /// Evaluate the step's `if`, render its `with` and send attempt `n`; a false `if` skips it,
    /// an expression error fails it (no retry can fix an expression).
    fn dispatch(&mut self, id: &str, n: i32) -> Result<(), Heavy> {
        let Some(step) = self.wf.step(id) else {
            return Ok(());
        };
        let limits = self.settings.limits;
        let ctx = context_build(&self.st);
        if let Some(cond) = &step.condition {
            match self.checked(weft_flow::eval_condition_within(cond, &ctx, limits))? {
                Ok(true) => {}
                Ok(false) => {
                    let why = json!({"reason": "`if` was false"});
                    self.set_step(id, StepStatus::Skipped, None, Some(why));
                    return Ok(());
                }
                Err(e) => {
                    self.set_step(id, StepStatus::Failed, None, Some(expr_error(&e)));
                    return Ok(());
                }
            }
        }
        match step.kind() {
            Some(StepKind::Agent(_) | StepKind::Call(_)) => {}
            Some(StepKind::Sleep(d)) => {
                let due = self.due(d);
                self.sleep_until(id, due);
                return Ok(());
            }
            Some(StepKind::Until(expr)) => {
                match self.render_text(expr, &ctx)?.and_then(|v| until(&v)) {
                    Ok(due) => self.sleep_until(id, due),
                    Err(error) => self.set_step(id, StepStatus::Failed, None, Some(error)),
                }
                return Ok(());
            }
            Some(StepKind::Switch(expr)) => {
                match self.render_text(expr, &ctx)?.and_then(|v| branch(step, v)) {
                    Ok(output) => self.set_step(id, StepStatus::Succeeded, Some(output), None),
                    Err(error) => self.set_step(id, StepStatus::Failed, None, Some(error)),
                }
                return Ok(());
            }
            Some(StepKind::Wait(wait)) => {
                self.start_wait(id, wait);
                return Ok(());
            }
            Some(StepKind::Approval(approval)) => {
                match self.render_text(&approval.message, &ctx)? {
                    Ok(message) => self.ask(id, approval, message),
                    Err(error) => self.set_step(id, StepStatus::Failed, None, Some(error)),
                }
                return Ok(());
            }
            None => {
                let error = json!({"code": "bad_input", "message": "the step has no kind"});
                self.set_step(id, StepStatus::Failed, None, Some(error));
                return Ok(());
            }
        };
        if let Some(expr) = &step.foreach {
            return self.fan_out(id, expr, &ctx);
        }
        match self.checked(task_with(step, &ctx, limits))? {
            Ok(with) => self.send(id, None, n, with),
            Err(e) => self.set_step(id, StepStatus::Failed, None, Some(expr_error(&e))),
        }
        Ok(())
    }

    /// Send attempt `n` of step `id` (of its item `instance`, for a `foreach` step) with its
    /// rendered `with`; a task larger than the bus carries fails at once.
    pub(crate) fn send(&mut self, id: &str, instance: Option<u32>, n: i32, with: Value) {
        let Some(step) = self.wf.step(id) else {
            return;
        };
        let attempt = match instance {
            Some(i) => instance_attempt_id(self.st.id, id, i, n),
            None => attempt_id(self.st.id, id, n),
        };
        let task = Task {
            attempt_id: attempt,
            execution_id: self.st.id,
            workflow: self.st.workflow.clone(),
            step_id: id.to_string(),
            instance,
            attempt: n as u32,
            agent: step.executor().unwrap_or_default().to_string(),
            with,
            timeout_ms: self.step_timeout(step).map(|d| d.as_millis() as u64),
            traceparent: None,
            heartbeat_timeout_ms: step.heartbeat_timeout.map(|d| d.as_millis() as u64),
        };
        self.set_attempt(id, instance, attempt, n);
        let bytes = serde_json::to_vec(&task).map_or(usize::MAX, |v| v.len());
        let size = bytes.saturating_add(TASK_ENVELOPE_BYTES);
        if size > self.settings.max_task_bytes {
            // Never send what the bus refuses: the step would hang. No retry can shrink it.
            let error = StepError::permanent(
                ErrorCode::PayloadTooLarge,
                format!(
                    "the step's task is {size} bytes; the bus carries at most {} (pass large \
                     data as an artifact reference)",
                    self.settings.max_task_bytes
                ),
            );
            let error = serde_json::to_value(&error).unwrap_or(Value::Null);
            self.refuse(id, instance, attempt, n, error);
            return;
        }
        self.emit(Effect::Dispatch(Box::new(task)));
        for (kind, limit, what) in [
            (
                TimerKind::HeartbeatTimeout,
                step.heartbeat_timeout,
                "heartbeat",
            ),
            (TimerKind::StepTimeout, step.timeout, "step_timeout"),
        ] {
            if let Some(limit) = limit {
                let timer = Timer {
                    id: timer_id(self.st.id, &format!("{what}/{attempt}")),
                    kind,
                    step: Some(id.to_string()),
                    attempt_id: Some(attempt),
                    instance: None,
                    due_at: self.due(limit),
                };
                self.emit(Effect::TimerSet(timer));
            }
        }
    }

    /// Attempt `n` (id `attempt`) of step `id`, or of its item `instance`, is running.
    fn set_attempt(&mut self, id: &str, instance: Option<u32>, attempt: Uuid, n: i32) {
        let a = Attempt {
            id: attempt,
            n,
            status: AttemptStatus::Running,
        };
        match instance {
            Some(i) => {
                if let Some(item) = self.item_mut(id, i) {
                    item.attempts = n;
                    item.attempt = Some(a);
                }
            }
            None => {
                if let Some(s) = self.st.step_mut(id) {
                    s.status = StepStatus::Running;
                    s.attempts = n;
                    s.attempt = Some(a);
                }
            }
        }
    }

    /// Attempt `n` of step `id` (or of its item `instance`) fails before it is sent: the
    /// step (or item) fails with `error`, without retries.
    pub(crate) fn refuse(
        &mut self,
        id: &str,
        instance: Option<u32>,
        attempt: Uuid,
        n: i32,
        error: Value,
    ) {
        self.emit(Effect::AttemptRefused {
            attempt_id: attempt,
            step: id.to_string(),
            n,
            instance,
            error: error.clone(),
        });
        match instance {
            Some(i) => {
                if let Some(a) = self.item_mut(id, i).and_then(|x| x.attempt.as_mut()) {
                    a.status = AttemptStatus::Failed;
                }
                self.item_ended(id, i, StepStatus::Failed, None, Some(error));
            }
            None => {
                if let Some(a) = self.st.step_mut(id).and_then(|s| s.attempt.as_mut()) {
                    a.status = AttemptStatus::Failed;
                }
                self.set_step(id, StepStatus::Failed, None, Some(error));
            }
        }
    }

    /// The run's timeout: the workflow's, or the default it started with.
    fn workflow_timeout(&self) -> Option<std::time::Duration> {
        self.wf.timeout.or_else(|| self.st.defaults.timeout())
    }

    /// An attempt's timeout: the step's, or (for an agent or `call` step) the default.
    pub(crate) fn step_timeout(&self, step: &weft_flow::Step) -> Option<std::time::Duration> {
        let default = || step.executor().and(self.st.defaults.step_timeout());
        step.timeout.or_else(default)
    }

    /// Whether the attempts of `step` have timers (its own timeout or a heartbeat timeout; a
    /// default timeout has none).
    pub(crate) fn attempt_timers(&self, step: &weft_flow::Step) -> bool {
        step.timeout.is_some() || step.heartbeat_timeout.is_some()
    }

    /// The running attempt `attempt` of step `id` or of one of its items.
    fn running_attempt(&self, id: &str, attempt: Uuid) -> Option<Attempt> {
        let step = self.st.step(id)?;
        let own = step.running_attempt().filter(|a| a.id == attempt);
        own.or_else(|| step.fanout.as_ref()?.running(attempt)?.attempt)
    }

    /// Render one expression-bearing text; an expression error is the step's error.
    fn render_text(&self, text: &str, ctx: &Value) -> Result<Result<Value, Value>, Heavy> {
        let template = Value::String(text.to_string());
        let rendered = weft_flow::render_within(&template, ctx, self.settings.limits);
        Ok(self.checked(rendered)?.map_err(|e| expr_error(&e)))
    }

    /// An `approval` step waits for a decision, showing what it asks (and its timer, if it
    /// has a timeout).
    fn ask(&mut self, id: &str, approval: &weft_flow::Approval, message: Value) {
        let asked = json!({"message": message, "approvers": approval.approvers});
        self.set_step(id, StepStatus::Running, Some(asked), None);
        if let Some(limit) = approval.timeout {
            let what = format!("approval/{id}");
            self.step_timer(&what, TimerKind::ApprovalTimeout, id, self.due(limit));
        }
    }

    /// The `approval` of step `id` when it is waiting for a decision.
    fn awaiting(&self, id: &str) -> Option<&weft_flow::Approval> {
        let approval = self.wf.step(id)?.approval.as_ref()?;
        let waiting = self.st.step(id)?.status == StepStatus::Running;
        waiting.then_some(approval)
    }

    /// A person decided approval step `id`: it succeeds with the decision, or fails as
    /// `rejected`. Nothing happens when it is not waiting or `by` may not decide it (the API
    /// refuses those first).
    fn decision(
        &mut self,
        id: &str,
        approved: bool,
        by: &str,
        comment: Option<&str>,
    ) -> Result<(), Heavy> {
        let Some(approval) = self.awaiting(id) else {
            return Ok(());
        };
        if !approval.approvers.is_empty() && !approval.approvers.iter().any(|a| a == by) {
            return Ok(());
        }
        let message = self
            .st
            .step(id)
            .and_then(|s| s.output.as_ref())
            .map_or(Value::Null, |o| o["message"].clone());
        let decided = json!({"approved": approved, "by": by, "comment": comment,
                             "at": self.at, "message": message});
        if approved {
            self.set_step(id, StepStatus::Succeeded, Some(decided), None);
        } else {
            let why = comment.map_or(String::new(), |c| format!(": {c}"));
            let mut error = decided;
            error["code"] = json!("rejected");
            error["message"] = json!(format!("rejected by {by}{why}"));
            error["retryable"] = json!(false);
            self.set_step(id, StepStatus::Failed, None, Some(error));
        }
        self.advance()
    }

    /// A `wait` step starts waiting: for events from now on, and for those kept from its
    /// `window` before (the router offers them in the same transaction).
    fn start_wait(&mut self, id: &str, wait: &weft_flow::Wait) {
        self.set_step(id, StepStatus::Running, None, None);
        let window = chrono::Duration::from_std(wait.window()).unwrap_or(chrono::Duration::MAX);
        let since = self.at.checked_sub_signed(window).unwrap_or(self.at);
        self.emit(Effect::WaitStarted {
            step: id.to_string(),
            since,
        });
        if let Some(limit) = wait.timeout {
            let what = format!("wait/{id}");
            self.step_timer(&what, TimerKind::WaitTimeout, id, self.due(limit));
        }
    }

    /// The `wait` of step `id` when it is waiting.
    fn waiting(&self, id: &str) -> Option<&'a weft_flow::Wait> {
        let wait = self.wf.step(id)?.wait.as_ref()?;
        let running = self.st.step(id)?.status == StepStatus::Running;
        running.then_some(wait)
    }

    /// An event for `wait` step `id`: it ends the wait (the event is the step's output) when
    /// the step waits, the event's `type`, `source` and `subject` match, it is neither the
    /// execution's trigger nor an event another wait of it took, and `match` is true. An event
    /// `match` cannot be evaluated on does not match.
    fn event(&mut self, id: &str, event: &Value) -> Result<(), Heavy> {
        let Some(wait) = self.waiting(id) else {
            return Ok(());
        };
        let text = |k: &str| event.get(k).and_then(Value::as_str);
        let (Some(ty), Some(source)) = (text("type"), text("source")) else {
            return Ok(());
        };
        if !wait.accepts(ty, source, text("subject")) || self.taken(event) {
            return Ok(());
        }
        if let Some(cond) = &wait.condition {
            let mut ctx = context_build(&self.st);
            let trigger = ctx["event"].take();
            ctx["execution"]["event"] = trigger;
            ctx["event"] = event.clone();
            let verdict = weft_flow::eval_condition_within(cond, &ctx, self.settings.limits);
            if !matches!(self.checked(verdict)?, Ok(true)) {
                return Ok(());
            }
        }
        self.set_step(id, StepStatus::Succeeded, Some(event.clone()), None);
        self.advance()
    }

    /// Whether `event` is the execution's trigger or the output of one of its `wait` steps.
    fn taken(&self, event: &Value) -> bool {
        let same = |other: &Value| other["id"] == event["id"] && other["source"] == event["source"];
        same(&self.st.event)
            || self.st.steps.iter().any(|s| {
                s.status == StepStatus::Succeeded
                    && self.wf.step(&s.id).is_some_and(|d| d.wait.is_some())
                    && s.output.as_ref().is_some_and(same)
            })
    }

    /// A `sleep`/`until` step waits (durably) for `due`; one already due succeeds now.
    fn sleep_until(&mut self, id: &str, due: DateTime<Utc>) {
        if due <= self.at {
            let output = json!({"woke_at": self.at});
            self.set_step(id, StepStatus::Succeeded, Some(output), None);
            return;
        }
        self.set_step(id, StepStatus::Running, None, None);
        self.step_timer(&format!("wake/{id}"), TimerKind::Wake, id, due);
    }

    /// Set a durable timer of step `id`, named `what` (its id derives from it), due at `due`.
    fn step_timer(&mut self, what: &str, kind: TimerKind, id: &str, due: DateTime<Utc>) {
        let timer = Timer {
            id: timer_id(self.st.id, what),
            kind,
            step: Some(id.to_string()),
            attempt_id: None,
            instance: None,
            due_at: due,
        };
        self.emit(Effect::TimerSet(timer));
    }

    /// Whether the `on_failure` steps have started (their rows exist).
    fn handlers_started(&self) -> bool {
        self.wf
            .on_failure
            .keys()
            .any(|id| self.st.step(id).is_some())
    }

    /// The execution failed and has `on_failure` steps: keep it running with its error, add
    /// those steps and run them; it ends (failed) once they have all ended.
    fn start_handlers(&mut self, error: Option<Value>) -> Result<(), Heavy> {
        let ids: Vec<String> = self.wf.on_failure.keys().cloned().collect();
        self.emit(Effect::Failing {
            error: error.clone(),
            steps: ids.clone(),
        });
        self.st.error = error;
        self.st.steps.extend(ids.iter().map(|id| Step::queued(id)));
        self.advance()
    }

    /// Every step has ended: decide the execution's status and output.
    fn finish(&mut self) -> Result<(), Heavy> {
        if self.handlers_started() {
            let error = self.st.error.clone();
            self.end(ExecutionStatus::Failed, None, error);
            return Ok(());
        }
        // The failed step named is the first by id: a workflow's step order is not kept
        // everywhere it is stored (PostgreSQL's jsonb sorts keys), so no decision may depend
        // on it.
        let failed = self
            .wf
            .steps
            .iter()
            .filter(|(id, s)| {
                !s.continue_on_error
                    && matches!(
                        self.st.status_of(id),
                        Some(StepStatus::Failed | StepStatus::TimedOut)
                    )
            })
            .min_by_key(|(id, _)| id.as_str());
        let (status, output, error) = match failed {
            Some((id, _)) => {
                let cause = self
                    .st
                    .step(id)
                    .and_then(|s| s.error.clone())
                    .unwrap_or(Value::Null);
                let error =
                    json!({"step": id, "message": format!("step `{id}` failed"), "cause": cause});
                (ExecutionStatus::Failed, None, Some(error))
            }
            None => match self.output()? {
                Ok(out) => (ExecutionStatus::Succeeded, Some(out), None),
                Err(e) => (ExecutionStatus::Failed, None, Some(expr_error(&e))),
            },
        };
        if status == ExecutionStatus::Failed && !self.wf.on_failure.is_empty() {
            return self.start_handlers(error);
        }
        self.end(status, output, error);
        Ok(())
    }

    /// The execution's output: the `output:` template, or the outputs of the steps nothing
    /// depends on, keyed by id.
    fn output(&self) -> Result<Result<Value, ExprError>, Heavy> {
        match &self.wf.output {
            Some(template) => {
                let ctx = context_build(&self.st);
                self.checked(weft_flow::render_within(
                    template,
                    &ctx,
                    self.settings.limits,
                ))
            }
            None => {
                let outputs: serde_json::Map<String, Value> = weft_flow::dag::sinks(self.wf)
                    .into_iter()
                    .filter_map(|id| {
                        let s = self.st.step(id)?;
                        Some((id.to_string(), s.output.clone().unwrap_or(Value::Null)))
                    })
                    .collect();
                Ok(Ok(Value::Object(outputs)))
            }
        }
    }

    /// End the execution with `status`; unless it succeeded or failed, whatever still runs is
    /// cancelled and its executors are told to stop.
    fn end(&mut self, status: ExecutionStatus, output: Option<Value>, error: Option<Value>) {
        if status != ExecutionStatus::Succeeded && status != ExecutionStatus::Failed {
            self.cancel_unfinished(status);
        }
        if status != ExecutionStatus::Succeeded || may_have_timers(self.wf) {
            self.emit(Effect::TimersDropped);
        }
        self.emit(Effect::ExecutionEnded {
            status,
            output: output.clone(),
            error: error.clone(),
        });
        self.emit(Effect::Lifecycle {
            status,
            output: output.clone(),
            error: error.clone(),
        });
        self.st.status = status;
        self.st.output = output;
        self.st.error = error;
        // An execution that ends before it started (refused, cancelled while queued) started
        // and ended at once.
        self.st.started_at.get_or_insert(self.at);
    }

    fn cancel_unfinished(&mut self, status: ExecutionStatus) {
        let reason = json!({"code": status.as_str(), "message": format!("execution {status}")});
        let unfinished: Vec<(String, Option<Attempt>)> = self
            .st
            .steps
            .iter()
            .filter(|s| !s.status.is_terminal())
            .map(|s| (s.id.clone(), s.running_attempt()))
            .collect();
        for (id, running) in unfinished {
            if self.fanout(&id).is_some() {
                self.cancel_items(&id, &format!("execution {status}"));
            }
            match running {
                Some(a) => {
                    self.emit(Effect::AttemptEnded {
                        attempt_id: a.id,
                        step: id.clone(),
                        status: AttemptStatus::Cancelled,
                        instance: None,
                        step_status: Some(StepStatus::Cancelled),
                        output: None,
                        error: Some(reason.clone()),
                    });
                    if let Some(agent) = self.wf.step(&id).and_then(|d| d.executor()) {
                        self.emit(Effect::Stop {
                            agent: agent.to_string(),
                            attempt_id: a.id,
                            reason: format!("execution {status}"),
                        });
                    }
                }
                None => self.emit(Effect::StepSet {
                    step: id.clone(),
                    status: StepStatus::Cancelled,
                    output: None,
                    error: Some(reason.clone()),
                }),
            }
            if let Some(s) = self.st.step_mut(&id) {
                s.status = StepStatus::Cancelled;
                s.output = None;
                s.error = Some(reason.clone());
                if let Some(a) = s
                    .attempt
                    .as_mut()
                    .filter(|a| a.status == AttemptStatus::Running)
                {
                    a.status = AttemptStatus::Cancelled;
                }
            }
        }
    }
}

/// What a step's task carries: its rendered `with`, or for a `call` `{workflow, inputs}`.
pub(crate) fn task_with(
    step: &weft_flow::Step,
    ctx: &Value,
    limits: &Limits,
) -> Result<Value, ExprError> {
    match &step.call {
        Some(workflow) => {
            let inputs = step.inputs.as_ref().unwrap_or(&Value::Null);
            let inputs = weft_flow::render_within(inputs, ctx, limits)?;
            let inputs = if inputs.is_null() { json!({}) } else { inputs };
            Ok(json!({"workflow": workflow, "inputs": inputs}))
        }
        None => weft_flow::render_within(&step.with, ctx, limits),
    }
}

/// The time an `until:` value names (RFC 3339).
fn until(v: &Value) -> Result<DateTime<Utc>, Value> {
    let text = v.as_str().unwrap_or_default();
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            let message = format!("`until` must be an RFC 3339 time, got {v}: {e}");
            json!({"code": "bad_input", "message": message, "retryable": false})
        })
}

/// A switch's output for `value`: `{value, case}`, the case being the matching `cases` key or
/// `default`; no match without a `default` is an error.
fn branch(step: &weft_flow::Step, value: Value) -> Result<Value, Value> {
    let key = match &value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if step.cases.contains_key(&key) {
        return Ok(json!({"value": value, "case": key}));
    }
    if step.default.is_some() {
        return Ok(json!({"value": value, "case": "default"}));
    }
    let known: Vec<&str> = step.cases.keys().map(String::as_str).collect();
    let message = format!(
        "the switch value {value} matches no case ({}) and there is no `default`",
        known.join(", ")
    );
    Err(json!({"code": "no_matching_case", "message": message, "retryable": false}))
}

/// Whether executions of `wf` can have timers (a timeout, a step timeout or retries).
fn may_have_timers(wf: &Workflow) -> bool {
    wf.timeout.is_some()
        || wf.steps.values().chain(wf.on_failure.values()).any(|s| {
            s.timeout.is_some()
                || s.heartbeat_timeout.is_some()
                || s.retry.attempts > 1
                || s.sleep.is_some()
                || s.foreach.is_some()
                || s.until.is_some()
                || s.approval.as_ref().is_some_and(|a| a.timeout.is_some())
                || s.wait.as_ref().is_some_and(|w| w.timeout.is_some())
        })
}

pub(crate) fn expr_error(e: &ExprError) -> Value {
    json!({"code": e.code().as_str(), "message": e.to_string(), "retryable": false})
}

fn humanize(d: std::time::Duration) -> String {
    humantime::format_duration(d).to_string()
}
