//! The router: the one stateful decision maker.
//!
//! Consumes events (`weft.events.>`, durable `router-events`), step results
//! (`weft.results.>`, durable `router-results`), `call` tasks (`weft.tasks.call`, durable
//! `router-calls`) and the API's run commands (`weft.commands.>`, durable `router-commands`);
//! watches the `weft_workflows` bucket for the active workflows. Produces executions, steps
//! and attempts in PostgreSQL, tasks on `weft.tasks.<agent>` and lifecycle events on
//! `weft.events.execution`, always through the transactional outbox, and (best effort, after
//! commit) cancels on `weft.cancel.<agent>`. A task whose agent's executor runs in the same
//! process is run there instead of being published (`local`). Fires durable timers and sweeps
//! the outbox. Any number of replicas may run: every change to an execution happens under its
//! row lock. See `docs/architecture.md`.

mod calls;
mod cancel;
mod commands;
mod config;
mod definitions;
mod engine;
mod error;
mod events;
mod expr;
mod gate;
mod index;
mod lifecycle;
mod local;
mod loops;
mod overlap;
pub mod replay;
mod rerun;
mod results;
mod service;
mod waits;

pub use config::RouterConfig;
pub use error::RouterError;
pub use service::{RouterDeps, RouterService};
