//! The transactional outbox.
//!
//! A state change writes the messages it emits into `outbox` in the same transaction. After the
//! commit the writer publishes them at once ([`Store::flush_outbox`]) and hands the published ids
//! to a background task that deletes them in batches; if the writer dies in between,
//! [`Store::sweep_outbox`] (run by every router replica) publishes rows older than a grace
//! period. A rate-limited task waits in its row until `not_before`; [`Store::publish_due`]
//! (run by every router replica) publishes it then. Each message keeps its id (derived from
//! the event's `(source, id)`, as [`Bus::publish_event`] does) as `Nats-Msg-Id`, so a message
//! published twice inside the stream's duplicate window is stored once, and consumers are
//! idempotent beyond it.
//!
//! A task the router runs in its own process is not published: its row waits as a delayed one
//! whose `not_before` is a lease the router extends while the task runs
//! ([`Store::extend_lease`]) and deletes in the transaction that records its result
//! ([`delete_in`]). If that process dies, the lease runs out and the delayed publisher sends
//! the task to the bus like any other.

use std::time::Duration;

use bytes::Bytes;
use cloudevents::AttributesReader;
use weft_bus::Bus;

use crate::{Ctx, Store, StoreError, Tx};

/// A message waiting in the outbox.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxMessage {
    /// Message id (`Nats-Msg-Id`), derived from the CloudEvent's `(source, id)`.
    pub id: String,
    /// Subject to publish to.
    pub subject: String,
    /// Encoded CloudEvent.
    pub payload: Vec<u8>,
    /// Not before this time (a rate-limited task); `None`: at once.
    pub not_before: Option<chrono::DateTime<chrono::Utc>>,
}

impl OutboxMessage {
    /// A message carrying a CloudEvent.
    pub fn event(subject: impl Into<String>, event: &cloudevents::Event) -> Self {
        Self {
            id: weft_events::ids::message_id(event.source(), event.id()),
            subject: subject.into(),
            payload: weft_events::encode_event(event),
            not_before: None,
        }
    }
}

/// Write `msg` to the outbox inside `tx`.
pub async fn enqueue(tx: &mut Tx<'_>, msg: &OutboxMessage) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO outbox (id, subject, payload, not_before) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (id) DO NOTHING",
        msg.id,
        msg.subject,
        msg.payload,
        msg.not_before,
    )
    .execute(&mut **tx)
    .await
    .ctx("writing to the outbox")?;
    Ok(())
}

/// Write several messages to the outbox inside `tx`, in one statement.
pub async fn enqueue_all(tx: &mut Tx<'_>, msgs: &[OutboxMessage]) -> Result<(), StoreError> {
    match msgs {
        [] => Ok(()),
        [one] => enqueue(tx, one).await,
        many => {
            let ids: Vec<&str> = many.iter().map(|m| m.id.as_str()).collect();
            let subjects: Vec<&str> = many.iter().map(|m| m.subject.as_str()).collect();
            let payloads: Vec<&[u8]> = many.iter().map(|m| m.payload.as_slice()).collect();
            let not_before: Vec<Option<chrono::DateTime<chrono::Utc>>> =
                many.iter().map(|m| m.not_before).collect();
            sqlx::query!(
                "INSERT INTO outbox (id, subject, payload, not_before) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::timestamptz[]) \
                 ON CONFLICT (id) DO NOTHING",
                &ids as &[&str],
                &subjects as &[&str],
                &payloads as &[&[u8]],
                &not_before as &[Option<chrono::DateTime<chrono::Utc>>],
            )
            .execute(&mut **tx)
            .await
            .ctx("writing to the outbox")?;
            Ok(())
        }
    }
}

/// Take back a delayed message not sent yet (a rate-limited task whose attempt ended while
/// it waited for its slot); returns whether there was one.
pub async fn withdraw(tx: &mut Tx<'_>, id: &str) -> Result<bool, StoreError> {
    let done = sqlx::query!(
        "DELETE FROM outbox WHERE id = $1 AND not_before IS NOT NULL",
        id
    )
    .execute(&mut **tx)
    .await
    .ctx("withdrawing a delayed message")?;
    Ok(done.rows_affected() > 0)
}

/// Delete the rows `ids` inside `tx` (tasks whose result this transaction records: a task
/// run in the router's process stays in the outbox, leased, until then).
pub async fn delete_in(tx: &mut Tx<'_>, ids: &[&str]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query!("DELETE FROM outbox WHERE id = ANY($1)", ids as &[&str])
        .execute(&mut **tx)
        .await
        .ctx("deleting tasks run here")?;
    Ok(())
}

