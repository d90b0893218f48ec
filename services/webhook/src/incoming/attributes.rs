//! One CloudEvent in the JSON event format, checked attribute by attribute (CloudEvents 1.0,
//! "Context Attributes" and "Type System"; JSON format sections 2 and 3).
//!
//! Consumes one JSON value (a structured body, a batch item, or what binary mode decoded);
//! produces the [`Event`] as cloudevents-sdk reads it, or an [`EventError`] naming the attribute.
//! Checked here, because the SDK's serde types do not: every member name follows the naming
//! rule (lower-case a-z and 0-9; `data` and `data_base64` are the data members), `specversion`
//! is `1.0`, `id`, `source` and `type` are present non-empty strings, `subject` is non-empty,
//! `datacontenttype` is a media type, extension values are strings, booleans or 32-bit integers,
//! no string holds a control character or a Unicode noncharacter, and `dev.weft.*` types are
//! Weft's own. `null` means unset. The spec's SHOULDs (start with a letter, at most 20
//! characters) are not enforced: such events are valid. Touches nothing.

use base64::Engine;
use cloudevents::{Data, Event};
use serde_json::{Map, Value};
use weft_events::types;

/// Attributes every event has.
pub(super) const REQUIRED: [&str; 4] = ["specversion", "id", "source", "type"];

/// What is wrong with one event.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The event is not a JSON object.
    #[error("a CloudEvent must be a JSON object")]
    NotObject,
    /// A required attribute is absent or null.
    #[error("missing required attribute `{0}`")]
    Missing(&'static str),
    /// `specversion` is not `1.0`.
    #[error("unsupported specversion `{0}` (use 1.0)")]
    SpecVersion(String),
    /// The type is in Weft's reserved namespace.
    #[error("type `{0}` is reserved: `dev.weft.*` events are produced by Weft only")]
    Reserved(String),
    /// An attribute name breaks the naming rule.
    #[error(
        "attribute name `{0}` is invalid: CloudEvents attribute names are lower-case letters \
         a-z and digits 0-9 only (and not `data`)"
    )]
    Name(String),
    /// An attribute value has the wrong type or content.
    #[error("attribute `{name}` {problem}")]
    Value {
        /// The attribute.
        name: String,
        /// What is wrong, as the rest of a sentence.
        problem: &'static str,
    },
    /// The SDK refused the event (a `time` that is not RFC 3339, a `dataschema` that is not an
    /// absolute URI, bad base64, both `data` and `data_base64`, non-string data for a
    /// non-JSON content type).
    #[error("invalid CloudEvent: {0}")]
    Format(String),
}

/// Whether `name` follows the naming rule: one or more of a-z and 0-9.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// One event, checked, as the SDK reads it.
pub(super) fn event(value: Value) -> Result<Event, EventError> {
    let Value::Object(mut obj) = value else {
        return Err(EventError::NotObject);
    };
    match obj.get("specversion") {
        None | Some(Value::Null) => return Err(EventError::Missing("specversion")),
        Some(Value::String(v)) if v == "1.0" => {}
        Some(Value::String(v)) => {
            return Err(EventError::SpecVersion(v.escape_debug().to_string()));
        }
        Some(_) => return Err(bad("specversion", "must be a string")),
    }
    // Names first: a member with a bad name is refused even when it is null (unset).
    if let Some(name) = obj.keys().find(|k| !is_data(k) && !valid_name(k)) {
        return Err(EventError::Name(name.escape_debug().to_string()));
    }
    obj.retain(|name, v| !v.is_null() || is_data(name));
    for attr in REQUIRED {
        if !obj.contains_key(attr) {
            return Err(EventError::Missing(attr));
        }
    }
    for (name, value) in &obj {
        check(name, value)?;
    }
    if let Some(Value::String(ty)) = obj.get("type")
        && ty.starts_with(types::WEFT_PREFIX)
    {
        return Err(EventError::Reserved(ty.escape_debug().to_string()));
    }
    let bytes = binary_without_type(&obj)?;
    let mut event: Event = serde_json::from_value(Value::Object(obj))
        .map_err(|e| EventError::Format(e.to_string()))?;
    if let Some(bytes) = bytes {
        // `data_base64` without `datacontenttype` is binary: no JSON may be assumed (JSON
        // format 3.1.2), but the SDK reads it as JSON when it parses as JSON.
        event.set_data_unchecked(Data::Binary(bytes));
    }
    Ok(event)
}

