//! Shared test support: a real NATS server, a connected bus and stream readers.

#![allow(dead_code)]

use std::time::Duration;

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
