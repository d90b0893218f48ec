//! [`S3Error`]: what went wrong talking to S3, worded for the trigger's health
//! (`GET /api/v1/triggers` shows the message). [`S3Error::from_sdk`] turns an SDK error into
//! one: unreachable endpoint, missing bucket, denied credentials, or anything else with the
//! server's code and message. Consumes SDK errors; produces nothing else.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// A failed S3 request.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    /// No connection, or no answer in time.
    #[error("cannot reach the S3 endpoint {endpoint}: {message}")]
    Unreachable {
        /// The endpoint URL (or `AWS S3 (<region>)`).
        endpoint: String,
        /// Why, with the SDK's error chain.
        message: String,
    },
    /// The bucket does not exist there.
    #[error("bucket `{bucket}` does not exist at {endpoint}")]
    NoSuchBucket {
        /// Bucket name.
        bucket: String,
        /// The endpoint URL (or `AWS S3 (<region>)`).
        endpoint: String,
    },
    /// The server refused the credentials or the access.
    #[error(
        "access to bucket `{bucket}` denied ({code}): check access_key_id, secret_access_key and the bucket's policy"
    )]
    Denied {
        /// Bucket name.
        bucket: String,
        /// The server's error code (e.g. `InvalidAccessKeyId`, `AccessDenied`), or the status.
        code: String,
    },
    /// Any other failure of a request.
    #[error("S3 {operation} on `{target}` failed: {message}")]
    Request {
        /// The operation, e.g. `ListObjectsV2`.
        operation: &'static str,
        /// `bucket` or `bucket/key`.
        target: String,
        /// The server's code and message, or the SDK's error chain.
        message: String,
    },
}

/// What a request was about, for [`S3Error::from_sdk`].
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The operation, e.g. `ListObjectsV2`.
    pub operation: &'static str,
    /// Bucket name.
    pub bucket: &'a str,
    /// Object key, when the request was about one object.
    pub key: Option<&'a str>,
    /// The endpoint as [`crate::S3Settings::describe_endpoint`] gives it.
    pub endpoint: &'a str,
}

impl S3Error {
    /// Classifies an SDK error of the request described by `target`.
    pub fn from_sdk<E>(err: SdkError<E, HttpResponse>, target: Target<'_>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let chain = DisplayErrorContext(&err).to_string();
        match &err {
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
                return Self::Unreachable {
                    endpoint: target.endpoint.to_string(),
                    message: chain,
                };
            }
            _ => {}
        }
        let status = err.raw_response().map(|r| r.status().as_u16());
        let code = err.code().map(str::to_string);
        if status == Some(404) && target.key.is_none() || code.as_deref() == Some("NoSuchBucket") {
            return Self::NoSuchBucket {
                bucket: target.bucket.to_string(),
                endpoint: target.endpoint.to_string(),
            };
        }
        if status == Some(403)
            || matches!(
                code.as_deref(),
                Some("AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch")
            )
        {
            return Self::Denied {
                bucket: target.bucket.to_string(),
                code: code.unwrap_or_else(|| "HTTP 403".to_string()),
            };
        }
        let message = match (code, err.message(), status) {
            (Some(code), Some(message), _) => format!("{code}: {message}"),
            (Some(code), None, _) => code,
            (None, _, Some(status)) => format!("HTTP {status}: {chain}"),
            (None, _, None) => chain,
        };
        Self::Request {
            operation: target.operation,
            target: match target.key {
                Some(key) => format!("{}/{key}", target.bucket),
                None => target.bucket.to_string(),
            },
            message,
        }
    }
}
