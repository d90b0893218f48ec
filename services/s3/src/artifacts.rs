//! The S3 backend of the artifact store (`weft_artifacts::RemoteBlobs`): artifacts as objects
//! `<prefix>sha256/<two hex>/<hex>` in one bucket, read back by their `s3://bucket/key` URL.
//! Configured with `WEFT_ARTIFACTS_S3_BUCKET` (and `_PREFIX`, `_ENDPOINT`, `_REGION`;
//! credentials from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`). Touches that bucket only.

use aws_sdk_s3::primitives::ByteStream;
use weft_artifacts::{ArtifactError, BlobFuture, RemoteBlobs};

use crate::{S3Settings, s3_client};

/// Artifacts in an S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Artifacts {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

impl S3Artifacts {
    /// Artifacts in `bucket` under `prefix` (e.g. `weft/artifacts/`; may be empty).
    pub fn new(settings: &S3Settings, bucket: &str, prefix: &str) -> Self {
        let prefix = match prefix.trim_matches('/') {
            "" => String::new(),
            p => format!("{p}/"),
        };
        Self {
            client: s3_client(settings),
            bucket: bucket.to_string(),
            prefix,
        }
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, key)
    }

    fn key_of<'a>(&self, url: &'a str) -> Result<&'a str, ArtifactError> {
        url.strip_prefix("s3://")
            .and_then(|rest| rest.strip_prefix(self.bucket.as_str()))
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|key| key.starts_with(self.prefix.as_str()))
            .ok_or_else(|| ArtifactError::ForeignUrl(url.to_string()))
    }
}

fn remote(what: &str, bucket: &str, e: impl std::fmt::Display) -> ArtifactError {
    ArtifactError::Remote(format!("{what} in bucket `{bucket}`: {e}"))
}

impl RemoteBlobs for S3Artifacts {
    fn put<'a>(
        &'a self,
        key: &'a str,
        bytes: &'a [u8],
        content_type: Option<&'a str>,
    ) -> BlobFuture<'a, String> {
        Box::pin(async move {
            let key = format!("{}{key}", self.prefix);
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&key)
                .set_content_type(content_type.map(str::to_string))
                .body(ByteStream::from(bytes.to_vec()))
                .send()
                .await
                .map_err(|e| {
                    remote(
                        "storing an artifact",
                        &self.bucket,
                        aws_sdk_s3::error::DisplayErrorContext(e),
                    )
                })?;
            Ok(self.url(&key))
        })
    }

    fn get<'a>(&'a self, url: &'a str) -> BlobFuture<'a, Vec<u8>> {
        Box::pin(async move {
            let key = self.key_of(url)?;
            let object = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| {
                    remote(
                        "reading an artifact",
                        &self.bucket,
                        aws_sdk_s3::error::DisplayErrorContext(e),
                    )
                })?;
            let body = object
                .body
                .collect()
                .await
                .map_err(|e| remote("reading an artifact", &self.bucket, e))?;
            Ok(body.into_bytes().to_vec())
        })
    }
}
