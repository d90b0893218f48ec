//! The S3 layer against a real moto server: paginated listing, the conditional after-steps,
//! and the error messages for an unreachable endpoint and a missing bucket.

mod common;

use weft_s3::{Bucket, Outcome, S3Error};
use weft_testkit::MotoServer;

use common::{create_bucket, keys_in, put};

#[tokio::test]
async fn listing_reads_every_page_and_skips_folder_markers_and_moved_objects() {
    let moto = MotoServer::start().await.expect("moto starts");
    let client = common::client(&moto.endpoint);
    create_bucket(&client, "drop").await;
    for key in [
        "in/a.csv",
        "in/b.csv",
        "in/c.csv",
        "in/d.csv",
        "in/e.csv",
        "in/sub/",
        "other.txt",
    ] {
        put(&client, "drop", key, b"x").await;
    }
    put(&client, "drop", "in/done/old.csv", b"y").await;
    let bucket = Bucket::new(client, "drop", &moto.endpoint).with_page_size(2);
    let listing = bucket.list("in/", Some("in/done/")).await.expect("listing");
    let keys: Vec<&str> = listing.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        keys,
        ["in/a.csv", "in/b.csv", "in/c.csv", "in/d.csv", "in/e.csv"]
    );
    let a = &listing[0];
    assert_eq!(a.size, 1);
    assert_eq!(
        a.etag, "9dd4e461268c8034f5c8564e155c67a6",
        "md5 of `x`, unquoted"
    );
    assert!(
        a.modified.as_deref().is_some_and(|m| m.ends_with('Z')),
        "{a:?}"
    );
}

#[tokio::test]
async fn after_steps_are_conditional_on_the_published_etag() {
    let moto = MotoServer::start().await.expect("moto starts");
    let client = common::client(&moto.endpoint);
    create_bucket(&client, "drop").await;
    put(&client, "drop", "in/a b.csv", b"one").await;
    let bucket = Bucket::new(client.clone(), "drop", &moto.endpoint);
    let first = bucket.list("in/", None).await.expect("listing").remove(0);

    // Written again after the listing: the delete leaves the new version alone. (The copy
    // sends `x-amz-copy-source-if-match` too, which S3 honours and moto ignores; the
    // conditional delete is what keeps an unseen version in place either way.)
    put(&client, "drop", "in/a b.csv", b"two").await;
    let deleted = bucket.delete(&first.key, &first.etag).await;
    assert_eq!(deleted.expect("delete answered"), Outcome::Changed);
    assert_eq!(keys_in(&client, "drop").await, ["in/a b.csv"]);

    // With the current ETag both work; a second delete finds it gone.
    let now = bucket.list("in/", None).await.expect("listing").remove(0);
    let copied = bucket.copy(&now.key, &now.etag, "done/a b.csv").await;
    assert_eq!(copied.expect("copy"), Outcome::Done);
    assert_eq!(
        bucket.delete(&now.key, &now.etag).await.expect("delete"),
        Outcome::Done
    );
    assert_eq!(keys_in(&client, "drop").await, ["done/a b.csv"]);
    let again = bucket
        .delete(&now.key, &now.etag)
        .await
        .expect("delete again");
    assert_eq!(again, Outcome::Gone);
    let copy_gone = bucket
        .copy(&now.key, &now.etag, "done/x")
        .await
        .expect("copy gone");
    assert_eq!(copy_gone, Outcome::Gone);
}

#[tokio::test]
async fn errors_say_what_is_wrong() {
    let mut moto = MotoServer::start().await.expect("moto starts");
    let client = common::client(&moto.endpoint);
    let bucket = Bucket::new(client.clone(), "missing", &moto.endpoint);
    let err = bucket.check().await.expect_err("no such bucket");
    assert!(matches!(err, S3Error::NoSuchBucket { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("bucket `missing` does not exist at {}", moto.endpoint)
    );
    let err = bucket.list("", None).await.expect_err("no such bucket");
    assert!(matches!(err, S3Error::NoSuchBucket { .. }), "{err:?}");

    moto.stop();
    let err = bucket.check().await.expect_err("unreachable");
    assert!(matches!(err, S3Error::Unreachable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("cannot reach the S3 endpoint {}", moto.endpoint)),
        "{text}"
    );
}
