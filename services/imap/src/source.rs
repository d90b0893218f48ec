//! [`ImapSource`]: the `on.email` kind for the shared trigger runtime.

use weft_executor::Artifacts;
use weft_flow::triggers::EmailTrigger;
use weft_trigger::{Source, TriggerCtx, TriggerError};

/// Watches IMAP mailboxes; attachments go to `artifacts`.
#[derive(Debug, Clone)]
pub struct ImapSource {
    artifacts: Artifacts,
}

impl ImapSource {
    /// A source that stores attachments in `artifacts` (in a host, the JetStream object store
    /// executors read: [`Artifacts::jetstream`]).
    pub fn new(artifacts: Artifacts) -> Self {
        Self { artifacts }
    }
}

impl Source for ImapSource {
    const KIND: &'static str = "email";
    type Config = EmailTrigger;

    fn configs(on: &weft_flow::Triggers) -> &[EmailTrigger] {
        on.email.as_slice()
    }

    /// `imap://user@host:port/mailbox`: another server, user or mailbox starts afresh.
    fn scope(config: &EmailTrigger) -> String {
        format!(
            "imap://{}@{}:{}/{}",
            config.username,
            config.host,
            config.port(),
            config.mailbox
        )
    }

    async fn run(&self, ctx: TriggerCtx<EmailTrigger>) -> Result<(), TriggerError> {
        crate::watch::run(&ctx, &self.artifacts).await
    }
}
