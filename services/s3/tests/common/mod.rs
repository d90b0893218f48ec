//! Shared helpers of the weft-s3 tests: an SDK client for a moto server and direct bucket
//! operations (create, put, list keys) that play the part of the users dropping files.

#![allow(dead_code)]

use weft_s3::{S3Settings, s3_client};

/// moto accepts any credentials; these are signed like real ones.
pub const ACCESS_KEY: &str = "weft-test";
/// See [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "weft-test-secret";

/// Settings for the moto server at `endpoint`.
pub fn settings(endpoint: &str) -> S3Settings {
    S3Settings {
        endpoint: Some(endpoint.to_string()),
        region: "us-east-1".into(),
        access_key_id: Some(ACCESS_KEY.into()),
        secret_access_key: Some(SECRET_KEY.into()),
    }
}

/// A client for the moto server at `endpoint`.
pub fn client(endpoint: &str) -> aws_sdk_s3::Client {
    weft_testkit::init_crypto();
    s3_client(&settings(endpoint))
}

/// Creates `bucket`.
pub async fn create_bucket(client: &aws_sdk_s3::Client, bucket: &str) {
    client
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "create bucket {bucket}: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        });
}

/// Writes `body` to `bucket/key`.
pub async fn put(client: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8]) {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.to_vec().into())
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "put {bucket}/{key}: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        });
}

/// Every key in `bucket`, in order.
pub async fn keys_in(client: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let out = client
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "list {bucket}: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        });
    out.contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}
