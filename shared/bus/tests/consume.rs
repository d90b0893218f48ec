//! The shared consume loop against a real NATS server: batches form from buffered messages
//! (never larger than `max_batch`), and each message is settled by its own disposition — acked,
//! redelivered after a `Retry`, or copied to the dead-letter stream with the reason.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use weft_bus::{BatchHandler, Bus, ConsumerSpec, Delivery, Disposition, consume_batches};
use weft_events::subjects;
use weft_runtime::Shutdown;
use weft_testkit::NatsServer;

#[derive(Default)]
struct Recorder {
    batches: Mutex<Vec<usize>>,
    seen: Mutex<HashMap<String, Vec<i64>>>,
}

impl BatchHandler for Recorder {
    async fn handle_batch(&self, deliveries: Vec<Delivery>) -> Vec<Disposition> {
        self.batches.lock().expect("lock").push(deliveries.len());
        deliveries
            .iter()
            .map(|d| {
                let body = String::from_utf8_lossy(&d.payload).to_string();
                self.seen
                    .lock()
                    .expect("lock")
                    .entry(body.clone())
                    .or_default()
                    .push(d.delivered);
                match body.as_str() {
                    "poison" => Disposition::DeadLetter("cannot decode".into()),
                    "flaky" if d.delivered == 1 => Disposition::Retry(Duration::from_millis(50)),
                    _ => Disposition::Ack,
                }
            })
            .collect()
    }
}

#[tokio::test]
async fn batches_form_from_buffered_messages_and_each_message_is_settled() {
    let nats = NatsServer::start().await.expect("nats");
    let bus = Bus::connect(&nats.url, "test").await.expect("connect");
    bus.ensure_streams().await.expect("streams");
    let subject = subjects::task_subject("probe");
    // Buffered before the consumer starts, so batches can form.
    for i in 0..60 {
        bus.publish_bytes(&subject, &format!("m{i}"), Bytes::from(format!("ok-{i}")))
            .await
            .expect("publish");
    }
    bus.publish_bytes(&subject, "poison", Bytes::from_static(b"poison"))
        .await
        .expect("publish");
    bus.publish_bytes(&subject, "flaky", Bytes::from_static(b"flaky"))
        .await
        .expect("publish");

    let handler = Arc::new(Recorder::default());
    let mut spec = ConsumerSpec::new(subjects::TASKS_STREAM, "probe", &subject);
    spec.max_batch = 8;
    spec.concurrency = 16;
    let shutdown = Shutdown::new();
    let task = tokio::spawn(consume_batches(
        bus.clone(),
        spec,
        handler.clone(),
        shutdown.clone(),
    ));

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let done = {
            let seen = handler.seen.lock().expect("lock");
            seen.len() == 62 && seen.get("flaky").is_some_and(|d| d.len() == 2)
        };
        if done {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every message was handled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.trigger();
    task.await.expect("loop ends");

    let batches = handler.batches.lock().expect("lock").clone();
    assert!(batches.iter().all(|&n| (1..=8).contains(&n)), "{batches:?}");
    assert!(
        batches.iter().any(|&n| n > 1),
        "no batch formed from buffered messages: {batches:?}"
    );
    let seen = handler.seen.lock().expect("lock").clone();
    assert_eq!(
        seen["flaky"],
        vec![1, 2],
        "a retried message is delivered again"
    );
    assert_eq!(
        seen["poison"],
        vec![1],
        "a dead-lettered message is not redelivered"
    );
    assert!(
        seen.iter()
            .filter(|(k, _)| k.starts_with("ok-"))
            .all(|(_, d)| d == &vec![1])
    );

    // The work queue is empty; the poison message sits in the DLQ with its reason.
    let tasks = bus
        .jetstream()
        .get_stream(subjects::TASKS_STREAM)
        .await
        .expect("stream");
    assert_eq!(tasks.get_info().await.expect("info").state.messages, 0);
    let wait = Duration::from_millis(500);
    let parked: Vec<(String, Option<String>)> =
        weft_testkit::stored_messages(bus.jetstream(), subjects::DLQ_STREAM, ">", 1, wait)
            .await
            .expect("dlq readable")
            .iter()
            .map(|m| {
                let reason = m
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("Weft-Dlq-Reason"))
                    .map(|v| v.to_string());
                (String::from_utf8_lossy(&m.payload).to_string(), reason)
            })
            .collect();
    assert_eq!(
        parked,
        vec![("poison".to_string(), Some("cannot decode".to_string()))]
    );
}
