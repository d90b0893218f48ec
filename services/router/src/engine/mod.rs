//! Deciding and applying: the router's side of the decision core (`weft_engine`).
//!
//! Every decision runs inside one transaction that first locked the execution row: the
//! execution and its steps are read, the core decides on one input, and the effects are
//! written, the input appended to the execution's journal and the emitted messages queued in
//! the outbox — all in that transaction. A crash at any point either loses the whole decision
//! (the triggering message is redelivered and decided again) or keeps all of it (the outbox
//! sweeper publishes what was not yet published).
//!
//! Expressions are first evaluated inline under the small fast budget; a decision with an
//! expression over it is decided again on a blocking thread under the step budget (decisions
//! are pure, so deciding twice is safe), so one workflow's expensive expressions never hold
//! an async worker.

mod apply;
mod rate;
mod window;

use chrono::{DateTime, SubsecRound, Utc};
use weft_engine::{Decision, Entry, Execution, Input, Settings};
use weft_flow::{Limits, Workflow};
use weft_store::{
    Tx,
    engine::LiveStep,
    executions::ExecutionRow,
    journal::{self, NewEntry},
    outbox::OutboxMessage,
};

use crate::{RouterError, cancel::Stop, expr::HeavyMemo};

/// Workflow versions whose decisions needed the step budget once.
static HEAVY: HeavyMemo<(String, i32)> = HeavyMemo::new();

/// Messages queued in the outbox by one transaction.
pub type Emitted = Vec<OutboxMessage>;

/// What the decisions of one transaction leave to do at and after its commit.
#[derive(Debug, Default)]
pub struct Batch {
    /// Messages for the outbox.
    pub emitted: Emitted,
    /// Attempts whose executors should stop (published after the commit).
    pub stops: Vec<Stop>,
    /// Journal entries.
    pub journal: Vec<NewEntry>,
    /// Live step events (published after the commit, best effort).
    pub live: Vec<LiveEvent>,
    /// Large `foreach` outputs to put in the artifact store before the commit.
    pub stored: Vec<(weft_events::ArtifactRef, Vec<u8>)>,
    /// Kept events for `wait` steps that just started (step, event): decided next, in the same
    /// transaction.
    pub offers: Vec<(String, serde_json::Value)>,
}

/// A step event for live views (core NATS, not stored).
#[derive(Debug)]
pub struct LiveEvent {
    /// `weft.steps.<execution id>`.
    pub subject: String,
    /// The CloudEvent.
    pub payload: bytes::Bytes,
}

impl Batch {
    /// Add another batch's work after this one's.
    pub fn extend(&mut self, other: Batch) {
        self.emitted.extend(other.emitted);
        self.stops.extend(other.stops);
        self.journal.extend(other.journal);
        self.live.extend(other.live);
        self.stored.extend(other.stored);
        self.offers.extend(other.offers);
    }
}

/// Commit the decisions of a transaction, then publish what they emitted at once (the outbox
/// sweeper publishes anything this misses, e.g. when the process dies right after the commit)
/// — or run a task here, when its agent runs in this process (`crate::local`) — and tell
/// executors to stop what they ended.
pub(crate) async fn commit(
    shared: &crate::service::Shared,
    mut tx: Tx<'_>,
    mut batch: Batch,
    what: &'static str,
) -> Result<(), RouterError> {
    let (store, bus) = (&shared.store, &shared.bus);
    // Tasks whose agent runs in this process are run here (their rows wait, leased).
    let claims = shared.local.claim(&mut batch.emitted);
    journal::append_with_outbox(&mut tx, &batch.journal, &batch.emitted).await?;
    // Before the commit: a step output that names an artifact never names a missing one.
    for (reference, bytes) in batch.stored {
        store_output(&shared.artifacts, &reference, bytes).await?;
    }
    weft_store::commit(tx, what).await?;
    shared.local.start(&mut batch.emitted, claims);
    store.flush_outbox(bus, batch.emitted).await;
    crate::cancel::publish(bus, batch.stops).await;
    for event in batch.live {
        // Best effort: a live view that misses one reads the execution from the API.
        if let Err(e) = bus.client().publish(event.subject, event.payload).await {
            tracing::debug!(error = %e, "live step event not sent");
        }
    }
    Ok(())
}

/// Put a large `foreach` output in the artifact store: it must come back under the reference
/// the decision gave it (the core names the bytes as the store does).
async fn store_output(
    artifacts: &weft_executor::Artifacts,
    reference: &weft_events::ArtifactRef,
    bytes: Vec<u8>,
) -> Result<(), RouterError> {
    let stored = artifacts
        .put(bytes, &reference.name, &reference.content_type)
        .await
        .map_err(|e| RouterError::Artifacts(e.message))?;
    if stored != *reference {
        return Err(RouterError::Internal(format!(
            "output {} was stored as {}",
            reference.id, stored.id
        )));
    }
    Ok(())
}

