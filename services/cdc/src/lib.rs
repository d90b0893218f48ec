//! `on.cdc`: the PostgreSQL change-data-capture trigger service (`weft serve cdc`).
//!
//! Consumes the `on.cdc` blocks of the applied workflows (through the shared trigger runtime)
//! and each source database's WAL through a logical replication slot (pgoutput, read with SQL
//! functions); produces `dev.weft.cdc.row.{inserted,updated,deleted}` CloudEvents on
//! `weft.events.cdc`; touches the source databases (a publication `weft_<slot>` and the slot
//! itself, created when missing) and the bus (events, cursors, health).
//!
//! Delivery is at least once: the slot is advanced only after JetStream acknowledged every
//! event of a transaction, and a re-read transaction yields the same event ids.

pub mod changes;
pub mod config;
pub mod pgoutput;
pub mod slot;
mod source;
mod stream;
pub mod values;

pub use source::{CdcSource, Hooks};
pub use stream::{Cursor, Lost};
