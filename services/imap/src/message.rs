//! One fetched message → the data of a `dev.weft.email.received` event.
//!
//! Consumes the raw RFC 5322 bytes (`BODY.PEEK[]`), parses MIME with `mail-parser`, stores
//! every attachment in the artifact store executors read ([`Artifacts`], the JetStream object
//! store `weft_artifacts`) and produces [`EmailData`], which carries each attachment as an
//! [`ArtifactRef`] (`id`, `name`, `content_type`, `size`, `sha256`, nothing else), never its
//! bytes: `${{ event.data.attachments[0] }}` goes straight into any executor that takes a file
//! (e.g. `uses: email`'s `attachments`). Bodies longer than [`MAX_BODY_BYTES`] are cut (and
//! `truncated` set) so an event stays far below the bus' message size limit.

use std::collections::BTreeMap;

use mail_parser::{Address, MessageParser, MimeHeaders as _};
use serde::{Deserialize, Serialize};
use weft_executor::{ArtifactRef, Artifacts};

/// The name of an attachment whose sender gave none: `attachment-<n>` (1-based, in the
/// order of the message's attachments).
pub const UNNAMED: &str = "attachment";

/// The content type of an attachment without one.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// Longest `text` and `html` kept in the event, in bytes of UTF-8 (the bus takes messages of
/// up to 1 MiB by default).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The event data of `dev.weft.email.received`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailData {
    /// The `Message-ID` header without angle brackets, if any.
    pub message_id: Option<String>,
    /// The first `From` address.
    pub from: Option<Mailbox>,
    /// Every `To` address.
    pub to: Vec<Mailbox>,
    /// Every `Cc` address.
    pub cc: Vec<Mailbox>,
    /// The decoded subject.
    pub subject: Option<String>,
    /// The `Date` header as RFC 3339.
    pub date: Option<String>,
    /// The plain-text body (converted from HTML when the mail has only HTML).
    pub text: Option<String>,
    /// The HTML body, when the mail has one.
    pub html: Option<String>,
    /// True when `text` or `html` was cut at [`MAX_BODY_BYTES`].
    pub truncated: bool,
    /// Header fields by lowercase name (the first occurrence when a field repeats), unfolded.
    pub headers: BTreeMap<String, String>,
    /// Attachments, stored in the artifact store, as references executors accept.
    pub attachments: Vec<ArtifactRef>,
}

/// A mail address with its display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    /// Display name, if given.
    pub name: Option<String>,
    /// The address, e.g. `alice@example.com`.
    pub address: Option<String>,
}

/// Why a message could not be turned into event data.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The bytes are not a parseable message.
    #[error("message is not valid MIME")]
    Unparseable,
    /// An attachment could not be stored (the artifact store's message).
    #[error("{0}")]
    Artifact(String),
}

/// Parse `raw` and store its attachments in `store`.
pub async fn to_event_data(raw: &[u8], store: &Artifacts) -> Result<EmailData, MessageError> {
    let parsed = MessageParser::default()
        .parse(raw)
        .ok_or(MessageError::Unparseable)?;
    let mut attachments = Vec::new();
    for (index, part) in parsed.attachments().enumerate() {
        let content_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{sub}", ct.ctype()),
                None => ct.ctype().to_string(),
            })
            .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string());
        let name = part
            .attachment_name()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map_or_else(|| format!("{UNNAMED}-{}", index + 1), str::to_string);
        let reference = store
            .put(part.contents().to_vec(), &name, &content_type)
            .await
            .map_err(|e| MessageError::Artifact(e.message))?;
        attachments.push(reference);
    }
    let text = parsed
        .text_part(0)
        .filter(|p| p.is_text() && !p.is_text_html())
        .and_then(|p| p.text_contents().map(str::to_string))
        .or_else(|| parsed.body_text(0).map(|t| t.into_owned()));
    let html = parsed
        .html_part(0)
        .filter(|p| p.is_text_html())
        .and_then(|p| p.text_contents().map(str::to_string));
    let (text, cut_text) = truncate(text);
    let (html, cut_html) = truncate(html);
    Ok(EmailData {
        message_id: parsed.message_id().map(str::to_string),
        from: parsed.from().and_then(Address::first).map(mailbox),
        to: parsed.to().map(mailboxes).unwrap_or_default(),
        cc: parsed.cc().map(mailboxes).unwrap_or_default(),
        subject: parsed.subject().map(str::to_string),
        date: parsed.date().map(|d| d.to_rfc3339()),
        text,
        html,
        truncated: cut_text || cut_html,
        headers: headers(parsed.headers_raw()),
        attachments,
    })
}

/// The `Message-ID` of raw bytes, without parsing bodies or storing anything.
pub fn message_id(raw: &[u8]) -> Option<String> {
    MessageParser::new()
        .parse_headers(raw)
        .and_then(|m| m.message_id().map(str::to_string))
}

fn mailbox(addr: &mail_parser::Addr<'_>) -> Mailbox {
    Mailbox {
        name: addr.name().map(str::to_string),
        address: addr.address().map(str::to_string),
    }
}

fn mailboxes(address: &Address<'_>) -> Vec<Mailbox> {
    address.iter().map(mailbox).collect()
}

