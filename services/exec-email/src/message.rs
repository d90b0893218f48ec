//! Builds the RFC 5322 message and its SMTP envelope from a step's `with:`.
//!
//! Consumes an [`EmailWith`], its resolved attachments and the Message-ID
//! ([`message_id`]); produces an [`Outgoing`]: envelope sender, the de-duplicated recipients
//! (`to`, `cc`, `bcc`) and the message bytes. `Bcc` never appears in the headers. The MIME
//! shape is `text/plain` or `text/html` alone, `multipart/alternative` for both, wrapped in
//! `multipart/mixed` when there are attachments. Every problem is a permanent `bad_input`
//! naming the field. Touches nothing.

use lettre::Address;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment as MimeAttachment, Mailbox, MultiPart, SinglePart};
use uuid::Uuid;

use crate::attachments::ResolvedAttachment;
use weft_executor::StepError;

use crate::bad_input;
use crate::with::{Addresses, EmailWith};

/// A message ready for SMTP.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// `MAIL FROM` (the `from` address).
    pub sender: Address,
    /// `RCPT TO`, in the order `to`, `cc`, `bcc`, each address once.
    pub recipients: Vec<Address>,
    /// The `Message-ID` header's value, with angle brackets.
    pub message_id: String,
    /// The whole message (headers and body), CRLF line ends.
    pub bytes: Vec<u8>,
}

/// Header fields the step sets itself: `headers` may not set them.
const RESERVED_HEADERS: [&str; 11] = [
    "from",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "subject",
    "message-id",
    "date",
    "mime-version",
    "sender",
    "return-path",
];

/// UUID namespace of Weft's email Message-IDs (a fixed random v4).
const MESSAGE_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f0b_3a8e_5c1d_4b7a_9e21_7d4c_8a90_f3b5);

/// The Message-ID of the one message a step of an execution sends:
/// `<UUIDv5(execution_id/step_id)@domain>`, the same for every attempt and redelivery of the
/// step. `domain` falls back to `weft.invalid` when it is not a plain ASCII domain.
pub fn message_id(execution_id: Uuid, step_id: &str, domain: &str) -> String {
    let key = format!("{execution_id}/{step_id}");
    let id = Uuid::new_v5(&MESSAGE_ID_NAMESPACE, key.as_bytes());
    let plain = !domain.is_empty()
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    let domain = if plain { domain } else { "weft.invalid" };
    format!("<{}@{}>", id.simple(), domain.to_ascii_lowercase())
}

/// The sender's domain (for [`message_id`]), if `from` parses.
pub fn sender_domain(from: &str) -> Option<String> {
    from.parse::<Mailbox>()
        .ok()
        .map(|m| m.email.domain().to_string())
}

