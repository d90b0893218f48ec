//! A live, typed view of a JetStream key-value bucket.
//!
//! [`watch_map`] keeps a map of every key in a bucket up to date in a background task and hands
//! out snapshots through a `tokio::sync::watch` channel. The snapshot is `None` until the
//! bucket's current contents have been read once, so callers can tell "not loaded yet" from
//! "empty". If the bus goes away the last snapshot stays and the watch is reopened with backoff.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use async_nats::jetstream::kv::{self, Operation};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use weft_runtime::Shutdown;

use crate::{Bus, BusError};

/// A snapshot of a bucket: key → decoded value.
pub type Snapshot<T> = Arc<BTreeMap<String, Arc<T>>>;

impl Bus {
    /// Open a bucket, creating it (one value of history) when missing.
    pub async fn kv(&self, bucket: &str) -> Result<kv::Store, BusError> {
        if let Ok(store) = self.js.get_key_value(bucket).await {
            return Ok(store);
        }
        self.js
            .create_key_value(kv::Config {
                bucket: bucket.to_string(),
                history: 1,
                ..Default::default()
            })
            .await
            .map_err(|e| BusError::js(format!("creating bucket {bucket}"), e))
    }
}

impl Bus {
    /// Put `value` as JSON under `key` in `bucket` (created when missing).
    pub async fn put_json<T: serde::Serialize>(
        &self,
        bucket: &str,
        key: &str,
        value: &T,
    ) -> Result<(), BusError> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| BusError::js(format!("encoding {key} for bucket {bucket}"), e))?;
        self.kv(bucket)
            .await?
            .put(key, bytes.into())
            .await
            .map_err(|e| BusError::js(format!("writing {key} to bucket {bucket}"), e))?;
        Ok(())
    }
}

/// Watch `bucket`, decoding every value as `T` (undecodable values are logged and skipped),
/// in a task of its own until `shutdown`.
pub fn watch_map<T>(
    bus: Bus,
    bucket: &str,
    shutdown: Shutdown,
) -> watch::Receiver<Option<Snapshot<T>>>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    let (tx, rx) = watch::channel(None);
    tokio::spawn(follow_map(bus, bucket.to_string(), tx, shutdown));
    rx
}

/// The loop behind [`watch_map`], for a service that runs it as one of its own parts: keep
/// `tx` equal to `bucket` (reopening the watch with backoff when it breaks) until `shutdown`.
pub async fn follow_map<T: DeserializeOwned>(
    bus: Bus,
    bucket: String,
    tx: watch::Sender<Option<Snapshot<T>>>,
    shutdown: Shutdown,
) {
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_triggered() {
        match follow(&bus, &bucket, &tx, &shutdown).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(%bucket, error = %e, "bucket watch interrupted; reopening");
                tokio::select! {
                    _ = shutdown.wait() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn follow<T: DeserializeOwned>(
    bus: &Bus,
    bucket: &str,
    tx: &watch::Sender<Option<Snapshot<T>>>,
    shutdown: &Shutdown,
) -> Result<(), BusError> {
    let store = bus.kv(bucket).await?;
    let status = store
        .status()
        .await
        .map_err(|e| BusError::js(format!("reading bucket {bucket}"), e))?;
    let mut entries = store
        .watch_with_history(">")
        .await
        .map_err(|e| BusError::js(format!("watching bucket {bucket}"), e))?;
    let mut map = BTreeMap::new();
    let mut loaded = status.values() == 0;
    if loaded {
        tx.send_replace(Some(Arc::new(BTreeMap::new())));
    }
    loop {
        let entry = tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            e = entries.next() => e,
        };
        let entry = match entry {
            Some(Ok(entry)) => entry,
            Some(Err(e)) => return Err(BusError::js(format!("watching bucket {bucket}"), e)),
            None => {
                return Err(BusError::js(
                    format!("watching bucket {bucket}"),
                    "watch ended",
                ));
            }
        };
        match entry.operation {
            Operation::Put => match serde_json::from_slice::<T>(&entry.value) {
                Ok(v) => {
                    map.insert(entry.key.clone(), Arc::new(v));
                }
                Err(e) => {
                    tracing::error!(%bucket, key = %entry.key, error = %e, "undecodable value skipped")
                }
            },
            Operation::Delete | Operation::Purge => {
                map.remove(&entry.key);
            }
        }
        loaded |= entry.delta == 0;
        if loaded {
            tx.send_replace(Some(Arc::new(map.clone())));
        }
    }
}
