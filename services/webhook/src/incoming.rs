//! CloudEvents over HTTP, as `POST /events` receives them: binary, structured and batch mode
//! (CloudEvents HTTP protocol binding 1.0).
//!
//! Consumes the request headers and body; produces validated [`Event`]s (parsed with
//! cloudevents-sdk's own serde types) or a message naming what is wrong: bad JSON, a missing or
//! empty `id`/`source`/`type`/`specversion`, an unsupported `specversion`, a reserved
//! `dev.weft.*` type, a repeated id in a batch. Touches nothing.

use axum::http::{HeaderMap, header};
use base64::Engine;
use cloudevents::Event;
use serde_json::{Map, Value};
use weft_events::types;

use crate::payload::is_json;

/// Content type of structured mode.
pub const STRUCTURED: &str = "application/cloudevents+json";
/// Content type of batch mode.
pub const BATCH: &str = "application/cloudevents-batch+json";

const REQUIRED: [&str; 4] = ["specversion", "id", "source", "type"];

/// The events of a request, in order.
pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Vec<Event>, String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let events = match media.as_str() {
        STRUCTURED => vec![structured(json(body)?)?],
        BATCH => batch(json(body)?)?,
        _ if headers.contains_key("ce-specversion") || headers.contains_key("ce-id") => {
            vec![binary(headers, content_type, body)?]
        }
        _ => {
            return Err(format!(
                "not a CloudEvent: send `content-type: {STRUCTURED}` (structured mode), \
                 `{BATCH}` (batch mode), or the `ce-specversion`, `ce-id`, `ce-source` and \
                 `ce-type` headers (binary mode)"
            ));
        }
    };
    Ok(events)
}

fn json(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|e| format!("the body is not valid JSON: {e}"))
}

fn batch(value: Value) -> Result<Vec<Event>, String> {
    let Value::Array(items) = value else {
        return Err("a batch must be a JSON array of CloudEvents".into());
    };
    if items.is_empty() {
        return Err("the batch is empty".into());
    }
    let mut seen = std::collections::HashSet::new();
    let mut events = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let event = structured(item).map_err(|e| format!("event [{i}]: {e}"))?;
        let key = (
            event_source(&event),
            cloudevents::AttributesReader::id(&event).to_string(),
        );
        if !seen.insert(key) {
            return Err(format!(
                "event [{i}]: id repeats an earlier event of the batch"
            ));
        }
        events.push(event);
    }
    Ok(events)
}

fn event_source(event: &Event) -> String {
    cloudevents::AttributesReader::source(event).to_string()
}

/// One event in structured form (also what binary mode is turned into).
fn structured(value: Value) -> Result<Event, String> {
    let Value::Object(obj) = &value else {
        return Err("a CloudEvent must be a JSON object".into());
    };
    for attr in REQUIRED {
        match obj.get(attr) {
            None | Some(Value::Null) => return Err(format!("missing required attribute `{attr}`")),
            Some(Value::String(s)) if !s.trim().is_empty() => {}
            Some(_) => return Err(format!("attribute `{attr}` must be a non-empty string")),
        }
    }
    let version = obj["specversion"].as_str().unwrap_or_default();
    if version != "1.0" {
        return Err(format!("unsupported specversion `{version}` (use 1.0)"));
    }
    let ty = obj["type"].as_str().unwrap_or_default();
    if ty.starts_with(types::WEFT_PREFIX) {
        return Err(format!(
            "type `{ty}` is reserved: `{}*` events are produced by Weft only",
            types::WEFT_PREFIX
        ));
    }
    serde_json::from_value(value).map_err(|e| format!("invalid CloudEvent: {e}"))
}

/// Binary mode: attributes in `ce-*` headers, the body is the data.
fn binary(headers: &HeaderMap, content_type: &str, body: &[u8]) -> Result<Event, String> {
    if let Some(attr) = REQUIRED
        .iter()
        .find(|a| !headers.contains_key(format!("ce-{a}").as_str()))
    {
        return Err(format!("missing required header `ce-{attr}` (binary mode)"));
    }
    let mut obj = Map::new();
    for (name, value) in headers {
        let Some(attr) = name.as_str().strip_prefix("ce-") else {
            continue;
        };
        let value = value
            .to_str()
            .map_err(|_| format!("header `{name}` is not text"))?;
        obj.insert(attr.to_string(), Value::String(value.to_string()));
    }
    if !content_type.is_empty() {
        obj.insert("datacontenttype".into(), Value::String(content_type.into()));
    }
    if !body.is_empty() {
        let (key, data) = if content_type.is_empty() || is_json(content_type) {
            ("data", json(body)?)
        } else {
            match std::str::from_utf8(body) {
                Ok(text) if content_type.starts_with("text/") => {
                    ("data", Value::String(text.into()))
                }
                _ => (
                    "data_base64",
                    Value::String(base64::engine::general_purpose::STANDARD.encode(body)),
                ),
            }
        };
        obj.insert(key.into(), data);
    }
    structured(Value::Object(obj))
}

#[cfg(test)]
#[path = "incoming_tests.rs"]
mod tests;
