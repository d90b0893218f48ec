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
//! * `DeadLetter(reason)` — the message can never be handled (undecodable, …): it is copied to
//!   `weft.dlq.<stream>` with the reason in a header, then terminated.
//!
//! If the process dies while handling, nothing is acked and JetStream redelivers after
//! `ack_wait`: every handler must be idempotent under redelivery. A handler that panics leaves
//! its batch to be redelivered (`Retry`). A message delivered more than `max_deliver` times is
//! one whose handling never settled it — it crashed or stalled the process every time — so it
//! is dead-lettered before it reaches the handler again: nothing can put a service in a crash
//! loop for good.

use std::{future::Future, sync::Arc, time::Duration};

use async_nats::{
    HeaderMap,
    jetstream::{
        AckKind, Message,
        consumer::{AckPolicy, PullConsumer, pull},
    },
};
use futures::{FutureExt, StreamExt};
use tokio::sync::Semaphore;
use weft_runtime::Shutdown;

use crate::{Bus, BusError};

/// What a handler decided about a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Disposition {
    /// Handled; acknowledge.
    Ack,
    /// Not handled now; deliver again after the delay.
    Retry(Duration),
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
    /// How many times it has been delivered, from 1.
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
}

impl ConsumerSpec {
    /// A spec with Weft's defaults: 30 s ack wait, 20 deliveries, 64 concurrent handlers.
    pub fn new(stream: &str, durable: &str, filter: &str) -> Self {
        Self {
            stream: stream.into(),
            durable: durable.into(),
            filter_subjects: vec![filter.into()],
            ack_wait: Duration::from_secs(30),
            max_deliver: 20,
            concurrency: 64,
            max_batch: 1,
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

/// Run the loop until `shutdown`; in-flight handlers finish (up to `ack_wait`) before it returns.
/// Errors from the server (consumer gone, bus down) are logged and the loop reconnects.
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
    let permits = Arc::new(Semaphore::new(spec.concurrency));
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_triggered() {
        match open(&bus, &spec).await {
            Ok(consumer) => {
                backoff = Duration::from_millis(100);
                run_messages(&bus, &spec, consumer, &handler, &permits, &shutdown).await;
            }
            Err(e) => {
                tracing::warn!(consumer = %spec.durable, error = %e, "consumer unavailable; retrying");
                tokio::select! {
                    _ = shutdown.wait() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    // Drain: wait for every in-flight handler to give its permits back.
    let all = spec.concurrency as u32;
    let _ = tokio::time::timeout(spec.ack_wait, permits.acquire_many(all)).await;
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

async fn run_messages<H: BatchHandler>(
    bus: &Bus,
    spec: &ConsumerSpec,
    consumer: PullConsumer,
    handler: &Arc<H>,
    permits: &Arc<Semaphore>,
    shutdown: &Shutdown,
) {
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
            _ = shutdown.wait() => return,
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
                let Ok(permit) = permits.clone().acquire_many_owned(batch.len() as u32).await
                else {
                    return;
                };
                let (bus, spec, handler) = (bus.clone(), spec.clone(), handler.clone());
                tokio::spawn(async move {
                    handle_batch(&bus, &spec, handler.as_ref(), batch).await;
                    drop(permit);
                });
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

async fn handle_batch<H: BatchHandler>(
    bus: &Bus,
    spec: &ConsumerSpec,
    handler: &H,
    messages: Vec<Message>,
) {
    let (unsettled, messages): (Vec<Message>, Vec<Message>) = messages
        .into_iter()
        .partition(|m| delivered_of(m) > spec.max_deliver);
    for m in &unsettled {
        let n = delivered_of(m);
        let reason = format!(
            "delivered {n} times without being settled: handling it crashed or stalled the \
             service each time"
        );
        settle(bus, spec, m, n, Disposition::DeadLetter(reason)).await;
    }
    if messages.is_empty() {
        return;
    }
    let deliveries = messages
        .iter()
        .map(|m| Delivery {
            subject: m.subject.to_string(),
            payload: m.payload.clone(),
            delivered: delivered_of(m),
        })
        .collect::<Vec<_>>();
    let delivered: Vec<i64> = deliveries.iter().map(|d| d.delivered).collect();
    let dispositions = {
        let work = std::panic::AssertUnwindSafe(handler.handle_batch(deliveries)).catch_unwind();
        tokio::pin!(work);
        // First progress ack one period from now. (Awaiting the "immediate" first tick of a plain
        // `interval` costs up to a timer-wheel tick, ~1 ms, on every message.)
        let period = spec.ack_wait / 3;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            tokio::select! {
                d = &mut work => break d.unwrap_or_else(|_| {
                    tracing::error!(consumer = %spec.durable, "handler panicked; the batch will be redelivered");
                    Vec::new()
                }),
                _ = ticker.tick() => {
                    for m in &messages {
                        let _ = m.ack_with(AckKind::Progress).await;
                    }
                }
            }
        }
    };
    let settle = messages
        .iter()
        .zip(delivered)
        .zip(dispositions.into_iter().chain(std::iter::repeat_with(|| {
            // A handler that returned too few dispositions: redeliver the rest.
            Disposition::Retry(Duration::from_secs(1))
        })))
        .map(|((m, n), d)| settle(bus, spec, m, n, d));
    futures::future::join_all(settle).await;
}

/// How many times JetStream has delivered `m`, from 1.
fn delivered_of(m: &Message) -> i64 {
    m.info().map(|i| i.delivered).unwrap_or(1)
}

/// Ack, nak or dead-letter one message.
async fn settle(
    bus: &Bus,
    spec: &ConsumerSpec,
    message: &Message,
    delivered: i64,
    disposition: Disposition,
) {
    let result = match disposition {
        Disposition::Ack => message.ack().await,
        Disposition::Retry(_) if delivered >= spec.max_deliver => {
            let reason = format!("still failing after {delivered} deliveries");
            dead_letter(bus, spec, message, &reason).await
        }
        Disposition::Retry(delay) => message.ack_with(AckKind::Nak(Some(delay))).await,
        Disposition::DeadLetter(reason) => dead_letter(bus, spec, message, &reason).await,
    };
    if let Err(e) = result {
        // The message will be redelivered after ack_wait; handlers are idempotent.
        tracing::warn!(consumer = %spec.durable, error = %e, "ack failed");
    }
}

async fn dead_letter(
    bus: &Bus,
    spec: &ConsumerSpec,
    message: &Message,
    reason: &str,
) -> Result<(), async_nats::Error> {
    tracing::error!(consumer = %spec.durable, subject = %message.subject, %reason, "dead-lettering message");
    metrics::counter!("weft_bus_dead_lettered_total", "consumer" => spec.durable.clone())
        .increment(1);
    let mut headers = HeaderMap::new();
    headers.insert("Weft-Dlq-Reason", reason);
    headers.insert("Weft-Dlq-Subject", message.subject.as_str());
    headers.insert("Weft-Dlq-Consumer", spec.durable.as_str());
    let subject = weft_events::subjects::dlq_subject(&spec.stream);
    match bus
        .js
        .publish_with_headers(subject, headers, message.payload.clone())
        .await
    {
        Ok(ack) => {
            ack.await?;
            message.ack_with(AckKind::Term).await
        }
        // Keep the message rather than lose it: it is redelivered and tried again.
        Err(e) => Err(e.into()),
    }
}
