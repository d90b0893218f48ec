//! Binary content mode (HTTP protocol binding, section 3.1): attributes in `ce-*` headers, the
//! body is the data, `Content-Type` is `datacontenttype`.
//!
//! Consumes the request headers and body; produces the equivalent structured-mode JSON object,
//! which [`super::attributes`] then checks like any structured event. Header values are decoded
//! as section 3.1.3.2 says ([`decode_header_value`]): double-quoted strings are unescaped, then
//! one round of percent-decoding (either hex case) is applied, and a byte sequence that is not
//! UTF-8 afterwards (such as the overlong `%C0%A0`) is refused. A `%` not followed by two hex
//! digits stays as it is (older senders did not encode `%`). Header names must be `ce-` plus a
//! valid attribute name; `ce-datacontenttype` is not allowed (the spec says `Content-Type`
//! carries it), and an attribute given twice is refused. The body becomes `data` when the
//! content type is JSON (it must parse) or text (UTF-8 and not an octet-stream, image, audio or
//! video type), else `data_base64`; without a `Content-Type` it is binary (no type is inferred).
//! Touches nothing.

use axum::http::{HeaderMap, header};
use base64::Engine;
use serde_json::{Map, Value};
use weft_events::text::NUL;

use super::{IncomingError, attributes};
use crate::payload;

/// A malformed binary-mode header.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    /// A required attribute has no header.
    #[error("missing required header `ce-{0}` (binary mode)")]
    Missing(&'static str),
    /// The header's name is not `ce-` plus a valid attribute name.
    #[error(
        "header `{0}` names no valid attribute: CloudEvents attribute names are lower-case \
         letters a-z and digits 0-9 only (and not `data`)"
    )]
    Name(String),
    /// `ce-datacontenttype` was sent.
    #[error(
        "header `ce-datacontenttype` is not allowed in binary mode: `Content-Type` carries the \
         data's content type"
    )]
    ContentTypeAttribute,
    /// The same attribute header came more than once.
    #[error("header `{0}` is repeated: an attribute has one value")]
    Repeated(String),
    /// The value cannot be decoded.
    #[error("header `{name}` {problem}")]
    Value {
        /// The header.
        name: String,
        /// What is wrong, as the rest of a sentence.
        problem: &'static str,
    },
}

/// Whether the request is in binary mode.
pub(super) fn is_binary_mode(headers: &HeaderMap) -> bool {
    headers.contains_key("ce-specversion") || headers.contains_key("ce-id")
}

/// The event of a binary-mode request.
pub(super) fn event(headers: &HeaderMap, body: &[u8]) -> Result<cloudevents::Event, IncomingError> {
    if let Some(attr) = attributes::REQUIRED
        .into_iter()
        .find(|a| !headers.contains_key(format!("ce-{a}").as_str()))
    {
        return Err(HeaderError::Missing(attr).into());
    }
    let mut obj = Map::new();
    for name in headers.keys() {
        let Some(attr) = name.as_str().strip_prefix("ce-") else {
            continue;
        };
        if attr == "datacontenttype" {
            return Err(HeaderError::ContentTypeAttribute.into());
        }
        if !attributes::valid_name(attr) || attr == "data" {
            return Err(HeaderError::Name(name.to_string()).into());
        }
        let mut values = headers.get_all(name).iter();
        let (Some(raw), None) = (values.next(), values.next()) else {
            return Err(HeaderError::Repeated(name.to_string()).into());
        };
        let value = decode_header_value(raw.as_bytes()).map_err(|problem| HeaderError::Value {
            name: name.to_string(),
            problem,
        })?;
        if value.contains(NUL) {
            return Err(IncomingError::Nul {
                at: format!("header `{name}`"),
            });
        }
        obj.insert(attr.to_string(), Value::String(value));
    }
    let content_type = match headers.get(header::CONTENT_TYPE) {
        Some(v) => Some(v.to_str().map_err(|_| HeaderError::Value {
            name: "content-type".into(),
            problem: "is not visible ASCII",
        })?),
        None => None,
    };
    if let Some(ct) = content_type {
        obj.insert("datacontenttype".into(), Value::String(ct.to_string()));
    }
    if !body.is_empty() {
        let (key, data) = data(content_type, body)?;
        obj.insert(key.into(), data);
    }
    Ok(attributes::event(Value::Object(obj))?)
}

/// The body as the JSON member of the structured form: `data` or `data_base64`.
fn data(content_type: Option<&str>, body: &[u8]) -> Result<(&'static str, Value), IncomingError> {
    let base64 = || {
        let encoded = base64::engine::general_purpose::STANDARD.encode(body);
        ("data_base64", Value::String(encoded))
    };
    let Some(ct) = content_type else {
        return Ok(base64());
    };
    if payload::is_json(ct) {
        let value: Value = serde_json::from_slice(body).map_err(IncomingError::InvalidJson)?;
        if let Some(at) = weft_events::text::find_nul(&value) {
            return Err(IncomingError::Nul {
                at: format!("body {at}"),
            });
        }
        return Ok(("data", value));
    }
    match std::str::from_utf8(body) {
        Ok(text) if !payload::is_binary(ct) => {
            if text.contains(NUL) {
                return Err(IncomingError::Nul { at: "body".into() });
            }
            Ok(("data", Value::String(text.to_string())))
        }
        _ => Ok(base64()),
    }
}

/// A `ce-*` header value as section 3.1.3.2 says: unescape double-quoted strings, percent-decode
/// once, require UTF-8. The error is the rest of a sentence about the header.
pub fn decode_header_value(raw: &[u8]) -> Result<String, &'static str> {
    let unquoted = unquote(raw)?;
    String::from_utf8(percent_decode(&unquoted))
        .map_err(|_| "is not valid UTF-8 after percent-decoding (HTTP binding, section 3.1.3.2)")
}

/// The sender's side of [`decode_header_value`] (section 3.1.3.2): space, `"`, `%` and every
/// character outside printable ASCII are percent-encoded as UTF-8 bytes, upper-case hex.
pub fn encode_header_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '!'..='~') && c != '"' && c != '%' {
            out.push(c);
        } else {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// RFC 7230 section 3.2.6: a `"…"` part loses its quotes, and `\x` inside it becomes `x`.
fn unquote(raw: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::with_capacity(raw.len());
    let mut quoted = false;
    let mut bytes = raw.iter().copied();
    while let Some(b) = bytes.next() {
        match (quoted, b) {
            (_, b'"') => quoted = !quoted,
            (true, b'\\') => match bytes.next() {
                Some(escaped) => out.push(escaped),
                None => return Err("ends inside a backslash escape"),
            },
            _ => out.push(b),
        }
    }
    if quoted {
        return Err("has a double-quoted string that is not closed");
    }
    Ok(out)
}

/// One round of percent-decoding; `%` without two hex digits after it is kept.
fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let escaped = match input.get(i..i + 3) {
            Some([b'%', hi, lo]) => hex(*hi).zip(hex(*lo)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(input[i]);
                i += 1;
            }
        }
    }
    out
}

fn hex(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}
