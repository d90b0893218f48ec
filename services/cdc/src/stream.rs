//! One CDC trigger instance's read–publish–confirm cycle.
//!
//! Consumes the replication slot (through [`crate::slot`]); produces one CloudEvent per row
//! change through the trigger context (JetStream-acknowledged) and saves the confirmed LSN as
//! the cursor; touches the source database (publication, slot) and the bus.
//!
//! Order per batch: peek (nothing is consumed) → decode whole transactions → publish every
//! event of a transaction → advance the slot to that transaction's commit end. A crash
//! anywhere before the advance re-reads the same transaction next time, with the same event
//! ids (`commit LSN`, index in the transaction), which JetStream and the router deduplicate.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use weft_flow::triggers::CdcTrigger;
use weft_trigger::{TriggerCtx, TriggerError};

use crate::Hooks;
use crate::changes::{Decoder, Transaction};
use crate::config::{publication_name, shown_dsn, slot_name};
use crate::pgoutput::Lsn;
use crate::slot::{self, SlotError};

/// Changes read per SQL call (whole transactions: one big transaction can exceed it).
const MAX_CHANGES: i32 = 1000;

/// The cursor saved in `weft_cursors` (and shown by `GET /api/v1/triggers`). The slot itself
/// is the real position; this records it for people, and remembers a slot loss.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// The replication slot.
    pub slot: String,
    /// Everything up to here is published and confirmed.
    pub lsn: String,
    /// Set when the slot had vanished and was created again: changes between these were lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<Lost>,
}

/// A stretch of WAL whose changes were lost because the slot was dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lost {
    /// The last confirmed position before the slot vanished.
    pub after: String,
    /// Where the new slot starts.
    pub until: String,
    /// When the loss was noticed (RFC 3339).
    pub noticed_at: String,
}

/// An open connection to the source, positioned on the slot.
pub struct Stream {
    conn: PgConnection,
    slot: String,
    publication: String,
    confirmed: Lsn,
    cursor: Cursor,
    /// A loss was reported as an error; cleared (state `running`) at the next delivered change.
    loss_reported: bool,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("slot", &self.slot)
            .field("confirmed", &self.confirmed)
            .finish_non_exhaustive()
    }
}

fn source_err(e: impl std::fmt::Display) -> TriggerError {
    TriggerError::Source(e.to_string())
}

impl Stream {
    /// Connects, checks `wal_level`, makes sure the publication and the slot exist, and
    /// reports a slot that had to be created although a cursor says one existed before.
    pub async fn open(ctx: &TriggerCtx<CdcTrigger>) -> Result<Self, TriggerError> {
        let config = &ctx.config;
        let shown = shown_dsn(&config.dsn);
        let mut conn = slot::connect(&config.dsn, &shown)
            .await
            .map_err(source_err)?;
        let level = slot::wal_level(&mut conn).await.map_err(source_err)?;
        if level != "logical" {
            return Err(TriggerError::Source(format!(
                "the source database {shown} runs with wal_level={level}; CDC needs \
                 wal_level=logical (set it in postgresql.conf and restart the server)"
            )));
        }
        let slot = slot_name(config, &ctx.workflow);
        let publication = publication_name(&slot);
        slot::ensure_publication(&mut conn, &publication, &config.tables)
            .await
            .map_err(source_err)?;
        let state = slot::ensure_slot(&mut conn, &slot)
            .await
            .map_err(source_err)?;
        let saved: Option<Cursor> = ctx.cursor().await?;
        let mut stream = Self {
            conn,
            cursor: saved.clone().unwrap_or_else(|| Cursor {
                slot: slot.clone(),
                ..Cursor::default()
            }),
            slot,
            publication,
            confirmed: state.confirmed,
            loss_reported: false,
        };
        match saved {
            Some(saved) if state.created && saved.slot == stream.slot => {
                stream.report_loss(ctx, &saved.lsn).await?;
            }
            _ => {
                tracing::info!(workflow = %ctx.workflow, slot = %stream.slot, created = state.created,
                    confirmed = %state.confirmed, "CDC reading {}", config.tables.join(", "));
                ctx.healthy();
            }
        }
        stream.save(ctx).await?;
        Ok(stream)
    }

