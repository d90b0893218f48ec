//! The services one process can host, by name (`weft serve <name>`): the fixed ones and one
//! `exec-<agent>` per entry of [`crate::executors::EXECUTORS`].

use crate::executors::{EXECUTORS, Executor};

/// A Weft service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `POST /hooks/{path}` → events.
    Webhook,
    /// Events and results → executions.
    Router,
    /// The admin API under `/api/v1`.
    Api,
    /// Runs the steps of one agent (`exec-<agent>`).
    Exec(&'static Executor),
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
    pub fn all() -> Vec<Service> {
        let mut all = vec![Service::Api, Service::Router];
        all.extend(EXECUTORS.iter().map(Service::Exec));
        all.extend([
            Service::Webhook,
            Service::Cdc,
            Service::Files,
            Service::Cron,
            Service::Imap,
        ]);
        all
    }

    /// Every service name, as `weft serve` takes them.
    pub fn names() -> Vec<String> {
        Self::all().into_iter().map(Service::name).collect()
    }

    /// The service called `name`.
    pub fn parse(name: &str) -> Option<Service> {
        Self::all().into_iter().find(|s| s.name() == name)
    }

    /// The name used on the command line and in compose/k8s files.
    pub fn name(self) -> String {
        match self {
            Self::Webhook => "webhook".into(),
            Self::Router => "router".into(),
            Self::Api => "api".into(),
            Self::Exec(e) => e.service_name(),
            Self::Cdc => "cdc".into(),
            Self::Files => "files".into(),
            Self::Cron => "cron".into(),
            Self::Imap => "imap".into(),
        }
    }

    /// Whether the service needs PostgreSQL.
    pub fn needs_database(self) -> bool {
        matches!(self, Self::Router | Self::Api)
    }
}