fn is_data(name: &str) -> bool {
    name == "data" || name == "data_base64"
}

fn bad(name: &str, problem: &'static str) -> EventError {
    EventError::Value {
        name: name.to_string(),
        problem,
    }
}

/// One member of the event object (nulls are already gone).
fn check(name: &str, value: &Value) -> Result<(), EventError> {
    if is_data(name) {
        return Ok(());
    }
    match (name, value) {
        ("specversion", _) => Ok(()),
        ("id" | "source" | "type" | "subject" | "dataschema", Value::String(s)) if s.is_empty() => {
            Err(bad(name, "must be a non-empty string"))
        }
        ("datacontenttype", Value::String(s)) if !is_media_type(s) => Err(bad(
            name,
            "must be a media type such as `application/json` (RFC 2046)",
        )),
        (
            "id" | "source" | "type" | "subject" | "dataschema" | "datacontenttype" | "time",
            Value::String(s),
        ) => text(name, s),
        ("id" | "source" | "type" | "subject" | "dataschema" | "datacontenttype" | "time", _) => {
            Err(bad(name, "must be a string"))
        }
        // Extensions: the JSON mapping of the CloudEvents types.
        (_, Value::String(s)) => text(name, s),
        (_, Value::Bool(_)) => Ok(()),
        (_, Value::Number(n)) => match n.as_i64() {
            Some(i) if i32::try_from(i).is_ok() => Ok(()),
            Some(_) => Err(bad(
                name,
                "is an integer outside the 32-bit range CloudEvents allows",
            )),
            None => Err(bad(
                name,
                "must be an integer (CloudEvents has no fractional numbers)",
            )),
        },
        _ => Err(bad(
            name,
            "must be a string, a boolean or an integer (CloudEvents attribute types)",
        )),
    }
}

/// A CloudEvents `String`: no control characters, no noncharacters (U+0000 was refused before).
fn text(name: &str, s: &str) -> Result<(), EventError> {
    if s.chars().any(char::is_control) {
        return Err(bad(
            name,
            "holds a control character (U+0000-U+001F, U+007F-U+009F), which CloudEvents \
             strings cannot",
        ));
    }
    if s.chars().any(is_noncharacter) {
        return Err(bad(
            name,
            "holds a Unicode noncharacter, which CloudEvents strings cannot",
        ));
    }
    Ok(())
}

fn is_noncharacter(c: char) -> bool {
    let c = u32::from(c);
    (0xFDD0..=0xFDEF).contains(&c) || c & 0xFFFE == 0xFFFE
}

/// `type/subtype`, each part a non-empty token without spaces.
fn is_media_type(content_type: &str) -> bool {
    let media = crate::payload::media_type(content_type);
    let token = |s: &str| !s.is_empty() && !s.contains(|c: char| c.is_whitespace() || c == '/');
    media
        .split_once('/')
        .is_some_and(|(ty, sub)| token(ty) && token(sub))
}

/// The decoded bytes of `data_base64` when the event has no `datacontenttype`.
fn binary_without_type(obj: &Map<String, Value>) -> Result<Option<Vec<u8>>, EventError> {
    match (obj.get("data_base64"), obj.contains_key("datacontenttype")) {
        (Some(Value::String(b64)), false) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map(Some)
            .map_err(|e| EventError::Format(format!("`data_base64` is not base64: {e}"))),
        _ => Ok(None),
    }
}