    /// One cycle: publish and confirm what is pending (true), or, when nothing is, move an
    /// idle slot up to the WAL position read before looking (false).
    pub async fn step(
        &mut self,
        ctx: &TriggerCtx<CdcTrigger>,
        hooks: &Hooks,
    ) -> Result<bool, TriggerError> {
        let before = slot::flush_lsn(&mut self.conn).await.map_err(source_err)?;
        let rows =
            match slot::peek(&mut self.conn, &self.slot, &self.publication, MAX_CHANGES).await {
                Ok(rows) => rows,
                Err(e) if e.is_missing_slot() => return self.recreate(ctx, e).await.map(|()| true),
                Err(e) => return Err(source_err(e)),
            };
        if rows.is_empty() {
            // Nothing of ours committed up to `before`: confirming it loses nothing and lets
            // the server recycle the WAL an idle slot would otherwise hold.
            if before > self.confirmed {
                self.confirm(before).await?;
                self.save(ctx).await?;
            }
            return Ok(false);
        }
        let mut decoder = Decoder::default();
        let mut transactions = Vec::new();
        for row in &rows {
            if let Some(tx) = decoder.push(row).map_err(source_err)? {
                transactions.push(tx);
            }
        }
        for tx in &transactions {
            self.publish(ctx, tx).await?;
            hooks.before_advance()?;
            self.confirm(tx.end_lsn).await?;
        }
        self.save(ctx).await?;
        if self.loss_reported {
            self.loss_reported = false;
            ctx.healthy();
        }
        Ok(true)
    }

    async fn publish(
        &self,
        ctx: &TriggerCtx<CdcTrigger>,
        tx: &Transaction,
    ) -> Result<(), TriggerError> {
        let lsn = tx.commit_lsn.to_string();
        for (index, change) in tx.changes.iter().enumerate() {
            if !ctx.config.operations.contains(&change.op) {
                continue;
            }
            let id = ctx.event_id(&[&lsn, &index.to_string()]);
            ctx.publish(
                &id,
                change.event_type(),
                Some(&change.table),
                change.data(tx),
            )
            .await?;
        }
        Ok(())
    }

    async fn confirm(&mut self, lsn: Lsn) -> Result<(), TriggerError> {
        slot::advance(&mut self.conn, &self.slot, lsn)
            .await
            .map_err(source_err)?;
        self.confirmed = self.confirmed.max(lsn);
        Ok(())
    }

    async fn save(&mut self, ctx: &TriggerCtx<CdcTrigger>) -> Result<(), TriggerError> {
        let lsn = self.confirmed.to_string();
        if self.cursor.lsn != lsn || self.cursor.slot != self.slot {
            self.cursor.lsn = lsn;
            self.cursor.slot.clone_from(&self.slot);
            ctx.save_cursor(&self.cursor).await?;
        }
        Ok(())
    }

    /// The slot vanished while we read it: create it again and report the gap.
    async fn recreate(
        &mut self,
        ctx: &TriggerCtx<CdcTrigger>,
        cause: SlotError,
    ) -> Result<(), TriggerError> {
        tracing::warn!(workflow = %ctx.workflow, slot = %self.slot, error = %cause, "replication slot vanished");
        let state = slot::ensure_slot(&mut self.conn, &self.slot)
            .await
            .map_err(source_err)?;
        self.confirmed = state.confirmed;
        let after = self.cursor.lsn.clone();
        self.report_loss(ctx, &after).await?;
        self.save(ctx).await
    }

    async fn report_loss(
        &mut self,
        ctx: &TriggerCtx<CdcTrigger>,
        after: &str,
    ) -> Result<(), TriggerError> {
        let until = self.confirmed.to_string();
        let message = format!(
            "replication slot {} was missing (dropped?) and has been created again at {until}: \
             changes committed after {after} and before {until} were not delivered",
            self.slot
        );
        tracing::warn!(workflow = %ctx.workflow, "{message}");
        ctx.unhealthy(&message);
        self.loss_reported = true;
        self.cursor.lost = Some(Lost {
            after: after.to_string(),
            until,
            noticed_at: Utc::now().to_rfc3339(),
        });
        ctx.save_cursor(&self.cursor).await?;
        Ok(())
    }
}
