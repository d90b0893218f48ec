//! Workflow definitions by (name, version), loaded from PostgreSQL once and kept: versions are
//! immutable, so the cache never needs invalidating.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use weft_flow::Workflow;
use weft_store::Store;

use crate::RouterError;

/// A read-through cache of definitions: name → version → definition (looked up by `&str`, so a
/// hit allocates nothing).
#[derive(Debug, Default)]
pub struct Definitions {
    cache: Mutex<HashMap<String, HashMap<i32, Arc<Workflow>>>>,
}

impl Definitions {
    /// Remember a definition that is already at hand (from the bucket); `wf` is called only
    /// when it is not cached yet.
    pub fn insert_with(&self, name: &str, version: i32, wf: impl FnOnce() -> Arc<Workflow>) {
        let Ok(mut c) = self.cache.lock() else {
            return;
        };
        match c.get_mut(name) {
            Some(versions) => {
                versions.entry(version).or_insert_with(wf);
            }
            None => {
                c.insert(name.to_string(), HashMap::from([(version, wf())]));
            }
        }
    }

    /// The definition of `name` at `version`.
    pub async fn get(
        &self,
        store: &Store,
        name: &str,
        version: i32,
    ) -> Result<Arc<Workflow>, RouterError> {
        let hit = self
            .cache
            .lock()
            .ok()
            .and_then(|c| c.get(name)?.get(&version).cloned());
        if let Some(wf) = hit {
            return Ok(wf);
        }
        let fail = |message: String| RouterError::Definition {
            name: name.to_string(),
            version,
            message,
        };
        let row = store
            .workflow_version(name, version)
            .await?
            .ok_or_else(|| fail("no such version".into()))?;
        let wf: Workflow =
            serde_json::from_value(row.definition).map_err(|e| fail(e.to_string()))?;
        let wf = Arc::new(wf);
        self.insert_with(name, version, || wf.clone());
        Ok(wf)
    }
}
