//! The cron trigger (`weft serve cron`): `on.schedule` ticks become `dev.weft.schedule.fired`
//! CloudEvents.
//!
//! Consumes the `weft_workflows` bucket (through the shared trigger runtime, which runs one
//! instance per `on.schedule` entry and restarts it when the entry changes) and the wall clock;
//! produces events on `weft.events.schedule`, one per tick, with an id derived from (workflow,
//! cron, timezone, scheduled time), so any number of replicas give one event per tick; keeps the
//! last tick per schedule in the `weft_cursors` bucket and health in `weft_triggers`. Touches
//! NATS only. `overlap` is not enforced here but by the router, which sees the running
//! executions.
//!
//! ```text
//! tasks.spawn(weft_trigger::TriggerService::new(weft_cron::CronSource, weft_trigger::TriggerDeps::without_secrets(bus)).run(shutdown));
//! ```

pub mod schedule;
#[cfg(test)]
mod schedule_tests;
mod source;

pub use source::{CronSource, Cursor, LIVE_GRACE};
