//! The sealed secrets in the `weft_secrets` key-value bucket: [`SecretStore`] writes (the
//! admin API), [`Secrets`] reads live (trigger services and executors). Values stay sealed in
//! the bucket and in memory; they are opened only inside [`Secrets::resolve`].

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;
use weft_bus::{Bus, BusError, kv::Snapshot};
use weft_events::subjects::SECRETS_BUCKET;
use weft_runtime::Shutdown;

use crate::{MasterKey, Sealed, SecretError, open, seal, substitute};

/// One stored secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretRecord {
    /// Its name.
    pub name: String,
    /// The sealed value.
    pub sealed: Sealed,
    /// When it was first stored.
    pub created_at: DateTime<Utc>,
    /// When its value last changed.
    pub updated_at: DateTime<Utc>,
}

/// What may be shown about a secret: never its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretInfo {
    /// Its name.
    pub name: String,
    /// When it was first stored.
    pub created_at: DateTime<Utc>,
    /// When its value last changed.
    pub updated_at: DateTime<Utc>,
}

pub use weft_flow::expr::is_secret_name as is_valid_name;

fn bus_err(what: &str, e: impl std::fmt::Display) -> SecretError {
    SecretError::Bus(BusError::JetStream {
        what: what.into(),
        message: e.to_string(),
    })
}

/// Writes secrets (the admin API).
#[derive(Debug, Clone)]
pub struct SecretStore {
    bus: Bus,
    key: Option<Arc<MasterKey>>,
}

impl SecretStore {
    /// A store sealing under `key` (None: reads work, writes fail with a clear error).
    pub fn new(bus: Bus, key: Option<Arc<MasterKey>>) -> Self {
        Self { bus, key }
    }

    fn key(&self) -> Result<&MasterKey, SecretError> {
        self.key.as_deref().ok_or_else(|| {
            SecretError::MasterKey(
                "WEFT_MASTER_KEY is not set on the admin API, so secrets cannot be stored".into(),
            )
        })
    }

    /// Store (or replace) a secret. Returns what may be shown about it.
    pub async fn put(&self, name: &str, value: &str) -> Result<SecretInfo, SecretError> {
        if !is_valid_name(name) {
            return Err(SecretError::InvalidName(name.into()));
        }
        let sealed = seal(self.key()?, name, value)?;
        let kv = self.bus.kv(SECRETS_BUCKET).await?;
        let now = Utc::now();
        let created_at = match kv
            .get(name)
            .await
            .map_err(|e| bus_err("reading a secret", e))?
        {
            Some(old) => serde_json::from_slice::<SecretRecord>(&old)
                .map(|r| r.created_at)
                .unwrap_or(now),
            None => now,
        };
        let record = SecretRecord {
            name: name.into(),
            sealed,
            created_at,
            updated_at: now,
        };
        let bytes = serde_json::to_vec(&record).map_err(|e| bus_err("encoding a secret", e))?;
        kv.put(name, bytes.into())
            .await
            .map_err(|e| bus_err("storing a secret", e))?;
        Ok(info(&record))
    }

    /// Every secret's name and dates, by name.
    pub async fn list(&self) -> Result<Vec<SecretInfo>, SecretError> {
        use futures::TryStreamExt;
        let kv = self.bus.kv(SECRETS_BUCKET).await?;
        let mut keys: Vec<String> = kv
            .keys()
            .await
            .map_err(|e| bus_err("listing secrets", e))?
            .try_collect()
            .await
            .map_err(|e| bus_err("listing secrets", e))?;
        keys.sort();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(bytes) = kv
                .get(&key)
                .await
                .map_err(|e| bus_err("reading a secret", e))?
                && let Ok(record) = serde_json::from_slice::<SecretRecord>(&bytes)
            {
                out.push(info(&record));
            }
        }
        Ok(out)
    }

    /// Delete a secret; false when there was none.
    pub async fn delete(&self, name: &str) -> Result<bool, SecretError> {
        if !is_valid_name(name) {
            return Err(SecretError::InvalidName(name.into()));
        }
        let kv = self.bus.kv(SECRETS_BUCKET).await?;
        let existed = kv
            .get(name)
            .await
            .map_err(|e| bus_err("reading a secret", e))?
            .is_some();
        if existed {
            kv.purge(name)
                .await
                .map_err(|e| bus_err("deleting a secret", e))?;
        }
        Ok(existed)
    }
}

fn info(r: &SecretRecord) -> SecretInfo {
    SecretInfo {
        name: r.name.clone(),
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

/// A live read-only view of the secrets, for the services that use them. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Secrets {
    snapshot: watch::Receiver<Option<Snapshot<SecretRecord>>>,
    key: Option<Arc<MasterKey>>,
}

impl Secrets {
    /// Watch the bucket until `shutdown`; open values with `key` (from `WEFT_MASTER_KEY`).
    pub fn watch(bus: Bus, key: Option<Arc<MasterKey>>, shutdown: Shutdown) -> Self {
        let snapshot = weft_bus::kv::watch_map(bus, SECRETS_BUCKET, shutdown);
        Self { snapshot, key }
    }

    /// A view with no secrets at all (resolving any reference fails as missing).
    pub fn none() -> Self {
        let (_tx, snapshot) = watch::channel(Some(Arc::default()));
        Self {
            snapshot,
            key: None,
        }
    }

    /// Resolves when the secrets changed (for re-resolving configs that use them).
    pub async fn changed(&mut self) -> bool {
        self.snapshot.changed().await.is_ok()
    }

    /// The clear value of one secret.
    pub fn get(&self, name: &str) -> Result<String, SecretError> {
        let guard = self.snapshot.borrow();
        let snapshot = guard.as_ref().ok_or(SecretError::NotLoaded)?;
        let record = snapshot
            .get(name)
            .ok_or_else(|| SecretError::Missing { name: name.into() })?;
        let key = self.key.as_deref().ok_or_else(|| {
            SecretError::MasterKey(format!(
                "secret `{name}` is referenced but WEFT_MASTER_KEY is not set on this service"
            ))
        })?;
        open(key, name, &record.sealed)
    }

    /// `v` with every `${{ secrets.NAME }}` in its strings replaced by the clear value.
    pub fn resolve(&self, v: &Value) -> Result<Value, SecretError> {
        substitute(v, &mut |name| self.get(name))
    }
}

impl weft_executor::ResolveInputs for Secrets {
    fn resolve(&self, with: &Value) -> Result<Option<weft_executor::Resolved>, String> {
        if !crate::has_references(with) {
            return Ok(None);
        }
        let mut values = Vec::new();
        let with = substitute(with, &mut |name| {
            let v = self.get(name)?;
            values.push(v.clone());
            Ok::<_, SecretError>(v)
        })
        .map_err(|e| e.to_string())?;
        Ok(Some(weft_executor::Resolved { with, values }))
    }
}
