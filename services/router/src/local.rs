//! Tasks run in the router's own process: when the executor of a task's agent runs in this
//! process ([`weft_executor::Locals`], e.g. `weft dev`) and has a free local slot, the task is
//! run here instead of being published, and its result is applied from memory — two bus round
//! trips fewer per step (task and result), which is most of a step's latency at low load.
//!
//! Durability is the outbox's: the decision that starts the attempt writes the task's outbox row
//! as usual, but as a delayed row whose `not_before` is a lease ([`Local::claim`]). While the
//! task runs and until its result commits, this process extends the lease every third of it;
//! the transaction that records the result deletes the row. So:
//! - the process dies (kill -9) while the task runs or before its result commits: nobody
//!   extends the lease; when it runs out the delayed publisher (any replica, or this one after
//!   a restart) sends the task to the bus and an executor runs the attempt again — the same
//!   at-least-once as an executor that dies mid-task; a result that still arrives twice counts
//!   once (it counts only while its attempt runs);
//! - the database is unreachable when the result is ready: the result waits in memory and is
//!   applied when it is back (the lease, extended again then, may have run out meanwhile: the
//!   attempt may run a second time, and its second result counts for nothing);
//! - applying the result fails for another reason: the lease is released and the task goes to
//!   the bus and runs again there; the result consumer's retries and dead letters apply to its
//!   result;
//! - the attempt is cancelled or times out while it runs: the cancel reaches the runner on
//!   `weft.cancel.<agent>` like any executor's, and its late result deletes the row.
//!
//! A local result never crosses the bus, so the bus's message size does not limit it (an
//! output over the executor's `max_output_bytes` is stored as an artifact either way).
//! Consumes nothing from the bus; touches the outbox (lease, delete) and the state a result
//! changes.

use std::{collections::HashMap, sync::Arc, time::Duration};

use tokio::sync::{mpsc, oneshot};
use weft_events::{Outcome, TaskResult, subjects};
use weft_executor::{Claim, Locals};
use weft_runtime::Shutdown;
use weft_store::{Store, outbox::OutboxMessage};

use crate::service::Shared;

/// A result run here, waiting to be applied.
pub(crate) struct Done {
    result: TaskResult,
    /// The task's outbox row, deleted with the result.
    row: String,
    /// Told whether the result committed.
    committed: oneshot::Sender<bool>,
}

/// Results run here, for [`apply_loop`].
pub(crate) type Results = mpsc::UnboundedReceiver<Done>;

/// This router's side of local tasks.
#[derive(Debug)]
pub(crate) struct Local {
    locals: Option<Locals>,
    lease: Duration,
    store: Store,
    results: mpsc::UnboundedSender<Done>,
}

impl std::fmt::Debug for Done {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Done").field("row", &self.row).finish()
    }
}

impl Local {
    /// Local tasks over `locals` (`None`: every task goes to the bus), and the receiving end
    /// of their results.
    pub fn new(locals: Option<Locals>, lease: Duration, store: Store) -> (Self, Results) {
        let (results, rx) = mpsc::unbounded_channel();
        let local = Self {
            locals,
            lease,
            store,
            results,
        };
        (local, rx)
    }

    /// Claim a local slot for each task in `emitted` whose agent runs here (and that is not
    /// delayed by a rate limit); a claimed task's row becomes a leased delayed one. Returns the
    /// claims by row id.
    pub fn claim(&self, emitted: &mut [OutboxMessage]) -> HashMap<String, Claim> {
        let mut claims = HashMap::new();
        let Some(locals) = &self.locals else {
            return claims;
        };
        let lease = chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::MAX);
        let until = chrono::Utc::now().checked_add_signed(lease);
        for msg in emitted.iter_mut().filter(|m| m.not_before.is_none()) {
            let Some(agent) = msg.subject.strip_prefix(subjects::TASKS_PREFIX) else {
                continue;
            };
            let Some(claim) = locals.claim(agent) else {
                continue;
            };
            msg.not_before = until;
            claims.insert(msg.id.clone(), claim);
        }
        claims
    }

    /// After the commit: run each claimed task (taken out of `emitted`) here.
    pub fn start(&self, emitted: &mut Vec<OutboxMessage>, mut claims: HashMap<String, Claim>) {
        if claims.is_empty() {
            return;
        }
        emitted.retain_mut(|msg| match claims.remove(&msg.id) {
            Some(claim) => {
                let job = Job {
                    store: self.store.clone(),
                    lease: self.lease,
                    results: self.results.clone(),
                    row: std::mem::take(&mut msg.id),
                };
                tokio::spawn(job.run(std::mem::take(&mut msg.payload), claim));
                false
            }
            None => true,
        });
    }
}

/// One task run here, from its claim to its result's commit.
struct Job {
    store: Store,
    lease: Duration,
    results: mpsc::UnboundedSender<Done>,
    row: String,
}

impl Job {
    async fn run(self, payload: Vec<u8>, claim: Claim) {
        let task = match weft_executor::decode_task(&payload) {
            Ok(task) => task,
            Err(e) => {
                tracing::warn!(row = %self.row, error = %e, "a local task does not decode; it goes to the bus");
                return self.release().await;
            }
        };
        drop(payload);
        let renew = self.renew();
        tokio::pin!(renew);
        let mut result = tokio::select! {
            r = claim.run(task) => r,
            () = &mut renew => return,
        };
        clean(&mut result);
        let (committed, told) = oneshot::channel();
        let done = Done {
            result,
            row: self.row.clone(),
            committed,
        };
        if self.results.send(done).is_err() {
            return self.release().await; // the router is stopping
        }
        let committed = tokio::select! {
            c = told => c.unwrap_or(false),
            () = &mut renew => false,
        };
        if !committed {
            self.release().await;
        }
    }

