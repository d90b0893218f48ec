//! Deletes published outbox rows in batches, off the hot path.
//!
//! Consumes the ids [`crate::Store::flush_outbox`] published; deletes them every 50 ms (or 2000
//! at a time) in one statement whose commit does not wait for the WAL flush
//! (`synchronous_commit = off`). Losing such a delete in a database crash is harmless: the row is
//! published again by the sweeper and JetStream drops the duplicate by its message id (or the
//! consumer ignores it). The task ends, after a last batch, when every `Store` clone is dropped.

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::mpsc;

const BATCH: usize = 2000;
const EVERY: Duration = Duration::from_millis(50);

/// Handle to the background deleter.
#[derive(Debug, Clone)]
pub(crate) struct Reaper {
    tx: mpsc::UnboundedSender<Vec<String>>,
}

impl Reaper {
    /// Start the task.
    pub fn spawn(pool: PgPool) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, rx));
        Self { tx }
    }

    /// Queue published ids for deletion.
    pub fn delete(&self, ids: Vec<String>) {
        if !ids.is_empty() {
            // Fails only after the task ended (shutdown): the sweeper deals with the rows then.
            let _ = self.tx.send(ids);
        }
    }
}

async fn run(pool: PgPool, mut rx: mpsc::UnboundedReceiver<Vec<String>>) {
    let mut batch: Vec<String> = Vec::new();
    loop {
        let open = if batch.is_empty() {
            match rx.recv().await {
                Some(ids) => {
                    batch.extend(ids);
                    true
                }
                None => false,
            }
        } else {
            match tokio::time::timeout(EVERY, rx.recv()).await {
                Ok(Some(ids)) => {
                    batch.extend(ids);
                    if batch.len() < BATCH {
                        continue;
                    }
                    true
                }
                Ok(None) => false,
                Err(_) => true, // the batch is old enough
            }
        };
        while let Ok(ids) = rx.try_recv() {
            batch.extend(ids);
        }
        if !batch.is_empty() {
            if let Err(e) = delete(&pool, &batch).await {
                tracing::warn!(error = %e, count = batch.len(), "cannot delete published outbox rows; the sweeper will re-publish them");
            }
            batch.clear();
        }
        if !open {
            return;
        }
    }
}

async fn delete(pool: &PgPool, ids: &[String]) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query!("SET LOCAL synchronous_commit = off")
        .execute(&mut *tx)
        .await?;
    sqlx::query!("DELETE FROM outbox WHERE id = ANY($1)", ids)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}