/// The time of a decision: now, at the database's precision (microseconds), so that what the
/// journal says and what the rows hold are the same instant.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// The core's view of a locked execution (with what a decision needs of its running
/// `foreach` steps).
pub async fn state(
    tx: &mut Tx<'_>,
    exec: &ExecutionRow,
    steps: Vec<LiveStep>,
    wf: &Workflow,
) -> Result<Execution, RouterError> {
    let order = wf.steps.keys().chain(wf.on_failure.keys());
    let mut st = weft_store::engine::state(exec, steps, order.map(String::as_str))?;
    for step in &mut st.steps {
        if step.status != weft_engine::StepStatus::Running {
            continue;
        }
        if let Some(f) = step.fanout.as_mut() {
            let concurrency = wf
                .step(&step.id)
                .map_or(1, weft_flow::Step::item_concurrency);
            window::load(tx, exec.id, &step.id, concurrency, f).await?;
        }
    }
    Ok(st)
}

/// A locked execution that has not ended, with its workflow version and the core's view of it.
pub struct Locked {
    /// Its row.
    pub exec: ExecutionRow,
    /// The workflow version it runs.
    pub def: std::sync::Arc<Workflow>,
    /// The core's view.
    pub st: Execution,
}

/// Lock execution `id` in `tx` and read what a decision on it needs; `None` when there is no
/// such execution or it ended.
pub(crate) async fn lock_unended(
    shared: &crate::service::Shared,
    tx: &mut Tx<'_>,
    id: uuid::Uuid,
) -> Result<Option<Locked>, RouterError> {
    let Some((exec, steps)) = weft_store::engine::lock_execution_with_steps(tx, id).await? else {
        return Ok(None);
    };
    let status = weft_engine::ExecutionStatus::parse(&exec.status);
    if status.is_none_or(weft_engine::ExecutionStatus::is_terminal) {
        return Ok(None);
    }
    let def = shared
        .defs
        .get(&shared.store, &exec.workflow, exec.version)
        .await?;
    let st = state(tx, &exec, steps, &def).await?;
    Ok(Some(Locked { exec, def, st }))
}

/// Decide `input` at `at` for the locked execution `exec` (whose state is `st`), apply the
/// effects inside `tx` and return what is left for the commit. A decision that changes nothing
/// (a duplicate or late result) writes nothing, not even a journal entry. A `wait` step that
/// starts is offered the kept events it may take, each decided next (journaled when it
/// changes something), until it stops waiting.
pub async fn decide(
    tx: &mut Tx<'_>,
    exec: &ExecutionRow,
    st: Execution,
    wf: &std::sync::Arc<Workflow>,
    input: Input,
    at: DateTime<Utc>,
) -> Result<Batch, RouterError> {
    let mut batch = Batch::default();
    // Offers queue only behind a wait that starts: no allocation for the usual one input.
    let mut first = Some(input);
    let mut offers = std::collections::VecDeque::new();
    let mut st = st;
    while let Some(input) = first.take().or_else(|| offers.pop_front()) {
        if let Input::Event { step, .. } = &input
            && st.status_of(step) != Some(weft_engine::StepStatus::Running)
        {
            continue; // an earlier offer ended the wait
        }
        let entry = Entry { at, input };
        let decision = decide_budgeted(wf, st, &entry).await?;
        st = decision.state;
        if decision.effects.is_empty() {
            continue;
        }
        apply::apply(tx, exec, wf, decision.effects, at, &mut batch).await?;
        offers.extend(
            std::mem::take(&mut batch.offers)
                .into_iter()
                .map(|(step, event)| Input::Event { step, event }),
        );
        let mut entry = entry;
        if let Input::Result { outcome, .. } = &mut entry.input {
            // The ended attempt's row holds it (see migrations/0005_journal.sql).
            *outcome = None;
        }
        batch.journal.push(NewEntry {
            execution_id: exec.id,
            entry,
        });
    }
    Ok(batch)
}

/// Decide under the fast budget inline, or (when an expression needs more, now or before) under
/// the step budget on a blocking thread.
async fn decide_budgeted(
    wf: &std::sync::Arc<Workflow>,
    st: Execution,
    entry: &Entry,
) -> Result<Decision, RouterError> {
    let max_task_bytes = crate::cancel::max_task_bytes();
    // Built only when some decision was heavy: no allocation per decision otherwise.
    let key = || (wf.name.clone(), st.version);
    if !HEAVY.contains(key) {
        let fast = Settings {
            limits: &Limits::FAST,
            escalate: true,
            max_task_bytes,
        };
        if let Ok(d) = weft_engine::decide(wf, &st, entry, &fast) {
            return Ok(d);
        }
        HEAVY.remember(key());
    }
    metrics::counter!("weft_expressions_slow_total").increment(1);
    let settings = Settings {
        max_task_bytes,
        ..Settings::STEP
    };
    let (wf, entry) = (wf.clone(), entry.clone());
    tokio::task::spawn_blocking(move || weft_engine::decide(&wf, &st, &entry, &settings))
        .await
        .map_err(|e| RouterError::Internal(format!("a decision stopped: {e}")))?
        .map_err(|_| RouterError::Internal("a decision escalated twice".into()))
}
