//! The one consume → handle → ack loop every Weft consumer uses (router and executors).
//!
//! A durable pull consumer shared by every replica of a service. Messages are handed to a
//! [`BatchHandler`] on their own task (at most `concurrency` messages at once) while a ticker
//! sends progress acks, so a slow handler keeps its messages. A batch is the message that arrived
//! plus whatever else is already buffered, up to `max_batch` — it never waits for more, so
//! batching costs no latency when the load is light. A [`Handler`] handles one message at a time
//! (batches of one). Each message's [`Disposition`] decides its ack:
//!
//! * `Ack` — done.
//! * `Retry(delay)` — nak with a delay; after `max_deliver` deliveries the message goes to the
//!   dead-letter stream instead of looping forever.
//! * `Unavailable(reason)` — a dependency (the database, the bus) is down; nothing is wrong with
//!   the message, so it is never dead-lettered for this, however long the outage. See below.
//! * `DeadLetter(reason)` — the message can never be handled (undecodable, …): it is copied to
//!   `weft.dlq.<stream>` with the reason and its origin in headers (see [`crate::dlq`]), then
//!   terminated.
//!
//! **Outages.** Naking would make JetStream count a delivery every time, and the delivery count
//! is what the crash-loop rule below reads. So an `Unavailable` message is *held*: it stays in
//! flight (progress acks every `ack_wait / 3`, its delivery count unchanged) and is handed to the
//! handler again after `hold_first`, doubling up to `hold_max`. While any message is held the
//! consumer counts as in an outage: the reader takes nothing new — it moves what is already
//! buffered into holding and drops its pull subscription, so no message sits delivered-but-
//! unread while its ack wait runs out — and the held messages are the probes. The first held
//! message that goes through ends the outage: every held message is handed back at once and
//! pulls resume. At shutdown held messages are nak'd, so another replica takes them now (one
//! delivery each). The gauge `weft_bus_held_messages{consumer}` counts them.
//!
//! If the process dies while handling, nothing is acked and JetStream redelivers after
//! `ack_wait`: every handler must be idempotent under redelivery. A handler that panics leaves
//! its batch to be redelivered (`Retry`). A message delivered more than `max_deliver` times is
//! one whose handling never settled it — it crashed or stalled the process every time — so it
//! is dead-lettered before it reaches the handler again: nothing can put a service in a crash
//! loop for good.

mod batch;
mod outage;

use std::{future::Future, sync::Arc, time::Duration};

use async_nats::jetstream::{
    Message,
    consumer::{AckPolicy, PullConsumer, pull},
};
use futures::{FutureExt, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;
use weft_runtime::Shutdown;

use crate::{Bus, BusError};
use outage::Outage;

/// What a handler decided about a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Disposition {
    /// Handled; acknowledge.
    Ack,
    /// Not handled now; deliver again after the delay (at most `max_deliver` deliveries).
    Retry(Duration),
    /// Not handled because a dependency (the database, the bus) is unavailable: held and handed
    /// back with a growing delay until it goes through; never dead-lettered for this.
    Unavailable(String),
    /// Never handleable; park it in the dead-letter stream.
    DeadLetter(String),
}

/// A message as a handler sees it.
#[derive(Debug)]
pub struct Delivery {
    /// Subject it was published to.
    pub subject: String,
    /// Payload.
    pub payload: bytes::Bytes,
    /// How many times it has been delivered, from 1 (a held message keeps its count).
    pub delivered: i64,
}

/// Handles one message at a time (many run concurrently).
pub trait Handler: Send + Sync + 'static {
    /// Handle a delivery and say what to do with it.
    fn handle(&self, delivery: Delivery) -> impl Future<Output = Disposition> + Send;
}

/// Handles several messages at once (e.g. in one database transaction).
pub trait BatchHandler: Send + Sync + 'static {
    /// Handle deliveries; return one disposition per delivery, in the same order.
    fn handle_batch(
        &self,
        deliveries: Vec<Delivery>,
    ) -> impl Future<Output = Vec<Disposition>> + Send;
}

