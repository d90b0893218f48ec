//! Deterministic identifiers.
//!
//! Ids derived from their inputs make every hop idempotent: a re-published event keeps its
//! message id (JetStream drops it inside the duplicate window), and an execution id derived
//! from the workflow and the event makes a second execution for the same event impossible.
//!
//! An event is identified by its CloudEvents `(source, id)` pair, not by `id` alone: the spec
//! only asks producers to keep `source` + `id` unique, so two senders may well use the same
//! `id`. Both [`message_id`] and [`execution_id`] therefore take the source. Weft's own events
//! (UUIDs it makes, under `weft/…` sources) go through the same functions.

use uuid::Uuid;

/// Namespace for every UUIDv5 Weft derives.
const NAMESPACE: Uuid = Uuid::from_u128(0x5f1e_7c2a_9b4d_4e61_8a0f_3c2d_1b6e_9a47);

/// Stable id from any parts: UUIDv5 over the parts joined by NUL (no part holds NUL: every
/// door refuses U+0000, see [`crate::text`]).
pub fn derive(parts: &[&str]) -> Uuid {
    Uuid::new_v5(&NAMESPACE, parts.join("\u{0}").as_bytes())
}

/// The one execution a workflow gets for the event `(source, event_id)`.
pub fn execution_id(workflow: &str, source: &str, event_id: &str) -> Uuid {
    derive(&["execution", workflow, source, event_id])
}

/// The JetStream message id (`Nats-Msg-Id`) of the event `(source, event_id)`: a UUID, so it is
/// short and header-safe whatever the source and id hold.
pub fn message_id(source: &str, event_id: &str) -> String {
    derive(&["message", source, event_id]).to_string()
}

/// Id of an event derived from an idempotency key supplied by the sender.
pub fn keyed_event_id(scope: &str, key: &str) -> String {
    derive(&["event", scope, key]).to_string()
}

/// Id of a new event: derived from the sender's idempotency key within `scope` when there is
/// one (so a repeated request names the same event), else a fresh time-ordered UUID.
pub fn new_event_id(scope: &str, key: Option<&str>) -> String {
    match key {
        Some(key) => keyed_event_id(scope, key),
        None => uuid::Uuid::now_v7().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        assert_eq!(execution_id("a", "s", "e1"), execution_id("a", "s", "e1"));
        assert_ne!(execution_id("a", "s", "e1"), execution_id("b", "s", "e1"));
        assert_ne!(execution_id("a", "s", "e1"), execution_id("a", "s", "e2"));
        // The same id from another source is another event.
        assert_ne!(execution_id("a", "s", "e1"), execution_id("a", "t", "e1"));
        assert_eq!(message_id("s", "e1"), message_id("s", "e1"));
        assert_ne!(message_id("s", "e1"), message_id("t", "e1"));
        assert_ne!(message_id("s", "e1"), message_id("s", "e2"));
        // Joining with NUL keeps ("ab","c") and ("a","bc") apart.
        assert_ne!(derive(&["ab", "c"]), derive(&["a", "bc"]));
        assert_ne!(message_id("ab", "c"), message_id("a", "bc"));
    }
}
