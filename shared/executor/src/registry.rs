//! The agent registry: every executor replica announces itself in the key-value bucket
//! [`AGENTS_BUCKET`] under `<agent>.<replica>` — name, version, description, the JSON Schemas of
//! its `with` and output, and whether it is ready — and refreshes the entry every
//! [`ANNOUNCE_EVERY`]. An entry not refreshed within [`REPLICA_TTL`] is stale (the bucket's
//! `max_age` removes it; readers also skip stale entries). On a clean stop the replica deletes
//! its key. Readers: the admin API (`GET /api/v1/agents`, apply-time validation).

use std::time::Duration;

use async_nats::jetstream::kv;
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use weft_bus::{Bus, BusError};
use weft_events::subjects::AGENTS_BUCKET;

/// How often a replica refreshes its entry.
pub const ANNOUNCE_EVERY: Duration = Duration::from_secs(10);
/// How long an entry counts after its last refresh.
pub const REPLICA_TTL: Duration = Duration::from_secs(30);

/// One replica's entry in the registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Announcement {
    /// The `uses:` name.
    pub name: String,
    /// The executor's version.
    pub version: String,
    /// One line on what it does.
    pub description: String,
    /// JSON Schema of the step's `with`.
    pub input_schema: Value,
    /// JSON Schema of the step's output.
    pub output_schema: Value,
    /// This replica's id.
    pub replica: String,
    /// Host name of the replica.
    pub host: String,
    /// When the replica started.
    pub started_at: DateTime<Utc>,
    /// When the entry was last refreshed.
    pub seen_at: DateTime<Utc>,
    /// Whether the replica can work (its agent's check passed).
    pub ready: bool,
    /// Why it cannot, when it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Announcement {
    /// The registry key of this entry.
    pub fn key(&self) -> String {
        format!("{}.{}", self.name, self.replica)
    }

    /// Whether the entry was refreshed within [`REPLICA_TTL`] of `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        now.signed_duration_since(self.seen_at)
            .to_std()
            .map_or(true, |age| age <= REPLICA_TTL)
    }
}

/// The registry bucket (created with [`REPLICA_TTL`] as its `max_age` when missing).
pub async fn bucket(bus: &Bus) -> Result<kv::Store, BusError> {
    let js = bus.jetstream();
    if let Ok(store) = js.get_key_value(AGENTS_BUCKET).await {
        return Ok(store);
    }
    js.create_key_value(kv::Config {
        bucket: AGENTS_BUCKET.into(),
        description: "Weft agent registry: one entry per live executor replica".into(),
        history: 1,
        max_age: REPLICA_TTL,
        ..Default::default()
    })
    .await
    .map_err(|e| BusError::js("creating the agent registry", e))
}

/// Write (or refresh) `entry`.
pub async fn announce(store: &kv::Store, entry: &Announcement) -> Result<(), BusError> {
    let bytes =
        serde_json::to_vec(entry).map_err(|e| BusError::js("encoding an agent entry", e))?;
    store
        .put(entry.key(), bytes.into())
        .await
        .map_err(|e| BusError::js(format!("announcing {}", entry.key()), e))?;
    Ok(())
}

/// Remove `entry` (a clean stop).
pub async fn withdraw(store: &kv::Store, entry: &Announcement) {
    if let Err(e) = store.delete(entry.key()).await {
        tracing::debug!(key = %entry.key(), error = %e, "cannot withdraw the agent entry");
    }
}

/// Every live entry in the registry.
pub async fn live(bus: &Bus) -> Result<Vec<Announcement>, BusError> {
    let store = bucket(bus).await?;
    let mut keys = store
        .keys()
        .await
        .map_err(|e| BusError::js("listing the agent registry", e))?;
    let now = Utc::now();
    let mut out = Vec::new();
    while let Some(key) = keys.next().await {
        let Ok(key) = key else { continue };
        let Ok(Some(bytes)) = store.get(&key).await else {
            continue;
        };
        match serde_json::from_slice::<Announcement>(&bytes) {
            Ok(a) if a.is_live(now) => out.push(a),
            Ok(_) => {}
            Err(e) => tracing::debug!(%key, error = %e, "undecodable agent entry skipped"),
        }
    }
    out.sort_by(|a, b| (&a.name, &a.replica).cmp(&(&b.name, &b.replica)));
    Ok(out)
}
