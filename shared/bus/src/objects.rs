//! One named blob in a JetStream object-store bucket (created when missing): what a trigger
//! keeps beside its cursor when the state is too large for a key-value entry (a folder or
//! bucket listing). Touches NATS only.

use async_nats::jetstream::object_store::{self, ObjectStore};
use tokio::io::AsyncReadExt as _;

use crate::{Bus, BusError};

/// A blob `name` in one object-store bucket.
#[derive(Clone)]
pub struct Blob {
    objects: ObjectStore,
    bucket: String,
    name: String,
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blob")
            .field("bucket", &self.bucket)
            .field("name", &self.name)
            .finish()
    }
}

impl Bus {
    /// The blob `name` in `bucket`, creating the bucket (described by `description`) when
    /// missing. Reads and writes nothing yet.
    pub async fn blob(
        &self,
        bucket: &str,
        description: &str,
        name: &str,
    ) -> Result<Blob, BusError> {
        let objects = match self.js.get_object_store(bucket).await {
            Ok(store) => store,
            Err(_) => self
                .js
                .create_object_store(object_store::Config {
                    bucket: bucket.into(),
                    description: Some(description.into()),
                    ..Default::default()
                })
                .await
                .map_err(|e| BusError::js(format!("creating the object store {bucket}"), e))?,
        };
        Ok(Blob {
            objects,
            bucket: bucket.into(),
            name: name.into(),
        })
    }
}

impl Blob {
    /// This blob's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bytes of the object `name` in this bucket; `None` when there is no such object.
    pub async fn read(&self, name: &str) -> Result<Option<Vec<u8>>, BusError> {
        let what = || format!("reading {name} from {}", self.bucket);
        let mut object = match self.objects.get(name).await {
            Ok(object) => object,
            Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(BusError::js(what(), e)),
        };
        let mut bytes = Vec::new();
        object
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| BusError::js(what(), e))?;
        Ok(Some(bytes))
    }

    /// Replace this blob's bytes.
    pub async fn write(&self, bytes: &[u8]) -> Result<(), BusError> {
        self.objects
            .put(self.name.as_str(), &mut &*bytes)
            .await
            .map_err(|e| BusError::js(format!("writing {} to {}", self.name, self.bucket), e))?;
        Ok(())
    }
}
