//! `publish_event` against a real NATS server: the JetStream message id follows the CloudEvents
//! identity `(source, id)`, so the same `id` from two sources is stored twice, while a resend
//! of the same `(source, id)` inside the duplicate window is stored once.

use std::time::Duration;

use serde_json::json;
use weft_bus::Bus;
use weft_events::subjects;
use weft_testkit::NatsServer;

#[tokio::test]
async fn same_id_from_two_sources_is_two_messages_and_a_resend_is_one() {
    let nats = NatsServer::start().await.expect("nats");
    let bus = Bus::connect(&nats.url, "test").await.expect("connect");
    bus.ensure_streams().await.expect("streams");
    let event = |source: &str| {
        weft_events::new_event(
            "same-id",
            "com.example.t",
            source,
            None,
            json!({"from": source}),
        )
    };
    let subject = subjects::EVENTS_EXTERNAL;
    for source in ["shop/eu", "shop/us", "shop/eu"] {
        bus.publish_event(subject, &event(source))
            .await
            .expect("published");
    }
    let stored = weft_testkit::stored_messages(
        bus.jetstream(),
        subjects::EVENTS_STREAM,
        subject,
        3,
        Duration::from_millis(800),
    )
    .await
    .expect("readable");
    let sources: Vec<String> = stored
        .iter()
        .map(|m| {
            let v: serde_json::Value = serde_json::from_slice(&m.payload).expect("json");
            v["source"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(sources, ["shop/eu", "shop/us"], "one per (source, id)");
    let ids: Vec<String> = stored
        .iter()
        .filter_map(|m| {
            m.headers
                .as_ref()?
                .get("Nats-Msg-Id")
                .map(|v| v.to_string())
        })
        .collect();
    assert_eq!(
        ids,
        [
            weft_events::ids::message_id("shop/eu", "same-id"),
            weft_events::ids::message_id("shop/us", "same-id")
        ]
    );
}
