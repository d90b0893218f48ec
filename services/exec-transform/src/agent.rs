//! The `transform` agent on the executor platform.
//!
//! Consumes a [`TransformWith`] and the attempt's [`Context`]; produces the result as the
//! step's output, or a `StepError` (see [`crate::Code`] for the classes). Lines the program
//! writes with `debug`/`stderr` go to the attempt's log. Touches the artifact store through
//! the context.

use serde_json::Value;
use weft_executor::{Agent, Context, StepError};

use crate::{TransformConfig, TransformWith, run};

/// A configuration this agent cannot run with.
#[derive(Debug, thiserror::Error)]
pub enum TransformConfigError {
    /// A limit is zero.
    #[error("exec_transform.{0} must be greater than 0")]
    Zero(&'static str),
}

/// The `transform` agent: jq programs and CEL maps over JSON.
#[derive(Debug, Clone)]
pub struct TransformAgent {
    config: TransformConfig,
}

impl TransformAgent {
    /// An agent with these limits.
    pub fn new(config: TransformConfig) -> Result<Self, TransformConfigError> {
        let c = &config;
        for (name, zero) in [
            ("concurrency", c.concurrency == 0),
            ("timeout_ms", c.timeout_ms == 0),
            ("max_output_bytes", c.max_output_bytes == 0),
            ("max_values", c.max_values == 0),
            ("max_steps", c.max_steps == 0),
            ("max_value_bytes", c.max_value_bytes == 0),
        ] {
            if zero {
                return Err(TransformConfigError::Zero(name));
            }
        }
        Ok(Self { config })
    }

    /// Its limits.
    pub fn config(&self) -> &TransformConfig {
        &self.config
    }
}

impl Agent for TransformAgent {
    const NAME: &'static str = "transform";
    const DESCRIPTION: &'static str =
        "Reshape JSON with a jq program or a map of CEL expressions; the output is the result.";
    type With = TransformWith;
    type Output = Value;

    async fn execute(&self, with: TransformWith, cx: Context) -> Result<Value, StepError> {
        let deadline = cx.deadline().map(|d| d.into_std());
        let out = run::transform(&self.config, with, cx.artifacts(), cx.token(), deadline).await;
        for line in out.log {
            cx.log(line);
        }
        out.result.map_err(|e| {
            if cx.stop_reason().is_some() {
                cx.stopped_error()
            } else {
                e.into_step_error()
            }
        })
    }
}

impl weft_executor::Hosted for TransformAgent {
    type Config = TransformConfig;

    fn build(config: TransformConfig) -> Result<Self, String> {
        Self::new(config).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod document_tests {
    #[test]
    fn agent_document_is_up_to_date() -> Result<(), String> {
        weft_executor::check_agent_document::<super::TransformAgent>(env!("CARGO_MANIFEST_DIR"))
    }
}
