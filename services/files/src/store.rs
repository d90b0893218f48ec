//! Where a trigger's listing is kept between runs: one object in the JetStream object store
//! bucket `weft_file_listings`, named after the workflow and the watched scope, plus a small
//! cursor in `weft_cursors` (through the trigger runtime) that names it and says how many files
//! it holds — that cursor is what `GET /api/v1/triggers` shows.
//!
//! Consumes and produces the bucket's objects; touches NATS only. The object is written before
//! the cursor, and both only after the events they cover were published, so whichever a crash
//! leaves behind is a valid starting point (an older one only makes the scan re-publish events
//! whose ids JetStream and the router drop).

use async_nats::jetstream::object_store::{self, ObjectStore};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncReadExt as _;
use weft_bus::{Bus, BusError};
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
#[derive(Clone)]
pub struct ListingStore {
    objects: ObjectStore,
    name: String,
}

impl std::fmt::Debug for ListingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListingStore")
            .field("name", &self.name)
            .finish()
    }
}

impl ListingStore {
    /// Open (creating the bucket when missing) the listing of `workflow`'s trigger on `scope`.
    pub async fn open(bus: &Bus, workflow: &str, scope: &str) -> Result<Self, BusError> {
        let js = bus.jetstream();
        let objects = match js.get_object_store(FILE_LISTINGS_BUCKET).await {
            Ok(store) => store,
            Err(_) => js
                .create_object_store(object_store::Config {
                    bucket: FILE_LISTINGS_BUCKET.into(),
                    description: Some("on.file trigger listings".into()),
                    ..Default::default()
                })
                .await
                .map_err(|e| js_error("creating the file-listings bucket", e))?,
        };
        let hash = Sha256::digest(scope.as_bytes());
        let name = format!("{workflow}/{:x}", hash);
        Ok(Self { objects, name })
    }

    /// The listing a cursor names (an empty one when the object is gone).
    pub async fn load(&self, cursor: &FileCursor) -> Result<Listing, BusError> {
        let mut object = match self.objects.get(&cursor.listing).await {
            Ok(object) => object,
            Err(e) if e.kind() == object_store::GetErrorKind::NotFound => {
                tracing::warn!(listing = %cursor.listing, "saved listing is gone; starting from an empty one");
                return Ok(Listing::default());
            }
            Err(e) => return Err(js_error("reading a file listing", e)),
        };
        let mut bytes = Vec::new();
        object
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| js_error("reading a file listing", e))?;
        Listing::decode(&bytes).or_else(|e| {
            tracing::warn!(error = %e, "saved listing is unreadable; starting from an empty one");
            Ok(Listing::default())
        })
    }

    /// Save `listing`; returns the cursor to save next.
    pub async fn save(&self, listing: &Listing) -> Result<FileCursor, BusError> {
        let bytes = listing.encode();
        self.objects
            .put(self.name.as_str(), &mut bytes.as_slice())
            .await
            .map_err(|e| js_error("saving a file listing", e))?;
        Ok(FileCursor {
            files: listing.len(),
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
