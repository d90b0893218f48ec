//! One batch from delivery to settlement: the crash-loop rule, the handler (with progress acks
//! while it runs), each message's ack, nak or dead letter, and holding the messages whose
//! handler found a dependency unavailable until they go through.
//!
//! Consumes the messages the reader took; produces acks, naks, progress acks and terminations
//! on them, and dead letters on `weft.dlq.<stream>`.

use std::{sync::Arc, time::Duration};

use async_nats::jetstream::{AckKind, Message};
use futures::FutureExt;
use tokio::sync::OwnedSemaphorePermit;

use super::{BatchHandler, ConsumerSpec, Delivery, Disposition, Loop};
use crate::{Bus, dlq};

impl<H: BatchHandler> Loop<H> {
    /// Handle a batch the reader took (holding `permit` while the handler runs), then keep
    /// handing back what the handler found a dependency unavailable for, with a growing delay,
    /// until it goes through or the loop shuts down.
    pub(super) async fn run_batch(
        self: Arc<Self>,
        messages: Vec<Message>,
        permit: OwnedSemaphorePermit,
    ) {
        let mut messages = self.dead_letter_unsettled(messages).await;
        let mut permit = Some(permit);
        let mut delay = self.spec.hold_first;
        let mut probing = false;
        while !messages.is_empty() {
            let dispositions = self.handle(&messages).await;
            drop(permit.take());
            let (held, reason) = self.settle_all(messages, dispositions).await;
            let Some(reason) = reason else {
                if probing {
                    self.outage.end();
                }
                return;
            };
            self.outage.begin(&reason);
            tracing::debug!(consumer = %self.spec.durable, held = held.len(), retry_in = ?delay, %reason, "holding messages");
            if !self.hold(&held, Some(delay)).await {
                return release(&held).await;
            }
            delay = (delay * 2).min(self.spec.hold_max);
            probing = true;
            permit = match self.acquire(held.len()).await {
                Some(p) => Some(p),
                None => return release(&held).await,
            };
            messages = held;
        }
    }

    /// Messages taken but not handled when the reader paused: keep them until the dependency is
    /// back, then handle them like any batch.
    pub(super) async fn park(self: Arc<Self>, messages: Vec<Message>) {
        if !self.hold(&messages, None).await {
            return release(&messages).await;
        }
        match self.acquire(messages.len()).await {
            Some(permit) => self.run_batch(messages, permit).await,
            None => release(&messages).await,
        }
    }

