//! `on.schedule`: cron schedules.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Problem, required};

/// `on.schedule`: a cron expression; each tick becomes a `dev.weft.schedule.fired` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleTrigger {
    /// 5 fields (minute precision), 6 fields (seconds first) or a nickname such as `@hourly`.
    pub cron: String,
    /// IANA time zone the expression is read in, e.g. `Europe/Berlin`.
    #[serde(default = "ScheduleTrigger::default_timezone")]
    pub timezone: String,
    /// Ticks missed while no cron service ran: `none`, `latest` (default) or `all`.
    #[serde(default)]
    pub catchup: Catchup,
    /// How far back missed ticks are caught up.
    #[serde(
        default = "ScheduleTrigger::default_catchup_window",
        with = "crate::duration::required"
    )]
    #[schemars(with = "crate::duration::DurationString")]
    pub catchup_window: Duration,
    /// What a tick does while an execution of this workflow still runs.
    #[serde(default)]
    pub overlap: Overlap,
}

impl ScheduleTrigger {
    fn default_timezone() -> String {
        "UTC".into()
    }
    fn default_catchup_window() -> Duration {
        Duration::from_secs(3600)
    }
}

impl Check for ScheduleTrigger {
    fn check(&self) -> Result<(), Problem> {
        required("cron", &self.cron)?;
        required("timezone", &self.timezone)
    }
}

/// Missed ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Catchup {
    /// Skip them.
    None,
    /// Fire once, for the latest missed tick.
    #[default]
    Latest,
    /// Fire each of them, oldest first.
    All,
}

/// A tick while an execution started by this workflow is still running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// Start another execution anyway.
    #[default]
    Allow,
    /// Drop the tick.
    Skip,
    /// Keep at most one tick waiting; it starts when the running execution ends.
    BufferOne,
    /// Cancel the running execution, then start.
    CancelPrevious,
}
