//! Turns the step's `attachments` into bytes: inline ones are base64-decoded, artifact
//! references are read from the attempt's artifact store ([`Artifacts`], which checks the
//! SHA-256 the reference promises).
//!
//! Consumes [`Attachment`]s; produces [`ResolvedAttachment`]s, or `bad_input` (bad base64, a
//! bad content type, a file that does not match its reference, too many bytes) and
//! `artifact_not_found` (from the store) errors that name the attachment. Touches only the
//! artifact store, for reading.

use base64::Engine as _;
use weft_executor::{ArtifactRef, Artifacts, StepError};

use crate::bad_input;
use crate::with::Attachment;

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
    artifacts: &Artifacts,
    max_bytes: usize,
) -> Result<Vec<ResolvedAttachment>, StepError> {
    let mut resolved = Vec::with_capacity(attachments.len());
    let mut total = 0usize;
    for (index, attachment) in attachments.iter().enumerate() {
        let label = format!("attachments[{index}] ({:?})", attachment.name());
        if attachment.name().trim().is_empty() {
            return Err(bad_input(format!("{label}: the name is empty")));
        }
        let one = match attachment {
            Attachment::Inline(inline) => ResolvedAttachment {
                name: inline.name.clone(),
                content_type: inline.content_type.clone(),
                bytes: decode_base64(&inline.content_base64)
                    .map_err(|e| bad_input(format!("{label}: content_base64: {e}")))?,
            },
            Attachment::Artifact(artifact) => {
                if usize::try_from(artifact.size).map_or(true, |s| total + s > max_bytes) {
                    return Err(too_large(max_bytes));
                }
                let bytes = artifacts
                    .get(artifact)
                    .await
                    .map_err(|e| named(&label, e))?
                    .to_vec();
                check_size(artifact, &bytes).map_err(|e| bad_input(format!("{label}: {e}")))?;
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

fn too_large(max_bytes: usize) -> StepError {
    bad_input(format!(
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

/// The store checks the digest; the size is checked here (a reference edited by hand).
fn check_size(artifact: &ArtifactRef, bytes: &[u8]) -> Result<(), String> {
    if bytes.len() as u64 != artifact.size {
        return Err(format!(
            "artifact {} holds {} bytes, its reference says {}",
            artifact.id,
            bytes.len(),
            artifact.size
        ));
    }
    Ok(())
}

/// The store's error, prefixed with the attachment it concerns.
fn named(label: &str, mut e: StepError) -> StepError {
    e.message = format!("{label}: {}", e.message);
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::with::InlineAttachment;
    use weft_executor::ErrorCode;

    fn inline(name: &str, b64: &str) -> Attachment {
        Attachment::Inline(InlineAttachment {
            name: name.into(),
            content_type: "text/plain".into(),
            content_base64: b64.into(),
        })
    }

    #[tokio::test]
    async fn inline_base64_tolerates_wrapping_and_missing_padding() {
        let store = Artifacts::in_memory();
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
            &Artifacts::in_memory(),
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
        let store = Artifacts::in_memory();
        let good = store
            .put(b"%PDF-1.7".to_vec(), "x.pdf", "application/pdf")
            .await
            .expect("put");
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
        assert!(err.message.starts_with("attachments[0]"), "{}", err.message);

        let resized = ArtifactRef { size: 3, ..good };
        let err = resolve(&[Attachment::Artifact(resized)], &store, 100)
            .await
            .expect_err("size");
        assert_eq!(err.code, ErrorCode::BadInput);
    }

    #[tokio::test]
    async fn too_many_bytes_is_refused_before_reading() {
        let store = Artifacts::in_memory();
        let big = store
            .put(vec![7u8; 64], "big.bin", "application/octet-stream")
            .await
            .expect("put");
        let err = resolve(&[Attachment::Artifact(big)], &store, 63)
            .await
            .expect_err("too big");
        assert!(err.message.contains("max_message_bytes"), "{}", err.message);
    }
}
