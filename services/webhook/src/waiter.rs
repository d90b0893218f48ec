//! Waiting for executions to end, for `respond: wait`.
//!
//! Consumes the execution lifecycle events (`dev.weft.execution.*` on `weft.events.execution`)
//! through ONE core NATS subscription per webhook service; produces, for each registered
//! execution id, the [`Ended`] outcome of that execution. A request registers its execution id
//! (derived from the workflow and the event id, so known before publishing) BEFORE it publishes
//! the event, and the subscription exists before any request is served ([`Waiters::ready`]), so a
//! fast execution cannot end unseen. Touches NATS only.
//!
//! Lifecycle events published while this service is disconnected from NATS are not seen; the
//! waiting request then answers 202 when its `wait_timeout` runs out, like any slow execution.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use cloudevents::AttributesReader;
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::{oneshot, watch};
use uuid::Uuid;
use weft_bus::Bus;
use weft_events::{subjects, types};
use weft_runtime::Shutdown;

/// How an execution ended, from its lifecycle event.
#[derive(Debug, Clone, PartialEq)]
pub struct Ended {
    /// `succeeded`, `failed`, `cancelled` or `timed_out`.
    pub status: String,
    /// The execution's output (null unless it succeeded).
    pub output: Value,
    /// The execution's error (null when it succeeded).
    pub error: Value,
}

type Pending = HashMap<Uuid, Vec<oneshot::Sender<Ended>>>;

/// The shared subscription and the requests waiting on it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Waiters {
    pending: Arc<Mutex<Pending>>,
    /// Whether the subscription is in place (written by [`Waiters::listen`]).
    ready: Arc<watch::Sender<bool>>,
}

/// One request's registration; dropping it forgets the registration.
#[derive(Debug)]
pub struct Waiting {
    id: Uuid,
    rx: oneshot::Receiver<Ended>,
    pending: Arc<Mutex<Pending>>,
}

impl Default for Waiters {
    fn default() -> Self {
        Self::new()
    }
}

impl Waiters {
    /// Nobody waiting, and not subscribed until [`Waiters::listen`] runs.
    pub fn new() -> Self {
        Self {
            pending: Arc::new(Mutex::new(Pending::new())),
            ready: Arc::new(watch::channel(false).0),
        }
    }

    /// Subscribe to the lifecycle subject (retrying until it works) and hand every terminal
    /// event to its waiters, until `shutdown`.
    pub async fn listen(self, bus: Bus, shutdown: Shutdown) {
        listen(bus, self.pending, &self.ready, shutdown).await;
        self.ready.send_replace(false);
    }

    /// Whether the subscription is in place, waiting up to `within` for it.
    pub async fn ready(&self, within: Duration) -> bool {
        let mut ready = self.ready.subscribe();
        matches!(
            tokio::time::timeout(within, ready.wait_for(|r| *r)).await,
            Ok(Ok(_))
        )
    }

    /// Register interest in `execution`; call before the event that starts it is published.
    pub fn register(&self, execution: Uuid) -> Waiting {
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).entry(execution).or_default().push(tx);
        Waiting {
            id: execution,
            rx,
            pending: self.pending.clone(),
        }
    }

    /// How many executions are being waited for (for tests and metrics).
    pub fn waiting(&self) -> usize {
        lock(&self.pending).len()
    }
}

impl Waiting {
    /// The outcome, or `None` when `timeout` ran out first.
    pub async fn ended(mut self, timeout: Duration) -> Option<Ended> {
        tokio::time::timeout(timeout, &mut self.rx).await.ok()?.ok()
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        // Close first: the receiver itself is dropped only after this function.
        self.rx.close();
        let mut pending = lock(&self.pending);
        if let Some(senders) = pending.get_mut(&self.id) {
            senders.retain(|s| !s.is_closed());
            if senders.is_empty() {
                pending.remove(&self.id);
            }
        }
    }
}

fn lock(pending: &Mutex<Pending>) -> std::sync::MutexGuard<'_, Pending> {
    // A panic while holding the lock cannot leave the map inconsistent (single operations).
    pending.lock().unwrap_or_else(|e| e.into_inner())
}