    /// Extend the lease every third of it, forever.
    async fn renew(&self) {
        loop {
            tokio::time::sleep(self.lease / 3).await;
            if let Err(e) = self.store.extend_lease(&self.row, self.lease).await {
                tracing::warn!(row = %self.row, error = %e, "cannot extend a local task's lease");
            }
        }
    }

    /// Give the task to the bus (the delayed publisher sends it at once).
    async fn release(&self) {
        if let Err(e) = self.store.release_lease(&self.row).await {
            tracing::warn!(row = %self.row, error = %e, "cannot release a local task; it goes to the bus when its lease runs out");
        }
    }
}

/// PostgreSQL cannot store U+0000: replace it in what a result holds, as the result consumer
/// does for results from the bus. A round trip through a value tree only when there is one.
fn clean(result: &mut TaskResult) {
    use weft_events::text::{NUL, find_nul};
    let dirty = match &result.outcome {
        Outcome::Succeeded(v) => find_nul(v).is_some(),
        Outcome::Failed(e) => {
            e.message.contains(NUL) || e.details.as_ref().is_some_and(|d| find_nul(d).is_some())
        }
    } || result.logs.iter().any(|l| l.line.contains(NUL));
    if !dirty {
        return;
    }
    let Ok(mut v) = serde_json::to_value(&*result) else {
        return;
    };
    weft_events::text::replace_nul(&mut v);
    if let Ok(r) = serde_json::from_value(v) {
        *result = r;
    }
}

/// How local results are applied: like the result consumer's batches.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Appliers {
    /// Results being applied at once (each batch takes one slot per result).
    pub concurrency: usize,
    /// Most results per transaction.
    pub max_batch: usize,
}

/// Apply the results run here, several per transaction (whatever is waiting, up to
/// `max_batch`), up to `concurrency` results at once, until `shutdown`; then wait for the
/// transactions under way.
pub(crate) async fn apply_loop(
    shared: Arc<Shared>,
    mut results: Results,
    appliers: Appliers,
    shutdown: Shutdown,
) {
    let concurrency = appliers.concurrency.max(1);
    let max_batch = appliers.max_batch.clamp(1, concurrency);
    let slots = Arc::new(tokio::sync::Semaphore::new(concurrency));
    loop {
        let first = tokio::select! {
            d = results.recv() => d,
            () = shutdown.wait() => None,
        };
        let Some(first) = first else { break };
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match results.try_recv() {
                Ok(d) => batch.push(d),
                Err(_) => break,
            }
        }
        let n = u32::try_from(batch.len()).unwrap_or(u32::MAX);
        let Ok(slot) = slots.clone().acquire_many_owned(n).await else {
            return;
        };
        let (shared, shutdown) = (shared.clone(), shutdown.clone());
        tokio::spawn(async move {
            apply_batch(&shared, batch, &shutdown).await;
            drop(slot);
        });
    }
    let all = u32::try_from(concurrency).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

/// Apply `batch` in one transaction (waiting out an unreachable database); if it fails for
/// another reason, each result alone. Tells each job whether its result committed.
async fn apply_batch(shared: &Shared, mut batch: Vec<Done>, shutdown: &Shutdown) {
    batch.sort_by_key(|d| d.result.execution_id);
    let results: Vec<&TaskResult> = batch.iter().map(|d| &d.result).collect();
    let rows: Vec<&str> = batch.iter().map(|d| d.row.as_str()).collect();
    let each = loop {
        match crate::results::apply_or_each(shared, &results, &rows).await {
            Ok(each) => break each,
            Err(e) if !shutdown.is_triggered() => {
                tracing::warn!(error = %e, count = batch.len(), "cannot apply local results; waiting for the database");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(_) => return tell(batch, false),
        }
    };
    for (done, applied) in batch.into_iter().zip(each) {
        if let Err(e) = &applied {
            tracing::warn!(error = %e, "cannot apply a local result; its task goes to the bus");
        }
        let _ = done.committed.send(applied.is_ok());
    }
}

fn tell(batch: Vec<Done>, committed: bool) {
    for done in batch {
        let _ = done.committed.send(committed);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use weft_events::{ErrorCode, LogLine, StepError};

    use super::*;

    fn result(outcome: Outcome, line: &str) -> TaskResult {
        TaskResult {
            attempt_id: uuid::Uuid::now_v7(),
            execution_id: uuid::Uuid::now_v7(),
            step_id: "s".into(),
            attempt: 1,
            outcome,
            logs: vec![LogLine {
                at: chrono::Utc::now(),
                line: line.into(),
            }],
            logs_dropped: 0,
        }
    }

    #[test]
    fn nul_in_a_local_result_is_replaced_as_in_one_from_the_bus() {
        let mut r = result(
            Outcome::Succeeded(json!({"s": "a\u{0}b", "k\u{0}": 1})),
            "ok",
        );
        clean(&mut r);
        let Outcome::Succeeded(v) = &r.outcome else {
            panic!("outcome changed")
        };
        assert_eq!(v, &json!({"s": "a\u{FFFD}b", "k\u{FFFD}": 1}));

        let failed = StepError::permanent(ErrorCode::Internal, "e\u{0}");
        let mut r = result(Outcome::Failed(failed), "line\u{0}");
        clean(&mut r);
        let Outcome::Failed(e) = &r.outcome else {
            panic!("outcome changed")
        };
        assert_eq!(e.message, "e\u{FFFD}");
        assert_eq!(r.logs[0].line, "line\u{FFFD}");

        let clean_one = result(Outcome::Succeeded(json!({"s": "plain"})), "ok");
        let mut same = clean_one.clone();
        clean(&mut same);
        assert_eq!(same, clean_one);
    }
}
