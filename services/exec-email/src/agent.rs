//! [`EmailAgent`]: one `uses: email` attempt from start to end — resolve the attachments,
//! build the message with its per-step Message-ID, send it.
//!
//! Consumes the step's [`EmailWith`], the attempt's identity ([`StepKey`]), an artifact reader
//! and a log sink; produces an [`EmailOutput`] or an [`EmailError`]. Touches the artifact store
//! (reading) and the step's SMTP server.

use uuid::Uuid;

use crate::attachments::{self, ArtifactReader};
use crate::config::{ConfigError, ExecEmailConfig};
use crate::error::EmailError;
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
    /// The agent `uses: email` names.
    pub const NAME: &'static str = "email";

    /// Checks the configuration and reads its TLS roots.
    pub fn new(config: ExecEmailConfig) -> Result<Self, ExecEmailError> {
        if config.concurrency == 0 {
            return Err(ConfigError::Invalid("concurrency must be at least 1".into()).into());
        }
        let client = SmtpClient::new(&config)?;
        Ok(Self { config, client })
    }

    /// The configuration in use.
    pub fn config(&self) -> &ExecEmailConfig {
        &self.config
    }

    /// Runs one attempt.
    pub async fn send(
        &self,
        with: &EmailWith,
        step: &StepKey,
        artifacts: &impl ArtifactReader,
        log: &(impl Fn(String) + Sync),
    ) -> Result<EmailOutput, EmailError> {
        let max = self.config.max_message_bytes;
        let files = attachments::resolve(&with.attachments, artifacts, max).await?;
        let domain = self
            .config
            .message_id_domain
            .clone()
            .or_else(|| message::sender_domain(&with.from))
            .unwrap_or_default();
        let id = message::message_id(step.execution_id, &step.step_id, &domain);
        let outgoing = message::build(with, files, id, max)?;
        self.client
            .send(&with.smtp, &outgoing, with.require_all_recipients, log)
            .await
    }
}
