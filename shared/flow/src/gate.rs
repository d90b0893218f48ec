//! What a workflow lets through: `concurrency:` (how many runs of one group at once, and what
//! a run beyond that does) and `debounce:` (of a burst of events in a group, only the last
//! runs). A group is the workflow and its `key` rendered with the triggering event.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `concurrency:` of a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Concurrency {
    /// The group of a run (`${{ … }}` over `event` and `inputs`, e.g. a customer id); runs of
    /// different groups never wait for each other. Default: one group for the workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Runs of one group at once. Default 1, at most 10,000.
    #[serde(default = "Concurrency::default_limit")]
    pub limit: u32,
    /// What a run beyond the limit does. Default `queue`.
    #[serde(default)]
    pub policy: Policy,
}

impl Concurrency {
    /// The largest `limit`.
    pub const MAX_LIMIT: u32 = 10_000;

    fn default_limit() -> u32 {
        1
    }
}

/// A run beyond its group's limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// It waits (`queued`) and starts, oldest first, when a run of its group ends.
    #[default]
    Queue,
    /// It does not run: it is recorded `cancelled` (code `concurrency_limit`).
    Skip,
    /// The oldest running runs of the group are cancelled to make room, then it starts.
    CancelPrevious,
}

/// `debounce:` of a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Debounce {
    /// The group (as `concurrency.key`). Default: one group for the workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// How long a group stays quiet before its last event's run starts; each event in the
    /// group restarts it. At most `1d`.
    #[serde(with = "crate::duration::required")]
    #[schemars(with = "crate::duration::DurationString")]
    pub period: Duration,
}

impl Debounce {
    /// The largest `period`.
    pub const MAX_PERIOD: Duration = Duration::from_secs(86_400);
}

/// `rate_limit:` of a step: at most `limit` of its attempts start per `per`, across every run
/// of the workflow (e.g. 10 per `1s` for a fragile API), evenly spaced (one every
/// `per / limit`, no burst). An attempt waits, already `running`, until its slot; its
/// `timeout` counts from then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Starts per `per`, at least 1.
    pub limit: u32,
    /// The window, e.g. `1s`, `1m`; at most `1d`.
    #[serde(with = "crate::duration::required")]
    #[schemars(with = "crate::duration::DurationString")]
    pub per: Duration,
}

impl RateLimit {
    /// The largest `per`.
    pub const MAX_PER: Duration = Duration::from_secs(86_400);
}
