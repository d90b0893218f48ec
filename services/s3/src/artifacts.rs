//! The S3 backend of the artifact store ([`weft_executor::ObjectBackend`]): artifacts as
//! objects `<prefix>sha256/<two hex>/<hex>` in one bucket. Chosen by the host when
//! `WEFT_ARTIFACTS_S3_BUCKET` is set (with `_PREFIX`, `_ENDPOINT`, `_REGION`, and static
//! credentials `_ACCESS_KEY_ID` / `_SECRET_ACCESS_KEY` or else `AWS_ACCESS_KEY_ID` /
//! `AWS_SECRET_ACCESS_KEY`). Touches that bucket only.

use aws_sdk_s3::{error::DisplayErrorContext, primitives::ByteStream};
use bytes::Bytes;
use weft_executor::{ObjectBackend, ObjectFuture};

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

    /// The object key of artifact `name` (its SHA-256).
    pub fn key(&self, name: &str) -> String {
        let shard = name.get(..2).unwrap_or("00");
        format!("{}sha256/{shard}/{name}", self.prefix)
    }
}

impl ObjectBackend for S3Artifacts {
    fn put<'a>(
        &'a self,
        name: &'a str,
        bytes: Bytes,
        content_type: &'a str,
    ) -> ObjectFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(self.key(name))
                .content_type(content_type)
                .body(ByteStream::from(bytes))
                .send()
                .await
                .map_err(|e| format!("bucket `{}`: {}", self.bucket, DisplayErrorContext(e)))?;
            Ok(())
        })
    }

    fn get<'a>(&'a self, name: &'a str) -> ObjectFuture<'a, Option<Bytes>> {
        Box::pin(async move {
            let object = match self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(self.key(name))
                .send()
                .await
            {
                Ok(object) => object,
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                    return Ok(None);
                }
                Err(e) => {
                    return Err(format!(
                        "bucket `{}`: {}",
                        self.bucket,
                        DisplayErrorContext(e)
                    ));
                }
            };
            let body = object
                .body
                .collect()
                .await
                .map_err(|e| format!("bucket `{}`: {e}", self.bucket))?;
            Ok(Some(body.into_bytes()))
        })
    }
}
