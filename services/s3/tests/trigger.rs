//! The on.s3 trigger service end to end against real moto and real NATS: events for new and
//! rewritten objects, exactly once across a restart, `after: move|delete`, and a source that
//! goes away (or a bucket that is missing) and comes back.

mod common;

use std::time::Duration;

use serde_json::json;
use weft_testkit::MotoServer;
use weft_trigger::TriggerState;

use common::{Harness, create_bucket, keys_in, put, types_and_keys, workflow};

const CREATED: &str = "dev.weft.s3.object.created";
const UPDATED: &str = "dev.weft.s3.object.updated";
const WAIT: Duration = Duration::from_secs(20);
/// Long enough for several 1 s polls: what has not appeared by then never will.
const QUIET: Duration = Duration::from_secs(4);

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(t, k)| (t.to_string(), k.to_string()))
        .collect()
}

#[tokio::test]
async fn new_objects_fire_created_and_rewrites_fire_updated_once_each() {
    let moto = MotoServer::start().await.expect("moto starts");
    let s3 = common::client(&moto.endpoint);
    create_bucket(&s3, "drop").await;
    // Already there at first start: fires (drop-folder semantics). Outside the prefix: never.
    put(&s3, "drop", "in/a.csv", b"a1").await;
    put(&s3, "drop", "elsewhere.txt", b"x").await;
    let h = Harness::start().await;
    h.apply(&workflow("s3-happy", &moto.endpoint, "drop", "prefix: in/"))
        .await;

    let events = h.events(1, WAIT).await;
    assert_eq!(types_and_keys(&events), pairs(&[(CREATED, "in/a.csv")]));
    let first = &events[0];
    assert_eq!(first["source"], json!("weft/s3/s3-happy"));
    assert_eq!(first["subject"], json!("in/a.csv"));
    let data = &first["data"];
    assert_eq!(data["bucket"], json!("drop"));
    assert_eq!(data["size"], json!(2));
    assert_eq!(data["etag"].as_str().map(str::len), Some(32), "{data}");
    assert!(
        data["modified"].as_str().is_some_and(|m| m.ends_with('Z')),
        "{data}"
    );

    put(&s3, "drop", "in/b.csv", b"b1").await;
    put(&s3, "drop", "in/a.csv", b"a2").await; // rewritten: new ETag
    let events = h.events(3, WAIT).await;
    tokio::time::sleep(QUIET).await;
    let events_later = h.events(3, Duration::from_millis(500)).await;
    assert_eq!(
        events_later.len(),
        events.len(),
        "no repeats while nothing changes"
    );
    let mut got = types_and_keys(&events)[1..].to_vec();
    got.sort();
    assert_eq!(got, pairs(&[(CREATED, "in/b.csv"), (UPDATED, "in/a.csv")]));
    let ids: std::collections::BTreeSet<_> = events.iter().map(|e| e["id"].to_string()).collect();
    assert_eq!(ids.len(), 3, "distinct event ids per (key, ETag)");

    let health = h
        .wait_health("s3-happy", WAIT, |h| h.events == 3 && h.cursor.is_some())
        .await;
    assert_eq!(health.state, TriggerState::Running);
    assert_eq!(health.last_error, None);
    let cursor = health.cursor.expect("cursor");
    assert_eq!(cursor["objects"], json!(2), "{cursor}");
    let etag = |ty: &str, key: &str| {
        let found = events
            .iter()
            .find(|e| e["type"] == json!(ty) && e["data"]["key"] == json!(key));
        found.expect("event")["data"]["etag"].clone()
    };
    let seen = h.seen(&cursor).await;
    let want =
        json!({"in/a.csv": etag(UPDATED, "in/a.csv"), "in/b.csv": etag(CREATED, "in/b.csv")});
    assert_eq!(
        seen,
        json!({ "objects": want }),
        "outside the prefix is never seen"
    );
}

