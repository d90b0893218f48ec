//! [`LocalStore`]: artifacts as files under one folder, at `sha256/<first two hex>/<hex>`.
//! Writes go to a temporary file in the same folder and are renamed into place, so a reader
//! never sees a partial blob and concurrent writers of the same content do not clash.

use std::path::{Component, Path, PathBuf};

use crate::{Artifact, ArtifactError, sha256_hex};

/// A folder of content-addressed blobs.
#[derive(Debug, Clone)]
pub struct LocalStore {
    dir: PathBuf,
}

impl LocalStore {
    /// A store rooted at `dir` (created on first write). A relative folder is resolved against
    /// the current directory now, so URLs are absolute.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        let dir = if dir.is_relative() {
            std::env::current_dir()
                .map(|cwd| cwd.join(&dir))
                .unwrap_or(dir)
        } else {
            dir
        };
        Self { dir }
    }

    /// The root folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Store `bytes` (idempotent: the same content is written once).
    pub async fn put(
        &self,
        bytes: &[u8],
        _filename: Option<&str>,
        _content_type: Option<&str>,
    ) -> Result<Artifact, ArtifactError> {
        let sha256 = sha256_hex(bytes);
        let path = self.path_of(&sha256);
        let size = bytes.len() as u64;
        let present = tokio::fs::metadata(&path)
            .await
            .is_ok_and(|m| m.is_file() && m.len() == size);
        if !present {
            self.write_atomically(&path, bytes).await?;
        }
        Ok(Artifact {
            url: file_url(&path),
            sha256,
            size,
        })
    }

    /// The bytes behind a `file://` URL under this store's folder.
    pub async fn get(&self, url: &str) -> Result<Vec<u8>, ArtifactError> {
        let path = url
            .strip_prefix("file://")
            .map(PathBuf::from)
            .filter(|p| {
                p.starts_with(&self.dir) && !p.components().any(|c| c == Component::ParentDir)
            })
            .ok_or_else(|| ArtifactError::ForeignUrl(url.to_string()))?;
        tokio::fs::read(&path)
            .await
            .map_err(|source| ArtifactError::Io {
                action: "reading",
                path,
                source,
            })
    }

    fn path_of(&self, sha256: &str) -> PathBuf {
        let prefix = sha256.get(..2).unwrap_or("00");
        self.dir.join("sha256").join(prefix).join(sha256)
    }

    async fn write_atomically(&self, path: &Path, bytes: &[u8]) -> Result<(), ArtifactError> {
        let parent = path.parent().unwrap_or(&self.dir).to_path_buf();
        tokio::fs::create_dir_all(&parent)
            .await
            .map_err(|source| ArtifactError::Io {
                action: "creating",
                path: parent.clone(),
                source,
            })?;
        let tmp = parent.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
        if let Err(source) = tokio::fs::write(&tmp, bytes).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(ArtifactError::Io {
                action: "writing",
                path: tmp,
                source,
            });
        }
        tokio::fs::rename(&tmp, path)
            .await
            .map_err(|source| ArtifactError::Io {
                action: "renaming into",
                path: path.to_path_buf(),
                source,
            })?;
        tracing::debug!(path = %path.display(), size = bytes.len(), "artifact stored");
        Ok(())
    }
}

/// `file://` + the absolute path (paths here are plain: hex names under the store folder).
fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

#[cfg(test)]
mod tests {
    use crate::ArtifactStore;

    #[tokio::test]
    async fn stores_by_content_once_and_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ArtifactStore::local(dir.path());
        let a = store
            .put(b"hello", Some("a.txt"), Some("text/plain"))
            .await
            .expect("put");
        assert_eq!(
            a.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(a.size, 5);
        assert!(a.url.starts_with("file:///"), "{}", a.url);
        assert!(a.url.ends_with(&a.sha256), "{}", a.url);
        let again = store.put(b"hello", Some("b.txt"), None).await.expect("put");
        assert_eq!(again, a, "same content, same artifact");
        assert_eq!(store.get(&a.url).await.expect("get"), b"hello");
        let files: Vec<_> = walk(dir.path());
        assert_eq!(files.len(), 1, "one blob, no temp files left: {files:?}");
    }

    #[tokio::test]
    async fn refuses_urls_outside_the_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ArtifactStore::local(dir.path());
        let err = store.get("file:///etc/passwd").await.expect_err("foreign");
        assert!(err.to_string().contains("not an artifact"), "{err}");
        let sneaky = format!("file://{}/../../etc/passwd", dir.path().display());
        assert!(
            store.get(&sneaky).await.is_err(),
            "`..` escapes are refused"
        );
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
        out
    }
}
