//! The `with:` block of a `uses: email` step ([`EmailWith`]) and what a successful attempt
//! returns ([`EmailOutput`]).
//!
//! Consumes the step's evaluated `with:` JSON (secret references already resolved); produces
//! typed values. Strict: unknown fields are refused, and every field is documented so the
//! generated JSON Schema (apply-time validation, editor completion) carries the text. Touches
//! nothing.

use std::fmt;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use weft_executor::ArtifactRef;

/// `with:` of an email step.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailWith {
    /// The SMTP server to hand the message to (a relay or submission server).
    pub smtp: SmtpWith,
    /// Sender: `alice@example.com` or `Alice <alice@example.com>`. Also the envelope sender
    /// (`MAIL FROM`), so bounces go there.
    pub from: String,
    /// Recipients shown in `To:`; one address or a list.
    #[serde(default)]
    pub to: Addresses,
    /// Recipients shown in `Cc:`; one address or a list.
    #[serde(default)]
    pub cc: Addresses,
    /// Hidden recipients: they get the message, but no header names them.
    #[serde(default)]
    pub bcc: Addresses,
    /// Where replies go (`Reply-To:`); one address or a list.
    #[serde(default)]
    pub reply_to: Addresses,
    /// Subject line (any Unicode; encoded as RFC 2047 when needed).
    #[serde(default)]
    pub subject: String,
    /// Plain-text body. With `html` too, the message is `multipart/alternative` and mail
    /// clients pick one.
    #[serde(default)]
    pub text: Option<String>,
    /// HTML body.
    #[serde(default)]
    pub html: Option<String>,
    /// Extra header fields, e.g. `In-Reply-To`, `References`, `X-Campaign`. Names are
    /// printable ASCII without `:`; values have no line breaks. The fields the step sets itself
    /// (`From`, `To`, `Cc`, `Bcc`, `Reply-To`, `Subject`, `Message-ID`, `Date`, `MIME-Version`,
    /// `Content-*`) are refused here.
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// Files to attach: artifact references (e.g. `${{ event.data.attachments[0] }}` of a mail
    /// that came in through `on.email`) or inline `{name, content_type, content_base64}`.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// When true, the message is sent only if the server accepts every recipient: one refused
    /// recipient fails the attempt before anything is sent (retryable when every refusal was
    /// temporary, 4xx). Default false: the message goes to the accepted recipients and the
    /// refused ones are listed in `rejected`; the step fails only when no recipient is accepted.
    #[serde(default)]
    pub require_all_recipients: bool,
}

/// How to reach the SMTP server.
#[derive(Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpWith {
    /// Host name or IP address. With TLS, the certificate must be valid for this name.
    pub host: String,
    /// TCP port. Default: 465 with `tls: tls`, 587 with `starttls`, 25 with `none`.
    #[serde(default)]
    pub port: Option<u16>,
    /// Transport security. Default `starttls` (required: a server that does not offer it is an
    /// error, never a silent plain-text fallback).
    #[serde(default)]
    pub tls: TlsMode,
    /// Login name for `AUTH` (PLAIN or LOGIN, whichever the server offers). Without it no
    /// `AUTH` is sent.
    #[serde(default)]
    pub username: Option<String>,
    /// Password for `AUTH`; use `${{ secrets.NAME }}`. Never logged.
    #[serde(default)]
    pub password: Option<String>,
}

impl fmt::Debug for SmtpWith {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpWith")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl SmtpWith {
    /// The port to connect to: the given one or the default of the TLS mode.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            TlsMode::None => 25,
            TlsMode::Starttls => 587,
            TlsMode::Tls => 465,
        })
    }
}

/// Transport security towards the SMTP server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain text (a relay on loopback or a trusted network only).
    None,
    /// Plain connection upgraded with `STARTTLS` before anything else is sent (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (implicit TLS, "SMTPS", port 465).
    Tls,
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsMode::None => "plain",
            TlsMode::Starttls => "starttls",
            TlsMode::Tls => "tls",
        })
    }
}

/// One address or a list of them (`a@example.com`, `Name <a@example.com>`).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(
    untagged,
    expecting = "an address (\"a@example.com\" or \"Name <a@example.com>\") or a list of them"
)]
pub enum Addresses {
    /// A single address.
    One(String),
    /// Several addresses.
    Many(Vec<String>),
}

impl Default for Addresses {
    fn default() -> Self {
        Self::Many(Vec::new())
    }
}

impl Addresses {
    /// The addresses as a slice, whichever form was given.
    pub fn as_slice(&self) -> &[String] {
        match self {
            Addresses::One(one) => std::slice::from_ref(one),
            Addresses::Many(many) => many,
        }
    }
}

