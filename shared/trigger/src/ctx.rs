//! What a running trigger instance gets: its config, a shutdown signal, deterministic event
//! ids, publishing with a JetStream ack, its cursor and its health.

use async_nats::jetstream::kv;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use weft_bus::{Bus, BusError};
use weft_events::{ids, subjects, types};
use weft_runtime::Shutdown;

use crate::{TriggerError, health::Health};

/// A trigger instance's handle on the runtime.
#[derive(Debug, Clone)]
pub struct TriggerCtx<C> {
    /// The workflow this trigger starts.
    pub workflow: String,
    /// Its config, with `${{ secrets.NAME }}` resolved.
    pub config: C,
    /// Fires on service shutdown, or when the workflow or this config changed or was deleted.
    pub shutdown: Shutdown,
    pub(crate) kind: &'static str,
    pub(crate) scope: String,
    pub(crate) bus: Bus,
    pub(crate) cursors: kv::Store,
    pub(crate) health: Health,
}

impl<C> TriggerCtx<C> {
    /// Deterministic event id: UUIDv5 over ("trigger", kind, workflow, scope, parts…). The same
    /// source item always gets the same id, so a re-publish after a crash is dropped by
    /// JetStream's duplicate window, and beyond it the router's execution id (derived from the
    /// workflow and the event's source and id) still makes a second execution impossible.
    pub fn event_id(&self, parts: &[&str]) -> String {
        let mut all = vec!["trigger", self.kind, self.workflow.as_str(), &self.scope];
        all.extend_from_slice(parts);
        ids::derive(&all).to_string()
    }

    /// Publish a CloudEvent (source `weft/<kind>/<workflow>`) on `weft.events.<kind>` with `id`
    /// as the message id, and wait for JetStream's ack.
    pub async fn publish(
        &self,
        id: &str,
        ty: &str,
        subject: Option<&str>,
        data: Value,
    ) -> Result<(), TriggerError> {
        let source = types::trigger_source(self.kind, &self.workflow);
        let mut event = weft_events::new_event(id, ty, &source, subject, data);
        weft_events::trace::set(&mut event, &weft_events::trace::child_of(None));
        self.bus
            .publish_event(&subjects::trigger_subject(self.kind), &event)
            .await?;
        self.health.event();
        Ok(())
    }

    /// The saved cursor, `None` the first time.
    pub async fn cursor<T: DeserializeOwned>(&self) -> Result<Option<T>, TriggerError> {
        let key = self.cursor_key();
        let bytes = self
            .cursors
            .get(&key)
            .await
            .map_err(|e| bus_error("reading a trigger cursor", e))?;
        let Some(bytes) = bytes else { return Ok(None) };
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| TriggerError::source(format!("stored cursor is not JSON: {e}")))?;
        self.health.cursor(value.clone());
        match serde_json::from_value(value) {
            Ok(cursor) => Ok(Some(cursor)),
            Err(e) => {
                tracing::warn!(workflow = %self.workflow, kind = self.kind, error = %e,
                    "stored cursor has an old shape; starting afresh");
                Ok(None)
            }
        }
    }

    /// Save the cursor. Call it only after the events it covers were published.
    pub async fn save_cursor<T: Serialize>(&self, cursor: &T) -> Result<(), TriggerError> {
        let value = serde_json::to_value(cursor)
            .map_err(|e| TriggerError::source(format!("cursor cannot be encoded: {e}")))?;
        let bytes = serde_json::to_vec(&value)
            .map_err(|e| TriggerError::source(format!("cursor cannot be encoded: {e}")))?;
        self.cursors
            .put(self.cursor_key(), bytes.into())
            .await
            .map_err(|e| bus_error("saving a trigger cursor", e))?;
        self.health.cursor(value);
        Ok(())
    }

    /// Connected and watching: state `running`, last error cleared.
    pub fn healthy(&self) {
        self.health.running();
    }

    /// Still trying, but the source has a problem right now.
    pub fn unhealthy(&self, error: impl std::fmt::Display) {
        self.health.error(error.to_string());
    }

    /// The bus.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// `<kind>.<workflow>.<hash of scope>`: a valid bucket key whatever the scope holds.
    fn cursor_key(&self) -> String {
        let hash = ids::derive(&[self.kind, &self.workflow, &self.scope]).simple();
        format!("{}.{}.{}", self.kind, self.workflow, hash)
    }
}

fn bus_error(what: &str, e: impl std::fmt::Display) -> TriggerError {
    TriggerError::Bus(BusError::JetStream {
        what: what.into(),
        message: e.to_string(),
    })
}
