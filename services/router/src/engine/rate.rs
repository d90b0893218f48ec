//! A step's `rate_limit` at dispatch: the attempt takes the next start slot of its step
//! (`weft_store::rate_limits`); one whose slot is later than the decision waits in the outbox
//! until then (`not_before`), and its timers move by the same delay so that its `timeout`
//! counts from the start. An attempt that ends while its task still waits (the run cancelled,
//! timed out) takes the task back: the API it protects never sees it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use weft_engine::AttemptStatus;
use weft_events::{ids, types};
use weft_flow::Workflow;
use weft_store::{Tx, outbox, rate_limits};

use crate::RouterError;

/// Attempt `attempt` of step `step` ended with `status`: if it was cancelled or timed out and
/// its task still waits for its slot, the task leaves the outbox.
pub(super) async fn withdraw(
    tx: &mut Tx<'_>,
    wf: &Workflow,
    step: &str,
    attempt: Uuid,
    status: AttemptStatus,
) -> Result<(), RouterError> {
    let ended_early = matches!(status, AttemptStatus::Cancelled | AttemptStatus::TimedOut);
    if !ended_early || wf.step(step).is_none_or(|s| s.rate_limit.is_none()) {
        return Ok(());
    }
    let id = ids::message_id(types::SOURCE_ROUTER, &attempt.to_string());
    if outbox::withdraw(tx, &id).await? {
        tracing::debug!(%attempt, "a rate-limited task was taken back before it was sent");
    }
    Ok(())
}

/// Attempts that wait for their slot, and how long past their decision.
#[derive(Debug, Default)]
pub(super) struct Delays(HashMap<Uuid, chrono::Duration>);

impl Delays {
    /// The start slot of `attempt` of step `step` decided at `at`: `Some(when)` if it must wait.
    pub async fn reserve(
        &mut self,
        tx: &mut Tx<'_>,
        wf: &Workflow,
        step: &str,
        attempt: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, RouterError> {
        let Some(rate) = wf.step(step).and_then(|s| s.rate_limit.as_ref()) else {
            return Ok(None);
        };
        let name = format!("{}/{step}", wf.name);
        let slot = rate_limits::reserve(tx, &name, rate.limit, rate.per, at).await?;
        if slot <= at {
            return Ok(None);
        }
        self.0.insert(attempt, slot - at);
        metrics::counter!("weft_steps_rate_limited_total").increment(1);
        Ok(Some(slot))
    }

    /// A timer of `attempt` due at `due`, moved by its attempt's wait.
    pub fn shift(&self, attempt: Option<Uuid>, due: DateTime<Utc>) -> DateTime<Utc> {
        match attempt.and_then(|a| self.0.get(&a)) {
            Some(delay) => due.checked_add_signed(*delay).unwrap_or(due),
            None => due,
        }
    }
}