/// A file to attach.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(
    untagged,
    expecting = "an attachment: an artifact reference {id, name, content_type, size, sha256} \
                 or an inline file {name, content_type, content_base64}"
)]
pub enum Attachment {
    /// A file in the artifact store, read when the attempt runs.
    Artifact(ArtifactRef),
    /// A file carried in the step itself (small files only: the task travels on the bus).
    Inline(InlineAttachment),
}

impl Attachment {
    /// The file name the recipient sees.
    pub fn name(&self) -> &str {
        match self {
            Attachment::Artifact(a) => &a.name,
            Attachment::Inline(i) => &i.name,
        }
    }
}

/// A file given inline, base64-encoded.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InlineAttachment {
    /// File name the recipient sees.
    pub name: String,
    /// MIME type. Default `application/octet-stream`.
    #[serde(default = "InlineAttachment::default_content_type")]
    pub content_type: String,
    /// The file's bytes, standard base64 (line breaks and spaces are ignored).
    pub content_base64: String,
}

impl InlineAttachment {
    fn default_content_type() -> String {
        "application/octet-stream".into()
    }
}

/// What a successful `uses: email` attempt returns (`steps.<id>.output`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EmailOutput {
    /// The message's `Message-ID` header, e.g. `<0f6c…@example.com>`: the same for every
    /// attempt of this step in this execution.
    pub message_id: String,
    /// Recipients (`to`, `cc` and `bcc`, bare addresses) the server accepted.
    pub accepted: Vec<String>,
    /// Recipients the server refused, with its answer. Empty when all were accepted.
    pub rejected: Vec<RejectedRecipient>,
    /// The server's answer to the message data, e.g. `250 2.0.0 Ok: queued as 4BC1`.
    pub response: String,
}

/// A recipient the server refused at `RCPT TO`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RejectedRecipient {
    /// The bare address.
    pub address: String,
    /// The SMTP reply code, e.g. 550 or 451.
    pub code: u16,
    /// The server's text.
    pub message: String,
    /// True for a temporary refusal (4xx): the same recipient may be accepted later.
    pub retryable: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn minimal_with_and_defaults() {
        let w: EmailWith = serde_json::from_value(json!({
            "smtp": {"host": "mail.example.com"},
            "from": "a@example.com",
            "to": "b@example.com",
        }))
        .expect("parses");
        assert_eq!(w.smtp.tls, TlsMode::Starttls);
        assert_eq!(w.smtp.port(), 587);
        assert_eq!(w.to.as_slice(), ["b@example.com"]);
        assert!(w.cc.as_slice().is_empty());
        assert!(!w.require_all_recipients);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let bad = [
            json!({"smtp": {"host": "h"}, "from": "a@b", "to": "c@d", "body": "x"}),
            json!({"smtp": {"host": "h", "ssl": true}, "from": "a@b", "to": "c@d"}),
            json!({"smtp": {"host": "h", "tls": "ssl"}, "from": "a@b", "to": "c@d"}),
        ];
        for with in bad {
            assert!(
                serde_json::from_value::<EmailWith>(with.clone()).is_err(),
                "{with}"
            );
        }
    }

    #[test]
    fn attachments_take_both_forms_and_say_what_they_expect() {
        let w: EmailWith = serde_json::from_value(json!({
            "smtp": {"host": "h"}, "from": "a@b", "to": ["c@d"],
            "attachments": [
                {"id": "A1", "name": "x.pdf", "content_type": "application/pdf", "size": 3, "sha256": "ab"},
                {"name": "y.txt", "content_base64": "aGk="},
            ],
        }))
        .expect("parses");
        assert!(matches!(w.attachments[0], Attachment::Artifact(_)));
        let Attachment::Inline(inline) = &w.attachments[1] else {
            panic!("inline expected")
        };
        assert_eq!(inline.content_type, "application/octet-stream");
        let err = serde_json::from_value::<EmailWith>(json!({
            "smtp": {"host": "h"}, "from": "a@b", "to": "c@d",
            "attachments": [{"name": "y.txt", "url": "file:///etc/passwd"}],
        }))
        .expect_err("neither form");
        assert!(err.to_string().contains("content_base64"), "{err}");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let w: SmtpWith =
            serde_json::from_value(json!({"host": "h", "username": "u", "password": "hunter2"}))
                .expect("parses");
        assert!(!format!("{w:?}").contains("hunter2"));
    }

    #[test]
    fn schema_documents_fields() {
        let schema = serde_json::to_value(schemars::schema_for!(EmailWith)).expect("schema");
        let text = schema.to_string();
        assert!(text.contains("Hidden recipients"), "{text}");
        assert!(text.contains("content_base64"));
        assert_eq!(schema["additionalProperties"], json!(false));
    }
}
