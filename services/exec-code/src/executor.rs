//! Runs one `uses: code` attempt: validate `with`, take a runner from the pool, send the
//! request, relay logs, enforce the wall-clock deadline and cancellation (by killing the
//! runner), and map the answer to an output or a [`CodeError`].
//!
//! Consumes a [`CodeWith`], a deadline and a cancellation token; produces the script's
//! output (JSON) and log lines. Touches runner processes only.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::CodeConfig;
use crate::error::{CodeError, ErrorCode};
use crate::pool::Pool;
use crate::protocol::Request;
use crate::runner::SelfCheck;
use crate::sandbox::{RunError, Sandbox, SandboxError};
use crate::with::CodeWith;

/// Time a runner gets past the script's timeout to report it (its interrupt handler fires at
/// the timeout) before the executor kills it.
pub const KILL_GRACE: Duration = Duration::from_secs(1);

/// Runs code steps. Build one per process and share it.
#[derive(Debug)]
pub struct CodeExecutor {
    config: CodeConfig,
    pool: Pool,
    running: Semaphore,
}

impl CodeExecutor {
    /// Resolve the sandbox and start the warm pool (inside a Tokio runtime).
    pub fn new(config: CodeConfig) -> Result<Self, SandboxError> {
        let sandbox = Arc::new(Sandbox::new(&config.sandbox())?);
        let pool = Pool::new(sandbox, config.warm_runners);
        let running = Semaphore::new(config.max_running.max(1));
        Ok(Self {
            config,
            pool,
            running,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &CodeConfig {
        &self.config
    }

    /// Run one attempt. `deadline` is the step's own deadline, if any (the earlier of it and
    /// the script's timeout applies); `cancel` kills the script; `log` gets each console line.
    pub async fn run(
        &self,
        with: CodeWith,
        deadline: Option<Instant>,
        cancel: &CancellationToken,
        log: &mut (dyn FnMut(String) + Send),
    ) -> Result<serde_json::Value, CodeError> {
        with.check(self.config.max_memory, self.config.max_timeout())
            .map_err(|m| CodeError::new(ErrorCode::BadInput, m))?;
        let started = Instant::now();
        let mut wall = started + with.timeout + KILL_GRACE;
        if let Some(deadline) = deadline {
            wall = wall.min(deadline);
        }
        let _permit = tokio::select! {
            permit = self.running.acquire() => permit.map_err(|_| CodeError::new(ErrorCode::Internal, "the executor is shutting down"))?,
            () = cancel.cancelled() => return Err(cancelled()),
            () = tokio::time::sleep_until(wall) => return Err(CodeError::new(ErrorCode::Timeout, "the step's deadline passed while it waited for a free runner")),
        };
        let request = Request {
            script: with.script,
            inputs: with.inputs,
            memory: with.memory.0,
            timeout_ms: u64::try_from(with.timeout.as_millis()).unwrap_or(u64::MAX),
            max_output_bytes: self.config.max_output_bytes,
            max_log_lines: self.config.max_log_lines,
            max_log_bytes: self.config.max_log_bytes,
        };
        let mut fresh = false;
        loop {
            let runner = tokio::select! {
                r = async { if fresh { self.pool.sandbox().start().await } else { self.pool.take().await } } => r?,
                () = cancel.cancelled() => return Err(cancelled()),
            };
            match runner.run(&request, wall, cancel, log).await {
                Ok(out) => {
                    if out.logs_dropped > 0 {
                        log(format!(
                            "… {} more log lines dropped (limit {} lines, {} bytes)",
                            out.logs_dropped, self.config.max_log_lines, self.config.max_log_bytes
                        ));
                    }
                    return Ok(out.output);
                }
                Err(RunError::Stale(_)) if !fresh => fresh = true,
                Err(RunError::Stale(e) | RunError::Failed(e)) => {
                    if e.logs_dropped > 0 {
                        log(format!("… {} more log lines dropped", e.logs_dropped));
                    }
                    return Err(e);
                }
            }
        }
    }

    /// For `/readyz`: start a runner in self-check mode and verify that the sandbox holds (no
    /// network but `lo`, no environment, no host files, limits set, the engine works).
    pub async fn check(&self) -> Result<(), String> {
        let report = self.pool.sandbox().self_check().await?;
        verify(&report)
    }
}

fn cancelled() -> CodeError {
    CodeError::new(ErrorCode::Cancelled, "the step was cancelled")
}

/// What a self-check report must show.
pub fn verify(report: &SelfCheck) -> Result<(), String> {
    let mut problems = Vec::new();
    if report.interfaces != ["lo"] {
        problems.push(format!(
            "network interfaces {:?} (expected only lo)",
            report.interfaces
        ));
    }
    // bubblewrap sets PWD after --clearenv; anything else came from the host.
    if report.env.iter().any(|name| name != "PWD") {
        problems.push(format!("environment variables visible: {:?}", report.env));
    }
    if report.etc_passwd {
        problems.push("host files visible (/etc/passwd)".to_owned());
    }
    for (name, want) in [
        ("Max processes", "0"),
        ("Max open files", "8"),
        ("Max core file size", "0"),
    ] {
        if report.limit(name) != Some((want.to_owned(), want.to_owned())) {
            problems.push(format!(
                "{name} is {:?}, expected {want}",
                report.limit(name)
            ));
        }
    }
    if report.two != 2 {
        problems.push(format!("QuickJS says 1 + 1 = {}", report.two));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the code sandbox is not isolated: {}",
            problems.join("; ")
        ))
    }
}
