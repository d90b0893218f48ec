//! Turns the step's `attachments` into bytes: inline ones are base64-decoded, artifact
//! references are read through an [`ArtifactReader`] (the attempt's artifact store) and
//! checked against the size and SHA-256 the reference promises.
//!
//! Consumes [`Attachment`]s; produces [`ResolvedAttachment`]s, or `bad_input` (bad base64, a
//! bad content type, a file that does not match its reference, too many bytes) and
//! `artifact_not_found` (from the reader) errors that name the attachment. Touches only the
//! artifact store, for reading.

use std::future::Future;

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::error::EmailError;
use crate::with::{ArtifactRef, Attachment};

/// Reads an artifact's bytes. A reference to nothing must answer a permanent
/// `artifact_not_found` error that names it.
pub trait ArtifactReader: Sync {
    /// The bytes of `artifact`.
    fn read(
        &self,
        artifact: &ArtifactRef,
    ) -> impl Future<Output = Result<Vec<u8>, EmailError>> + Send;
}

/// An attachment with its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedAttachment {
    /// File name the recipient sees.
    pub name: String,
    /// MIME type.
    pub content_type: String,
    /// The file.
    pub bytes: Vec<u8>,
}

/// Resolves every attachment in order; stops at the first problem, or as soon as the bytes
/// so far exceed `max_bytes`.
pub async fn resolve(
    attachments: &[Attachment],
    reader: &impl ArtifactReader,
    max_bytes: usize,
) -> Result<Vec<ResolvedAttachment>, EmailError> {
    let mut resolved = Vec::with_capacity(attachments.len());
    let mut total = 0usize;
    for (index, attachment) in attachments.iter().enumerate() {
        let label = format!("attachments[{index}] ({:?})", attachment.name());
        if attachment.name().trim().is_empty() {
            return Err(EmailError::bad_input(format!("{label}: the name is empty")));
        }
        let one = match attachment {
            Attachment::Inline(inline) => ResolvedAttachment {
                name: inline.name.clone(),
                content_type: inline.content_type.clone(),
                bytes: decode_base64(&inline.content_base64)
                    .map_err(|e| EmailError::bad_input(format!("{label}: content_base64: {e}")))?,
            },
            Attachment::Artifact(artifact) => {
                if usize::try_from(artifact.size).map_or(true, |s| total + s > max_bytes) {
                    return Err(too_large(max_bytes));
                }
                let bytes = reader.read(artifact).await?;
                check_matches(artifact, &bytes)
                    .map_err(|e| EmailError::bad_input(format!("{label}: {e}")))?;
                ResolvedAttachment {
                    name: artifact.name.clone(),
                    content_type: artifact.content_type.clone(),
                    bytes,
                }
            }
        };
        total += one.bytes.len();
        if total > max_bytes {
            return Err(too_large(max_bytes));
        }
        resolved.push(one);
    }
    Ok(resolved)
}

fn too_large(max_bytes: usize) -> EmailError {
    EmailError::bad_input(format!(
        "the attachments exceed the largest message this agent sends ({max_bytes} bytes, \
         setting max_message_bytes)"
    ))
}

/// Standard base64, padding optional, ASCII whitespace (line breaks of wrapped base64) ignored.
fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(compact)
}

/// The bytes read are the ones the reference describes (size and SHA-256).
fn check_matches(artifact: &ArtifactRef, bytes: &[u8]) -> Result<(), String> {
    if bytes.len() as u64 != artifact.size {
        return Err(format!(
            "artifact {} holds {} bytes, its reference says {}",
            artifact.id,
            bytes.len(),
            artifact.size
        ));
    }
    let digest = hex::encode(Sha256::digest(bytes));
    if !digest.eq_ignore_ascii_case(&artifact.sha256) {
        return Err(format!(
            "artifact {} has SHA-256 {digest}, its reference says {}",
            artifact.id, artifact.sha256
        ));
    }
    Ok(())
}

