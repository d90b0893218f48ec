//! Weft's wire contract.
//!
//! Every message on the bus is a CloudEvent 1.0 in structured JSON mode (the CloudEvents NATS
//! binding). This crate owns the names (`subjects`, `types`), the payloads that travel on
//! `weft.tasks.>` and `weft.results.>` ([`Task`], [`TaskResult`]) and the helpers that turn them
//! into CloudEvents and back. It touches nothing: no I/O, no clock other than `Utc::now()` for
//! event times.

pub mod command;
pub mod envelope;
pub mod errors;
pub mod ids;
pub mod live;
pub mod subjects;
pub mod task;
pub mod text;
pub mod trace;
pub mod types;

pub use command::Command;
pub use envelope::{DecodeError, decode_event, encode_event, event_json, new_event};
pub use errors::ErrorCode;
pub use task::{ArtifactRef, Cancel, Heartbeat, LogLine, Outcome, StepError, Task, TaskResult};