#[tokio::test]
async fn objects_written_while_stopped_fire_exactly_once_after_a_restart() {
    let moto = MotoServer::start().await.expect("moto starts");
    let s3 = common::client(&moto.endpoint);
    create_bucket(&s3, "drop").await;
    put(&s3, "drop", "a", b"1").await;
    let mut h = Harness::start().await;
    h.apply(&workflow("s3-restart", &moto.endpoint, "drop", ""))
        .await;
    assert_eq!(
        types_and_keys(&h.events(1, WAIT).await),
        pairs(&[(CREATED, "a")])
    );
    h.wait_health("s3-restart", WAIT, |h| h.cursor.is_some())
        .await;

    h.stop_service().await;
    // While it is down: five new objects (three listing pages of 2) and one rewrite.
    for key in ["b", "c", "d", "e", "f"] {
        put(&s3, "drop", key, key.as_bytes()).await;
    }
    put(&s3, "drop", "a", b"2").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        h.events(1, Duration::from_millis(500)).await.len(),
        1,
        "nothing while down"
    );

    h.start_service();
    h.events(7, WAIT).await;
    tokio::time::sleep(QUIET).await;
    let events = h.events(7, Duration::from_millis(500)).await;
    let mut got = types_and_keys(&events);
    got.sort();
    assert_eq!(
        got,
        pairs(&[
            (CREATED, "a"),
            (CREATED, "b"),
            (CREATED, "c"),
            (CREATED, "d"),
            (CREATED, "e"),
            (CREATED, "f"),
            (UPDATED, "a"),
        ])
    );
}

#[tokio::test]
async fn after_delete_and_after_move_change_the_bucket_and_never_fire_again() {
    let moto = MotoServer::start().await.expect("moto starts");
    let s3 = common::client(&moto.endpoint);
    create_bucket(&s3, "del").await;
    create_bucket(&s3, "mov").await;
    put(&s3, "del", "x.csv", b"x").await;
    put(&s3, "mov", "in/sub/y.csv", b"y").await;
    put(&s3, "mov", "keep.txt", b"k").await;
    let h = Harness::start().await;
    h.apply(&workflow(
        "s3-delete",
        &moto.endpoint,
        "del",
        "after: delete",
    ))
    .await;
    // move_to inside the watched prefix: moved objects must not fire again.
    let moving = "prefix: in/, after: move, move_to: in/done";
    h.apply(&workflow("s3-move", &moto.endpoint, "mov", moving))
        .await;

    let events = h.events(2, WAIT).await;
    let mut got = types_and_keys(&events);
    got.sort();
    assert_eq!(got, pairs(&[(CREATED, "in/sub/y.csv"), (CREATED, "x.csv")]));
    let gone = weft_testkit::wait_for(WAIT, || async {
        let del = keys_in(&s3, "del").await;
        let mov = keys_in(&s3, "mov").await;
        (del.is_empty() && mov == ["in/done/sub/y.csv", "keep.txt"]).then_some(())
    })
    .await;
    assert!(
        gone.is_ok(),
        "del: {:?}, mov: {:?}",
        keys_in(&s3, "del").await,
        keys_in(&s3, "mov").await
    );

    // The same name and content again is a new drop: it fires again and is moved again
    // (a new upload has a new LastModified, so a new event id: not a duplicate). S3 keeps
    // LastModified to the second: upload in the next one.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    put(&s3, "mov", "in/sub/y.csv", b"y").await;
    put(&s3, "mov", "in/sub/z.csv", b"z").await;
    h.events(4, WAIT).await;
    tokio::time::sleep(QUIET).await;
    let events = h.events(4, Duration::from_millis(500)).await;
    let mut again = types_and_keys(&events[2..]);
    again.sort();
    assert_eq!(
        again,
        pairs(&[(CREATED, "in/sub/y.csv"), (CREATED, "in/sub/z.csv")])
    );
    let ys: Vec<_> = events
        .iter()
        .filter(|e| e["data"]["key"] == json!("in/sub/y.csv"))
        .collect();
    assert_eq!(ys[0]["data"]["etag"], ys[1]["data"]["etag"], "same content");
    assert_ne!(ys[0]["id"], ys[1]["id"], "a new upload is a new event");
    let moved = weft_testkit::wait_for(WAIT, || async {
        let keys = keys_in(&s3, "mov").await;
        (keys == ["in/done/sub/y.csv", "in/done/sub/z.csv", "keep.txt"]).then_some(())
    })
    .await;
    assert!(moved.is_ok(), "mov: {:?}", keys_in(&s3, "mov").await);
    let health = h.wait_health("s3-move", WAIT, |h| h.cursor.is_some()).await;
    let cursor = health.cursor.expect("cursor");
    assert_eq!(cursor["objects"], json!(0), "nothing pending: {cursor}");
    assert_eq!(h.seen(&cursor).await, json!({"objects": {}}));
}