/// An in-memory artifact store for tests: a missing id answers `artifact_not_found`.
#[derive(Debug, Default, Clone)]
pub struct MemoryArtifacts {
    items: std::collections::HashMap<String, Vec<u8>>,
}

impl MemoryArtifacts {
    /// Stores `bytes` and returns a reference to them.
    pub fn put(&mut self, bytes: &[u8], name: &str, content_type: &str) -> ArtifactRef {
        let sha256 = hex::encode(Sha256::digest(bytes));
        let id = format!("mem-{}", &sha256[..16]);
        self.items.insert(id.clone(), bytes.to_vec());
        ArtifactRef {
            id,
            name: name.into(),
            content_type: content_type.into(),
            size: bytes.len() as u64,
            sha256,
        }
    }
}

impl ArtifactReader for MemoryArtifacts {
    async fn read(&self, artifact: &ArtifactRef) -> Result<Vec<u8>, EmailError> {
        self.items.get(&artifact.id).cloned().ok_or_else(|| {
            EmailError::permanent(
                crate::error::ErrorCode::ArtifactNotFound,
                format!(
                    "attachment {:?}: artifact {} does not exist",
                    artifact.name, artifact.id
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::with::InlineAttachment;

    fn inline(name: &str, b64: &str) -> Attachment {
        Attachment::Inline(InlineAttachment {
            name: name.into(),
            content_type: "text/plain".into(),
            content_base64: b64.into(),
        })
    }

    #[tokio::test]
    async fn inline_base64_tolerates_wrapping_and_missing_padding() {
        let store = MemoryArtifacts::default();
        let got = resolve(
            &[inline("a", "aGVs\r\nbG8"), inline("b", "aGk=")],
            &store,
            100,
        )
        .await
        .expect("decodes");
        assert_eq!(got[0].bytes, b"hello");
        assert_eq!(got[1].bytes, b"hi");
    }

    #[tokio::test]
    async fn bad_base64_is_bad_input_naming_the_attachment() {
        let err = resolve(
            &[inline("report.csv", "not base64!")],
            &MemoryArtifacts::default(),
            100,
        )
        .await
        .expect_err("bad");
        assert_eq!(err.code, ErrorCode::BadInput);
        assert!(!err.retryable);
        assert!(err.message.contains("report.csv"), "{}", err.message);
    }

    #[tokio::test]
    async fn artifacts_are_read_and_checked() {
        let mut store = MemoryArtifacts::default();
        let good = store.put(b"%PDF-1.7", "x.pdf", "application/pdf");
        let got = resolve(&[Attachment::Artifact(good.clone())], &store, 100)
            .await
            .expect("reads");
        assert_eq!(got[0].bytes, b"%PDF-1.7");
        assert_eq!(got[0].content_type, "application/pdf");

        let missing = ArtifactRef {
            id: "nope".into(),
            ..good.clone()
        };
        let err = resolve(&[Attachment::Artifact(missing)], &store, 100)
            .await
            .expect_err("missing");
        assert_eq!(err.code, ErrorCode::ArtifactNotFound);
        assert!(!err.retryable);
        assert!(err.message.contains("nope"), "{}", err.message);

        let tampered = ArtifactRef {
            sha256: "00".repeat(32),
            ..good
        };
        let err = resolve(&[Attachment::Artifact(tampered)], &store, 100)
            .await
            .expect_err("digest");
        assert_eq!(err.code, ErrorCode::BadInput);
    }

    #[tokio::test]
    async fn too_many_bytes_is_refused_before_reading() {
        let mut store = MemoryArtifacts::default();
        let big = store.put(&[7u8; 64], "big.bin", "application/octet-stream");
        let err = resolve(&[Attachment::Artifact(big)], &store, 63)
            .await
            .expect_err("too big");
        assert!(err.message.contains("max_message_bytes"), "{}", err.message);
    }
}