impl Store {
    /// Keep the delayed row `id` unsent for `lease` more (a task running in the router's
    /// process: the delayed publisher sends it only if this process stops renewing). Returns
    /// whether the row is still there.
    pub async fn extend_lease(&self, id: &str, lease: Duration) -> Result<bool, StoreError> {
        let done = sqlx::query!(
            "UPDATE outbox SET not_before = clock_timestamp() + make_interval(secs => $2) \
             WHERE id = $1 AND not_before IS NOT NULL",
            id,
            lease.as_secs_f64(),
        )
        .execute(&self.pool)
        .await
        .ctx("extending a task's lease")?;
        Ok(done.rows_affected() > 0)
    }

    /// Let the delayed publisher send the leased row `id` now (its local run gave up).
    pub async fn release_lease(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query!(
            "UPDATE outbox SET not_before = clock_timestamp() WHERE id = $1 AND not_before IS NOT NULL",
            id,
        )
        .execute(&self.pool)
        .await
        .ctx("releasing a task's lease")?;
        Ok(())
    }

    /// Publish committed outbox messages and delete the ones the bus acknowledged. Messages that
    /// could not be published stay for the sweeper; delayed ones (`not_before`) for the delayed
    /// publisher. Returns how many were published. Takes the messages by value: their payloads
    /// go to the bus without a copy.
    pub async fn flush_outbox(&self, bus: &Bus, mut msgs: Vec<OutboxMessage>) -> usize {
        msgs.retain(|m| m.not_before.is_none());
        if msgs.is_empty() {
            return 0;
        }
        let sent = publish_all(bus, msgs).await;
        let count = sent.len();
        // Deleted in batches in the background, well inside the sweeper's grace period.
        self.reaper.delete(sent);
        count
    }

    /// Publish outbox rows older than `grace` (their writer did not flush them), oldest first.
    /// Several sweepers may run at once: each row is taken by one of them. Returns the count.
    pub async fn sweep_outbox(
        &self,
        bus: &Bus,
        grace: Duration,
        limit: i64,
    ) -> Result<usize, StoreError> {
        let mut tx = self.begin().await?;
        let rows: Vec<OutboxMessage> = sqlx::query_as!(
            OutboxMessage,
            "SELECT id, subject, payload, not_before FROM outbox \
             WHERE created_at < clock_timestamp() - make_interval(secs => $1) \
               AND not_before IS NULL \
             ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            grace.as_secs_f64(),
            limit,
        )
        .fetch_all(&mut *tx)
        .await
        .ctx("reading the outbox")?;
        let sent = publish_taken(tx, bus, rows).await?;
        if sent > 0 {
            tracing::info!(
                count = sent,
                "published outbox rows left by an interrupted writer"
            );
        }
        Ok(sent)
    }

    /// Publish delayed outbox rows whose `not_before` came, soonest first; each row is taken by
    /// one publisher. Returns the count.
    pub async fn publish_due(&self, bus: &Bus, limit: i64) -> Result<usize, StoreError> {
        let mut tx = self.begin().await?;
        let rows: Vec<OutboxMessage> = sqlx::query_as!(
            OutboxMessage,
            "SELECT id, subject, payload, not_before FROM outbox \
             WHERE not_before IS NOT NULL AND not_before <= clock_timestamp() \
             ORDER BY not_before LIMIT $1 FOR UPDATE SKIP LOCKED",
            limit,
        )
        .fetch_all(&mut *tx)
        .await
        .ctx("reading delayed outbox rows")?;
        publish_taken(tx, bus, rows).await
    }

    /// Rows waiting in the outbox (for metrics and tests).
    pub async fn outbox_len(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar!("SELECT count(*) AS \"count!\" FROM outbox")
            .fetch_one(&self.pool)
            .await
            .ctx("counting the outbox")
    }
}

/// Publish the rows `tx` took (`FOR UPDATE SKIP LOCKED`), delete those JetStream
/// acknowledged and commit; returns how many.
async fn publish_taken(
    mut tx: Tx<'static>,
    bus: &Bus,
    rows: Vec<OutboxMessage>,
) -> Result<usize, StoreError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let sent = publish_all(bus, rows).await;
    sqlx::query!("DELETE FROM outbox WHERE id = ANY($1)", &sent)
        .execute(&mut *tx)
        .await
        .ctx("deleting published outbox rows")?;
    tx.commit().await.ctx("committing outbox publishes")?;
    Ok(sent.len())
}

/// Publish concurrently; return the ids JetStream acknowledged.
async fn publish_all(bus: &Bus, msgs: Vec<OutboxMessage>) -> Vec<String> {
    let count = msgs.len();
    let results = futures::future::join_all(msgs.into_iter().map(|m| async move {
        bus.publish_bytes(&m.subject, &m.id, Bytes::from(m.payload))
            .await
            .map(|()| m.id)
    }))
    .await;
    let mut sent = Vec::with_capacity(count);
    for r in results {
        match r {
            Ok(id) => sent.push(id),
            Err(e) => tracing::warn!(error = %e, "outbox publish failed; will retry"),
        }
    }
    sent
}
