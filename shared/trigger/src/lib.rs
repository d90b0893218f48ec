//! The runtime every trigger service (imap, files, cron, cdc) shares.
//!
//! A service implements [`Source`] for its `on:` kind and runs a [`TriggerService`], which
//! - watches the `weft_workflows` bucket and runs one supervised instance per trigger of that
//!   kind in every published workflow: started on apply, restarted when its (secret-resolved)
//!   config changes, stopped on delete — no restart of the service;
//! - resolves `${{ secrets.NAME }}` in the config just before handing it to the instance;
//! - restarts a failed instance with backoff (1 s doubling to 60 s) and never lets it stall
//!   silently: its state, last error and last event time go to the `weft_triggers` bucket
//!   (read by `GET /api/v1/triggers`) with a heartbeat every [`HEARTBEAT`];
//! - gives the instance a [`TriggerCtx`]: deterministic event ids, publish-with-ack, and a
//!   cursor kept in the `weft_cursors` bucket.
//!
//! Consumes the workflows and secrets buckets; produces CloudEvents on `weft.events.<kind>`
//! with source `weft/<kind>/<workflow>` (the router starts exactly that workflow), health and
//! cursors. Touches NATS only (plus whatever the source itself connects to).

mod ctx;
mod health;
mod service;
mod supervise;

use std::future::Future;
use std::time::Duration;

use serde::{Serialize, de::DeserializeOwned};

pub use ctx::TriggerCtx;
pub use health::{TriggerHealth, TriggerState};
pub use service::{TriggerDeps, TriggerService};

/// How often a running instance re-writes its health entry; an entry older than three
/// heartbeats means its service is gone.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// One kind of trigger run by a trigger service.
pub trait Source: Send + Sync + 'static {
    /// The `on:` key: `email`, `file`, `s3`, `schedule` or `cdc`.
    const KIND: &'static str;
    /// The config type from `weft_flow::triggers`.
    type Config: Clone + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static;

    /// This kind's configs in a workflow's `on:` block.
    fn configs(on: &weft_flow::Triggers) -> &[Self::Config];

    /// Identity of what is watched (e.g. `imap://alice@host:993/INBOX`). The cursor key and
    /// event ids derive from (kind, workflow, scope): changing e.g. a poll interval keeps the
    /// cursor, pointing the trigger elsewhere starts afresh.
    fn scope(config: &Self::Config) -> String;

    /// Run one instance until `ctx.shutdown` fires, then return `Ok(())`. Return `Err` when the
    /// source fails; the runtime records it and calls `run` again after a backoff. Call
    /// [`TriggerCtx::healthy`] once connected and watching.
    fn run(
        &self,
        ctx: TriggerCtx<Self::Config>,
    ) -> impl Future<Output = Result<(), TriggerError>> + Send;
}

/// Why an instance, or the service, stopped working.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    /// The source failed: unreachable, refused the login, spoke an unexpected protocol…
    #[error("{0}")]
    Source(String),
    /// The bus failed (publishing, cursor).
    #[error(transparent)]
    Bus(#[from] weft_bus::BusError),
    /// A part of the service (the workflows watch, the reconciler) ended before shutdown.
    #[error("the trigger service stopped: {0}")]
    Stopped(#[from] weft_runtime::Stopped),
}

impl TriggerError {
    /// A source failure with its message.
    pub fn source(e: impl std::fmt::Display) -> Self {
        Self::Source(e.to_string())
    }
}