fn headers<'a>(raw: impl Iterator<Item = (&'a str, &'a str)>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, value) in raw {
        let unfolded = value.split_whitespace().collect::<Vec<_>>().join(" ");
        out.entry(name.to_ascii_lowercase()).or_insert(unfolded);
    }
    out
}

fn truncate(body: Option<String>) -> (Option<String>, bool) {
    match body {
        Some(mut s) if s.len() > MAX_BODY_BYTES => {
            let mut end = MAX_BODY_BYTES;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
            (Some(s), true)
        }
        other => (other, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MULTIPART: &str = "From: Ada <ada@example.com>\r\n\
To: ops@example.com, Bob <bob@example.com>\r\n\
Cc: carol@example.com\r\n\
Subject: =?UTF-8?B?SW52b2ljZSDinJM=?=\r\n\
Date: Sat, 21 Nov 2026 10:00:00 +0100\r\n\
Message-ID: <inv-1@example.com>\r\n\
X-Custom: one\r\n  folded\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: multipart/alternative; boundary=\"b2\"\r\n\
\r\n\
--b2\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Total: 42 EUR\r\n\
--b2\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<p>Total: <b>42 EUR</b></p>\r\n\
--b2--\r\n\
--b1\r\n\
Content-Type: application/octet-stream; name=\"data.bin\"\r\n\
Content-Disposition: attachment; filename=\"data.bin\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
AAECAwQ=\r\n\
--b1--\r\n";

    #[tokio::test]
    async fn parses_fields_bodies_headers_and_stores_attachments() {
        let store = Artifacts::in_memory();
        let data = to_event_data(MULTIPART.as_bytes(), &store)
            .await
            .expect("parses");
        assert_eq!(data.message_id.as_deref(), Some("inv-1@example.com"));
        let from = data.from.as_ref().expect("from");
        assert_eq!(from.name.as_deref(), Some("Ada"));
        assert_eq!(from.address.as_deref(), Some("ada@example.com"));
        assert_eq!(data.to.len(), 2);
        assert_eq!(data.to[1].address.as_deref(), Some("bob@example.com"));
        assert_eq!(data.cc[0].address.as_deref(), Some("carol@example.com"));
        assert_eq!(data.subject.as_deref(), Some("Invoice ✓"));
        assert_eq!(data.date.as_deref(), Some("2026-11-21T10:00:00+01:00"));
        assert_eq!(data.text.as_deref().map(str::trim), Some("Total: 42 EUR"));
        assert!(
            data.html
                .as_deref()
                .expect("html")
                .contains("<b>42 EUR</b>")
        );
        assert_eq!(data.headers["x-custom"], "one folded");
        assert_eq!(data.attachments.len(), 1);
        let a = &data.attachments[0];
        assert_eq!(a.name, "data.bin");
        assert_eq!(a.content_type, "application/octet-stream");
        assert_eq!(a.size, 5);
        assert_eq!(a.id, a.sha256, "content-addressed");
        // `get` checks the bytes against the reference's digest.
        assert_eq!(
            store.get(a).await.expect("stored").as_ref(),
            [0, 1, 2, 3, 4]
        );
        // Exactly an artifact reference: what `uses: email` takes as an attachment.
        let json = serde_json::to_value(a).expect("json");
        let mut keys: Vec<_> = json.as_object().expect("object").keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["content_type", "id", "name", "sha256", "size"]);
        let back: ArtifactRef = serde_json::from_value(json).expect("an ArtifactRef");
        assert_eq!(&back, a);
    }

    #[tokio::test]
    async fn an_attachment_without_name_or_type_gets_defaults() {
        let store = Artifacts::in_memory();
        let raw = "From: a@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nbody\r\n\
--b\r\nContent-Disposition: attachment\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.7\r\n\
--b\r\nContent-Disposition: attachment; filename=\"  \"\r\n\r\nplain\r\n\
--b--\r\n";
        let data = to_event_data(raw.as_bytes(), &store).await.expect("parses");
        let names: Vec<_> = data.attachments.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["attachment-1", "attachment-2"]);
        assert_eq!(data.attachments[0].content_type, "application/pdf");
        assert_eq!(data.attachments[1].content_type, DEFAULT_CONTENT_TYPE);
        assert_eq!(
            store
                .get(&data.attachments[0])
                .await
                .expect("stored")
                .as_ref(),
            b"%PDF-1.7"
        );
    }

    #[tokio::test]
    async fn plain_mail_has_no_html_and_long_bodies_are_cut() {
        let store = Artifacts::in_memory();
        let long = "é".repeat(MAX_BODY_BYTES / 2 + 10);
        let raw = format!(
            "From: a@example.com\r\nSubject: s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{long}\r\n"
        );
        let data = to_event_data(raw.as_bytes(), &store).await.expect("parses");
        assert_eq!(data.html, None);
        assert!(data.truncated);
        let text = data.text.expect("text");
        assert_eq!(text.len(), MAX_BODY_BYTES, "cut on a character boundary");
        assert!(text.chars().all(|c| c == 'é'));
        assert_eq!(data.message_id, None);
        assert!(data.attachments.is_empty());
    }

    #[test]
    fn message_id_from_headers_only() {
        assert_eq!(
            message_id(MULTIPART.as_bytes()).as_deref(),
            Some("inv-1@example.com")
        );
    }
}
