//! The webhook trigger's configuration.
//!
//! Consumes a TOML table / `WEFT_…` variables (through `weft_runtime::config::load`) or the
//! shared [`CommonConfig`]; produces a validated [`WebhookConfig`]. Touches nothing.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use weft_runtime::CommonConfig;

/// Settings of `POST /hooks/{path}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Largest request body accepted, in bytes; a larger one is answered 413. Default 1 MiB.
    pub max_body_bytes: usize,
    /// How long to wait for JetStream to store the event before answering 503, in
    /// milliseconds. Default 5000.
    pub publish_timeout_ms: u64,
}

impl WebhookConfig {
    /// Default for [`WebhookConfig::max_body_bytes`]: 1 MiB.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
    /// Default for [`WebhookConfig::publish_timeout_ms`]: 5 s.
    pub const DEFAULT_PUBLISH_TIMEOUT_MS: u64 = 5_000;

    /// The settings the shared configuration carries (`max_body_bytes`), defaults otherwise.
    pub fn from_common(common: &CommonConfig) -> Self {
        Self {
            max_body_bytes: common.max_body_bytes,
            ..Self::default()
        }
    }

    /// [`WebhookConfig::publish_timeout_ms`] as a duration.
    pub fn publish_timeout(&self) -> Duration {
        Duration::from_millis(self.publish_timeout_ms)
    }
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            publish_timeout_ms: Self::DEFAULT_PUBLISH_TIMEOUT_MS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_strictness() {
        let c: WebhookConfig = serde_json::from_str("{}").expect("defaults");
        assert_eq!(c.max_body_bytes, 1024 * 1024);
        assert_eq!(c.publish_timeout(), Duration::from_secs(5));
        assert!(serde_json::from_str::<WebhookConfig>(r#"{"max_body": 1}"#).is_err());
    }
}
