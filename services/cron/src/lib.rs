//! The cron trigger (`weft serve cron`): `on.schedule` ticks become `dev.weft.schedule.fired`.

pub mod schedule;
#[cfg(test)]
mod schedule_tests;
