//! The router: the one stateful decision maker.
//!
//! Consumes events (`weft.events.>`, durable `router-events`) and step results
//! (`weft.results.>`, durable `router-results`); watches the `weft_workflows` bucket for the
//! active workflows. Produces executions, steps and attempts in PostgreSQL, tasks on
//! `weft.tasks.<agent>` and lifecycle events on `weft.events.execution`, always through the
//! transactional outbox. See `docs/architecture.md` for the guarantees.

pub mod api;
mod error;

pub use api::{CancelOutcome, cancel_execution};
pub use error::RouterError;
