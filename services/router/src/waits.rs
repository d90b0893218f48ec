//! `wait` steps and the events that end them.
//!
//! Consumes every event the router receives and the `WaitStarted` effects of decisions.
//! An event some published `wait` could match (by `type`, `source` and `subject`) is kept in
//! `wait_events` for a day, and offered, as an `Input::Event` decision of its own, to every
//! step waiting for its type. A step that starts waiting is offered, in its own transaction,
//! the kept events from its `window` before. The core checks the rest (`match`, the trigger,
//! an event already taken). A failure anywhere leaves the event unacknowledged: its redelivery
//! keeps it once and offers it again, and a wait it ended already ignores it.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use cloudevents::{AttributesReader, Event};
use serde_json::Value;
use uuid::Uuid;
use weft_bus::kv::Snapshot;
use weft_engine::Input;
use weft_flow::{MatchPattern, Published, StringMatch, Wait, Workflow};
use weft_runtime::Shutdown;
use weft_store::{Tx, waits};

use crate::{RouterError, engine, service::Shared};

/// At most this many kept events are offered to a step that starts waiting.
const MAX_OFFERS: i64 = 1000;

/// How often kept events older than [`Wait::MAX_WINDOW`] are dropped.
const FORGET_EVERY: Duration = Duration::from_secs(60);

/// Whether some published workflow has a `wait` that `event` could end.
fn awaited(snapshot: &Snapshot<Published>, event: &Event) -> bool {
    let (ty, source, subject) = (event.ty(), event.source().as_str(), event.subject());
    snapshot.values().any(|p| {
        let wf = &p.workflow;
        wf.steps
            .values()
            .chain(wf.on_failure.values())
            .filter_map(|s| s.wait.as_ref())
            .any(|w| w.accepts(ty, source, subject))
    })
}

/// Keep `event` if a `wait` could take it, and offer it to the steps waiting for its type.
pub(crate) async fn offer(
    shared: &Shared,
    snapshot: &Snapshot<Published>,
    event: &Event,
) -> Result<(), RouterError> {
    if !awaited(snapshot, event) {
        return Ok(());
    }
    let mut json = weft_events::event_json(event);
    weft_events::text::replace_nul(&mut json);
    let mut tx = shared.store.begin().await?;
    waits::keep_event(&mut tx, &json, engine::now()).await?;
    // Always in this order (a wait takes one of the two): no deadlock between events.
    waits::lock(&mut tx, event.ty()).await?;
    waits::lock(&mut tx, waits::PATTERN).await?;
    let waiting = waits::waiting_for(&mut tx, event.ty()).await?;
    weft_store::commit(tx, "keeping an event for waits").await?;
    for (execution, step) in waiting {
        deliver(shared, execution, &step, &json).await?;
    }
    Ok(())
}

/// Decide `event` for the waiting step `step` of `execution`, under its lock.
async fn deliver(
    shared: &Shared,
    execution: Uuid,
    step: &str,
    event: &Value,
) -> Result<(), RouterError> {
    let store = &shared.store;
    let mut tx = store.begin().await?;
    let Some(engine::Locked { exec, def, st }) =
        engine::lock_unended(shared, &mut tx, execution).await?
    else {
        return Ok(());
    };
    let input = Input::Event {
        step: step.to_string(),
        event: event.clone(),
    };
    let batch = engine::decide(&mut tx, &exec, st, &def, input, engine::now()).await?;
    if batch.journal.is_empty() {
        return Ok(()); // not for this step (`match`), or it stopped waiting: nothing to write
    }
    engine::commit(shared, tx, batch, "deciding on an awaited event").await
}

/// Step `step` of `execution` (of `wf`) starts waiting: record the wait and return the kept
/// events since `since` that its `type`, `source` and `subject` accept, oldest first.
pub(crate) async fn start(
    tx: &mut Tx<'_>,
    execution: Uuid,
    wf: &Workflow,
    step: &str,
    since: DateTime<Utc>,
) -> Result<Vec<Value>, RouterError> {
    let Some(wait) = wf.step(step).and_then(|s| s.wait.as_ref()) else {
        return Ok(Vec::new());
    };
    let exact = wait.exact_type();
    waits::insert(tx, execution, step, exact).await?;
    waits::lock(tx, exact.unwrap_or(waits::PATTERN)).await?;
    let like = exact.is_none().then(|| like(&wait.ty));
    let kept = waits::kept_since(tx, exact, like.as_deref(), since, MAX_OFFERS).await?;
    Ok(kept.into_iter().filter(|e| accepts(wait, e)).collect())
}

/// Whether `wait` accepts the kept event `event` by `type`, `source` and `subject`.
fn accepts(wait: &Wait, event: &Value) -> bool {
    let text = |k: &str| event.get(k).and_then(Value::as_str);
    let (Some(ty), Some(source)) = (text("type"), text("source")) else {
        return false;
    };
    wait.accepts(ty, source, text("subject"))
}

/// A SQL `LIKE` pattern for a type pattern.
fn like(m: &StringMatch) -> String {
    let escape = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    };
    match m {
        StringMatch::Exact(s) => escape(s),
        StringMatch::Pattern(MatchPattern::Prefix(p)) => format!("{}%", escape(p)),
        StringMatch::Pattern(MatchPattern::Suffix(s)) => format!("%{}", escape(s)),
    }
}

/// Drop kept events older than any `window` every minute, until shutdown.
pub(crate) async fn forget(shared: Arc<Shared>, shutdown: Shutdown) {
    while !shutdown.is_triggered() {
        let keep = chrono::Duration::from_std(Wait::MAX_WINDOW).unwrap_or(chrono::Duration::MAX);
        let before = engine::now() - keep;
        match waits::forget_before(shared.store.pool(), before).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(events = n, "dropped events kept for waits"),
            Err(e) => tracing::warn!(error = %e, "cannot drop old events kept for waits"),
        }
        tokio::select! {
            _ = shutdown.wait() => {}
            _ = tokio::time::sleep(FORGET_EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_escapes_and_anchors() {
        let prefix = StringMatch::Pattern(MatchPattern::Prefix("shop.order_".into()));
        assert_eq!(like(&prefix), "shop.order\\_%");
        let suffix = StringMatch::Pattern(MatchPattern::Suffix("100%".into()));
        assert_eq!(like(&suffix), "%100\\%");
    }
}
