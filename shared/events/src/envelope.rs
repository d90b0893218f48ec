//! CloudEvents in structured JSON mode, as carried on NATS.

use chrono::Utc;
use cloudevents::{AttributesReader, Event, EventBuilder, EventBuilderV10};
use serde_json::Value;

/// A message on the bus that is not a valid CloudEvent.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not a CloudEvent in structured JSON mode.
    #[error("not a CloudEvent in structured JSON mode: {0}")]
    NotCloudEvent(#[from] serde_json::Error),
    /// The event carries no data, or data that is not JSON.
    #[error("event {id} of type {ty} carries no JSON data")]
    NoJsonData {
        /// The event's id.
        id: String,
        /// The event's type.
        ty: String,
    },
}

/// Build a CloudEvent with JSON data. `subject` is the CloudEvent `subject` attribute.
pub fn new_event(
    id: impl Into<String>,
    ty: &str,
    source: &str,
    subject: Option<&str>,
    data: Value,
) -> Event {
    let mut builder = EventBuilderV10::new()
        .id(id.into())
        .ty(ty)
        .source(source)
        .time(Utc::now())
        .data("application/json", data);
    if let Some(subject) = subject {
        builder = builder.subject(subject);
    }
    // Every attribute above is set, so the builder cannot fail; keep the error path anyway.
    builder.build().unwrap_or_else(|_| Event::default())
}

/// Serialize an event for the bus.
pub fn encode_event(event: &Event) -> Vec<u8> {
    // Serializing an Event (strings, a timestamp and a JSON value) cannot fail.
    serde_json::to_vec(event).unwrap_or_default()
}

/// Parse an event from the bus.
pub fn decode_event(bytes: &[u8]) -> Result<Event, DecodeError> {
    Ok(serde_json::from_slice(bytes)?)
}

/// The JSON payload of an event, when it has one.
pub fn data_json(event: &Event) -> Result<Value, DecodeError> {
    match event.data() {
        Some(cloudevents::Data::Json(v)) => Ok(v.clone()),
        Some(cloudevents::Data::String(s)) => {
            Ok(serde_json::from_str(s).unwrap_or(Value::String(s.clone())))
        }
        Some(cloudevents::Data::Binary(b)) => serde_json::from_slice(b).map_err(|_| no_data(event)),
        None => Err(no_data(event)),
    }
}

fn no_data(event: &Event) -> DecodeError {
    DecodeError::NoJsonData {
        id: event.id().to_string(),
        ty: event.ty().to_string(),
    }
}

/// The event as the JSON object expressions see as `event`: `id`, `type`, `source`, `subject`,
/// `time`, `data` and any extension attributes.
pub fn event_json(event: &Event) -> Value {
    let mut v = serde_json::to_value(event).unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        // Missing (`data_base64`) or string data: expose the decoded value as `data`.
        let decode = matches!(obj.get("data"), None | Some(Value::String(_)));
        if let (true, Ok(data)) = (decode, data_json(event)) {
            obj.insert("data".into(), data);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_and_exposes_data() {
        let ev = new_event(
            "e1",
            "dev.weft.test",
            "weft/test",
            Some("s"),
            json!({"a": 1}),
        );
        let back = decode_event(&encode_event(&ev)).expect("decodes");
        assert_eq!(back.id(), "e1");
        assert_eq!(data_json(&back).expect("data"), json!({"a": 1}));
        let j = event_json(&back);
        assert_eq!(j["type"], "dev.weft.test");
        assert_eq!(j["subject"], "s");
        assert_eq!(j["data"]["a"], 1);
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode_event(b"{not json").is_err());
    }
}
