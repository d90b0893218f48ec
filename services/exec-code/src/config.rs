//! The code executor's configuration (TOML section `[exec_code]`, `WEFT_EXEC_CODE_…`).
//! Consumes a TOML table or JSON; produces a [`CodeConfig`]. Touches nothing.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::sandbox::SandboxConfig;

/// Settings of the `code` agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CodeConfig {
    /// How runners are started (runner command, bubblewrap, sandbox user).
    pub sandbox: SandboxConfig,
    /// Runners kept started and waiting, so a step does not pay for starting one. 0 turns the
    /// pool off. Default 2.
    pub warm_runners: usize,
    /// Scripts run at once by this process; more wait. Default 8.
    pub max_running: usize,
    /// Largest `memory` a step may ask for, in bytes. Default 512 MiB.
    pub max_memory: u64,
    /// Longest `timeout` a step may ask for, in milliseconds. Default 60000.
    pub max_timeout_ms: u64,
    /// Largest output (serialized JSON) in bytes; more fails with `sandbox_limit`.
    /// Default 1 MiB.
    pub max_output_bytes: usize,
    /// Most `console` lines kept per attempt (the rest are counted). Default 1000.
    pub max_log_lines: usize,
    /// Most `console` bytes kept per attempt. Default 256 KiB.
    pub max_log_bytes: usize,
}

impl CodeConfig {
    /// [`CodeConfig::max_timeout_ms`] as a duration.
    pub fn max_timeout(&self) -> Duration {
        Duration::from_millis(self.max_timeout_ms)
    }
}

impl Default for CodeConfig {
    fn default() -> Self {
        Self {
            sandbox: SandboxConfig::default(),
            warm_runners: 2,
            max_running: 8,
            max_memory: 512 * 1024 * 1024,
            max_timeout_ms: 60_000,
            max_output_bytes: 1024 * 1024,
            max_log_lines: 1000,
            max_log_bytes: 256 * 1024,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_strictness() {
        let c: CodeConfig = serde_json::from_str("{}").expect("defaults");
        assert_eq!(c, CodeConfig::default());
        let c: CodeConfig =
            serde_json::from_str(r#"{"warm_runners": 0, "sandbox": {"bwrap": "/usr/bin/bwrap"}}"#)
                .expect("parse");
        assert_eq!(c.warm_runners, 0);
        assert_eq!(c.sandbox.bwrap, "/usr/bin/bwrap");
        assert_eq!(c.sandbox.sandbox_uid, 65534);
        assert!(serde_json::from_str::<CodeConfig>(r#"{"workers": 1}"#).is_err());
        assert!(serde_json::from_str::<CodeConfig>(r#"{"sandbox": {"net": true}}"#).is_err());
    }
}
