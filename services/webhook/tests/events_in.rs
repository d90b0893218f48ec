//! `POST /events` against a real NATS server: binary, structured and batch CloudEvents land on
//! `weft.events.external` with their own ids (a resend is deduplicated); malformed or forged
//! events are refused with 400 and nothing is published.

mod common;

use axum::{Router, body::Body, http::StatusCode};
use serde_json::{Value, json};
use weft_bus::Bus;
use weft_events::subjects::{EVENTS_EXTERNAL, EVENTS_STREAM};
use weft_runtime::Shutdown;
use weft_webhook::WebhookConfig;

async fn send(
    app: &Router,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> (StatusCode, Value) {
    common::post(app, "/events", headers, body).await
}

fn app(bus: &Bus) -> (Router, Shutdown) {
    let (service, shutdown) = common::started(WebhookConfig::default(), bus);
    (service.router(), shutdown)
}

fn order(id: &str, total: u64) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "shop/orders", "type": "com.shop.order.created",
           "subject": format!("order-{total}"), "datacontenttype": "application/json", "data": {"total": total}})
}

async fn external(bus: &Bus, min: usize) -> Vec<Value> {
    common::read_stream(bus, EVENTS_STREAM, EVENTS_EXTERNAL, min).await
}

#[tokio::test]
async fn binary_structured_and_batch_events_are_stored_with_their_ids() {
    let (_nats, bus) = common::bus().await;
    let (app, _s) = app(&bus);
    let binary = [
        ("ce-specversion", "1.0"),
        ("ce-id", "bin-1"),
        ("ce-source", "crm/contacts"),
        ("ce-type", "com.crm.contact.added"),
        ("ce-region", "eu"),
        ("content-type", "application/json"),
    ];
    let (status, ack) = send(&app, &binary, r#"{"email":"a@example.com"}"#).await;
    assert_eq!(
        (status, &ack),
        (StatusCode::ACCEPTED, &json!({"event_ids": ["bin-1"]}))
    );
    let structured = [("content-type", "application/cloudevents+json")];
    let (status, ack) = send(&app, &structured, order("ord-1", 5).to_string()).await;
    assert_eq!(
        (status, &ack),
        (StatusCode::ACCEPTED, &json!({"event_ids": ["ord-1"]}))
    );
    let batch = [("content-type", "application/cloudevents-batch+json")];
    let body = json!([order("ord-2", 50), order("ord-3", 500)]).to_string();
    let (status, ack) = send(&app, &batch, body.clone()).await;
    assert_eq!(
        (status, &ack),
        (
            StatusCode::ACCEPTED,
            &json!({"event_ids": ["ord-2", "ord-3"]})
        )
    );
    // A resend of the batch is accepted again and stored once.
    assert_eq!(send(&app, &batch, body).await.0, StatusCode::ACCEPTED);

    let stored = external(&bus, 5).await;
    let ids: Vec<&str> = stored.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(ids, ["bin-1", "ord-1", "ord-2", "ord-3"]);
    assert_eq!(stored[0]["type"], "com.crm.contact.added");
    assert_eq!(stored[0]["region"], "eu");
    assert_eq!(stored[0]["data"], json!({"email": "a@example.com"}));
    assert_eq!(stored[3]["data"], json!({"total": 500}));
    assert!(
        stored[3]["traceparent"].as_str().is_some(),
        "a trace is started"
    );
}

#[tokio::test]
async fn malformed_and_forged_events_are_refused_and_publish_nothing() {
    let (_nats, bus) = common::bus().await;
    let (app, _s) = app(&bus);
    let structured = [("content-type", "application/cloudevents+json")];
    let mut no_source = order("x-1", 1);
    no_source.as_object_mut().expect("object").remove("source");
    let mut forged = order("x-2", 1);
    forged["type"] = json!("dev.weft.execution.succeeded");
    let mut trigger = order("x-3", 1);
    trigger["type"] = json!("dev.weft.webhook.received");
    let cases = [
        ("{not json".to_string(), "not valid JSON"),
        (no_source.to_string(), "`source`"),
        (forged.to_string(), "reserved"),
        (trigger.to_string(), "reserved"),
    ];
    for (body, expected) in cases {
        let (status, answer) = send(&app, &structured, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["code"], "bad_request");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{expected}: {message}");
    }
    let batch = [("content-type", "application/cloudevents-batch+json")];
    let body = json!([order("ok-1", 1), forged]).to_string();
    let (status, answer) = send(&app, &batch, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("event [1]")),
        "{answer}"
    );
    let (status, answer) = send(&app, &[("ce-specversion", "1.0"), ("ce-type", "t")], "x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("ce-id")),
        "{answer}"
    );

    assert_eq!(
        send(&app, &structured, order("after", 1).to_string())
            .await
            .0,
        StatusCode::ACCEPTED
    );
    let stored = external(&bus, 2).await;
    assert_eq!(
        stored.len(),
        1,
        "only the valid event was published: {stored:?}"
    );
    assert_eq!(stored[0]["id"], "after");
}
