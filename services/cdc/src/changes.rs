//! From pgoutput messages to whole transactions of row changes.
//!
//! Consumes the `data` of each row of one `pg_logical_slot_peek_binary_changes` call, in
//! order; produces each committed [`Transaction`] with its [`RowChange`]s (JSON rows, see
//! [`crate::values`]) and the event data published for them; touches nothing. A transaction
//! whose commit was not in the batch is never produced, so only whole transactions are
//! published and confirmed.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use weft_events::types::{CDC_ROW_DELETED, CDC_ROW_INSERTED, CDC_ROW_UPDATED};
use weft_flow::triggers::CdcOperation;

use crate::pgoutput::{self, DecodeError, Lsn, Message, OldKind, Relation};
use crate::values::to_json;

/// Microseconds from the Unix epoch to PostgreSQL's epoch (2000-01-01 UTC).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Why a batch cannot be turned into changes.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The bytes are not valid pgoutput.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A change names a relation that no `R` message in this batch described.
    #[error("pgoutput change for relation {0}, which was not described first")]
    UnknownRelation(u32),
    /// A tuple's width differs from its relation's.
    #[error("pgoutput tuple of {found} values for {table} with {expected} columns")]
    Width {
        /// `schema.table`
        table: String,
        /// Columns in the relation message.
        expected: usize,
        /// Values in the tuple.
        found: usize,
    },
}

/// One committed transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    /// LSN of the commit record (in event ids and the event's `lsn`).
    pub commit_lsn: Lsn,
    /// End of the commit record: advancing the slot here confirms the transaction.
    pub end_lsn: Lsn,
    /// When it committed.
    pub commit_time: Option<DateTime<Utc>>,
    /// Its row changes of the published tables, in order.
    pub changes: Vec<RowChange>,
}

/// One row change.
#[derive(Debug, Clone, PartialEq)]
pub struct RowChange {
    /// `schema.table`
    pub table: String,
    /// What happened.
    pub op: CdcOperation,
    /// The row after the change (insert, update).
    pub new: Option<Map<String, Value>>,
    /// The row (or its key) before the change, where the replica identity sends it.
    pub old: Option<Map<String, Value>>,
}

impl RowChange {
    /// `dev.weft.cdc.row.{inserted,updated,deleted}`
    pub fn event_type(&self) -> &'static str {
        match self.op {
            CdcOperation::Insert => CDC_ROW_INSERTED,
            CdcOperation::Update => CDC_ROW_UPDATED,
            CdcOperation::Delete => CDC_ROW_DELETED,
        }
    }

    /// The event data: `{table, op, lsn, commit_time, new, old}`.
    pub fn data(&self, tx: &Transaction) -> Value {
        json!({
            "table": self.table,
            "op": op_name(self.op),
            "lsn": tx.commit_lsn.to_string(),
            "commit_time": tx.commit_time.map(|t| t.to_rfc3339()),
            "new": self.new,
            "old": self.old,
        })
    }
}

fn op_name(op: CdcOperation) -> &'static str {
    match op {
        CdcOperation::Insert => "insert",
        CdcOperation::Update => "update",
        CdcOperation::Delete => "delete",
    }
}

/// Assembles transactions from the messages of one decoding call (relations are described
/// again at the start of every call, so a `Decoder` lives for one batch).
#[derive(Debug, Default)]
pub struct Decoder {
    relations: HashMap<u32, Relation>,
    open: Option<Transaction>,
}

impl Decoder {
    /// Feeds one message; returns the transaction it completes, if it is a commit.
    pub fn push(&mut self, data: &[u8]) -> Result<Option<Transaction>, ChangeError> {
        match pgoutput::decode(data)? {
            Message::Begin {
                final_lsn,
                commit_time,
                ..
            } => {
                self.open = Some(Transaction {
                    commit_lsn: final_lsn,
                    end_lsn: final_lsn,
                    commit_time: timestamp(commit_time),
                    changes: Vec::new(),
                });
            }
            Message::Commit {
                commit_lsn,
                end_lsn,
                commit_time,
            } => {
                let mut tx = self.open.take().unwrap_or_else(|| Transaction {
                    commit_lsn,
                    end_lsn,
                    commit_time: None,
                    changes: Vec::new(),
                });
                tx.commit_lsn = commit_lsn;
                tx.end_lsn = end_lsn;
                tx.commit_time = timestamp(commit_time);
                return Ok(Some(tx));
            }
            Message::Relation(rel) => {
                self.relations.insert(rel.id, rel);
            }
            Message::Insert { relation, new } => {
                self.change(relation, CdcOperation::Insert, None, Some(new))?
            }
            Message::Update { relation, old, new } => {
                self.change(relation, CdcOperation::Update, old, Some(new))?;
            }
            Message::Delete { relation, old } => {
                self.change(relation, CdcOperation::Delete, Some(old), None)?;
            }
            Message::Other(_) => {}
        }
        Ok(None)
    }

    fn change(
        &mut self,
        relation: u32,
        op: CdcOperation,
        old: Option<(OldKind, Vec<pgoutput::Value>)>,
        new: Option<Vec<pgoutput::Value>>,
    ) -> Result<(), ChangeError> {
        let rel = self
            .relations
            .get(&relation)
            .ok_or(ChangeError::UnknownRelation(relation))?;
        let old = old
            .map(|(kind, values)| row(rel, &values, kind == OldKind::Key, None))
            .transpose()?;
        let new = new
            .map(|values| row(rel, &values, false, old.as_ref()))
            .transpose()?;
        if let Some(tx) = self.open.as_mut() {
            tx.changes.push(RowChange {
                table: format!("{}.{}", rel.schema, rel.name),
                op,
                new,
                old,
            });
        }
        Ok(())
    }
}

/// A tuple as a JSON object: only key columns when `key_only`; an unchanged TOAST value is
/// taken from `old` when it has it, else left out.
fn row(
    rel: &Relation,
    values: &[pgoutput::Value],
    key_only: bool,
    old: Option<&Map<String, Value>>,
) -> Result<Map<String, Value>, ChangeError> {
    if values.len() != rel.columns.len() {
        return Err(ChangeError::Width {
            table: format!("{}.{}", rel.schema, rel.name),
            expected: rel.columns.len(),
            found: values.len(),
        });
    }
    let mut out = Map::new();
    for (column, value) in rel.columns.iter().zip(values) {
        if key_only && !column.key {
            continue;
        }
        let json = match value {
            pgoutput::Value::Null => Value::Null,
            pgoutput::Value::Text(text) => to_json(column.type_oid, text),
            pgoutput::Value::Unchanged => match old.and_then(|o| o.get(&column.name)) {
                Some(v) => v.clone(),
                None => continue,
            },
        };
        out.insert(column.name.clone(), json);
    }
    Ok(out)
}

fn timestamp(pg_micros: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(pg_micros.checked_add(PG_EPOCH_MICROS)?)
}
