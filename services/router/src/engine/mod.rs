//! The execution state machine.
//!
//! Every function here runs inside one transaction that first locked the execution row, reads
//! the steps, decides, writes, and queues the messages it emits in the outbox (returned in
//! [`Emitted`] so the caller publishes them right after commit). Because the decision and its
//! messages commit together, a crash at any point either loses the whole step (the triggering
//! message is redelivered and handled again) or keeps all of it (the outbox sweeper publishes
//! what was not yet published).

mod dispatch;
mod outcome;

use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;
use weft_flow::Workflow;
use weft_store::{
    ExecutionStatus, StepStatus, Tx, engine as db,
    executions::{ExecutionRow, StepRow},
    outbox::{self, OutboxMessage},
    timers::{self, Timer, TimerKind},
};

use crate::{RouterError, lifecycle};

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
    store.flush_outbox(bus, emitted).await;
    Ok(())
}

/// The execution being worked on, with its steps, inside a transaction.
pub struct Run<'t, 'c> {
    pub tx: &'t mut Tx<'c>,
    pub exec: ExecutionRow,
    pub wf: &'t Workflow,
    steps: Vec<StepRow>,
    pub emitted: Emitted,
    /// Attempts this transaction ended whose executors should stop (publish after commit).
    pub stops: Vec<crate::cancel::Stop>,
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
            stops: Vec::new(),
        }
    }

    /// A step as known in this transaction.
    pub fn step(&self, id: &str) -> Option<&StepRow> {
        self.steps.iter().find(|s| s.step_id == id)
    }

    /// Keep the in-memory copy of a step in line with what was just written.
    fn remember(
        &mut self,
        id: &str,
        status: StepStatus,
        output: Option<Value>,
        error: Option<Value>,
    ) {
        if let Some(s) = self.steps.iter_mut().find(|s| s.step_id == id) {
            s.status = status.as_str().to_string();
            s.output = output;
            s.error = error;
        }
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
        self.remember(id, status, output, error);
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

    async fn fail_step(
        &mut self,
        id: &str,
        status: StepStatus,
        error: Value,
    ) -> Result<(), RouterError> {
        self.set_step(id, status, None, Some(error)).await
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
            .any(|s| s.timeout.is_some() || s.heartbeat_timeout.is_some() || s.retry.attempts > 1)
}

fn expr_error(e: &weft_flow::ExprError) -> Value {
    json!({"code": e.code().as_str(), "message": e.to_string(), "retryable": false})
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
