//! The S3 backend of the artifact store against a real moto server: content-addressed puts,
//! reads by URL, refusal of foreign URLs, and a clear error for a missing bucket.

mod common;

use std::sync::Arc;

use weft_artifacts::{ArtifactError, ArtifactStore};
use weft_s3::S3Artifacts;
use weft_testkit::MotoServer;

use common::{create_bucket, keys_in};

#[tokio::test]
async fn artifacts_round_trip_through_the_bucket_by_content() {
    let moto = MotoServer::start().await.expect("moto starts");
    let client = common::client(&moto.endpoint);
    create_bucket(&client, "blobs").await;
    let s3 = S3Artifacts::new(
        &common::settings(&moto.endpoint),
        "blobs",
        "/weft/artifacts/",
    );
    let store = ArtifactStore::Remote(Arc::new(s3));

    let bytes = b"invoice,total\n1,100\n";
    let a = store
        .put(bytes, Some("invoice.csv"), Some("text/csv"))
        .await
        .expect("stored");
    assert_eq!(a.size, bytes.len() as u64);
    assert_eq!(a.sha256, weft_artifacts::sha256_hex(bytes));
    let key = format!("weft/artifacts/sha256/{}/{}", &a.sha256[..2], a.sha256);
    assert_eq!(a.url, format!("s3://blobs/{key}"));
    assert_eq!(store.get(&a.url).await.expect("read back"), bytes);

    // The same bytes again (a re-delivered mail) keep one object and the same URL.
    let again = store
        .put(bytes, Some("copy.csv"), None)
        .await
        .expect("stored");
    assert_eq!(again.url, a.url);
    assert_eq!(keys_in(&client, "blobs").await, vec![key]);

    let foreign = store.get("s3://other/weft/artifacts/x").await;
    assert!(
        matches!(foreign, Err(ArtifactError::ForeignUrl(_))),
        "{foreign:?}"
    );
}

#[tokio::test]
async fn a_missing_bucket_is_a_clear_error() {
    let moto = MotoServer::start().await.expect("moto starts");
    let s3 = S3Artifacts::new(&common::settings(&moto.endpoint), "nope", "");
    let store = ArtifactStore::Remote(Arc::new(s3));
    let err = store.put(b"x", None, None).await.expect_err("no bucket");
    let text = err.to_string();
    assert!(
        text.contains("storing an artifact in bucket `nope`"),
        "{text}"
    );
}
