//! The code executor's configuration (TOML section `[exec_code]`, `WEFT_EXEC_CODE_…`).
//! Consumes a TOML table or JSON; produces a [`CodeConfig`]. Touches nothing.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::sandbox::SandboxConfig;

/// Settings of the `code` agent. Settings every executor shares (concurrency, ack wait,
/// output and log bounds of the attempt) are `weft_executor::ExecutorConfig`, section
/// `[executors]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CodeConfig {
    /// The command that starts a runner: a program and its arguments, separated by spaces.
    /// Empty (the default): this executable with the hidden subcommand `__code-runner`, i.e.
    /// `weft __code-runner`; e.g. `/usr/local/bin/weft-code-runner` for the crate's own binary.
    pub runner: String,
    /// The bubblewrap program, searched on `PATH` unless it holds a `/`. Default `bwrap`.
    pub bwrap: String,
    /// User id the sandbox runs as when Weft runs as root (root's processes escape
    /// `RLIMIT_NPROC`). Default 65534 (nobody).
    pub sandbox_uid: u32,
    /// Group id the sandbox runs as when Weft runs as root. Default 65534 (nogroup).
    pub sandbox_gid: u32,
    /// How long a runner may take to start and say it is ready, in milliseconds. Default 10000.
    pub start_timeout_ms: u64,
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
    /// Most `console` lines a runner sends per attempt (the rest are counted); the attempt's
    /// log has its own bound too (`[executors]`). Default 500.
    pub max_log_lines: usize,
    /// Most `console` bytes a runner sends per attempt. Default 64 KiB.
    pub max_log_bytes: usize,
}

impl CodeConfig {
    /// The sandbox part of the settings.
    pub fn sandbox(&self) -> SandboxConfig {
        SandboxConfig {
            runner: self.runner.split_whitespace().map(str::to_owned).collect(),
            bwrap: self.bwrap.clone(),
            sandbox_uid: self.sandbox_uid,
            sandbox_gid: self.sandbox_gid,
            start_timeout: Duration::from_millis(self.start_timeout_ms),
        }
    }

    /// [`CodeConfig::max_timeout_ms`] as a duration.
    pub fn max_timeout(&self) -> Duration {
        Duration::from_millis(self.max_timeout_ms)
    }
}

impl Default for CodeConfig {
    fn default() -> Self {
        Self {
            runner: String::new(),
            bwrap: "bwrap".to_owned(),
            sandbox_uid: 65534,
            sandbox_gid: 65534,
            start_timeout_ms: 10_000,
            warm_runners: 2,
            max_running: 8,
            max_memory: 512 * 1024 * 1024,
            max_timeout_ms: 60_000,
            max_output_bytes: 1024 * 1024,
            max_log_lines: 500,
            max_log_bytes: 64 * 1024,
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
        let c: CodeConfig = serde_json::from_str(
            r#"{"warm_runners": 0, "bwrap": "/usr/bin/bwrap", "runner": "/opt/weft  __code-runner"}"#,
        )
        .expect("parse");
        assert_eq!(c.warm_runners, 0);
        let sandbox = c.sandbox();
        assert_eq!(sandbox.bwrap, "/usr/bin/bwrap");
        assert_eq!(sandbox.runner, ["/opt/weft", "__code-runner"]);
        assert_eq!(sandbox.sandbox_uid, 65534);
        assert!(CodeConfig::default().sandbox().runner.is_empty());
        assert!(serde_json::from_str::<CodeConfig>(r#"{"workers": 1}"#).is_err());
    }
}
