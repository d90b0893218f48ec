//! Manual runs: the queued execution and the event on `WEFT_EVENTS`.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;
use weft_events::subjects;

use crate::common::{self, apply_yaml, assert_error, call, hello};

/// Every event on `weft.events.manual`.
async fn manual_events(bus: &weft_bus::Bus) -> Vec<Value> {
    let stream = subjects::EVENTS_STREAM;
    let wait = Duration::from_millis(500);
    weft_testkit::stored_messages(bus.jetstream(), stream, subjects::EVENTS_MANUAL, 0, wait)
        .await
        .unwrap()
        .iter()
        .map(|m| serde_json::from_slice(&m.payload).unwrap())
        .collect()
}

#[tokio::test]
async fn run_queues_an_execution_and_publishes_the_event() {
    let env = common::env().await;
    apply_yaml(&env.app, "hello", &hello("hello", "x")).await;
    let ct = [("content-type", "application/json")];
    let body = json!({"inputs": {"who": "ann"}}).to_string();
    let (s, b) = call(&env.app, "POST", "/api/v1/workflows/hello/run", &ct, body).await;
    assert_eq!(s, 202, "{b}");
    let execution_id: Uuid = b["execution_id"].as_str().unwrap().parse().unwrap();
    let event_id = b["event_id"].as_str().unwrap().to_owned();
    assert_eq!(
        execution_id,
        weft_events::ids::execution_id("hello", weft_events::types::SOURCE_API, &event_id)
    );

    let row = env
        .store
        .get_execution(execution_id)
        .await
        .unwrap()
        .expect("row");
    assert_eq!(row.status, "queued");
    assert_eq!(row.version, 1);
    assert_eq!(row.event_id, event_id);
    assert_eq!(row.inputs, json!({"who": "ann", "times": 1}));
    assert_eq!(row.event["type"], "dev.weft.manual.requested");
    // Published at once; the published row is deleted by the store's background batch.
    let mut left = env.store.outbox_len().await.unwrap();
    for _ in 0..100 {
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        left = env.store.outbox_len().await.unwrap();
    }
    assert_eq!(left, 0, "published and deleted");

    let events = manual_events(&env.bus).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let ev = &events[0];
    assert_eq!(ev["id"], event_id);
    assert_eq!(ev["type"], "dev.weft.manual.requested");
    assert_eq!(ev["source"], "weft/api");
    assert_eq!(ev["subject"], "hello");
    assert_eq!(
        ev["data"],
        json!({"workflow": "hello", "inputs": {"who": "ann", "times": 1}})
    );

    let (s, b) = call(
        &env.app,
        "GET",
        &format!("/api/v1/executions/{execution_id}"),
        &[],
        "",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b["status"], "queued");
}

#[tokio::test]
async fn idempotency_key_deduplicates_a_resend() {
    let env = common::env().await;
    apply_yaml(&env.app, "hello", &hello("hello", "x")).await;
    let headers = [
        ("content-type", "application/json"),
        ("idempotency-key", "order-42"),
    ];
    let body = json!({"inputs": {"who": "bob"}}).to_string();
    let uri = "/api/v1/workflows/hello/run";
    let (s1, b1) = call(&env.app, "POST", uri, &headers, body.clone()).await;
    let (s2, b2) = call(&env.app, "POST", uri, &headers, body).await;
    assert_eq!((s1.as_u16(), s2.as_u16()), (202, 202));
    assert_eq!(b1, b2);
    let (_, list) = call(
        &env.app,
        "GET",
        "/api/v1/executions?workflow=hello",
        &[],
        "",
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(manual_events(&env.bus).await.len(), 1);
}

#[tokio::test]
async fn run_checks_inputs() {
    let env = common::env().await;
    apply_yaml(&env.app, "hello", &hello("hello", "x")).await;
    let uri = "/api/v1/workflows/hello/run";
    let ct = [("content-type", "application/json")];

    // No body at all: `who` is required.
    let (s, b) = call(&env.app, "POST", uri, &[], "").await;
    assert_eq!(s, 400, "{b}");
    assert!(assert_error(&b, "bad_request").contains("who"));

    let body = json!({"inputs": {"who": "ann", "times": "many"}}).to_string();
    let (s, b) = call(&env.app, "POST", uri, &ct, body).await;
    assert_eq!(s, 400, "{b}");
    assert!(assert_error(&b, "bad_request").contains("times"));

    let (s, b) = call(&env.app, "POST", uri, &ct, "{not json").await;
    assert_eq!(s, 400, "{b}");
    assert_error(&b, "bad_request");

    let (s, b) = call(&env.app, "POST", "/api/v1/workflows/nope/run", &[], "").await;
    assert_eq!(s, 404, "{b}");
    assert_error(&b, "not_found");
    assert_eq!(env.store.outbox_len().await.unwrap(), 0);
}
