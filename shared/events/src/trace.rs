//! W3C trace context (`traceparent`), carried on every CloudEvent as the CloudEvents
//! distributed-tracing extension, so one trace id follows an event from the webhook through the
//! router, every task and result, the lifecycle events and out of the HTTP executor to the
//! called service.
//!
//! Written here rather than taken from `opentelemetry`: Weft only needs to parse, create and
//! derive the header (W3C Trace Context level 1, version `00`), which is a few lines; the
//! OpenTelemetry SDK would add an exporter pipeline that nothing consumes yet.

use cloudevents::{Event, event::ExtensionValue};
use uuid::Uuid;

/// The CloudEvents extension attribute (and HTTP header) name.
pub const TRACEPARENT: &str = "traceparent";

/// A valid `traceparent`: `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    trace_id: String,
    flags: String,
}

impl TraceParent {
    /// Parse a header value; `None` when it is not a valid version-00 traceparent.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.trim().split('-');
        let (version, trace_id, span_id, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |p: &str, n: usize| {
            p.len() == n
                && p.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let nonzero = |p: &str| p.bytes().any(|b| b != b'0');
        let valid = parts.next().is_none()
            && version == "00"
            && hex(trace_id, 32)
            && nonzero(trace_id)
            && hex(span_id, 16)
            && nonzero(span_id)
            && hex(flags, 2);
        valid.then(|| Self {
            trace_id: trace_id.to_string(),
            flags: flags.to_string(),
        })
    }

    /// A new trace (sampled).
    pub fn new_root() -> Self {
        Self {
            trace_id: Uuid::new_v4().simple().to_string(),
            flags: "01".into(),
        }
    }

    /// The trace id (32 hex digits).
    pub fn trace_id(&self) -> &str {
        &self.trace_id
    }

    /// A header value for a new span in this trace.
    pub fn child(&self) -> String {
        let span = Uuid::new_v4().simple().to_string();
        format!("00-{}-{}-{}", self.trace_id, &span[..16], self.flags)
    }
}

/// A new span in the trace `parent` belongs to — an incoming `traceparent` header or the one
/// of the event being handled — or in a new trace when there is no valid parent.
pub fn child_of(parent: Option<&str>) -> String {
    parent
        .and_then(TraceParent::parse)
        .unwrap_or_else(TraceParent::new_root)
        .child()
}

/// Set the event's `traceparent` extension.
pub fn set(event: &mut Event, traceparent: &str) {
    event.set_extension(TRACEPARENT, traceparent.to_string());
}

/// The event's `traceparent` extension, when it has a valid one.
pub fn get(event: &Event) -> Option<String> {
    match event.extension(TRACEPARENT) {
        Some(ExtensionValue::String(s)) if TraceParent::parse(s).is_some() => Some(s.clone()),
        _ => None,
    }
}

/// The `traceparent` of an event already turned into JSON (as stored with an execution).
pub fn from_json(event: &serde_json::Value) -> Option<&str> {
    event
        .get(TRACEPARENT)
        .and_then(|v| v.as_str())
        .filter(|s| TraceParent::parse(s).is_some())
}

/// The id an event is known by in logs: its trace id, when it has one.
pub fn trace_id(event: &Event) -> Option<String> {
    get(event)
        .and_then(|t| TraceParent::parse(&t))
        .map(|t| t.trace_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_the_w3c_example_and_rejects_bad_ones() {
        let tp = TraceParent::parse(VALID).expect("valid");
        assert_eq!(tp.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert!(TraceParent::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn children_keep_the_trace_and_get_a_new_span() {
        let child = child_of(Some(VALID));
        let parsed = TraceParent::parse(&child).expect("valid child");
        assert_eq!(parsed.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(child, VALID);
        let fresh = child_of(Some("garbage"));
        assert!(TraceParent::parse(&fresh).is_some());
        assert_ne!(
            TraceParent::parse(&fresh).expect("p").trace_id(),
            parsed.trace_id()
        );
    }

    #[test]
    fn rides_on_events() {
        let mut ev = crate::new_event("e", "t", "s", None, serde_json::json!({}));
        assert_eq!(get(&ev), None);
        set(&mut ev, VALID);
        assert_eq!(get(&ev).as_deref(), Some(VALID));
        let back = crate::decode_event(&crate::encode_event(&ev)).expect("decodes");
        assert_eq!(get(&back).as_deref(), Some(VALID));
        let json = crate::event_json(&back);
        assert_eq!(from_json(&json), Some(VALID));
    }
}
