//! `on.email`: new mail in an IMAP mailbox.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Problem, move_target, required};

/// `on.email`: watch one IMAP mailbox; each new message becomes a `dev.weft.email.received`
/// event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailTrigger {
    /// IMAP server host name.
    pub host: String,
    /// IMAP port. Default: 993 with `tls: true`, 143 otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `true` (implicit TLS, the default), `false` (plain text) or `starttls`.
    #[serde(default)]
    pub tls: ImapTls,
    /// Login name.
    pub username: String,
    /// Password; write `${{ secrets.NAME }}` to keep it out of the workflow file.
    pub password: String,
    /// Mailbox to watch.
    #[serde(default = "EmailTrigger::default_mailbox")]
    pub mailbox: String,
    /// `idle` (push) or `poll`. Default: `idle` when the server supports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<EmailMode>,
    /// How often to look for new mail in `poll` mode (and the longest IDLE wait).
    #[serde(
        default = "EmailTrigger::default_poll_interval",
        with = "crate::duration::required"
    )]
    #[schemars(with = "crate::duration::DurationString")]
    pub poll_interval: Duration,
    /// `now` (default): only mail that arrives after the trigger starts; `all`: every message
    /// already in the mailbox too.
    #[serde(default)]
    pub since: EmailSince,
    /// What to do with a message once its event is on the bus.
    #[serde(default)]
    pub after: EmailAfter,
    /// Destination mailbox for `after: move` (created when missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub move_to: Option<String>,
}

impl EmailTrigger {
    fn default_mailbox() -> String {
        "INBOX".into()
    }
    fn default_poll_interval() -> Duration {
        Duration::from_secs(60)
    }

    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            ImapTls::Implicit => 993,
            ImapTls::Plain | ImapTls::StartTls => 143,
        })
    }
}

impl Check for EmailTrigger {
    fn check(&self) -> Result<(), Problem> {
        required("host", &self.host)?;
        required("username", &self.username)?;
        required("mailbox", &self.mailbox)?;
        if self.poll_interval < Duration::from_secs(1) {
            return Err(Problem::new(
                "poll_interval",
                "`poll_interval` must be at least 1s",
            ));
        }
        if self.port == Some(0) {
            return Err(Problem::new("port", "`port` must be between 1 and 65535"));
        }
        move_target(self.after == EmailAfter::Move, self.move_to.as_deref())?;
        if self.move_to.as_deref().map(str::trim) == Some(self.mailbox.trim()) {
            return Err(Problem::new(
                "move_to",
                "`move_to` must differ from `mailbox` (the watched mailbox)",
            ));
        }
        Ok(())
    }
}

/// How the IMAP connection is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "TlsSetting", into = "TlsSetting")]
#[schemars(with = "TlsSetting")]
pub enum ImapTls {
    /// TLS from the first byte (`tls: true`).
    #[default]
    Implicit,
    /// No TLS (`tls: false`); for loopback and tests.
    Plain,
    /// Plain connection upgraded with STARTTLS (`tls: starttls`).
    StartTls,
}

/// `tls:` as written: a boolean or `starttls`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
enum TlsSetting {
    /// `true` or `false`.
    Bool(bool),
    /// `starttls`.
    Word(String),
}

impl TryFrom<TlsSetting> for ImapTls {
    type Error = String;
    fn try_from(v: TlsSetting) -> Result<Self, String> {
        match v {
            TlsSetting::Bool(true) => Ok(Self::Implicit),
            TlsSetting::Bool(false) => Ok(Self::Plain),
            TlsSetting::Word(w) if w == "starttls" => Ok(Self::StartTls),
            TlsSetting::Word(w) => Err(format!(
                "invalid tls `{w}`: expected true, false or starttls"
            )),
        }
    }
}

impl From<ImapTls> for TlsSetting {
    fn from(v: ImapTls) -> Self {
        match v {
            ImapTls::Implicit => Self::Bool(true),
            ImapTls::Plain => Self::Bool(false),
            ImapTls::StartTls => Self::Word("starttls".into()),
        }
    }
}

/// How new mail is noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EmailMode {
    /// IMAP IDLE: the server pushes new mail.
    Idle,
    /// Look every `poll_interval`.
    Poll,
}

/// Where a new trigger starts reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EmailSince {
    /// Only mail that arrives from now on.
    #[default]
    Now,
    /// Every message already in the mailbox, then new ones.
    All,
}

/// What happens to a message after its event is stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EmailAfter {
    /// Leave it as it is.
    #[default]
    None,
    /// Mark it `\Seen`.
    Seen,
    /// Move it to `move_to`.
    Move,
    /// Delete (expunge) it.
    Delete,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> EmailTrigger {
        serde_json::from_value(json).expect("parses")
    }

    fn base() -> serde_json::Value {
        serde_json::json!({"host": "imap.example.com", "username": "u", "password": "p"})
    }

    #[test]
    fn defaults() {
        let t = parse(base());
        assert_eq!(t.tls, ImapTls::Implicit);
        assert_eq!(t.port(), 993);
        assert_eq!(t.mailbox, "INBOX");
        assert_eq!(t.since, EmailSince::Now);
        assert_eq!(t.after, EmailAfter::None);
        assert_eq!(t.poll_interval, Duration::from_secs(60));
        assert_eq!(t.check(), Ok(()));
    }

    #[test]
    fn tls_words() {
        let mut v = base();
        v["tls"] = "starttls".into();
        assert_eq!(parse(v.clone()).port(), 143);
        v["tls"] = false.into();
        assert_eq!(parse(v.clone()).tls, ImapTls::Plain);
        v["tls"] = "ssl".into();
        assert!(serde_json::from_value::<EmailTrigger>(v).is_err());
    }

    #[test]
    fn rejects_bad_values() {
        let field = |patch: serde_json::Value| {
            let mut v = base();
            for (k, x) in patch.as_object().expect("object") {
                v[k] = x.clone();
            }
            parse(v).check().expect_err("rejected").field
        };
        assert_eq!(field(serde_json::json!({"host": " "})), "host");
        assert_eq!(field(serde_json::json!({"port": 0})), "port");
        assert_eq!(
            field(serde_json::json!({"poll_interval": "100ms"})),
            "poll_interval"
        );
        assert_eq!(field(serde_json::json!({"after": "move"})), "move_to");
        assert_eq!(field(serde_json::json!({"move_to": "Done"})), "move_to");
        assert_eq!(
            field(serde_json::json!({"after": "move", "move_to": "INBOX"})),
            "move_to"
        );
    }
}
