//! Where the router evaluates `${{ … }}` expressions, so that one workflow's expensive
//! expressions cannot hold up the others.
//!
//! Every evaluation is budgeted (`weft_flow::budget`). It is first tried inline, on the async
//! worker, under the small [`Limits::FAST`] budget: nearly every real expression fits, at no
//! cost beyond the evaluation. One that does not is evaluated again — expressions are pure —
//! on a blocking thread: a workflow `if`, evaluated before any transaction, waits
//! for the one slow lane ([`SLOW_LANE`]) and gets [`Limits::FULL`], so a flood of expensive
//! events queues there and spends at most one core while the other workflows keep routing
//! inline. (A step's `if`/`with` and the `output:` are evaluated by the decision core inside
//! the execution's transaction, with the same fast try and, past it, [`Limits::STEP`] on a
//! blocking thread: see `crate::engine`.) An expression that once outgrew the fast try skips it
//! next time (remembered by its text in a [`HeavyMemo`]). Over the full budget is
//! `ExprError::Limit` (code `expression_limit`): the caller fails the filter or the step, so
//! the event is handled, never redelivered for it.
//!
//! Consumes expression text and the evaluation context; produces results. Touches a
//! process-wide set of heavy expressions and the metrics `weft_expressions_slow_total` and
//! `weft_expressions_over_limit_total`.

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;
use tokio::sync::Semaphore;
use weft_flow::{ExprError, Limits};

/// Slow-lane evaluations at once, in the whole process.
static SLOW_LANE: Semaphore = Semaphore::const_new(1);

/// Workflow `if` expressions (by text) that outgrew the fast try.
static HEAVY: HeavyMemo<String> = HeavyMemo::new();

/// What once needed more than [`Limits::FAST`] (an expression, a workflow version), so the fast
/// try is skipped for it next time. Holds at most [`HeavyMemo::LIMIT`] keys and is emptied
/// when full.
#[derive(Debug)]
pub(crate) struct HeavyMemo<K>(OnceLock<Mutex<HashSet<K>>>);

impl<K: Eq + Hash> HeavyMemo<K> {
    /// Most keys remembered.
    const LIMIT: usize = 1024;

    /// An empty memo (for a `static`).
    pub(crate) const fn new() -> Self {
        Self(OnceLock::new())
    }

    fn set(&self) -> &Mutex<HashSet<K>> {
        self.0.get_or_init(|| Mutex::new(HashSet::new()))
    }

    /// Whether the key `key` builds is remembered (`key` runs only when the memo is not empty).
    pub(crate) fn contains(&self, key: impl FnOnce() -> K) -> bool {
        self.set()
            .lock()
            .is_ok_and(|h| !h.is_empty() && h.contains(&key()))
    }

    /// Remember `key`.
    pub(crate) fn remember(&self, key: K) {
        if let Ok(mut h) = self.set().lock() {
            if h.len() >= Self::LIMIT {
                h.clear();
            }
            h.insert(key);
        }
    }
}

/// Evaluate a workflow `if` (before any transaction): the fast try inline, then, when it needs
/// more, [`Limits::FULL`] on a blocking thread behind the one slow lane.
pub(crate) async fn condition(expr: &str, ctx: &Value) -> Result<bool, ExprError> {
    if !HEAVY.contains(|| expr.to_owned()) {
        match weft_flow::eval_condition_within(expr, ctx, &Limits::FAST) {
            Err(ExprError::Limit { .. }) => HEAVY.remember(expr.to_owned()),
            done => return done,
        }
    }
    metrics::counter!("weft_expressions_slow_total").increment(1);
    // The semaphore is never closed; without a permit, evaluate anyway rather than fail.
    let _permit = SLOW_LANE.acquire().await.ok();
    let (expr, ctx) = (expr.to_owned(), ctx.clone());
    let result = tokio::task::spawn_blocking(move || {
        weft_flow::eval_condition_within(&expr, &ctx, &Limits::FULL)
    })
    .await
    .unwrap_or_else(|e| {
        Err(ExprError::Eval {
            expr: String::new(),
            message: format!("the evaluation stopped: {e}"),
        })
    });
    if matches!(result, Err(ExprError::Limit { .. })) {
        metrics::counter!("weft_expressions_over_limit_total").increment(1);
    }
    result
}
