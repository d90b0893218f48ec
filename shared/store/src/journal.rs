//! The journal: every input the decision core decided on, per execution, in order.
//!
//! Consumes [`weft_engine::Entry`] values from the router (appended in the transaction that
//! applies their decisions, see `migrations/0005_journal.sql`); produces them back in order for
//! `GET /api/v1/executions/{id}/history` and replay. Touches the `journal` table.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;
use weft_engine::{Entry, Input};

use crate::{Ctx, Store, StoreError, Tx};

/// One journal row to write.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// The execution.
    pub execution_id: Uuid,
    /// The entry.
    pub entry: Entry,
}

/// Append entries, in order, in one statement.
pub async fn append_all(tx: &mut Tx<'_>, entries: &[NewEntry]) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = entries.iter().map(|e| e.execution_id).collect();
    let at: Vec<DateTime<Utc>> = entries.iter().map(|e| e.entry.at).collect();
    let inputs: Vec<Value> = entries
        .iter()
        .map(|e| serde_json::to_value(&e.entry.input).unwrap_or(Value::Null))
        .collect();
    sqlx::query!(
        "INSERT INTO journal (execution_id, at, input) \
         SELECT execution_id, at, input \
         FROM unnest($1::uuid[], $2::timestamptz[], $3::jsonb[]) WITH ORDINALITY \
           AS j(execution_id, at, input, n) ORDER BY n",
        &ids,
        &at,
        &inputs,
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
