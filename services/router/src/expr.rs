//! Where the router evaluates `${{ … }}` expressions, so that one workflow's expensive
//! expressions cannot hold up the others.
//!
//! Every evaluation is budgeted (`weft_flow::budget`). It is first tried inline, on the async
//! worker, under the small [`Limits::FAST`] budget: nearly every real expression fits, at no
//! cost beyond the evaluation. One that does not is evaluated again — expressions are pure —
//! on a blocking thread ([`Lane`]): a workflow `if`, evaluated before any transaction, waits
//! for the one slow lane ([`SLOW_LANE`]) and gets [`Limits::FULL`], so a flood of expensive
//! events queues there and spends at most one core while the other workflows keep routing
//! inline. (A step's `if`/`with` and the `output:` are evaluated by the decision core inside
//! the execution's transaction, with the same fast try and, past it, [`Limits::STEP`] on a
//! blocking thread: see `crate::engine`.) An expression that once outgrew the fast try skips it next time
//! (remembered by its text, [`HEAVY_LIMIT`] at most). Over the full budget is
//! `ExprError::Limit` (code `expression_limit`): the caller fails the filter or the step, so
//! the event is handled, never redelivered for it.
//!
//! Consumes expression text and the evaluation context; produces results. Touches a
//! process-wide set of heavy expressions and the metrics `weft_expressions_slow_total` and
//! `weft_expressions_over_limit_total`.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;
use tokio::sync::Semaphore;
use weft_flow::{ExprError, Limits};

/// Slow-lane evaluations at once, in the whole process.
static SLOW_LANE: Semaphore = Semaphore::const_new(1);

/// Most expressions remembered as heavy; the set is emptied when full.
const HEAVY_LIMIT: usize = 1024;

fn heavy() -> &'static Mutex<HashSet<String>> {
    static HEAVY: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    HEAVY.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Whether the expression named by `key` needed the slow lane before (the key is only built
/// when some expression did).
fn is_heavy(key: &dyn Fn() -> String) -> bool {
    heavy()
        .lock()
        .is_ok_and(|h| !h.is_empty() && h.contains(&key()))
}

fn remember_heavy(key: &str) {
    if let Ok(mut h) = heavy().lock() {
        if h.len() >= HEAVY_LIMIT {
            h.clear();
        }
        h.insert(key.to_owned());
    }
}

/// Where an evaluation that outgrows [`Limits::FAST`] goes. (A step's `if` and `with` and the
/// `output:` are evaluated by the decision core; see `crate::engine` for their budgets.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lane {
    /// Before any transaction (the workflow `if`): wait for the one slow lane, then evaluate
    /// under [`Limits::FULL`]. Waiting holds nothing but the event.
    Shared,
}

impl Lane {
    fn limits(self) -> &'static Limits {
        match self {
            Lane::Shared => &Limits::FULL,
        }
    }
}

/// Evaluate a condition (`if:`).
pub(crate) async fn condition(expr: &str, ctx: &Value, lane: Lane) -> Result<bool, ExprError> {
    evaluate(
        &|| expr.to_owned(),
        ctx,
        lane,
        |c, limits| weft_flow::eval_condition_within(expr, c, limits),
        || {
            let expr = expr.to_owned();
            move |c: Value| weft_flow::eval_condition_within(&expr, &c, lane.limits())
        },
    )
    .await
}

/// The fast try inline, then (if needed) a blocking thread per `lane`; `slow` builds the owned
/// evaluation only when it is needed.
async fn evaluate<T, S>(
    key: &(dyn Fn() -> String + Sync),
    ctx: &Value,
    lane: Lane,
    fast: impl FnOnce(&Value, &Limits) -> Result<T, ExprError>,
    slow: impl FnOnce() -> S,
) -> Result<T, ExprError>
where
    T: Send + 'static,
    S: FnOnce(Value) -> Result<T, ExprError> + Send + 'static,
{
    if !is_heavy(key) {
        match fast(ctx, &Limits::FAST) {
            Err(ExprError::Limit { .. }) => remember_heavy(&key()),
            done => return done,
        }
    }
    metrics::counter!("weft_expressions_slow_total").increment(1);
    // The semaphore is never closed; without a permit, evaluate anyway rather than fail.
    let _permit = match lane {
        Lane::Shared => SLOW_LANE.acquire().await.ok(),
    };
    let ctx = ctx.clone();
    let f = slow();
    let result = tokio::task::spawn_blocking(move || f(ctx))
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
