//! Integration tests of `weft-store` against a real PostgreSQL (a fresh `TestDb` per test) and,
//! for the outbox, a real `nats-server -js` (a `NatsServer` per test). They check the
//! guarantees `docs/architecture.md` claims for the state layer:
//!
//! - [`migrations`]: migrating is idempotent, also from two `Store`s at once;
//! - [`workflows`]: versions are created, kept unchanged, updated, soft-deleted and revived;
//! - [`outbox`]: committed rows are published once (by flush or sweep), rolled-back ones never;
//! - [`timers`]: a timer is due only after `due_at` and is claimed exactly once;
//! - [`engine`]: execution/step/attempt writes and the execution row lock;
//! - [`executions`]: cursor pagination returns every row once, newest first;
//! - [`availability`]: an unreachable server, an exhausted pool and an ended session are
//!   "unavailable", a rejected statement is not.
#![allow(clippy::unwrap_used)]

#[path = "store/common.rs"]
mod common;

#[path = "store/availability.rs"]
mod availability;
#[path = "store/engine.rs"]
mod engine;
#[path = "store/executions.rs"]
mod executions;
#[path = "store/migrations.rs"]
mod migrations;
#[path = "store/outbox.rs"]
mod outbox;
#[path = "store/timers.rs"]
mod timers;
#[path = "store/workflows.rs"]
mod workflows;
