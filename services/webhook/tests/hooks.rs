//! `POST /hooks/{path}` against a real NATS server: events on WEFT_EVENTS, hot routes,
//! limits, idempotency and a bus outage.

mod common;

use std::time::Duration;

use axum::{Router, http::StatusCode};
use serde_json::{Value, json};
use weft_bus::Bus;
use weft_events::subjects::{EVENTS_STREAM, EVENTS_WEBHOOK, WORKFLOWS_BUCKET};
use weft_runtime::Shutdown;
use weft_webhook::WebhookConfig;

/// A started service over `bus` whose table already holds `path` (when given).
async fn service(bus: &Bus, config: WebhookConfig, path: Option<&str>) -> (Router, Shutdown) {
    let (service, shutdown) = common::started(config, bus);
    for _ in 0..200 {
        let ready = match path {
            Some(p) => matches!(service.registry().lookup(p), weft_webhook::Lookup::Known(_)),
            None => service.registry().lookup("x") != weft_webhook::Lookup::NotLoaded,
        };
        if ready {
            return (service.router(), shutdown);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("registry did not load");
}

fn config() -> WebhookConfig {
    WebhookConfig {
        max_body_bytes: 1024,
        publish_timeout_ms: 2_000,
    }
}

async fn put_workflow(bus: &Bus, name: &str, path: &str) {
    common::put_workflow(bus, name, json!({"path": path})).await;
}

use common::post;

async fn webhook_events(bus: &Bus, min: usize) -> Vec<Value> {
    common::read_stream(bus, EVENTS_STREAM, EVENTS_WEBHOOK, min).await
}

#[tokio::test]
async fn accepted_requests_become_events_with_the_request_data() {
    let (_nats, bus) = common::bus().await;
    put_workflow(&bus, "gh", "github/push").await;
    let (app, _shutdown) = service(&bus, config(), Some("github/push")).await;

    let (status, json_ack) = post(
        &app,
        "/hooks/github/push?a=1&a=2&b=x",
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer s3cret"),
            ("X-Hub-Signature-256", "sha256=abc"),
            ("X-Custom", "kept"),
        ],
        r#"{"ref":"main","n":3}"#,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{json_ack}");
    let (status, text_ack) = post(
        &app,
        "/hooks/github/push",
        &[("content-type", "text/plain")],
        "héllo",
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, bin_ack) = post(&app, "/hooks/github/push", &[], vec![0xff_u8, 0xfe, 0x00]).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let events = webhook_events(&bus, 3).await;
    assert_eq!(events.len(), 3);
    let first = &events[0];
    assert_eq!(first["id"], json_ack["event_id"]);
    assert_eq!(first["type"], "dev.weft.webhook.received");
    assert_eq!(first["source"], "weft/webhook/github/push");
    assert_eq!(first["subject"], "github/push");
    let data = &first["data"];
    assert_eq!(data["method"], "POST");
    assert_eq!(data["path"], "github/push");
    assert_eq!(data["query"], json!({"a": ["1", "2"], "b": "x"}));
    assert_eq!(data["body"], json!({"ref": "main", "n": 3}));
    assert_eq!(data["headers"]["authorization"], "[redacted]");
    assert_eq!(data["headers"]["x-hub-signature-256"], "[redacted]");
    assert_eq!(data["headers"]["x-custom"], "kept");
    assert!(!first.to_string().contains("s3cret"));

    assert_eq!(events[1]["id"], text_ack["event_id"]);
    assert_eq!(events[1]["data"]["body"], "héllo");
    assert_eq!(events[1]["data"]["query"], json!({}));
    assert_eq!(events[2]["id"], bin_ack["event_id"]);
    assert_eq!(events[2]["data"]["body"], json!({"base64": "//4A"}));
}

#[tokio::test]
async fn refuses_unknown_paths_bad_json_and_large_bodies() {
    let (_nats, bus) = common::bus().await;
    put_workflow(&bus, "orders", "orders").await;
    let (app, _shutdown) = service(&bus, config(), Some("orders")).await;

    let (status, body) = post(&app, "/hooks/nope", &[], "{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "not_found");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("nope")));

    let (status, body) = post(
        &app,
        "/hooks/orders",
        &[("content-type", "application/json")],
        "{bad",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "bad_request");

    // Streamed past the limit (no Content-Length) and announced past it.
    let (status, body) = post(&app, "/hooks/orders", &[], vec![b'x'; 1025]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["code"], "payload_too_large");
    let (status, _) = post(
        &app,
        "/hooks/orders",
        &[("content-length", "5000")],
        "small",
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Exactly at the limit is fine.
    let (status, _) = post(&app, "/hooks/orders", &[], vec![b'x'; 1024]).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    assert_eq!(
        webhook_events(&bus, 1).await.len(),
        1,
        "refused requests publish nothing"
    );
}

#[tokio::test]
async fn routes_follow_the_bucket_without_a_restart() {
    let (_nats, bus) = common::bus().await;
    let (app, _shutdown) = service(&bus, config(), None).await;
    let (status, _) = post(&app, "/hooks/late/arrival", &[], "x").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    put_workflow(&bus, "late", "late/arrival").await;
    assert_eq!(
        poll_status(&app, "/hooks/late/arrival", StatusCode::ACCEPTED).await,
        StatusCode::ACCEPTED
    );

    let kv = bus.kv(WORKFLOWS_BUCKET).await.expect("bucket");
    kv.delete("late").await.expect("delete");
    assert_eq!(
        poll_status(&app, "/hooks/late/arrival", StatusCode::NOT_FOUND).await,
        StatusCode::NOT_FOUND
    );
}

/// POST until `want` comes back or 1 s has passed; the last status.
async fn poll_status(app: &Router, uri: &str, want: StatusCode) -> StatusCode {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    loop {
        let (status, _) = post(app, uri, &[], "x").await;
        if status == want || tokio::time::Instant::now() > deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_resent_request_with_the_same_key_is_stored_once() {
    let (_nats, bus) = common::bus().await;
    put_workflow(&bus, "pay", "payments").await;
    let (app, _shutdown) = service(&bus, config(), Some("payments")).await;

    let headers = [
        ("idempotency-key", "order-42"),
        ("content-type", "application/json"),
    ];
    let (s1, first) = post(&app, "/hooks/payments", &headers, r#"{"a":1}"#).await;
    let (s2, second) = post(&app, "/hooks/payments", &headers, r#"{"a":1}"#).await;
    assert_eq!((s1, s2), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    assert_eq!(first["event_id"], second["event_id"]);
    assert_eq!(
        first["event_id"],
        weft_events::ids::keyed_event_id("webhook/payments", "order-42")
    );
    let (_, github) = post(
        &app,
        "/hooks/payments",
        &[("x-github-delivery", "d-1")],
        "x",
    )
    .await;
    assert_eq!(
        github["event_id"],
        weft_events::ids::keyed_event_id("webhook/payments", "d-1")
    );

    let events = webhook_events(&bus, 3).await;
    assert_eq!(events.len(), 2, "the resend was deduplicated: {events:?}");
}

#[tokio::test]
async fn answers_503_while_nats_is_down_and_recovers() {
    let (mut nats, bus) = common::bus().await;
    put_workflow(&bus, "up", "up").await;
    let (app, _shutdown) = service(&bus, config(), Some("up")).await;
    let (status, _) = post(&app, "/hooks/up", &[], "before").await;
    assert_eq!(status, StatusCode::ACCEPTED);

    nats.stop();
    let (status, body) = post(&app, "/hooks/up", &[], "during").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "unavailable");

    nats.restart().await.expect("nats restarts");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    while status != StatusCode::ACCEPTED && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = post(&app, "/hooks/up", &[], "after").await.0;
    }
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "no recovery after NATS came back"
    );
    let bodies: Vec<Value> = webhook_events(&bus, 2)
        .await
        .iter()
        .map(|e| e["data"]["body"].clone())
        .collect();
    assert_eq!(
        bodies,
        vec![json!("before"), json!("after")],
        "nothing half-accepted"
    );
}

#[tokio::test]
async fn answers_503_until_the_bucket_was_read() {
    let (mut nats, bus) = common::bus().await;
    nats.stop();
    let (service, _shutdown) = common::started(config(), &bus);
    let (status, body) = post(&service.router(), "/hooks/anything", &[], "x").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["code"], "unavailable");
}