#[tokio::test]
async fn an_endpoint_that_goes_away_shows_an_error_and_recovers_by_itself() {
    let mut moto = MotoServer::start().await.expect("moto starts");
    let s3 = common::client(&moto.endpoint);
    create_bucket(&s3, "drop").await;
    put(&s3, "drop", "before.csv", b"1").await;
    let h = Harness::start().await;
    h.apply(&workflow("s3-outage", &moto.endpoint, "drop", ""))
        .await;
    assert_eq!(h.events(1, WAIT).await.len(), 1);

    moto.stop();
    let health = h
        .wait_health("s3-outage", Duration::from_secs(60), |h| {
            h.state == TriggerState::Error
        })
        .await;
    let error = health.last_error.expect("an error message");
    assert!(
        error.starts_with(&format!("cannot reach the S3 endpoint {}", moto.endpoint)),
        "{error}"
    );

    // moto comes back empty (its state is in memory): the bucket is made again.
    moto.restart().await.expect("moto restarts");
    create_bucket(&s3, "drop").await;
    put(&s3, "drop", "after.csv", b"2").await;
    let events = h.events(2, Duration::from_secs(60)).await;
    assert_eq!(
        types_and_keys(&events),
        pairs(&[(CREATED, "before.csv"), (CREATED, "after.csv")])
    );
    let health = h
        .wait_health("s3-outage", WAIT, |h| h.state == TriggerState::Running)
        .await;
    assert_eq!(health.last_error, None);
}

#[tokio::test]
async fn a_missing_bucket_is_reported_until_it_exists() {
    let moto = MotoServer::start().await.expect("moto starts");
    let s3 = common::client(&moto.endpoint);
    let h = Harness::start().await;
    h.apply(&workflow("s3-nobucket", &moto.endpoint, "later", ""))
        .await;
    let health = h
        .wait_health("s3-nobucket", WAIT, |h| h.state == TriggerState::Error)
        .await;
    assert_eq!(
        health.last_error.as_deref(),
        Some(format!("bucket `later` does not exist at {}", moto.endpoint).as_str())
    );

    create_bucket(&s3, "later").await;
    put(&s3, "later", "first.csv", b"1").await;
    let events = h.events(1, Duration::from_secs(60)).await;
    assert_eq!(types_and_keys(&events), pairs(&[(CREATED, "first.csv")]));
    h.wait_health("s3-nobucket", WAIT, |h| h.state == TriggerState::Running)
        .await;
}

#[tokio::test]
async fn refused_credentials_are_reported_until_the_workflow_is_fixed() {
    let moto = MotoServer::start_with_auth().await.expect("moto starts");
    let key = moto.credentials.clone().expect("an IAM access key");
    let s3 = weft_s3::s3_client(&weft_s3::S3Settings {
        access_key_id: Some(key.access_key_id.clone()),
        secret_access_key: Some(key.secret_access_key.clone()),
        ..common::settings(&moto.endpoint)
    });
    create_bucket(&s3, "drop").await;
    put(&s3, "drop", "a.csv", b"1").await;
    let h = Harness::start().await;
    let with_secret = |secret: &str| {
        let wf = workflow("s3-creds", &moto.endpoint, "drop", "");
        // The secret first: the test access key is a prefix of the test secret.
        wf.replace(common::SECRET_KEY, secret)
            .replace(common::ACCESS_KEY, &key.access_key_id)
    };
    h.apply(&with_secret("wrong-secret")).await;
    let health = h
        .wait_health("s3-creds", WAIT, |h| h.state == TriggerState::Error)
        .await;
    let error = health.last_error.expect("an error message");
    assert!(
        error.starts_with("access to bucket `drop` denied") && error.contains("secret_access_key"),
        "{error}"
    );
    assert!(h.events(1, Duration::from_secs(1)).await.is_empty());

    // Applying the right secret restarts the trigger at once (no service restart).
    h.apply(&with_secret(&key.secret_access_key)).await;
    let events = h.events(1, WAIT).await;
    assert_eq!(types_and_keys(&events), pairs(&[(CREATED, "a.csv")]));
    h.wait_health("s3-creds", WAIT, |h| {
        h.state == TriggerState::Running && h.last_error.is_none()
    })
    .await;
}
