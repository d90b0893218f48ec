//! Where a trigger's [`Seen`] objects (key → ETag) are kept between runs: one object in the
//! JetStream object store bucket `weft_s3_listings`, named after the workflow and a hash of
//! the scope, plus a small [`S3Cursor`] in `weft_cursors` (through the trigger runtime) that
//! names it and counts its entries; that cursor is what `GET /api/v1/triggers` shows. A large
//! bucket therefore neither hits the key-value size limit nor bloats the trigger's health.
//!
//! Consumes and produces the bucket's objects; touches NATS only. The object is written
//! before the cursor, and both only after the events they cover were published, so whatever a
//! crash leaves behind is a valid starting point (an older one only re-publishes events whose
//! ids JetStream and the router drop).

use async_nats::jetstream::object_store::{self, ObjectStore};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt as _;
use weft_bus::{Bus, BusError};
use weft_events::subjects::S3_LISTINGS_BUCKET;

use crate::cursor::Seen;

/// The trigger's cursor: which saved object list to start from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Cursor {
    /// Objects published and still in the bucket (with `after: move|delete`: whose after-step
    /// is still due).
    pub objects: usize,
    /// The object in `weft_s3_listings` holding them.
    pub listing: String,
    /// When it was saved.
    pub saved_at: DateTime<Utc>,
}

/// The seen-objects object of one trigger.
#[derive(Clone)]
pub struct SeenStore {
    objects: ObjectStore,
    name: String,
}

impl std::fmt::Debug for SeenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeenStore")
            .field("name", &self.name)
            .finish()
    }
}

impl SeenStore {
    /// Opens (creating the bucket when missing) the store of `workflow`'s trigger on `scope`.
    pub async fn open(bus: &Bus, workflow: &str, scope: &str) -> Result<Self, BusError> {
        let js = bus.jetstream();
        let objects = match js.get_object_store(S3_LISTINGS_BUCKET).await {
            Ok(store) => store,
            Err(_) => js
                .create_object_store(object_store::Config {
                    bucket: S3_LISTINGS_BUCKET.into(),
                    description: Some("on.s3 trigger: objects seen (key → ETag)".into()),
                    ..Default::default()
                })
                .await
                .map_err(|e| js_error("creating the s3-listings bucket", e))?,
        };
        let hash = weft_events::ids::derive(&["s3", workflow, scope]).simple();
        Ok(Self {
            objects,
            name: format!("{workflow}/{hash}"),
        })
    }

    /// What a cursor names (nothing seen when there is no cursor or the object is gone).
    pub async fn load(&self, cursor: Option<&S3Cursor>) -> Result<Seen, BusError> {
        let Some(cursor) = cursor else {
            return Ok(Seen::default());
        };
        let mut object = match self.objects.get(&cursor.listing).await {
            Ok(object) => object,
            Err(e) if e.kind() == object_store::GetErrorKind::NotFound => {
                tracing::warn!(listing = %cursor.listing, "saved S3 listing is gone; starting afresh");
                return Ok(Seen::default());
            }
            Err(e) => return Err(js_error("reading an S3 listing", e)),
        };
        let mut bytes = Vec::new();
        object
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| js_error("reading an S3 listing", e))?;
        Ok(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "saved S3 listing is unreadable; starting afresh");
            Seen::default()
        }))
    }

    /// Saves `seen`; returns the cursor to save next.
    pub async fn save(&self, seen: &Seen) -> Result<S3Cursor, BusError> {
        let bytes = serde_json::to_vec(seen).map_err(|e| js_error("encoding an S3 listing", e))?;
        self.objects
            .put(self.name.as_str(), &mut bytes.as_slice())
            .await
            .map_err(|e| js_error("saving an S3 listing", e))?;
        Ok(S3Cursor {
            objects: seen.objects.len(),
            listing: self.name.clone(),
            saved_at: Utc::now(),
        })
    }
}

fn js_error(what: &str, e: impl std::fmt::Display) -> BusError {
    BusError::JetStream {
        what: what.into(),
        message: e.to_string(),
    }
}
