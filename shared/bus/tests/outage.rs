//! The consume loop through a dependency outage, against a real NATS server: a message whose
//! handler says `Unavailable` is held — never dead-lettered, however many times it is handed
//! back, and its delivery count does not move — nothing new is pulled meanwhile, and everything
//! is handled once the dependency is back.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use weft_bus::{BatchHandler, Bus, ConsumerSpec, Delivery, Disposition, consume_batches};
use weft_events::subjects;
use weft_runtime::Shutdown;
use weft_testkit::NatsServer;

/// Says `Unavailable` while `down`, else acks. Records every call: (body, delivered, acked).
#[derive(Default)]
struct Dependent {
    down: AtomicBool,
    calls: Mutex<Vec<(String, i64, bool)>>,
}

impl Dependent {
    fn calls(&self) -> Vec<(String, i64, bool)> {
        self.calls.lock().expect("lock").clone()
    }
}

impl BatchHandler for Dependent {
    async fn handle_batch(&self, deliveries: Vec<Delivery>) -> Vec<Disposition> {
        let down = self.down.load(Ordering::SeqCst);
        let mut calls = self.calls.lock().expect("lock");
        deliveries
            .iter()
            .map(|d| {
                let body = String::from_utf8_lossy(&d.payload).to_string();
                calls.push((body, d.delivered, !down));
                match down {
                    true => Disposition::Unavailable("the database is down".into()),
                    false => Disposition::Ack,
                }
            })
            .collect()
    }
}

async fn stream_len(bus: &Bus, stream: &str) -> u64 {
    let s = bus.jetstream().get_stream(stream).await.expect("stream");
    s.get_info().await.expect("info").state.messages
}

#[tokio::test]
async fn an_unavailable_dependency_holds_messages_past_max_deliver_and_loses_none() {
    let nats = NatsServer::start().await.expect("nats");
    let bus = Bus::connect(&nats.url, "test").await.expect("connect");
    bus.ensure_streams().await.expect("streams");
    let subject = subjects::task_subject("outage");
    let mut spec = ConsumerSpec::new(subjects::TASKS_STREAM, "outage", &subject);
    spec.max_deliver = 3;
    spec.ack_wait = Duration::from_secs(1);
    spec.concurrency = 4;
    spec.max_batch = 2;
    spec.hold_first = Duration::from_millis(100);
    spec.hold_max = Duration::from_millis(400);

    let handler = Arc::new(Dependent::default());
    handler.down.store(true, Ordering::SeqCst);
    bus.publish_bytes(&subject, "first", Bytes::from_static(b"first"))
        .await
        .expect("publish");
    let shutdown = Shutdown::new();
    let task = tokio::spawn(consume_batches(
        bus.clone(),
        spec,
        handler.clone(),
        shutdown.clone(),
    ));
    weft_testkit::wait_for(Duration::from_secs(10), || {
        let seen = !handler.calls().is_empty();
        async move { seen.then_some(()) }
    })
    .await
    .expect("the first message is handed to the handler");
    // Published during the outage: the loop must not take them while it is down.
    for i in 0..5 {
        let body = format!("later-{i}");
        bus.publish_bytes(&subject, &body, Bytes::from(body.clone()))
            .await
            .expect("publish");
    }
    // Six ack waits, and many more hand-backs than max_deliver.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let during = handler.calls();
    assert!(
        during.iter().all(|(body, _, _)| body == "first"),
        "nothing new is pulled while the dependency is down: {during:?}"
    );
    assert!(
        during.len() > 6,
        "the held message is handed back again and again: {during:?}"
    );
    assert!(
        during.iter().all(|(_, delivered, _)| *delivered == 1),
        "holding a message does not count deliveries: {during:?}"
    );
    assert_eq!(stream_len(&bus, subjects::DLQ_STREAM).await, 0);

    handler.down.store(false, Ordering::SeqCst);
    weft_testkit::wait_for(Duration::from_secs(10), || {
        let acked = handler
            .calls()
            .iter()
            .filter(|(_, _, acked)| *acked)
            .count();
        async move { (acked == 6).then_some(()) }
    })
    .await
    .expect("every message is handled once the dependency is back");
    // The work queue drains (acked messages leave it) and nothing was dead-lettered.
    weft_testkit::wait_for(Duration::from_secs(5), || async {
        (stream_len(&bus, subjects::TASKS_STREAM).await == 0).then_some(())
    })
    .await
    .expect("the work queue is empty");
    shutdown.trigger();
    task.await.expect("the loop ends");

    let calls = handler.calls();
    let acked: Vec<&(String, i64, bool)> = calls.iter().filter(|c| c.2).collect();
    assert_eq!(
        acked.len(),
        6,
        "each message handled exactly once: {calls:?}"
    );
    assert!(
        calls.iter().all(|(_, delivered, _)| *delivered == 1),
        "no message was ever redelivered: {calls:?}"
    );
    assert_eq!(stream_len(&bus, subjects::DLQ_STREAM).await, 0);
}
