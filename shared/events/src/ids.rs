//! Deterministic identifiers.
//!
//! Ids derived from their inputs make every hop idempotent: a re-published event keeps its id
//! (JetStream drops it inside the duplicate window), and an execution id derived from
//! `(workflow, event id)` makes a second execution for the same event impossible.

use uuid::Uuid;

/// Namespace for every UUIDv5 Weft derives.
const NAMESPACE: Uuid = Uuid::from_u128(0x5f1e_7c2a_9b4d_4e61_8a0f_3c2d_1b6e_9a47);

/// Stable id from any parts: UUIDv5 over the parts joined by NUL.
pub fn derive(parts: &[&str]) -> Uuid {
    Uuid::new_v5(&NAMESPACE, parts.join("\u{0}").as_bytes())
}

/// The one execution a workflow gets for an event.
pub fn execution_id(workflow: &str, event_id: &str) -> Uuid {
    derive(&["execution", workflow, event_id])
}

/// Id of an event derived from an idempotency key supplied by the sender.
pub fn keyed_event_id(scope: &str, key: &str) -> String {
    derive(&["event", scope, key]).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        assert_eq!(execution_id("a", "e1"), execution_id("a", "e1"));
        assert_ne!(execution_id("a", "e1"), execution_id("b", "e1"));
        assert_ne!(execution_id("a", "e1"), execution_id("a", "e2"));
        // Joining with NUL keeps ("ab","c") and ("a","bc") apart.
        assert_ne!(derive(&["ab", "c"]), derive(&["a", "bc"]));
    }
}
