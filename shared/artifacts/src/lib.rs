//! The artifact store: blobs that do not belong inside an event (mail attachments, later file
//! contents and step outputs) are stored here and referenced by URL.
//!
//! Consumes bytes with a file name and content type; produces an [`Artifact`] (`url`, `sha256`,
//! `size`). Blobs are content-addressed by SHA-256, so storing the same bytes twice (a
//! re-delivered mail) keeps one copy and returns the same URL. Touches the local file system
//! ([`LocalStore`], a folder: `WEFT_ARTIFACTS_DIR`) or, through [`RemoteBlobs`], object
//! storage (the S3 backend lives in `weft-s3`, which implements the trait, so this crate stays
//! free of the AWS SDK).
//!
//! ```text
//! let store = ArtifactStore::local(dir);
//! let a = store.put(&bytes, Some("invoice.pdf"), Some("application/pdf")).await?;
//! assert_eq!(store.get(&a.url).await?, bytes);
//! ```

mod local;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use local::LocalStore;

/// A stored blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// Where it can be read, e.g. `file:///var/lib/weft/artifacts/sha256/ab/ab12…`.
    pub url: String,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    /// Length in bytes.
    pub size: u64,
}

/// Why a blob could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// A file-system operation failed.
    #[error("artifact store: {action} {path}: {source}")]
    Io {
        /// What was being done (`writing`, `reading`, …).
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The URL does not belong to this store.
    #[error("artifact store: {0} is not an artifact of this store")]
    ForeignUrl(String),
    /// No usable folder could be derived from the settings.
    #[error("artifact store: {0}")]
    Config(String),
    /// A remote store (object storage) failed.
    #[error("artifact store: {0}")]
    Remote(String),
}

/// A boxed future, for the object-safe [`RemoteBlobs`].
pub type BlobFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ArtifactError>> + Send + 'a>>;

/// Object storage holding artifacts under content-addressed keys.
pub trait RemoteBlobs: std::fmt::Debug + Send + Sync {
    /// Store `bytes` under `key` (idempotent: the same key always holds the same bytes);
    /// returns the artifact's URL, e.g. `s3://bucket/prefix/sha256/ab/ab12…`.
    fn put<'a>(
        &'a self,
        key: &'a str,
        bytes: &'a [u8],
        content_type: Option<&'a str>,
    ) -> BlobFuture<'a, String>;

    /// Read back an artifact by its URL.
    fn get<'a>(&'a self, url: &'a str) -> BlobFuture<'a, Vec<u8>>;
}

/// Where artifacts are kept.
#[derive(Debug, Clone)]
pub enum ArtifactStore {
    /// A local folder.
    Local(LocalStore),
    /// Object storage.
    Remote(Arc<dyn RemoteBlobs>),
}

impl ArtifactStore {
    /// A store in the folder `dir` (created on first use).
    pub fn local(dir: impl Into<PathBuf>) -> Self {
        Self::Local(LocalStore::new(dir))
    }

    /// The store named by the `artifacts_dir` setting: that folder, or when it is empty the
    /// default `$XDG_DATA_HOME/weft/artifacts` (else `~/.local/share/weft/artifacts`).
    pub fn from_setting(artifacts_dir: &str) -> Result<Self, ArtifactError> {
        if !artifacts_dir.trim().is_empty() {
            return Ok(Self::local(artifacts_dir.trim()));
        }
        default_dir().map(Self::local)
    }

    /// Store `bytes`; `filename` and `content_type` describe them (kept for backends that
    /// record metadata; the local folder is addressed by content only).
    pub async fn put(
        &self,
        bytes: &[u8],
        filename: Option<&str>,
        content_type: Option<&str>,
    ) -> Result<Artifact, ArtifactError> {
        match self {
            Self::Local(store) => store.put(bytes, filename, content_type).await,
            Self::Remote(remote) => {
                let sha256 = sha256_hex(bytes);
                let key = format!("sha256/{}/{sha256}", &sha256[..2]);
                let url = remote.put(&key, bytes, content_type).await?;
                Ok(Artifact {
                    url,
                    sha256,
                    size: bytes.len() as u64,
                })
            }
        }
    }

    /// Read back the bytes of an artifact by its URL.
    pub async fn get(&self, url: &str) -> Result<Vec<u8>, ArtifactError> {
        match self {
            Self::Local(store) => store.get(url).await,
            Self::Remote(remote) => remote.get(url).await,
        }
    }
}

/// `$XDG_DATA_HOME/weft/artifacts`, else `$HOME/.local/share/weft/artifacts`.
fn default_dir() -> Result<PathBuf, ArtifactError> {
    if let Some(data) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(data).join("weft/artifacts"));
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|home| PathBuf::from(home).join(".local/share/weft/artifacts"))
        .ok_or_else(|| ArtifactError::Config("neither WEFT_ARTIFACTS_DIR nor HOME is set".into()))
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