    /// Permits for `n` messages, or `None` at shutdown.
    async fn acquire(&self, n: usize) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        tokio::select! {
            _ = self.shutdown.wait() => None,
            p = self.permits.clone().acquire_many_owned(n) => p.ok(),
        }
    }

    /// Keep `messages` in flight for `delay` (`None`: however long it takes) or until the
    /// dependency is back: progress acks stop JetStream from redelivering them, so their
    /// delivery count does not move. False at shutdown.
    async fn hold(&self, messages: &[Message], delay: Option<Duration>) -> bool {
        let _counted = self.outage.holding(messages.len());
        let mut ticker = tokio::time::interval(self.spec.ack_wait / 3);
        let wait = async {
            match delay {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(wait);
        loop {
            tokio::select! {
                _ = self.shutdown.wait() => return false,
                _ = &mut wait => return true,
                _ = self.outage.wait_up() => return true,
                _ = ticker.tick() => {
                    for m in messages {
                        let _ = m.ack_with(AckKind::Progress).await;
                    }
                }
            }
        }
    }

    /// The crash-loop rule: a message delivered more than `max_deliver` times never got settled
    /// (handling it crashed or stalled the service each time); park it without handling it.
    async fn dead_letter_unsettled(&self, messages: Vec<Message>) -> Vec<Message> {
        let (unsettled, messages): (Vec<Message>, Vec<Message>) = messages
            .into_iter()
            .partition(|m| delivered_of(m) > self.spec.max_deliver);
        for m in &unsettled {
            let n = delivered_of(m);
            let reason = format!(
                "delivered {n} times without being settled: handling it crashed or stalled the \
                 service each time"
            );
            settle(&self.bus, &self.spec, m, Disposition::DeadLetter(reason)).await;
        }
        messages
    }

    /// The handler's dispositions, with progress acks while it runs. A panic is logged and
    /// gives no dispositions.
    async fn handle(&self, messages: &[Message]) -> Vec<Disposition> {
        let deliveries = messages
            .iter()
            .map(|m| Delivery {
                subject: m.subject.to_string(),
                payload: m.payload.clone(),
                delivered: delivered_of(m),
            })
            .collect::<Vec<_>>();
        let work =
            std::panic::AssertUnwindSafe(self.handler.handle_batch(deliveries)).catch_unwind();
        tokio::pin!(work);
        // First progress ack one period from now. (Awaiting the "immediate" first tick of a plain
        // `interval` costs up to a timer-wheel tick, ~1 ms, on every message.)
        let period = self.spec.ack_wait / 3;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            tokio::select! {
                d = &mut work => break d.unwrap_or_else(|_| {
                    tracing::error!(consumer = %self.spec.durable, "handler panicked; the batch will be redelivered");
                    Vec::new()
                }),
                _ = ticker.tick() => {
                    for m in messages {
                        let _ = m.ack_with(AckKind::Progress).await;
                    }
                }
            }
        }
    }

    /// Settle every message whose disposition is not `Unavailable`; return those that are,
    /// with the first reason given.
    async fn settle_all(
        &self,
        messages: Vec<Message>,
        dispositions: Vec<Disposition>,
    ) -> (Vec<Message>, Option<String>) {
        // A handler that returned too few dispositions (or panicked): redeliver the rest.
        let dispositions = dispositions.into_iter().chain(std::iter::repeat_with(|| {
            Disposition::Retry(Duration::from_secs(1))
        }));
        let mut held = Vec::new();
        let mut reason = None;
        let mut settling = Vec::new();
        for (m, d) in messages.into_iter().zip(dispositions) {
            match d {
                Disposition::Unavailable(why) => {
                    reason.get_or_insert(why);
                    held.push(m);
                }
                d => settling.push((m, d)),
            }
        }
        let settle = settling
            .into_iter()
            .map(|(m, d)| async move { settle(&self.bus, &self.spec, &m, d).await });
        futures::future::join_all(settle).await;
        (held, reason)
    }
}

/// Hand held messages back to JetStream at shutdown (another replica takes them now).
async fn release(messages: &[Message]) {
    for m in messages {
        let _ = m.ack_with(AckKind::Nak(None)).await;
    }
}

/// How many times JetStream has delivered `m`, from 1.
fn delivered_of(m: &Message) -> i64 {
    m.info().map(|i| i.delivered).unwrap_or(1)
}

/// Ack, nak or dead-letter one message.
async fn settle(bus: &Bus, spec: &ConsumerSpec, message: &Message, disposition: Disposition) {
    let delivered = delivered_of(message);
    let result = match disposition {
        Disposition::Ack => message.ack().await,
        Disposition::Retry(_) if delivered >= spec.max_deliver => {
            let reason = format!("still failing after {delivered} deliveries");
            dead_letter(bus, spec, message, &reason).await
        }
        Disposition::Retry(delay) => message.ack_with(AckKind::Nak(Some(delay))).await,
        // Held by the loop, never settled here; were it, a nak is the safe answer.
        Disposition::Unavailable(_) => message.ack_with(AckKind::Nak(Some(spec.hold_max))).await,
        Disposition::DeadLetter(reason) => dead_letter(bus, spec, message, &reason).await,
    };
    if let Err(e) = result {
        // The message will be redelivered after ack_wait; handlers are idempotent.
        tracing::warn!(consumer = %spec.durable, error = %e, "ack failed");
    }
}

/// Copy `message` to `weft.dlq.<stream>` with what a replay needs, then terminate it.
async fn dead_letter(
    bus: &Bus,
    spec: &ConsumerSpec,
    message: &Message,
    reason: &str,
) -> Result<(), async_nats::Error> {
    tracing::error!(consumer = %spec.durable, subject = %message.subject, %reason, "dead-lettering message");
    metrics::counter!("weft_bus_dead_lettered_total", "consumer" => spec.durable.clone())
        .increment(1);
    let info = message.info().ok();
    let origin = dlq::Origin {
        stream: &spec.stream,
        subject: message.subject.as_str(),
        sequence: info.as_ref().map(|i| i.stream_sequence),
        consumer: &spec.durable,
        delivered: info.as_ref().map_or(1, |i| i.delivered),
    };
    let headers = dlq::headers(message.headers.as_ref(), origin, reason);
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