/// Builds the message. `message_id` comes from [`message_id`].
pub fn build(
    with: &EmailWith,
    attachments: Vec<ResolvedAttachment>,
    message_id: String,
    max_bytes: usize,
) -> Result<Outgoing, StepError> {
    let from = mailbox("from", &with.from)?;
    let to = mailboxes("to", &with.to)?;
    let cc = mailboxes("cc", &with.cc)?;
    let bcc = mailboxes("bcc", &with.bcc)?;
    let reply_to = mailboxes("reply_to", &with.reply_to)?;

    let mut recipients: Vec<Address> = Vec::new();
    for m in to.iter().chain(&cc).chain(&bcc) {
        let a = &m.email;
        if !recipients
            .iter()
            .any(|r| AsRef::<str>::as_ref(r).eq_ignore_ascii_case(AsRef::<str>::as_ref(a)))
        {
            recipients.push(a.clone());
        }
    }
    if recipients.is_empty() {
        return Err(bad_input(
            "no recipient: give at least one address in `to`, `cc` or `bcc`",
        ));
    }

    let body_bytes = with.text.as_ref().map_or(0, String::len)
        + with.html.as_ref().map_or(0, String::len)
        + attachments.iter().map(|a| a.bytes.len()).sum::<usize>();
    if body_bytes > max_bytes {
        return Err(bad_input(format!(
            "the message ({body_bytes} bytes of bodies and attachments) exceeds the largest \
             this agent sends ({max_bytes} bytes, setting max_message_bytes)"
        )));
    }

    let mut builder = lettre::Message::builder()
        .from(from.clone())
        .subject(one_line(&with.subject))
        .message_id(Some(message_id.clone()))
        .envelope(
            lettre::address::Envelope::new(Some(from.email.clone()), recipients.clone())
                .map_err(|e| bad_input(format!("envelope: {e}")))?,
        );
    for m in to {
        builder = builder.to(m);
    }
    for m in cc {
        builder = builder.cc(m);
    }
    for m in reply_to {
        builder = builder.reply_to(m);
    }
    for (name, value) in &with.headers {
        builder = builder.raw_header(header(name, value)?);
    }

    let body = body(with)?;
    let message = if attachments.is_empty() {
        match body {
            Some(Body::Single(part)) => builder.singlepart(part),
            Some(Body::Multi(part)) => builder.multipart(part),
            None => builder.singlepart(SinglePart::plain(String::new())),
        }
    } else {
        let mut mixed = MultiPart::mixed().build();
        mixed = match body {
            Some(Body::Single(part)) => mixed.singlepart(part),
            Some(Body::Multi(part)) => mixed.multipart(part),
            None => mixed,
        };
        for (index, a) in attachments.into_iter().enumerate() {
            let content_type = ContentType::parse(&a.content_type).map_err(|e| {
                bad_input(format!(
                    "attachments[{index}] ({:?}): content_type {:?}: {e}",
                    a.name, a.content_type
                ))
            })?;
            mixed = mixed.singlepart(MimeAttachment::new(a.name).body(a.bytes, content_type));
        }
        builder.multipart(mixed)
    }
    .map_err(|e| bad_input(format!("cannot build the message: {e}")))?;

    Ok(Outgoing {
        sender: from.email,
        recipients,
        message_id,
        bytes: message.formatted(),
    })
}

enum Body {
    Single(SinglePart),
    Multi(MultiPart),
}

fn body(with: &EmailWith) -> Result<Option<Body>, StepError> {
    Ok(match (&with.text, &with.html) {
        (Some(text), Some(html)) => Some(Body::Multi(MultiPart::alternative_plain_html(
            text.clone(),
            html.clone(),
        ))),
        (Some(text), None) => Some(Body::Single(SinglePart::plain(text.clone()))),
        (None, Some(html)) => Some(Body::Single(SinglePart::html(html.clone()))),
        (None, None) => None,
    })
}

