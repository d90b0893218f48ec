//! One trigger instance under supervision: run the source, record a failure, back off
//! (1 s doubling to 60 s; back to 1 s after the source reported itself healthy), run again —
//! until the instance's shutdown fires.

use std::sync::Arc;
use std::time::Duration;

use crate::{Source, TriggerCtx, TriggerError, TriggerState};

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Run `ctx`'s instance of `source` until `ctx.shutdown`.
pub(crate) async fn supervise<S: Source>(source: Arc<S>, ctx: TriggerCtx<S::Config>) {
    let mut backoff = FIRST_BACKOFF;
    let stop = ctx.shutdown.clone();
    while !stop.is_triggered() {
        let result = tokio::select! {
            r = source.run(ctx.clone()) => r,
            _ = stop.wait() => Ok(()),
        };
        if stop.is_triggered() {
            break;
        }
        let was_healthy = ctx.health.snapshot().state == TriggerState::Running;
        let message = match result {
            Ok(()) => "the trigger stopped by itself; restarting".to_string(),
            Err(TriggerError::Source(m)) => m,
            Err(e) => e.to_string(),
        };
        tracing::warn!(workflow = %ctx.workflow, kind = S::KIND, error = %message,
            retry_in = ?backoff, "trigger failed");
        ctx.health.error(message);
        if was_healthy {
            backoff = FIRST_BACKOFF;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.wait() => break,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
