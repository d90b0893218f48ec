//! Where a trigger's listing is kept between runs: one object in the JetStream object store
//! bucket `weft_file_listings`, named after the workflow and the watched scope, plus a small
//! cursor in `weft_cursors` (through the trigger runtime) that names it and says how many files
//! it holds — that cursor is what `GET /api/v1/triggers` shows.
//!
//! Consumes and produces the bucket's objects; touches NATS only. The object is written before
//! the cursor, and both only after the events they cover were published, so whichever a crash
//! leaves behind is a valid starting point (an older one only makes the scan re-publish events
//! whose ids JetStream and the router drop).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use weft_bus::{Bus, BusError, objects::Blob};
use weft_events::subjects::FILE_LISTINGS_BUCKET;

use crate::listing::Listing;

/// The trigger's cursor: which saved listing to start from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCursor {
    /// Files in the listing.
    pub files: usize,
    /// The object in `weft_file_listings` holding it.
    pub listing: String,
    /// When it was saved.
    pub saved_at: DateTime<Utc>,
}

/// The listing object of one trigger.
#[derive(Debug, Clone)]
pub struct ListingStore {
    blob: Blob,
}

impl ListingStore {
    /// Open (creating the bucket when missing) the listing of `workflow`'s trigger on `scope`.
    pub async fn open(bus: &Bus, workflow: &str, scope: &str) -> Result<Self, BusError> {
        let hash = Sha256::digest(scope.as_bytes());
        let name = format!("{workflow}/{:x}", hash);
        let blob = bus
            .blob(FILE_LISTINGS_BUCKET, "on.file trigger listings", &name)
            .await?;
        Ok(Self { blob })
    }

    /// The listing a cursor names (an empty one when the object is gone).
    pub async fn load(&self, cursor: &FileCursor) -> Result<Listing, BusError> {
        let Some(bytes) = self.blob.read(&cursor.listing).await? else {
            tracing::warn!(listing = %cursor.listing, "saved listing is gone; starting from an empty one");
            return Ok(Listing::default());
        };
        Listing::decode(&bytes).or_else(|e| {
            tracing::warn!(error = %e, "saved listing is unreadable; starting from an empty one");
            Ok(Listing::default())
        })
    }

    /// Save `listing`; returns the cursor to save next.
    pub async fn save(&self, listing: &Listing) -> Result<FileCursor, BusError> {
        self.blob.write(&listing.encode()).await?;
        Ok(FileCursor {
            files: listing.len(),
            listing: self.blob.name().to_string(),
            saved_at: Utc::now(),
        })
    }
}
