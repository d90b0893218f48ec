//! The transactional outbox against real PostgreSQL and NATS: a committed row is published
//! exactly once (by `flush_outbox` or `sweep_outbox`) and deleted; a rolled-back one never
//! exists. Publishes are counted twice: in the stream (what JetStream stored, after its
//! `Nats-Msg-Id` de-duplication) and on a plain NATS subscription (every publish, duplicates
//! included), so a double publish cannot hide behind the duplicate window.

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use weft_bus::Bus;
use weft_events::subjects;
use weft_store::{Store, outbox::OutboxMessage};

use crate::common;

const SUBJECT: &str = "weft.events.external";

fn message(id: &str) -> OutboxMessage {
    let event = weft_events::new_event(id, "dev.weft.test", "weft/test", None, json!({"id": id}));
    OutboxMessage::event(SUBJECT, &event)
}

/// Enqueue `msgs` in one transaction and commit it.
async fn enqueue_committed(store: &Store, msgs: &[OutboxMessage]) {
    let mut tx = store.begin().await.unwrap();
    for m in msgs {
        weft_store::outbox::enqueue(&mut tx, m).await.unwrap();
    }
    weft_store::commit(tx, "enqueueing test messages")
        .await
        .unwrap();
}

/// `(Nats-Msg-Id, payload)` of every message stored on `SUBJECT`, via an ephemeral pull consumer.
async fn stored(bus: &Bus) -> Vec<(String, Vec<u8>)> {
    let wait = Duration::from_millis(500);
    weft_testkit::stored_messages(bus.jetstream(), subjects::EVENTS_STREAM, SUBJECT, 0, wait)
        .await
        .unwrap()
        .into_iter()
        .map(|msg| {
            let id = msg
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Msg-Id"))
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default();
            (id, msg.payload.to_vec())
        })
        .collect()
}

/// A core subscription to `SUBJECT` on a second connection: sees every publish.
async fn tap(nats: &common::Nats) -> async_nats::Subscriber {
    let client = nats.server.connect().await.unwrap();
    let sub = client.subscribe(SUBJECT).await.unwrap();
    client.flush().await.unwrap();
    sub
}

/// Message ids the tap received until it stayed quiet for 300 ms.
async fn drain(sub: &mut async_nats::Subscriber) -> Vec<String> {
    let mut ids = Vec::new();
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(300), sub.next()).await {
        let id = msg.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id"));
        ids.push(id.map(|v| v.as_str().to_owned()).unwrap_or_default());
    }
    ids
}

#[tokio::test]
async fn sweep_publishes_an_unflushed_committed_row_once() {
    let (pg, nats) = tokio::join!(common::pg(), common::nats());
    let (store, bus) = (&pg.store, &nats.bus);
    let mut tap = tap(&nats).await;
    let msg = message("ev-swept");
    enqueue_committed(store, std::slice::from_ref(&msg)).await;
    assert_eq!(store.outbox_len().await.unwrap(), 1);

    // Younger than the grace period: the writer may still flush it.
    assert_eq!(
        store
            .sweep_outbox(bus, Duration::from_secs(60), 100)
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.outbox_len().await.unwrap(), 1);

    assert_eq!(
        store.sweep_outbox(bus, Duration::ZERO, 100).await.unwrap(),
        1
    );
    assert_eq!(store.outbox_len().await.unwrap(), 0, "the row is gone");
    assert_eq!(
        store.sweep_outbox(bus, Duration::ZERO, 100).await.unwrap(),
        0
    );

    assert_eq!(stored(bus).await, [(msg.id.clone(), msg.payload.clone())]);
    assert_eq!(drain(&mut tap).await, [msg.id], "published exactly once");
}

