//! Shared test support: a real NATS server, a connected bus and stream readers.

#![allow(dead_code)]

use std::time::Duration;

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
};
use serde_json::{Value, json};
use tower::ServiceExt;
use weft_bus::Bus;
use weft_events::subjects::WORKFLOWS_BUCKET;
use weft_flow::Published;

pub use weft_testkit::NatsServer as Nats;

/// A server and a bus connected to it, with the streams created.
pub async fn bus() -> (Nats, Bus) {
    let nats = Nats::start().await.expect("nats starts");
    let bus = Bus::connect(&nats.url, "test").await.expect("connect");
    bus.ensure_streams().await.expect("streams");
    (nats, bus)
}

/// Every message on `subject` in `stream`, read by an ephemeral consumer (waits up to 2 s
/// for at least `min` messages, then drains what is there).
pub async fn read_stream(
    bus: &Bus,
    stream: &str,
    subject: &str,
    min: usize,
) -> Vec<serde_json::Value> {
    weft_testkit::stored_messages(
        bus.jetstream(),
        stream,
        subject,
        min,
        Duration::from_secs(2),
    )
    .await
    .expect("stream readable")
    .iter()
    .map(|m| serde_json::from_slice(&m.payload).expect("json message"))
    .collect()
}

/// Announce workflow `name` with `on.webhook = webhook` (version 1), as the admin API does.
pub async fn put_workflow(bus: &Bus, name: &str, webhook: Value) {
    let workflow = serde_json::from_value(json!({
        "name": name,
        "on": {"webhook": webhook},
        "steps": {"s": {"uses": "http", "with": {"url": "http://127.0.0.1:1/"}}},
    }))
    .expect("workflow");
    let published = Published {
        version: 1,
        workflow,
    };
    bus.put_json(WORKFLOWS_BUCKET, name, &published)
        .await
        .expect("put workflow");
}

/// POST `body` to `uri` on `app`; the status and the JSON answer (`Null` when not JSON).
pub async fn post(
    app: &Router,
    uri: &str,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> (StatusCode, Value) {
    let mut request = Request::post(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = app
        .clone()
        .oneshot(request.body(body.into()).expect("request"))
        .await
        .expect("response");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A webhook service over `bus` with `config`, running until the returned signal.
pub fn started(
    config: weft_webhook::WebhookConfig,
    bus: &Bus,
) -> (weft_webhook::WebhookService, weft_runtime::Shutdown) {
    let shutdown = weft_runtime::Shutdown::new();
    let deps = weft_webhook::WebhookDeps {
        bus: bus.clone(),
        secrets: weft_secrets::Secrets::none(),
    };
    let service = weft_webhook::WebhookService::new(config, deps);
    tokio::spawn(service.clone().run(shutdown.clone()));
    (service, shutdown)
}
