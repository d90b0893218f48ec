//! The transform executor's configuration and the limits of one attempt.
//!
//! Consumes a TOML table `[exec_transform]` / `WEFT_EXEC_TRANSFORM_…` variables (through the
//! host's configuration loader); produces a [`TransformConfig`]. Touches nothing.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Settings of the `transform` agent. Every limit holds per attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TransformConfig {
    /// Attempts run at once by this process (each jq attempt runs on a thread of its own).
    /// Default 8.
    pub concurrency: usize,
    /// Wall-clock time one attempt may take, in milliseconds (the step's own `timeout`, when
    /// shorter, wins). Over it the attempt fails with `sandbox_limit`. Default 10000.
    pub timeout_ms: u64,
    /// Largest result, in bytes of compact JSON (string escapes not counted). Over it the
    /// attempt fails with `output_too_large`. Default 16 MiB.
    pub max_output_bytes: usize,
    /// Most values a jq program may yield (they become one array). Over it: `output_too_large`.
    /// Default 100000.
    pub max_values: usize,
    /// Largest artifact read as `input`, in bytes. Over it: `sandbox_limit`. Default 64 MiB.
    pub max_input_bytes: u64,
    /// Evaluation steps of a jq program: one per call of a defined filter (`map`, `select`,
    /// `repeat`, user `def`s…), per value of `range`, and per `reduce`/`foreach` iteration.
    /// This is jq's stand-in for "fuel": it also bounds what `[range(1e9)]` can allocate.
    /// Over it: `sandbox_limit`. Default 10 000 000.
    pub max_steps: u64,
    /// Largest single value a jq program may build, in bytes (strings by length, arrays and
    /// objects 16 bytes an entry), checked at every step. Over it: `sandbox_limit`.
    /// Default 64 MiB.
    pub max_value_bytes: u64,
    /// Most entries in `map`. Default 1000.
    pub max_map_entries: usize,
}

impl TransformConfig {
    /// Default for [`TransformConfig::concurrency`].
    pub const DEFAULT_CONCURRENCY: usize = 8;
    /// Default for [`TransformConfig::timeout_ms`].
    pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
    /// Default for [`TransformConfig::max_output_bytes`].
    pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 16 << 20;
    /// Default for [`TransformConfig::max_values`].
    pub const DEFAULT_MAX_VALUES: usize = 100_000;
    /// Default for [`TransformConfig::max_input_bytes`].
    pub const DEFAULT_MAX_INPUT_BYTES: u64 = 64 << 20;
    /// Default for [`TransformConfig::max_steps`].
    pub const DEFAULT_MAX_STEPS: u64 = 10_000_000;
    /// Default for [`TransformConfig::max_value_bytes`].
    pub const DEFAULT_MAX_VALUE_BYTES: u64 = 64 << 20;
    /// Default for [`TransformConfig::max_map_entries`].
    pub const DEFAULT_MAX_MAP_ENTRIES: usize = 1000;

    /// [`TransformConfig::timeout_ms`] as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

impl Default for TransformConfig {
    fn default() -> Self {
        Self {
            concurrency: Self::DEFAULT_CONCURRENCY,
            timeout_ms: Self::DEFAULT_TIMEOUT_MS,
            max_output_bytes: Self::DEFAULT_MAX_OUTPUT_BYTES,
            max_values: Self::DEFAULT_MAX_VALUES,
            max_input_bytes: Self::DEFAULT_MAX_INPUT_BYTES,
            max_steps: Self::DEFAULT_MAX_STEPS,
            max_value_bytes: Self::DEFAULT_MAX_VALUE_BYTES,
            max_map_entries: Self::DEFAULT_MAX_MAP_ENTRIES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_strictness() {
        let c: TransformConfig = serde_json::from_str("{}").expect("defaults");
        assert_eq!(c, TransformConfig::default());
        assert_eq!(c.timeout(), Duration::from_secs(10));
        assert!(serde_json::from_str::<TransformConfig>(r#"{"workers": 1}"#).is_err());
    }
}