async fn listen(
    bus: Bus,
    pending: Arc<Mutex<Pending>>,
    ready: &watch::Sender<bool>,
    shutdown: Shutdown,
) {
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_triggered() {
        let subscribed = bus.client().subscribe(subjects::EVENTS_EXECUTION).await;
        let mut sub = match subscribed {
            // The flush makes sure the server has the subscription before we say we are ready.
            Ok(sub) if bus.client().flush().await.is_ok() => sub,
            Ok(_) | Err(_) => {
                tracing::warn!("cannot subscribe to execution lifecycle events; retrying");
                tokio::select! {
                    _ = shutdown.wait() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        ready.send_replace(true);
        backoff = Duration::from_millis(100);
        loop {
            tokio::select! {
                _ = shutdown.wait() => return,
                msg = sub.next() => match msg {
                    Some(msg) => deliver(&pending, &msg.payload),
                    None => break, // the client closed the subscription: subscribe again
                },
            }
        }
        ready.send_replace(false);
    }
}

/// Hand a lifecycle event to whoever waits for its execution.
fn deliver(pending: &Mutex<Pending>, payload: &[u8]) {
    let Ok(event) = weft_events::decode_event(payload) else {
        return;
    };
    let terminal = [
        types::EXECUTION_SUCCEEDED,
        types::EXECUTION_FAILED,
        types::EXECUTION_CANCELLED,
        types::EXECUTION_TIMED_OUT,
    ];
    if !terminal.contains(&event.ty()) || event.source().as_str() != types::SOURCE_ROUTER {
        return;
    }
    let data = weft_events::envelope::data_json(&event).unwrap_or(Value::Null);
    let Some(id) = data["execution_id"].as_str().and_then(|s| s.parse().ok()) else {
        return;
    };
    let Some(senders) = lock(pending).remove(&id) else {
        return;
    };
    let ended = Ended {
        status: data["status"].as_str().unwrap_or_default().to_string(),
        output: data["output"].clone(),
        error: data["error"].clone(),
    };
    for tx in senders {
        let _ = tx.send(ended.clone()); // the request may have given up already
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn waiters() -> Waiters {
        let waiters = Waiters::new();
        waiters.ready.send_replace(true);
        waiters
    }

    fn lifecycle(ty: &str, source: &str, id: Uuid) -> Vec<u8> {
        let data = json!({"execution_id": id, "workflow": "w", "status": "succeeded",
                          "output": {"ok": true}, "error": null});
        weft_events::encode_event(&weft_events::new_event("l", ty, source, None, data))
    }

    #[tokio::test]
    async fn delivers_the_end_of_the_registered_execution_only() {
        let w = waiters();
        let (mine, other) = (Uuid::new_v4(), Uuid::new_v4());
        let waiting = w.register(mine);
        deliver(
            &w.pending,
            &lifecycle(types::EXECUTION_STARTED, types::SOURCE_ROUTER, mine),
        );
        deliver(
            &w.pending,
            &lifecycle(types::EXECUTION_SUCCEEDED, "forged", mine),
        );
        deliver(
            &w.pending,
            &lifecycle(types::EXECUTION_SUCCEEDED, types::SOURCE_ROUTER, other),
        );
        deliver(&w.pending, b"not an event");
        assert_eq!(w.waiting(), 1, "nothing above ends `mine`");
        deliver(
            &w.pending,
            &lifecycle(types::EXECUTION_SUCCEEDED, types::SOURCE_ROUTER, mine),
        );
        let ended = waiting.ended(Duration::from_secs(1)).await.expect("ended");
        assert_eq!(
            (ended.status.as_str(), &ended.output),
            ("succeeded", &json!({"ok": true}))
        );
        assert_eq!(w.waiting(), 0);
    }

    #[tokio::test]
    async fn a_timed_out_wait_forgets_its_registration() {
        let w = waiters();
        let id = Uuid::new_v4();
        let first = w.register(id);
        let second = w.register(id);
        assert_eq!(first.ended(Duration::from_millis(10)).await, None);
        assert_eq!(w.waiting(), 1, "the other request still waits");
        drop(second);
        assert_eq!(w.waiting(), 0);
    }
}
