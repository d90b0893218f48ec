//! The journal: every input the decision core decided on, per execution, in order.
//!
//! Consumes [`weft_engine::Entry`] values from the router (appended in the transaction that
//! applies their decisions, see `migrations/0005_journal.sql`); produces them back in order for
//! `GET /api/v1/executions/{id}/history` and replay. Touches the `journal` table.

use chrono::{DateTime, Utc};
use uuid::Uuid;
use weft_engine::{Entry, Input};

use crate::{Ctx, Store, StoreError, Tx, outbox::OutboxMessage};

/// One journal row to write.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// The execution.
    pub execution_id: Uuid,
    /// The entry.
    pub entry: Entry,
}

/// Append entries, in order, and queue `outbox` messages, in one statement (a decision's
/// transaction writes both; one round trip instead of two).
pub async fn append_with_outbox(
    tx: &mut Tx<'_>,
    entries: &[NewEntry],
    outbox: &[OutboxMessage],
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return crate::outbox::enqueue_all(tx, outbox).await;
    }
    let ids: Vec<Uuid> = entries.iter().map(|e| e.execution_id).collect();
    let at: Vec<DateTime<Utc>> = entries.iter().map(|e| e.entry.at).collect();
    // As JSON text: no intermediate `Value` tree of every output a result carries.
    let inputs: Vec<String> = entries
        .iter()
        .map(|e| serde_json::to_string(&e.entry.input).unwrap_or_else(|_| "null".into()))
        .collect();
    let msg_ids: Vec<&str> = outbox.iter().map(|m| m.id.as_str()).collect();
    let subjects: Vec<&str> = outbox.iter().map(|m| m.subject.as_str()).collect();
    let payloads: Vec<&[u8]> = outbox.iter().map(|m| m.payload.as_slice()).collect();
    let not_before: Vec<Option<DateTime<Utc>>> = outbox.iter().map(|m| m.not_before).collect();
    sqlx::query!(
        "WITH o AS (INSERT INTO outbox (id, subject, payload, not_before) \
                    SELECT * FROM unnest($4::text[], $5::text[], $6::bytea[], \
                                         $7::timestamptz[]) \
                    ON CONFLICT (id) DO NOTHING) \
         INSERT INTO journal (execution_id, at, input) \
         SELECT execution_id, at, input::jsonb \
         FROM unnest($1::uuid[], $2::timestamptz[], $3::text[]) WITH ORDINALITY \
           AS j(execution_id, at, input, n) ORDER BY n",
        &ids,
        &at,
        &inputs,
        &msg_ids as &[&str],
        &subjects as &[&str],
        &payloads as &[&[u8]],
        &not_before as &[Option<DateTime<Utc>>],
    )
    .execute(&mut **tx)
    .await
    .ctx("appending to the journal")?;
    Ok(())
}

/// The journal of an execution, oldest first, inside `tx`. An entry the core no longer reads is
/// [`StoreError::Corrupt`].
pub async fn read(tx: &mut Tx<'_>, execution_id: Uuid) -> Result<Vec<Entry>, StoreError> {
    let rows = sqlx::query!(
        "SELECT at, input FROM journal WHERE execution_id = $1 ORDER BY seq",
        execution_id,
    )
    .fetch_all(&mut **tx)
    .await
    .ctx("reading the journal")?;
    rows.into_iter()
        .map(|r| {
            let input: Input =
                serde_json::from_value(r.input).map_err(|e| StoreError::Corrupt {
                    what: "journal entry",
                    message: e.to_string(),
                })?;
            Ok(Entry { at: r.at, input })
        })
        .collect()
}

impl Store {
    /// The journal of an execution, oldest first (see [`read`]).
    pub async fn journal(&self, execution_id: Uuid) -> Result<Vec<Entry>, StoreError> {
        let mut tx = self.begin().await?;
        let entries = read(&mut tx, execution_id).await?;
        crate::commit(tx, "reading a journal").await?;
        Ok(entries)
    }
}
