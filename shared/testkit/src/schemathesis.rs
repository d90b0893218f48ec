//! [`Schemathesis`]: runs Schemathesis' CLI (`st run`, from PyPI) against a live OpenAPI
//! document and returns its report; the process runs in its own temporary directory (where
//! Hypothesis and Schemathesis leave their files) and is killed by PID when it outlives its
//! time limit or the value is dropped.
//!
//! The program is `$WEFT_SCHEMATHESIS`, else `${WEFT_TOOLS:-~/.cache/weft}/venv/bin/st`
//! (installed by `scripts/deps`), else `st` on `PATH`.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use crate::process::ChildProcess;

/// What one `st run` did.
#[derive(Debug)]
pub struct SchemathesisReport {
    /// Its exit status; `None` when it was killed at the time limit.
    pub status: Option<ExitStatus>,
    /// Everything it printed (stdout and stderr): the findings, each with a `curl` line that
    /// reproduces it, and the summary.
    pub output: String,
    /// How long it ran.
    pub elapsed: Duration,
}

impl SchemathesisReport {
    /// True when it ended by itself with exit code 0 (no finding).
    pub fn passed(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
}

/// One Schemathesis run to make.
#[derive(Debug, Clone)]
pub struct Schemathesis {
    /// URL of the OpenAPI document; the API's base URL is taken from it.
    pub schema_url: String,
    /// Extra arguments after `st run <schema_url>`.
    pub args: Vec<String>,
    /// The process is killed after this long.
    pub time_limit: Duration,
}

impl Schemathesis {
    /// Runs `st run <schema_url> <args…>` with `--no-color` and waits until it ends or
    /// `time_limit` passes (then it is killed by PID and `status` is `None`).
    pub async fn run(&self) -> anyhow::Result<SchemathesisReport> {
        let program = program()?;
        let mut args = vec![
            "run".to_owned(),
            self.schema_url.clone(),
            "--no-color".to_owned(),
        ];
        args.extend(self.args.iter().cloned());
        let envs = [
            ("PYTHONUNBUFFERED", "1"),
            ("NO_COLOR", "1"),
            ("COLUMNS", "120"),
        ];
        let started = Instant::now();
        let mut process = ChildProcess::spawn_isolated(&program, &args, envs)?;
        let status = loop {
            if let Some(status) = process.try_wait()? {
                break Some(status);
            }
            if started.elapsed() >= self.time_limit {
                process.kill9()?;
                break None;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        Ok(SchemathesisReport {
            status,
            output: process.log(),
            elapsed: started.elapsed(),
        })
    }
}

/// The `st` program to use.
pub fn program() -> anyhow::Result<PathBuf> {
    const FIX: &str = "run scripts/deps (installs schemathesis into ~/.cache/weft/venv), or set \
                       WEFT_SCHEMATHESIS to an `st` program; scripts/test does both";
    if let Some(explicit) = std::env::var_os("WEFT_SCHEMATHESIS").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(explicit);
        anyhow::ensure!(
            path.is_file(),
            "WEFT_SCHEMATHESIS={} does not exist ({FIX})",
            path.display()
        );
        return Ok(path);
    }
    let tools = std::env::var_os("WEFT_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/weft")));
    let venv = tools.map(|t| t.join("venv/bin/st"));
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("st"))
            .find(|p| p.is_file())
    });
    venv.filter(|p| p.is_file())
        .or(on_path)
        .ok_or_else(|| anyhow::anyhow!("no Schemathesis `st` in the venv or on PATH; {FIX}"))
}
