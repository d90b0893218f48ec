//! CloudEvents over HTTP, as `POST /events` receives them: binary, structured and batch mode
//! (CloudEvents 1.0: the HTTP protocol binding and the JSON event and batch formats).
//!
//! Consumes the request headers and body; produces the validated [`Event`]s in order (an empty
//! batch gives none) or an [`IncomingError`] naming what is wrong. Touches nothing.
//!
//! - Structured and batch bodies are checked member by member ([`attributes`]) and then read
//!   with cloudevents-sdk's own serde types.
//! - Binary mode is decoded here ([`binary`]), not with cloudevents-sdk's HTTP binding
//!   (`cloudevents::binding::http::to_event`, 0.9.0): that binding neither unquotes nor
//!   percent-decodes `ce-*` header values (spec section 3.1.3.2), so `%20` and `%E2%82%AC`
//!   would be stored as typed and an invalid UTF-8 sequence could not be refused; it accepts
//!   any `ce-*` name, also ones the naming rule forbids; it assumes JSON when there is no
//!   `Content-Type`; and it has no batch mode. The headers become the equivalent structured
//!   object, which then goes through the same checks as a structured event.
//! - Text holding U+0000 anywhere (JSON strings and keys, decoded header values, a text body)
//!   is refused as [`IncomingError::Nul`] before any other check, naming where it is: Weft's
//!   policy, PostgreSQL cannot store it (see `weft_events::text`).

mod attributes;
mod binary;

use axum::http::{HeaderMap, header};
use cloudevents::{AttributesReader, Event};
use serde_json::Value;

use crate::payload::media_type;

pub use attributes::{EventError, valid_name};
pub use binary::{HeaderError, decode_header_value, encode_header_value};

/// Content type of structured mode.
pub const STRUCTURED: &str = "application/cloudevents+json";
/// Content type of batch mode.
pub const BATCH: &str = "application/cloudevents-batch+json";

/// Why a request carries no acceptable CloudEvents. Every variant is a client error (400).
#[derive(Debug, thiserror::Error)]
pub enum IncomingError {
    /// The request is in none of the three modes.
    #[error(
        "not a CloudEvent: send `content-type: {STRUCTURED}` (structured mode), `{BATCH}` \
         (batch mode), or the `ce-specversion`, `ce-id`, `ce-source` and `ce-type` headers \
         (binary mode)"
    )]
    NotCloudEvent,
    /// A structured or batch body, or a binary body with a JSON content type, is not JSON.
    #[error("the body is not valid JSON: {0}")]
    InvalidJson(serde_json::Error),
    /// A batch body is not a JSON array.
    #[error("a batch must be a JSON array of CloudEvents")]
    NotBatch,
    /// Text holds U+0000, which Weft cannot store.
    #[error("U+0000 (NUL) is not accepted in text (PostgreSQL cannot store it): at {at}")]
    Nul {
        /// Where: a JSON path (`$[1].data.note`), a header (`header ce-subject`) or the body.
        at: String,
    },
    /// A binary-mode header is malformed.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// The event (structured or binary mode) is not a valid CloudEvent.
    #[error(transparent)]
    Event(#[from] EventError),
    /// An event of a batch is not a valid CloudEvent.
    #[error("event [{index}]: {error}")]
    InBatch {
        /// Position in the batch, from 0.
        index: usize,
        /// What is wrong with it.
        error: EventError,
    },
    /// Two events of a batch have the same `(source, id)`.
    #[error("event [{index}]: source and id repeat an earlier event of the batch")]
    RepeatedInBatch {
        /// Position of the repetition, from 0.
        index: usize,
    },
}

/// The events of a request, in order.
pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Vec<Event>, IncomingError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match media_type(content_type).as_str() {
        STRUCTURED => Ok(vec![attributes::event(no_nul(json(body)?)?)?]),
        BATCH => batch(no_nul(json(body)?)?),
        _ if binary::is_binary_mode(headers) => Ok(vec![binary::event(headers, body)?]),
        _ => Err(IncomingError::NotCloudEvent),
    }
}

fn json(body: &[u8]) -> Result<Value, IncomingError> {
    serde_json::from_slice(body).map_err(IncomingError::InvalidJson)
}

/// `value` unless it holds U+0000 somewhere.
fn no_nul(value: Value) -> Result<Value, IncomingError> {
    match weft_events::text::find_nul(&value) {
        Some(at) => Err(IncomingError::Nul { at }),
        None => Ok(value),
    }
}

fn batch(value: Value) -> Result<Vec<Event>, IncomingError> {
    let Value::Array(items) = value else {
        return Err(IncomingError::NotBatch);
    };
    let mut seen = std::collections::HashSet::new();
    let mut events = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let event =
            attributes::event(item).map_err(|error| IncomingError::InBatch { index, error })?;
        if !seen.insert((event.source().to_string(), event.id().to_string())) {
            return Err(IncomingError::RepeatedInBatch { index });
        }
        events.push(event);
    }
    Ok(events)
}

#[cfg(test)]
mod tests;
