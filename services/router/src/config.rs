//! Router configuration.

use serde::{Deserialize, Serialize};

/// How the router runs. Every field has a default; unknown fields are rejected.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouterConfig {
    /// Events handled at once by this replica.
    pub event_concurrency: usize,
    /// Results handled at once by this replica.
    pub result_concurrency: usize,
    /// Most results applied in one transaction (whatever is already buffered, never waiting).
    pub result_batch: usize,
    /// How often due timers are looked for, in milliseconds.
    pub timer_poll_ms: u64,
    /// How often the outbox is swept, in milliseconds.
    pub sweep_interval_ms: u64,
    /// Age after which an unflushed outbox row counts as abandoned, in milliseconds.
    pub sweep_grace_ms: u64,
    /// Ack wait of the router's consumers, in milliseconds: how soon a message whose handler
    /// died is redelivered.
    pub ack_wait_ms: u64,
    /// A run's time limit when its workflow sets no `timeout`, in milliseconds (0: none).
    /// Default 7 days. A run keeps the limits it started with.
    pub default_timeout_ms: u64,
    /// An attempt's time limit when its (agent or `call`) step sets no `timeout`, in
    /// milliseconds (0: none). Default 1 hour.
    pub default_step_timeout_ms: u64,
    /// How often runs and attempts past their default limits are looked for, in milliseconds
    /// (a default limit fires up to this late).
    pub limit_sweep_ms: u64,
    /// Run the tasks of agents whose executor runs in this process here, without the bus
    /// (`weft dev`, or `weft serve router exec-http …`): two bus round trips fewer per step.
    /// Default on.
    pub local_tasks: bool,
    /// How long a task run here stays unsent if this process stops renewing it (it died): then
    /// the task goes to the bus and any executor runs it again, in milliseconds. Default 15000.
    pub local_lease_ms: u64,
}

impl RouterConfig {
    /// The settings the shared configuration carries (`ack_wait_ms`), defaults otherwise.
    pub fn from_common(common: &weft_runtime::CommonConfig) -> Self {
        Self {
            ack_wait_ms: common.ack_wait_ms,
            ..Self::default()
        }
    }
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            event_concurrency: 64,
            result_concurrency: 128,
            result_batch: 32,
            timer_poll_ms: 100,
            sweep_interval_ms: 1000,
            sweep_grace_ms: 3000,
            ack_wait_ms: 30_000,
            default_timeout_ms: 7 * 24 * 3_600_000,
            default_step_timeout_ms: 3_600_000,
            limit_sweep_ms: 10_000,
            local_tasks: true,
            local_lease_ms: 15_000,
        }
    }
}

impl RouterConfig {
    /// The default limits runs start with.
    pub fn defaults(&self) -> weft_engine::Defaults {
        let limit = |ms: u64| (ms > 0).then_some(ms);
        weft_engine::Defaults {
            timeout_ms: limit(self.default_timeout_ms),
            step_timeout_ms: limit(self.default_step_timeout_ms),
        }
    }
}