#[tokio::test]
async fn a_rolled_back_transaction_leaves_nothing() {
    let (pg, nats) = tokio::join!(common::pg(), common::nats());
    let (store, bus) = (&pg.store, &nats.bus);
    let mut tap = tap(&nats).await;

    let mut tx = store.begin().await.unwrap();
    weft_store::outbox::enqueue(&mut tx, &message("ev-rolled-back"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    // A transaction dropped without commit (a crash) rolls back too.
    let mut tx = store.begin().await.unwrap();
    weft_store::outbox::enqueue(&mut tx, &message("ev-dropped"))
        .await
        .unwrap();
    drop(tx);

    assert_eq!(store.outbox_len().await.unwrap(), 0);
    assert_eq!(
        store.sweep_outbox(bus, Duration::ZERO, 100).await.unwrap(),
        0
    );
    assert!(stored(bus).await.is_empty());
    assert!(drain(&mut tap).await.is_empty());
}

#[tokio::test]
async fn flush_deletes_what_it_published() {
    let (pg, nats) = tokio::join!(common::pg(), common::nats());
    let (store, bus) = (&pg.store, &nats.bus);
    let mut tap = tap(&nats).await;
    let msgs: Vec<OutboxMessage> = (0..3).map(|i| message(&format!("ev-flush-{i}"))).collect();
    let waiting = message("ev-waiting");
    enqueue_committed(store, &msgs).await;
    enqueue_committed(store, std::slice::from_ref(&waiting)).await;

    assert_eq!(store.flush_outbox(bus, msgs.clone()).await, 3);
    // Published rows are deleted in the background, in batches, within ~50 ms.
    let mut left: Vec<String> = Vec::new();
    for _ in 0..100 {
        left = sqlx::query_scalar("SELECT id FROM outbox")
            .fetch_all(store.pool())
            .await
            .unwrap();
        if left.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        left,
        std::slice::from_ref(&waiting.id),
        "only the published rows are deleted"
    );

    let mut ids: Vec<String> = stored(bus).await.into_iter().map(|(id, _)| id).collect();
    ids.sort();
    let mut expected: Vec<String> = msgs.iter().map(|m| m.id.clone()).collect();
    expected.sort();
    assert_eq!(ids, expected);
    let mut tapped = drain(&mut tap).await;
    tapped.sort();
    assert_eq!(tapped, expected, "each published once");

    // Nothing to flush publishes nothing.
    assert_eq!(store.flush_outbox(bus, Vec::new()).await, 0);
}

#[tokio::test]
async fn concurrent_sweeps_publish_each_row_once() {
    let (pg, nats) = tokio::join!(common::pg(), common::nats());
    let (store, bus) = (&pg.store, &nats.bus);
    let mut tap = tap(&nats).await;
    let msgs: Vec<OutboxMessage> = (0..60)
        .map(|i| message(&format!("ev-sweep-{i:02}")))
        .collect();
    enqueue_committed(store, &msgs).await;
    // A second pool, as a second router replica would have.
    let other = Store::connect(&pg.db.url, 4).await.unwrap();

    let (a, b, c, d) = tokio::join!(
        store.sweep_outbox(bus, Duration::ZERO, 25),
        other.sweep_outbox(bus, Duration::ZERO, 25),
        store.sweep_outbox(bus, Duration::ZERO, 25),
        other.sweep_outbox(bus, Duration::ZERO, 25),
    );
    let counts = [a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap()];
    // Whatever the interleaving, no row was taken by two sweepers.
    let mut total: usize = counts.iter().sum();
    while store.outbox_len().await.unwrap() > 0 {
        total += store.sweep_outbox(bus, Duration::ZERO, 25).await.unwrap();
    }
    assert_eq!(total, msgs.len(), "sweep counts {counts:?}");

    let stream = bus
        .jetstream()
        .get_stream(subjects::EVENTS_STREAM)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .messages;
    assert_eq!(stream, 60);
    let mut ids: Vec<String> = stored(bus).await.into_iter().map(|(id, _)| id).collect();
    ids.sort();
    // Message ids derive from each event's (source, id): compare them as sets.
    let mut expected: Vec<String> = msgs.iter().map(|m| m.id.clone()).collect();
    expected.sort();
    assert_eq!(ids, expected);
    let mut tapped = drain(&mut tap).await;
    tapped.sort();
    assert_eq!(tapped, expected, "no row was published twice");
}
