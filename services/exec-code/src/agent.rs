//! `uses: code` as a [`weft_executor::Agent`]: the platform's side of [`CodeExecutor`].
//!
//! Consumes a [`CodeWith`] and the attempt's [`Context`] (deadline, cancellation, log);
//! produces the script's output or a [`StepError`] (code as in [`crate::ErrorCode`],
//! `details.line` when the script's line is known). Touches runner processes.

use serde_json::{Value, json};
use weft_executor::{Agent, Context, ErrorCode as StepCode, StepError};

use crate::config::CodeConfig;
use crate::error::{CodeError, ErrorCode};
use crate::executor::CodeExecutor;
use crate::sandbox::SandboxError;
use crate::with::CodeWith;

/// The `code` agent.
#[derive(Debug)]
pub struct CodeAgent {
    executor: CodeExecutor,
}

impl CodeAgent {
    /// Resolve the sandbox and start the warm pool (call inside a Tokio runtime, from async
    /// code: see [`crate::sandbox`] on `--die-with-parent`). Fails when bubblewrap or the
    /// runner binary is missing.
    pub fn new(config: CodeConfig) -> Result<Self, SandboxError> {
        Ok(Self {
            executor: CodeExecutor::new(config)?,
        })
    }

    /// The executor underneath.
    pub fn executor(&self) -> &CodeExecutor {
        &self.executor
    }
}

impl Agent for CodeAgent {
    const NAME: &'static str = "code";
    const DESCRIPTION: &'static str =
        "Run JavaScript (QuickJS) in a bubblewrap sandbox; the output is what the script returns.";
    type With = CodeWith;
    type Output = Value;

    async fn execute(&self, with: CodeWith, cx: Context) -> Result<Value, StepError> {
        let token = cx.token();
        let log = cx.clone();
        let result = self
            .executor
            .run(with, cx.deadline(), &token, &mut |line| log.log(line))
            .await;
        result.map_err(|e| {
            // Killed because the attempt was stopped: say why the platform stopped it.
            let killed = e.code == ErrorCode::Cancelled
                || (e.code == ErrorCode::Timeout && cx.is_cancelled());
            if killed && cx.stop_reason().is_some() {
                return cx.stopped_error();
            }
            step_error(e)
        })
    }

    async fn check(&self) -> Result<(), String> {
        self.executor.check().await
    }
}

/// The platform's error for a code error.
pub fn step_error(e: CodeError) -> StepError {
    let code = match e.code {
        ErrorCode::BadInput => StepCode::BadInput,
        ErrorCode::Script => StepCode::Script,
        ErrorCode::SandboxLimit => StepCode::SandboxLimit,
        ErrorCode::Timeout => StepCode::Timeout,
        ErrorCode::Cancelled => StepCode::Cancelled,
        ErrorCode::Internal => StepCode::Internal,
    };
    let retryable = e.retryable();
    let mut error = if retryable {
        StepError::retryable(code, e.message)
    } else {
        StepError::permanent(code, e.message)
    };
    if let Some(line) = e.line {
        error = error.with_details(json!({ "line": line }));
    }
    error
}

impl weft_executor::Hosted for CodeAgent {
    type Config = CodeConfig;

    fn build(config: CodeConfig) -> Result<Self, String> {
        Self::new(config).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod document_tests {
    #[test]
    fn agent_document_is_up_to_date() -> Result<(), String> {
        weft_executor::check_agent_document::<super::CodeAgent>(env!("CARGO_MANIFEST_DIR"))
    }
}
