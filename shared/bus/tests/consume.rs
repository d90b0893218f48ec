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

/// Panics on "boom" every time; acks the rest. Counts what it is handed.
#[derive(Default)]
struct Panicky {
    handed: Mutex<Vec<String>>,
}

impl BatchHandler for Panicky {
    async fn handle_batch(&self, deliveries: Vec<Delivery>) -> Vec<Disposition> {
        for d in &deliveries {
            let body = String::from_utf8_lossy(&d.payload).to_string();
            self.handed.lock().expect("lock").push(body);
        }
        if deliveries.iter().any(|d| d.payload.as_ref() == b"boom") {
            panic!("handler bug");
        }
        deliveries.iter().map(|_| Disposition::Ack).collect()
    }
}

fn dlq_reason(m: &async_nats::jetstream::Message) -> String {
    m.headers
        .as_ref()
        .and_then(|h| h.get("Weft-Dlq-Reason"))
        .map(|v| v.to_string())
        .unwrap_or_default()
}

/// Run the loop with `handler` until one message is in the DLQ (20 s at most); what is there.
async fn run_until_parked(
    bus: &Bus,
    spec: ConsumerSpec,
    handler: Arc<Panicky>,
) -> Vec<async_nats::jetstream::Message> {
    let shutdown = Shutdown::new();
    let task = tokio::spawn(consume_batches(
        bus.clone(),
        spec,
        handler,
        shutdown.clone(),
    ));
    let wait = Duration::from_secs(20);
    let parked = weft_testkit::stored_messages(bus.jetstream(), subjects::DLQ_STREAM, ">", 1, wait)
        .await
        .expect("dlq readable");
    shutdown.trigger();
    task.await
        .expect("the loop ends (and survived a panicking handler)");
    parked
}

async fn start(nats: &NatsServer, name: &str) -> (Bus, String, ConsumerSpec) {
    let bus = Bus::connect(&nats.url, "test").await.expect("connect");
    bus.ensure_streams().await.expect("streams");
    let subject = subjects::task_subject(name);
    let mut spec = ConsumerSpec::new(subjects::TASKS_STREAM, name, &subject);
    spec.max_deliver = 3;
    spec.ack_wait = Duration::from_secs(1);
    (bus, subject, spec)
}

#[tokio::test]
async fn a_panicking_handler_loses_nothing_and_its_message_is_dead_lettered() {
    let nats = NatsServer::start().await.expect("nats");
    let (bus, subject, spec) = start(&nats, "boom").await;
    for body in ["boom", "fine"] {
        bus.publish_bytes(&subject, body, Bytes::from(body))
            .await
            .expect("publish");
    }
    let handler = Arc::new(Panicky::default());
    let parked = run_until_parked(&bus, spec, handler.clone()).await;
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].payload.as_ref(), b"boom");
    let handed = handler.handed.lock().expect("lock").clone();
    assert_eq!(
        handed.iter().filter(|b| *b == "boom").count(),
        3,
        "{handed:?}"
    );
    assert!(handed.contains(&"fine".to_string()));
}

#[tokio::test]
async fn a_message_that_never_got_settled_is_dead_lettered_without_handling_it_again() {
    let nats = NatsServer::start().await.expect("nats");
    let (bus, subject, spec) = start(&nats, "crash").await;
    bus.publish_bytes(&subject, "crash", Bytes::from_static(b"crash"))
        .await
        .expect("publish");
    // Three processes took it and died before settling it (fetched, never acked).
    let stream = bus
        .jetstream()
        .get_stream(subjects::TASKS_STREAM)
        .await
        .expect("stream");
    let consumer: async_nats::jetstream::consumer::PullConsumer = stream
        .get_or_create_consumer(
            "crash",
            async_nats::jetstream::consumer::pull::Config {
                durable_name: Some("crash".into()),
                filter_subject: subject.clone(),
                ack_wait: Duration::from_secs(1),
                max_deliver: -1,
                ..Default::default()
            },
        )
        .await
        .expect("consumer");
    for _ in 0..3 {
        let mut batch = consumer
            .fetch()
            .max_messages(1)
            .expires(Duration::from_secs(3))
            .messages()
            .await
            .expect("fetch");
        use futures::StreamExt;
        let m = batch.next().await.expect("one message").expect("message");
        assert_eq!(m.payload.as_ref(), b"crash");
        drop(m); // never acked: redelivered after ack_wait
    }
    let handler = Arc::new(Panicky::default());
    let parked = run_until_parked(&bus, spec, handler.clone()).await;
    assert_eq!(parked.len(), 1);
    let reason = dlq_reason(&parked[0]);
    assert!(
        reason.contains("delivered 4 times without being settled"),
        "{reason}"
    );
    assert!(
        handler.handed.lock().expect("lock").is_empty(),
        "handled again"
    );
}
