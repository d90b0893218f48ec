//! Trigger health: one entry per running instance in the `weft_triggers` bucket, keyed
//! `<workflow>.<kind>.<index>`, re-written after every change (at most once a second) and every [`crate::HEARTBEAT`].
//! Counters go to `/metrics` as `weft_trigger_events_total` and `weft_trigger_errors_total`
//! (labels `kind`, `workflow`).

use std::sync::{Arc, Mutex};

use async_nats::jetstream::kv;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Notify;
use weft_runtime::Shutdown;

/// Shortest time between two writes of one instance's entry.
const MIN_WRITE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// What a trigger instance is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggerState {
    /// Watching its source (or about to).
    Running,
    /// Cannot reach or read its source right now; retrying.
    Error,
    /// Not running (its service stopped, or nothing runs it).
    Stopped,
}

/// One trigger instance's health, as stored and as `GET /api/v1/triggers` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerHealth {
    /// The workflow.
    pub workflow: String,
    /// The `on:` kind.
    pub kind: String,
    /// Position in the workflow's list of this kind.
    pub index: usize,
    /// State.
    pub state: TriggerState,
    /// When it last published an event.
    pub last_event_at: Option<DateTime<Utc>>,
    /// The last problem, until the source works again.
    pub last_error: Option<String>,
    /// The saved cursor (what it has delivered so far).
    pub cursor: Option<Value>,
    /// Events published since the service started.
    pub events: u64,
    /// When this entry was written (a heartbeat).
    pub updated_at: DateTime<Utc>,
}

impl TriggerHealth {
    /// The bucket key of an instance.
    pub fn key(workflow: &str, kind: &str, index: usize) -> String {
        format!("{workflow}.{kind}.{index}")
    }
}

/// The shared, mutable health of one instance and the task that writes it out.
#[derive(Debug, Clone)]
pub(crate) struct Health {
    inner: Arc<Mutex<TriggerHealth>>,
    dirty: Arc<Notify>,
    labels: Arc<[(&'static str, String); 2]>,
}

impl Health {
    pub(crate) fn new(workflow: &str, kind: &str, index: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(TriggerHealth {
                workflow: workflow.into(),
                kind: kind.into(),
                index,
                state: TriggerState::Running,
                last_event_at: None,
                last_error: None,
                cursor: None,
                events: 0,
                updated_at: Utc::now(),
            })),
            dirty: Arc::new(Notify::new()),
            labels: Arc::new([("kind", kind.into()), ("workflow", workflow.into())]),
        }
    }

    fn update(&self, f: impl FnOnce(&mut TriggerHealth)) {
        if let Ok(mut h) = self.inner.lock() {
            f(&mut h);
        }
        self.dirty.notify_one();
    }

    pub(crate) fn snapshot(&self) -> TriggerHealth {
        self.inner
            .lock()
            .map(|h| h.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    pub(crate) fn running(&self) {
        self.update(|h| {
            h.state = TriggerState::Running;
            h.last_error = None;
        });
    }

    pub(crate) fn error(&self, message: String) {
        metrics::counter!("weft_trigger_errors_total", self.labels.as_slice()).increment(1);
        self.update(|h| {
            h.state = TriggerState::Error;
            h.last_error = Some(message);
        });
    }

    pub(crate) fn event(&self) {
        metrics::counter!("weft_trigger_events_total", self.labels.as_slice()).increment(1);
        self.update(|h| {
            h.last_event_at = Some(Utc::now());
            h.events += 1;
        });
    }

    pub(crate) fn cursor(&self, cursor: Value) {
        self.update(|h| h.cursor = Some(cursor));
    }

    pub(crate) fn stopped(&self) {
        self.update(|h| h.state = TriggerState::Stopped);
    }

    /// Write the entry on every change and every heartbeat until `stop`; then write it once
    /// more (as stopped) or remove it when `remove` says the trigger no longer exists.
    pub(crate) async fn publish(
        self,
        store: kv::Store,
        stop: Shutdown,
        remove: impl Fn() -> bool + Send,
    ) {
        let key = {
            let h = self.snapshot();
            TriggerHealth::key(&h.workflow, &h.kind, h.index)
        };
        loop {
            self.write(&store, &key).await;
            // At most one write per second however fast events come (a busy CDC slot would
            // otherwise write the entry once per change); a change waits at most that long.
            tokio::select! {
                _ = tokio::time::sleep(MIN_WRITE_INTERVAL) => {}
                _ = stop.wait() => break,
            }
            tokio::select! {
                _ = self.dirty.notified() => {}
                _ = tokio::time::sleep(crate::HEARTBEAT - MIN_WRITE_INTERVAL) => {}
                _ = stop.wait() => break,
            }
        }
        if remove() {
            if let Err(e) = store.purge(&key).await {
                tracing::debug!(%key, error = %e, "could not remove trigger health");
            }
        } else {
            self.stopped();
            self.write(&store, &key).await;
        }
    }

    async fn write(&self, store: &kv::Store, key: &str) {
        let mut h = self.snapshot();
        h.updated_at = Utc::now();
        let Ok(bytes) = serde_json::to_vec(&h) else {
            return;
        };
        if let Err(e) = store.put(key, bytes.into()).await {
            tracing::debug!(%key, error = %e, "could not write trigger health (bus down?)");
        }
    }
}
