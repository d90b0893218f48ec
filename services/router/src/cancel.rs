//! Telling executors to stop attempts the router has ended (execution cancelled, step timed out,
//! heartbeat missed): a `dev.weft.task.cancel` on core NATS subject `weft.cancel.<agent>`.
//!
//! Best effort and after the commit: the attempt is already recorded as ended and a late
//! result is ignored, so a lost cancel costs only the executor's wasted work (bounded by the
//! task's own deadline). Also holds the bus's largest message size, which dispatch checks tasks
//! against.

use std::sync::atomic::{AtomicUsize, Ordering};

use uuid::Uuid;
use weft_bus::Bus;
use weft_events::{Cancel, subjects, types};

/// An attempt to stop, and the agent running it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stop {
    /// The agent (`uses:`).
    pub agent: String,
    /// What to stop and why.
    pub cancel: Cancel,
}

impl Stop {
    /// Stop `attempt_id` of `agent` because of `reason`.
    pub fn new(agent: &str, attempt_id: Uuid, reason: impl Into<String>) -> Self {
        Self {
            agent: agent.to_string(),
            cancel: Cancel {
                attempt_id,
                reason: reason.into(),
            },
        }
    }
}

/// Publish every stop (best effort: a failure is logged).
pub async fn publish(bus: &Bus, stops: Vec<Stop>) {
    for stop in stops {
        let data = serde_json::to_value(&stop.cancel).unwrap_or_default();
        let event = weft_events::new_event(
            format!("cancel-{}", stop.cancel.attempt_id),
            types::TASK_CANCEL,
            types::SOURCE_ROUTER,
            None,
            data,
        );
        let payload = weft_events::encode_event(&event);
        let subject = subjects::cancel_subject(&stop.agent);
        if let Err(e) = bus.client().publish(subject, payload.into()).await {
            tracing::debug!(attempt = %stop.cancel.attempt_id, error = %e, "cancel not sent");
        }
    }
}

/// The bus's largest message, in bytes (NATS' default until the router connects).
static MAX_PAYLOAD: AtomicUsize = AtomicUsize::new(1024 * 1024);

/// Remember the bus's largest message size.
pub fn set_max_payload(bytes: usize) {
    MAX_PAYLOAD.store(bytes, Ordering::Relaxed);
}

/// Largest task message dispatch emits: the bus's limit less room for headers.
pub fn max_task_bytes() -> usize {
    MAX_PAYLOAD.load(Ordering::Relaxed).saturating_sub(1024)
}
