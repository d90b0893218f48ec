//! Shared test support: a real NATS server, a connected bus and stream readers.

#![allow(dead_code)]

use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use futures::StreamExt;
use weft_bus::Bus;

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
    let stream = bus.jetstream().get_stream(stream).await.expect("stream");
    let consumer = stream
        .create_consumer(pull::Config {
            filter_subject: subject.to_string(),
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .expect("consumer");
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        let mut batch = consumer
            .fetch()
            .max_messages(100)
            .expires(Duration::from_millis(200))
            .messages()
            .await
            .expect("fetch");
        while let Some(Ok(message)) = batch.next().await {
            out.push(serde_json::from_slice(&message.payload).expect("json message"));
            let _ = message.ack().await;
        }
        if out.len() >= min || tokio::time::Instant::now() > deadline {
            return out;
        }
    }
}
