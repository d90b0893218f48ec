//! The HTTP executor's configuration.
//!
//! Consumes a TOML table / `WEFT_…` variables (through `weft_runtime::config::load`) or the
//! shared [`CommonConfig`]; produces an [`ExecHttpConfig`]. Touches nothing.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use weft_runtime::CommonConfig;

/// Settings of the `http` agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExecHttpConfig {
    /// Attempts run at once by this process. Default 64.
    pub concurrency: usize,
    /// How long to wait for a TCP/TLS connection, in milliseconds. Default 10000.
    pub connect_timeout_ms: u64,
    /// Largest response body kept, in bytes; a larger one fails the attempt
    /// (`response_too_large`, not retryable) since results must fit in a NATS message.
    /// Default 512 KiB.
    pub max_response_bytes: usize,
    /// How long a task may go unacknowledged before JetStream redelivers it (to another replica,
    /// when this one died), in milliseconds. Progress is reported while an attempt runs, so this
    /// bounds recovery time, not step length. Default 30000.
    pub ack_wait_ms: u64,
}

impl ExecHttpConfig {
    /// Default for [`ExecHttpConfig::concurrency`].
    pub const DEFAULT_CONCURRENCY: usize = 64;
    /// Default for [`ExecHttpConfig::connect_timeout_ms`].
    pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 10_000;
    /// Default for [`ExecHttpConfig::max_response_bytes`].
    pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 512 * 1024;

    /// The settings the shared configuration carries (`executor_concurrency`), defaults
    /// otherwise.
    pub fn from_common(common: &CommonConfig) -> Self {
        Self {
            concurrency: common.executor_concurrency,
            ack_wait_ms: common.ack_wait_ms,
            ..Self::default()
        }
    }

    /// [`ExecHttpConfig::connect_timeout_ms`] as a duration.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
}

impl Default for ExecHttpConfig {
    fn default() -> Self {
        Self {
            concurrency: Self::DEFAULT_CONCURRENCY,
            connect_timeout_ms: Self::DEFAULT_CONNECT_TIMEOUT_MS,
            max_response_bytes: Self::DEFAULT_MAX_RESPONSE_BYTES,
            ack_wait_ms: 30_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_strictness() {
        let c: ExecHttpConfig = serde_json::from_str("{}").expect("defaults");
        assert_eq!(c, ExecHttpConfig::default());
        assert_eq!(c.connect_timeout(), Duration::from_secs(10));
        assert!(serde_json::from_str::<ExecHttpConfig>(r#"{"workers": 1}"#).is_err());
    }
}
