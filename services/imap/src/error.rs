//! [`ImapError`]: what can go wrong talking to an IMAP server, with enough context (server,
//! user, mailbox, command) for the trigger's health entry to say what to fix.

use std::time::Duration;

/// A failure of one IMAP session; the trigger reconnects after a backoff.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// No TCP connection.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TLS handshake failed (certificate, protocol).
    #[error("TLS with {host} failed: {message}")]
    Tls {
        /// The server name that was verified.
        host: String,
        /// What went wrong.
        message: String,
    },
    /// The server refused the login.
    #[error("login as {user} on {addr} refused: {message}")]
    Login {
        /// The login name.
        user: String,
        /// `host:port`.
        addr: String,
        /// The server's answer.
        message: String,
    },
    /// The mailbox cannot be selected.
    #[error("cannot open mailbox {mailbox}: {message}")]
    Mailbox {
        /// The mailbox.
        mailbox: String,
        /// The server's answer.
        message: String,
    },
    /// A command failed or the connection broke.
    #[error("IMAP {command} failed: {source}")]
    Command {
        /// The command (e.g. `UID FETCH 7`).
        command: String,
        /// The client's error.
        source: async_imap::error::Error,
    },
    /// The server did not answer in time (the connection is presumed dead).
    #[error("IMAP {command}: no answer within {timeout:?}")]
    Timeout {
        /// The command.
        command: String,
        /// How long we waited.
        timeout: Duration,
    },
    /// The server sent something the trigger cannot use.
    #[error("IMAP server: {0}")]
    Protocol(String),
}

impl ImapError {
    /// A failed command.
    pub fn command(command: impl Into<String>, source: async_imap::error::Error) -> Self {
        Self::Command {
            command: command.into(),
            source,
        }
    }
}
