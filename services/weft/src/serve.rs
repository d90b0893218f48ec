//! The services one process can host, by name (`weft serve <name>`).

use clap::ValueEnum;

/// A Weft service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Service {
    /// `POST /hooks/{path}` → events.
    Webhook,
    /// Events and results → executions.
    Router,
    /// The admin API under `/api/v1`.
    Api,
    /// Runs `uses: http` steps.
    #[value(name = "exec-http")]
    ExecHttp,
    /// `on.cdc`: PostgreSQL row changes → events.
    Cdc,
    /// File triggers: `on.file` (local folders) and `on.s3`.
    Files,
    /// `on.schedule` ticks → events.
    Cron,
    /// `on.email`: new mail in IMAP mailboxes → events.
    Imap,
}

impl Service {
    /// Every service, in start order for `weft dev`.
    pub const ALL: [Service; 8] = [
        Service::Api,
        Service::Router,
        Service::ExecHttp,
        Service::Webhook,
        Service::Cdc,
        Service::Files,
        Service::Cron,
        Service::Imap,
    ];

    /// The name used on the command line and in compose/k8s files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Router => "router",
            Self::Api => "api",
            Self::ExecHttp => "exec-http",
            Self::Cdc => "cdc",
            Self::Files => "files",
            Self::Cron => "cron",
            Self::Imap => "imap",
        }
    }

    /// Whether the service needs PostgreSQL.
    pub fn needs_database(self) -> bool {
        matches!(self, Self::Router | Self::Api)
    }
}
