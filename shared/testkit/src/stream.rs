//! Reading back what a test's services stored in a JetStream stream.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use futures::StreamExt;

/// Every message stored in `stream` on `subject` (`>` for all), read by an ephemeral consumer
/// that acknowledges nothing, so a work queue keeps its messages. Waits up to `wait` for at
/// least `min` messages, then returns what is there.
pub async fn stored_messages(
    js: &jetstream::Context,
    stream: &str,
    subject: &str,
    min: usize,
    wait: Duration,
) -> anyhow::Result<Vec<jetstream::Message>> {
    let consumer = js
        .get_stream(stream)
        .await?
        .create_consumer(pull::Config {
            filter_subject: if subject == ">" {
                String::new()
            } else {
                subject.to_string()
            },
            ..Default::default()
        })
        .await?;
    let deadline = tokio::time::Instant::now() + wait;
    let mut out = Vec::new();
    loop {
        let mut batch = consumer
            .fetch()
            .max_messages(1000)
            .expires(Duration::from_millis(200))
            .messages()
            .await?;
        let before = out.len();
        while let Some(message) = batch.next().await {
            out.push(message.map_err(|e| anyhow::anyhow!("reading {stream}: {e}"))?);
        }
        let drained = out.len() == before;
        if (drained && out.len() >= min) || tokio::time::Instant::now() >= deadline {
            return Ok(out);
        }
    }
}