/// A [`Handler`] as a [`BatchHandler`] (its batches hold one message).
struct One<H>(Arc<H>);

impl<H: Handler> BatchHandler for One<H> {
    async fn handle_batch(&self, deliveries: Vec<Delivery>) -> Vec<Disposition> {
        futures::future::join_all(deliveries.into_iter().map(|d| self.0.handle(d))).await
    }
}

/// A durable consumer and how to run it.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// Stream name.
    pub stream: String,
    /// Durable consumer name, shared by replicas.
    pub durable: String,
    /// Subject filters.
    pub filter_subjects: Vec<String>,
    /// How long a delivery may go without an ack or progress before it is redelivered.
    pub ack_wait: Duration,
    /// Deliveries before a message that keeps asking for `Retry` is dead-lettered.
    pub max_deliver: i64,
    /// Messages handled at once in this process.
    pub concurrency: usize,
    /// Most messages in one batch (1 for a [`Handler`]).
    pub max_batch: usize,
    /// First wait before a message held for an unavailable dependency is handed back.
    pub hold_first: Duration,
    /// Longest wait between two hand-backs of a held message (the wait doubles up to it).
    pub hold_max: Duration,
}

impl ConsumerSpec {
    /// A spec with Weft's defaults: 30 s ack wait, 20 deliveries, 64 concurrent handlers, held
    /// messages handed back after 1 s, doubling up to 30 s.
    pub fn new(stream: &str, durable: &str, filter: &str) -> Self {
        Self {
            stream: stream.into(),
            durable: durable.into(),
            filter_subjects: vec![filter.into()],
            ack_wait: Duration::from_secs(30),
            max_deliver: 20,
            concurrency: 64,
            max_batch: 1,
            hold_first: Duration::from_secs(1),
            hold_max: Duration::from_secs(30),
        }
    }

    fn pull_config(&self) -> pull::Config {
        let (filter_subject, filter_subjects) = match self.filter_subjects.as_slice() {
            [one] => (one.clone(), Vec::new()),
            many => (String::new(), many.to_vec()),
        };
        pull::Config {
            durable_name: Some(self.durable.clone()),
            filter_subject,
            filter_subjects,
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            max_deliver: -1, // we dead-letter ourselves, with the reason
            max_ack_pending: (self.concurrency as i64 * 4).max(256),
            ..Default::default()
        }
    }
}

/// Run the loop with a one-message-at-a-time handler until `shutdown`.
pub async fn consume<H: Handler>(
    bus: Bus,
    spec: ConsumerSpec,
    handler: Arc<H>,
    shutdown: Shutdown,
) {
    let spec = ConsumerSpec {
        max_batch: 1,
        ..spec
    };
    consume_batches(bus, spec, Arc::new(One(handler)), shutdown).await
}

/// What the reader and the batch tasks of one loop share.
struct Loop<H> {
    bus: Bus,
    spec: ConsumerSpec,
    handler: Arc<H>,
    /// One per message being handled.
    permits: Arc<Semaphore>,
    outage: Outage,
    /// Every batch task, handling or holding.
    tasks: TaskTracker,
    shutdown: Shutdown,
}

