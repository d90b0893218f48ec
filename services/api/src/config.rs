//! The admin API's configuration (`[api]` / `WEFT_API_…`).
//!
//! Consumes a TOML table or `WEFT_API_…` variables (through
//! `weft_runtime::load_section_over`); produces a validated [`ApiConfig`]. Touches nothing.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Settings of the admin API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// How long an apply or delete waits, at start, for the workflow registry to be made
    /// equal to the database before it answers 503, in milliseconds. Default 10000.
    pub registry_wait_ms: u64,
}

impl ApiConfig {
    /// Default for [`ApiConfig::registry_wait_ms`]: 10 s.
    pub const DEFAULT_REGISTRY_WAIT_MS: u64 = 10_000;

    /// [`ApiConfig::registry_wait_ms`] as a duration.
    pub fn registry_wait(&self) -> Duration {
        Duration::from_millis(self.registry_wait_ms)
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            registry_wait_ms: Self::DEFAULT_REGISTRY_WAIT_MS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_strictness() {
        let c: ApiConfig = serde_json::from_str("{}").expect("defaults");
        assert_eq!(c.registry_wait(), Duration::from_secs(10));
        assert!(serde_json::from_str::<ApiConfig>(r#"{"registry_wait": 1}"#).is_err());
    }
}
