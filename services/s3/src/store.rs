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

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use weft_bus::{Bus, BusError, objects::Blob};
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
#[derive(Debug, Clone)]
pub struct SeenStore {
    blob: Blob,
}

impl SeenStore {
    /// Opens (creating the bucket when missing) the store of `workflow`'s trigger on `scope`.
    pub async fn open(bus: &Bus, workflow: &str, scope: &str) -> Result<Self, BusError> {
        let hash = weft_events::ids::derive(&["s3", workflow, scope]).simple();
        let description = "on.s3 trigger: objects seen (key → ETag)";
        let blob = bus
            .blob(
                S3_LISTINGS_BUCKET,
                description,
                &format!("{workflow}/{hash}"),
            )
            .await?;
        Ok(Self { blob })
    }

    /// What a cursor names (nothing seen when there is no cursor or the object is gone).
    pub async fn load(&self, cursor: Option<&S3Cursor>) -> Result<Seen, BusError> {
        let Some(cursor) = cursor else {
            return Ok(Seen::default());
        };
        let Some(bytes) = self.blob.read(&cursor.listing).await? else {
            tracing::warn!(listing = %cursor.listing, "saved S3 listing is gone; starting afresh");
            return Ok(Seen::default());
        };
        Ok(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "saved S3 listing is unreadable; starting afresh");
            Seen::default()
        }))
    }

    /// Saves `seen`; returns the cursor to save next.
    pub async fn save(&self, seen: &Seen) -> Result<S3Cursor, BusError> {
        let bytes = serde_json::to_vec(seen).map_err(|e| BusError::JetStream {
            what: "encoding an S3 listing".into(),
            message: e.to_string(),
        })?;
        self.blob.write(&bytes).await?;
        Ok(S3Cursor {
            objects: seen.objects.len(),
            listing: self.blob.name().to_string(),
            saved_at: Utc::now(),
        })
    }
}
