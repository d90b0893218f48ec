//! Shared helpers of the sandbox tests: an executor over this crate's runner binary under real
//! bubblewrap. Every test builds its own executor (own pool, own processes), so tests run in
//! parallel and twice.
#![allow(dead_code)]

use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use weft_exec_code::{CodeConfig, CodeError, CodeExecutor, CodeWith, ErrorCode};

/// The configuration the tests use: the crate's own runner binary.
pub fn config(warm_runners: usize) -> CodeConfig {
    CodeConfig {
        warm_runners,
        runner: env!("CARGO_BIN_EXE_weft-code-runner").to_owned(),
        ..CodeConfig::default()
    }
}

/// An executor without a warm pool.
pub fn executor() -> CodeExecutor {
    CodeExecutor::new(config(0)).expect("executor (is bubblewrap installed? scripts/deps)")
}

/// What one run gave: output or error, and the log lines.
#[derive(Debug)]
pub struct Ran {
    pub result: Result<Value, CodeError>,
    pub logs: Vec<String>,
    pub took: Duration,
}

impl Ran {
    pub fn output(&self) -> &Value {
        match &self.result {
            Ok(v) => v,
            Err(e) => panic!("expected an output, got {e:?} (logs {:?})", self.logs),
        }
    }

    pub fn error(&self, code: ErrorCode) -> &CodeError {
        match &self.result {
            Err(e) if e.code == code => e,
            other => panic!("expected {code:?}, got {other:?}"),
        }
    }
}

pub async fn run_with(exec: &CodeExecutor, with: CodeWith) -> Ran {
    run_cancel(exec, with, &CancellationToken::new()).await
}

pub async fn run_cancel(exec: &CodeExecutor, with: CodeWith, cancel: &CancellationToken) -> Ran {
    let mut logs = Vec::new();
    let started = std::time::Instant::now();
    let result = exec
        .run(with, None, cancel, &mut |line| logs.push(line))
        .await;
    Ran {
        result,
        logs,
        took: started.elapsed(),
    }
}

pub async fn run(exec: &CodeExecutor, script: &str) -> Ran {
    run_with(exec, CodeWith::script(script)).await
}

/// A failing attempt ends cleanly: the same executor still runs the next script.
pub async fn still_works(exec: &CodeExecutor) {
    let ran = run(exec, "return inputs === null ? 'fine' : 'odd'").await;
    assert_eq!(ran.output(), &Value::from("fine"));
}
