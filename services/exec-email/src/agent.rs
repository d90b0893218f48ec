//! [`EmailAgent`]: one `uses: email` attempt from start to end — resolve the attachments,
//! build the message with its per-step Message-ID, send it — and its [`Agent`] impl.
//!
//! Consumes the step's [`EmailWith`] and the attempt's [`Context`] (who the attempt is, its
//! cancellation, log and artifact store); produces an [`EmailOutput`] or a [`StepError`].
//! Touches the artifact store (reading) and the step's SMTP server.

use uuid::Uuid;
use weft_executor::{Agent, Artifacts, Context, StepError};

use crate::attachments;
use crate::config::{ConfigError, ExecEmailConfig};
use crate::message;
use crate::send::SmtpClient;
use crate::with::{EmailOutput, EmailWith};

/// What identifies the one message of a step: every attempt of the step in this execution
/// sends the same Message-ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepKey {
    /// The execution.
    pub execution_id: Uuid,
    /// The step id within the workflow.
    pub step_id: String,
}

/// The `email` agent.
#[derive(Debug, Clone)]
pub struct EmailAgent {
    config: ExecEmailConfig,
    client: SmtpClient,
}

/// The agent cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ExecEmailError {
    /// The configuration cannot be used.
    #[error("exec_email: {0}")]
    Config(#[from] ConfigError),
}

impl EmailAgent {
    /// Checks the configuration and reads its TLS roots.
    pub fn new(config: ExecEmailConfig) -> Result<Self, ExecEmailError> {
        let client = SmtpClient::new(&config)?;
        Ok(Self { config, client })
    }

    /// The configuration in use.
    pub fn config(&self) -> &ExecEmailConfig {
        &self.config
    }

    /// Runs one attempt (without watching for cancellation: [`Agent::execute`] does).
    pub async fn send(
        &self,
        with: &EmailWith,
        step: &StepKey,
        artifacts: &Artifacts,
        log: &(impl Fn(String) + Sync),
    ) -> Result<EmailOutput, StepError> {
        let max = self.config.max_message_bytes;
        let files = attachments::resolve(&with.attachments, artifacts, max).await?;
        let domain = match self.config.message_id_domain.as_str() {
            "" => message::sender_domain(&with.from).unwrap_or_default(),
            configured => configured.to_string(),
        };
        let id = message::message_id(step.execution_id, &step.step_id, &domain);
        let outgoing = message::build(with, files, id, max)?;
        self.client
            .send(&with.smtp, &outgoing, with.require_all_recipients, log)
            .await
    }
}

impl Agent for EmailAgent {
    const NAME: &'static str = "email";
    const DESCRIPTION: &'static str = "Send one email over SMTP (STARTTLS or TLS, AUTH), attachments inline or from the artifact store.";
    type With = EmailWith;
    type Output = EmailOutput;

    /// A cancel or the step's deadline drops the SMTP session where it is: before the end of
    /// the message data the server discards the message; see the crate docs for the moment
    /// after it.
    async fn execute(&self, with: EmailWith, cx: Context) -> Result<EmailOutput, StepError> {
        let step = StepKey {
            execution_id: cx.attempt().execution_id,
            step_id: cx.attempt().step_id.clone(),
        };
        let log = |line: String| cx.log(line);
        let result = tokio::select! {
            r = self.send(&with, &step, cx.artifacts(), &log) => r,
            _ = cx.cancelled() => Err(cx.stopped_error()),
        };
        if let Err(e) = &result {
            let a = cx.attempt();
            tracing::debug!(attempt = %a.attempt_id, step = %a.step_id, code = %e.code, retryable = e.retryable, "email step failed");
        }
        result
    }
}

impl weft_executor::Hosted for EmailAgent {
    type Config = ExecEmailConfig;

    fn build(config: ExecEmailConfig) -> Result<Self, String> {
        Self::new(config).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod document_tests {
    #[test]
    fn agent_document_is_up_to_date() -> Result<(), String> {
        weft_executor::check_agent_document::<super::EmailAgent>(env!("CARGO_MANIFEST_DIR"))
    }
}