/// A subject from an expression may hold line breaks (a header injection otherwise): fold
/// them into spaces.
fn one_line(text: &str) -> String {
    text.split(['\r', '\n'])
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn mailbox(field: &str, text: &str) -> Result<Mailbox, StepError> {
    text.trim()
        .parse::<Mailbox>()
        .map_err(|e| bad_input(format!("{field}: {text:?} is not an email address: {e}")))
}

fn mailboxes(field: &str, addresses: &Addresses) -> Result<Vec<Mailbox>, StepError> {
    addresses
        .as_slice()
        .iter()
        .enumerate()
        .map(|(i, text)| mailbox(&format!("{field}[{i}]"), text))
        .collect()
}

/// A custom header: a valid field name (printable ASCII, no `:`), not one the step sets, and a
/// value without control characters (no line break: no header injection).
fn header(name: &str, value: &str) -> Result<HeaderValue, StepError> {
    let valid_name = !name.is_empty()
        && name.len() <= 76
        && name.bytes().all(|b| (33..=126).contains(&b) && b != b':');
    if !valid_name {
        return Err(bad_input(format!(
            "headers: {name:?} is not a header field name (printable ASCII without `:`)"
        )));
    }
    let lower = name.to_ascii_lowercase();
    if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("content-") {
        return Err(bad_input(format!(
            "headers: {name} is set by the step itself (use the matching field of `with`)"
        )));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(bad_input(format!(
            "headers: the value of {name} holds a line break or control character"
        )));
    }
    let name = HeaderName::new_from_ascii(name.to_string())
        .map_err(|_| bad_input(format!("headers: {name:?} is not a header name")))?;
    Ok(HeaderValue::new(name, value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use weft_executor::ErrorCode;

    fn with(extra: serde_json::Value) -> EmailWith {
        let mut base = json!({
            "smtp": {"host": "h"},
            "from": "Weft <robot@example.com>",
            "to": "a@example.com",
        });
        for (k, v) in extra.as_object().expect("object") {
            base[k] = v.clone();
        }
        serde_json::from_value(base).expect("with parses")
    }

    fn built(extra: serde_json::Value) -> Result<Outgoing, StepError> {
        build(&with(extra), Vec::new(), "<id@example.com>".into(), 1 << 20)
    }

    fn text(o: &Outgoing) -> String {
        String::from_utf8_lossy(&o.bytes).into_owned()
    }

    #[test]
    fn message_id_is_per_step_not_per_attempt() {
        let exec = Uuid::from_u128(7);
        let a = message_id(exec, "notify", "example.com");
        assert_eq!(a, message_id(exec, "notify", "example.com"));
        assert_ne!(a, message_id(exec, "other", "example.com"));
        assert_ne!(a, message_id(Uuid::from_u128(8), "notify", "example.com"));
        assert!(a.starts_with('<') && a.ends_with("@example.com>"), "{a}");
        assert!(message_id(exec, "s", "exa mple").ends_with("@weft.invalid>"));
    }

    #[test]
    fn recipients_are_deduplicated_and_bcc_is_not_a_header() {
        let o = built(json!({
            "to": ["a@example.com", "b@example.com"],
            "cc": "A@example.com",
            "bcc": ["secret@example.com", "b@example.com"],
        }))
        .expect("builds");
        let rcpt: Vec<String> = o.recipients.iter().map(ToString::to_string).collect();
        assert_eq!(
            rcpt,
            ["a@example.com", "b@example.com", "secret@example.com"]
        );
        let t = text(&o);
        assert!(!t.to_ascii_lowercase().contains("bcc:"), "{t}");
        assert!(!t.contains("secret@example.com"), "{t}");
        assert_eq!(o.sender.to_string(), "robot@example.com");
    }

    #[test]
    fn no_recipient_and_bad_addresses_are_bad_input() {
        let err = built(json!({"to": []})).expect_err("no recipient");
        assert_eq!(err.code, ErrorCode::BadInput);
        assert!(err.message.contains("no recipient"));
        let err = built(json!({"cc": ["ok@example.com", "not an address"]})).expect_err("bad");
        assert!(err.message.contains("cc[1]"), "{}", err.message);
        let err = built(json!({"from": "nobody"})).expect_err("bad from");
        assert!(err.message.starts_with("from:"), "{}", err.message);
    }

    #[test]
    fn header_injection_is_impossible() {
        for headers in [
            json!({"X-A": "v\r\nBcc: evil@example.com"}),
            json!({"X-A\r\nBcc": "evil@example.com"}),
            json!({"Subject": "again"}),
            json!({"content-type": "text/plain"}),
            json!({"X A": "v"}),
        ] {
            let err = built(json!({"headers": headers.clone()})).expect_err("refused");
            assert_eq!(err.code, ErrorCode::BadInput, "{headers}");
        }
        let o = built(json!({"subject": "hi\r\nBcc: evil@example.com"})).expect("folded");
        let t = text(&o);
        assert!(!t.contains("\r\nBcc:"), "{t}");
    }

    #[test]
    fn custom_headers_are_kept() {
        let o = built(json!({"headers": {"In-Reply-To": "<x@y>", "X-Campaign": "spring"}}))
            .expect("builds");
        let t = text(&o);
        assert!(t.contains("In-Reply-To: <x@y>\r\n"), "{t}");
        assert!(t.contains("X-Campaign: spring\r\n"), "{t}");
        assert!(t.contains("Message-ID: <id@example.com>\r\n"), "{t}");
    }

    #[test]
    fn too_large_is_refused() {
        let err = build(
            &with(json!({"text": "x".repeat(100)})),
            Vec::new(),
            "<i@d>".into(),
            99,
        )
        .expect_err("too big");
        assert!(err.message.contains("max_message_bytes"));
    }

    #[test]
    fn a_bad_attachment_content_type_names_it() {
        let a = ResolvedAttachment {
            name: "x.bin".into(),
            content_type: "not a type".into(),
            bytes: vec![1],
        };
        let err = build(&with(json!({})), vec![a], "<i@d>".into(), 100).expect_err("bad type");
        assert!(err.message.contains("attachments[0]"), "{}", err.message);
    }
}
