//! PostgreSQL state for Weft: migrations and one repository module per table group.
//!
//! Touches the database only. Reads and writes workflow definitions ([`workflows`]), executions,
//! steps and attempts ([`executions`] for reads, [`engine`] for the router's transactional
//! writes), durable [`timers`] and the runs past their default [`limits`], the [`groups`] of
//! `concurrency` and `debounce`, the [`waits`] of `wait` steps and the events kept for them,
//! the schedule [`overlap`] lock and reads, the per-step [`rate_limits`], and the transactional
//! [`outbox`], whose rows are published to the bus right after commit and swept up by any
//! router replica if that publish never happened. [`StoreError::is_unavailable`] tells an
//! unreachable database from a failed statement.

mod availability;
pub mod engine;
pub mod executions;
pub mod groups;
pub mod instances;
pub mod journal;
pub mod limits;
pub mod outbox;
pub mod overlap;
pub mod rate_limits;
mod reaper;
pub mod timers;
pub mod waits;
pub mod workflows;

use std::time::Duration;

use sqlx::{PgPool, postgres::PgPoolOptions};

pub use availability::is_unavailable;
pub use weft_engine::{AttemptStatus, ExecutionStatus, StepStatus};

/// A database transaction.
pub type Tx<'a> = sqlx::Transaction<'a, sqlx::Postgres>;

/// Database failures, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Could not reach the database.
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(#[source] sqlx::Error),
    /// Migrations failed.
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database error while {what}: {source}")]
    Query {
        /// What was being done.
        what: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A stored value did not decode.
    #[error("corrupt {what}: {message}")]
    Corrupt {
        /// Which value.
        what: &'static str,
        /// Why.
        message: String,
    },
}

/// Attach context to a sqlx error.
pub(crate) trait Ctx<T> {
    fn ctx(self, what: &'static str) -> Result<T, StoreError>;
}

impl<T> Ctx<T> for Result<T, sqlx::Error> {
    fn ctx(self, what: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Query { what, source })
    }
}

/// The connection pool, and the background task that deletes published outbox rows.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
    reaper: reaper::Reaper,
}

impl Store {
    /// Connect with a pool of `max` connections.
    pub async fn connect(url: &str, max: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(5))
            // No ping before every acquire (a round trip per transaction): a broken connection
            // fails its query, the caller's message is redelivered, and the pool replaces it.
            .test_before_acquire(false)
            .connect(url)
            .await
            .map_err(StoreError::Connect)?;
        let reaper = reaper::Reaper::spawn(pool.clone());
        Ok(Self { pool, reaper })
    }

    /// Apply pending migrations (idempotent; safe from several processes at once).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("../../migrations").run(&self.pool).await?;
        Ok(())
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Start a transaction.
    pub async fn begin(&self) -> Result<Tx<'static>, StoreError> {
        self.pool.begin().await.ctx("starting a transaction")
    }

    /// Readiness probe.
    pub async fn check(&self) -> Result<(), String> {
        sqlx::query_scalar!("SELECT 1 AS one")
            .fetch_one(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| format!("PostgreSQL did not answer: {e}"))
    }
}

/// Commit `tx`, naming what it did in the error.
pub async fn commit(tx: Tx<'_>, what: &'static str) -> Result<(), StoreError> {
    tx.commit().await.ctx(what)
}
