//! The HTTP executor's configuration.
//!
//! Consumes the TOML section `[exec_http]` / `WEFT_EXEC_HTTP_…` variables (through
//! `weft_runtime::load_section`); produces an [`ExecHttpConfig`]. Touches nothing. Settings every
//! executor shares (concurrency, ack wait, output and log bounds) are
//! `weft_executor::ExecutorConfig`, section `[executors]`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Settings of the `http` agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExecHttpConfig {
    /// How long to wait for a TCP/TLS connection, in milliseconds. Default 10000.
    pub connect_timeout_ms: u64,
    /// Largest response body read, in bytes; a larger one fails the attempt
    /// (`response_too_large`, not retryable). An output over the executors'
    /// `max_output_bytes` is moved to the artifact store. Default 16 MiB.
    pub max_response_bytes: usize,
}

impl ExecHttpConfig {
    /// Default for [`ExecHttpConfig::connect_timeout_ms`].
    pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 10_000;
    /// Default for [`ExecHttpConfig::max_response_bytes`].
    pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

    /// [`ExecHttpConfig::connect_timeout_ms`] as a duration.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
}

impl Default for ExecHttpConfig {
    fn default() -> Self {
        Self {
            connect_timeout_ms: Self::DEFAULT_CONNECT_TIMEOUT_MS,
            max_response_bytes: Self::DEFAULT_MAX_RESPONSE_BYTES,
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
        assert!(serde_json::from_str::<ExecHttpConfig>(r#"{"concurrency": 1}"#).is_err());
    }
}
