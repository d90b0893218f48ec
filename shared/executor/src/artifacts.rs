//! The artifact store as executors see it: put bytes, get an [`ArtifactRef`]; read a reference
//! back.
//!
//! Backends: a JetStream object-store bucket ([`ARTIFACTS_BUCKET`], the default: every host of
//! a cluster reaches it and it needs no new server), any [`ObjectBackend`] (S3, implemented in
//! `weft-s3` and chosen by the host's `artifacts_s3_*` settings) or memory (tests). Objects are named by the
//! SHA-256 of their bytes, so storing the same bytes twice (a retried attempt) keeps one copy;
//! the name and content type live in the reference. A read checks the bytes against the
//! reference's digest. Touches NATS only.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use async_nats::jetstream::object_store::{self, ObjectStore};
use bytes::Bytes;
use sha2::Digest as _;
use tokio::io::AsyncReadExt as _;
use weft_events::{ArtifactRef, ErrorCode, StepError, subjects::ARTIFACTS_BUCKET};

/// Where artifacts are kept.
#[derive(Clone)]
pub struct Artifacts {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Nats(Box<ObjectStore>),
    Remote(Arc<dyn ObjectBackend>),
    Memory(Arc<Mutex<HashMap<String, Bytes>>>),
}

/// A boxed future of an [`ObjectBackend`].
pub type ObjectFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, String>> + Send + 'a>>;

/// Object storage elsewhere (S3): named objects, written once, read back whole.
pub trait ObjectBackend: std::fmt::Debug + Send + Sync {
    /// Store `bytes` as object `name` (the same name always holds the same bytes).
    fn put<'a>(
        &'a self,
        name: &'a str,
        bytes: Bytes,
        content_type: &'a str,
    ) -> ObjectFuture<'a, ()>;
    /// The bytes of object `name`; `None` when there is no such object.
    fn get<'a>(&'a self, name: &'a str) -> ObjectFuture<'a, Option<Bytes>>;
}

impl std::fmt::Debug for Artifacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.backend {
            Backend::Nats(_) => f.write_str("Artifacts(jetstream)"),
            Backend::Remote(r) => write!(f, "Artifacts({r:?})"),
            Backend::Memory(_) => f.write_str("Artifacts(memory)"),
        }
    }
}

impl Artifacts {
    /// The JetStream object-store backend (bucket created when missing).
    pub async fn jetstream(bus: &weft_bus::Bus) -> Result<Self, weft_bus::BusError> {
        let js = bus.jetstream();
        let store = match js.get_object_store(ARTIFACTS_BUCKET).await {
            Ok(store) => store,
            Err(_) => js
                .create_object_store(object_store::Config {
                    bucket: ARTIFACTS_BUCKET.into(),
                    description: Some("Weft artifacts: files and large step outputs".into()),
                    ..Default::default()
                })
                .await
                .map_err(|e| weft_bus::BusError::js("creating the artifact store", e))?,
        };
        Ok(Self {
            backend: Backend::Nats(Box::new(store)),
        })
    }

    /// A store in `backend` (e.g. an S3 bucket).
    pub fn remote(backend: Arc<dyn ObjectBackend>) -> Self {
        Self {
            backend: Backend::Remote(backend),
        }
    }

    /// A store in memory, for tests.
    pub fn in_memory() -> Self {
        Self {
            backend: Backend::Memory(Arc::default()),
        }
    }

    /// Store `bytes` as `name` of type `content_type`.
    pub async fn put(
        &self,
        bytes: impl Into<Bytes>,
        name: &str,
        content_type: &str,
    ) -> Result<ArtifactRef, StepError> {
        let bytes: Bytes = bytes.into();
        let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
        let reference = ArtifactRef {
            id: sha256.clone(),
            name: name.to_string(),
            content_type: content_type.to_string(),
            size: bytes.len() as u64,
            sha256,
        };
        match &self.backend {
            Backend::Memory(map) => {
                if let Ok(mut map) = map.lock() {
                    map.insert(reference.id.clone(), bytes);
                }
            }
            Backend::Remote(remote) => remote
                .put(&reference.id, bytes, content_type)
                .await
                .map_err(|e| store_error("storing", name, e))?,
            Backend::Nats(store) => {
                let present = store
                    .info(reference.id.as_str())
                    .await
                    .is_ok_and(|i| i.size as u64 == reference.size && !i.deleted);
                if !present {
                    store
                        .put(reference.id.as_str(), &mut &*bytes)
                        .await
                        .map_err(|e| store_error("storing", name, e))?;
                }
            }
        }
        Ok(reference)
    }

    /// The bytes `reference` names; a reference to nothing is a permanent
    /// `artifact_not_found` naming it.
    pub async fn get(&self, reference: &ArtifactRef) -> Result<Bytes, StepError> {
        let bytes = match &self.backend {
            Backend::Memory(map) => map
                .lock()
                .ok()
                .and_then(|m| m.get(&reference.id).cloned())
                .ok_or_else(|| not_found(reference))?,
            Backend::Remote(remote) => remote
                .get(&reference.id)
                .await
                .map_err(|e| store_error("reading", &reference.name, e))?
                .ok_or_else(|| not_found(reference))?,
            Backend::Nats(store) => {
                let mut object = match store.get(reference.id.as_str()).await {
                    Ok(object) => object,
                    Err(e) if e.kind() == object_store::GetErrorKind::NotFound => {
                        return Err(not_found(reference));
                    }
                    Err(e) => return Err(store_error("reading", &reference.name, e)),
                };
                let mut buf = Vec::with_capacity(usize::try_from(reference.size).unwrap_or(0));
                object
                    .read_to_end(&mut buf)
                    .await
                    .map_err(|e| store_error("reading", &reference.name, e))?;
                Bytes::from(buf)
            }
        };
        if hex::encode(sha2::Sha256::digest(&bytes)) != reference.sha256 {
            return Err(StepError::permanent(
                ErrorCode::ArtifactNotFound,
                format!(
                    "artifact `{}` ({}) does not match its sha256",
                    reference.name, reference.id
                ),
            ));
        }
        Ok(bytes)
    }
}

fn not_found(reference: &ArtifactRef) -> StepError {
    StepError::permanent(
        ErrorCode::ArtifactNotFound,
        format!(
            "artifact `{}` (id {}) is not in the artifact store",
            reference.name, reference.id
        ),
    )
}

fn store_error(action: &str, name: &str, e: impl std::fmt::Display) -> StepError {
    StepError::retryable(
        ErrorCode::Artifacts,
        format!("artifact store: {action} `{name}`: {e}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_round_trip_and_a_missing_reference_is_named() {
        let store = Artifacts::in_memory();
        let r = store
            .put(b"hello".to_vec(), "a.txt", "text/plain")
            .await
            .expect("put");
        assert_eq!(r.size, 5);
        assert_eq!(store.get(&r).await.expect("get").as_ref(), b"hello");
        let missing = ArtifactRef {
            id: "00".into(),
            name: "gone.pdf".into(),
            ..r
        };
        let e = store.get(&missing).await.expect_err("missing");
        assert_eq!(e.code, ErrorCode::ArtifactNotFound);
        assert!(!e.retryable);
        assert!(e.message.contains("gone.pdf"), "{}", e.message);
    }
}