/// Run the loop until `shutdown`; in-flight handlers finish (up to `ack_wait`) and held messages
/// are handed back before it returns. Errors from the server (consumer gone, bus down) are
/// logged and the loop reconnects.
pub async fn consume_batches<H: BatchHandler>(
    bus: Bus,
    spec: ConsumerSpec,
    handler: Arc<H>,
    shutdown: Shutdown,
) {
    // A batch takes one permit per message, so it can never be larger than the permits.
    let spec = ConsumerSpec {
        max_batch: spec.max_batch.clamp(1, spec.concurrency.max(1)),
        ..spec
    };
    let lp = Arc::new(Loop {
        permits: Arc::new(Semaphore::new(spec.concurrency)),
        outage: Outage::new(&spec.durable),
        tasks: TaskTracker::new(),
        bus,
        spec,
        handler,
        shutdown,
    });
    let mut backoff = Duration::from_millis(100);
    while !lp.shutdown.is_triggered() {
        if lp.outage.is_down() {
            // Pull nothing while a dependency is down: the held messages find out when it is back.
            tokio::select! {
                _ = lp.shutdown.wait() => break,
                _ = lp.outage.wait_up() => continue,
            }
        }
        match open(&lp.bus, &lp.spec).await {
            Ok(consumer) => {
                backoff = Duration::from_millis(100);
                lp.read(consumer).await;
            }
            Err(e) => {
                tracing::warn!(consumer = %lp.spec.durable, error = %e, "consumer unavailable; retrying");
                tokio::select! {
                    _ = lp.shutdown.wait() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    // Drain: every batch task ends (held ones hand their messages back at once).
    lp.tasks.close();
    let _ = tokio::time::timeout(lp.spec.ack_wait, lp.tasks.wait()).await;
}

async fn open(bus: &Bus, spec: &ConsumerSpec) -> Result<PullConsumer, BusError> {
    let stream = bus
        .js
        .get_stream(&spec.stream)
        .await
        .map_err(|e| BusError::js(format!("opening stream {}", spec.stream), e))?;
    stream
        .get_or_create_consumer(&spec.durable, spec.pull_config())
        .await
        .map_err(|e| BusError::js(format!("opening consumer {}", spec.durable), e))
}

impl<H: BatchHandler> Loop<H> {
    /// Pull and hand out batches until shutdown, a pull error, or an outage (then what is
    /// buffered is parked and the pull subscription dropped).
    async fn read(self: &Arc<Self>, consumer: PullConsumer) {
        let spec = &self.spec;
        let batch = spec.concurrency.clamp(1, 256);
        let mut messages = match consumer
            .stream()
            .max_messages_per_batch(batch)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await
        {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(consumer = %spec.durable, error = %e, "cannot pull messages");
                return;
            }
        };
        loop {
            let next = tokio::select! {
                _ = self.shutdown.wait() => return,
                _ = self.outage.wait_down() => return self.park_buffered(&mut messages),
                next = messages.next() => next,
            };
            match next {
                Some(Ok(message)) => {
                    let mut batch = vec![message];
                    let mut failed = false;
                    // Whatever is already buffered joins the batch; never wait for more.
                    while batch.len() < spec.max_batch {
                        match messages.next().now_or_never() {
                            Some(Some(Ok(m))) => batch.push(m),
                            Some(Some(Err(e))) => {
                                tracing::warn!(consumer = %spec.durable, error = %e, "pull failed; reopening");
                                failed = true;
                                break;
                            }
                            _ => break,
                        }
                    }
                    let n = u32::try_from(batch.len()).unwrap_or(u32::MAX);
                    let Ok(permit) = self.permits.clone().acquire_many_owned(n).await else {
                        return;
                    };
                    self.spawn_batch(batch, permit);
                    if failed {
                        return;
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(consumer = %spec.durable, error = %e, "pull failed; reopening");
                    return;
                }
                None => return,
            }
        }
    }

    fn spawn_batch(self: &Arc<Self>, batch: Vec<Message>, permit: OwnedSemaphorePermit) {
        self.tasks.spawn(self.clone().run_batch(batch, permit));
    }

    /// Move every message already buffered into holding until the outage ends.
    fn park_buffered(self: &Arc<Self>, messages: &mut pull::Stream) {
        let mut parked = Vec::new();
        while let Some(Some(Ok(m))) = messages.next().now_or_never() {
            parked.push(m);
        }
        if !parked.is_empty() {
            tracing::debug!(consumer = %self.spec.durable, count = parked.len(), "parking buffered messages");
        }
        while !parked.is_empty() {
            let rest = parked.split_off(parked.len().min(self.spec.max_batch));
            self.tasks.spawn(self.clone().park(parked));
            parked = rest;
        }
    }
}
