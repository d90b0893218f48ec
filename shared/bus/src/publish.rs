//! Publishing with a JetStream ack. The message id (`Nats-Msg-Id`) makes a re-publish inside
//! the stream's duplicate window a no-op; for a CloudEvent it is derived from the event's
//! identity, `(source, id)` ([`weft_events::ids::message_id`]), so two events that share an
//! `id` but come from different sources are both stored.

use async_nats::{
    HeaderMap,
    jetstream::context::{PublishError, PublishErrorKind},
};
use bytes::Bytes;
use cloudevents::{AttributesReader, Event};

use crate::{Bus, BusError};

/// Content type of a CloudEvent in structured mode.
pub const CLOUDEVENTS_JSON: &str = "application/cloudevents+json";

impl Bus {
    /// Publish a CloudEvent; the message id is derived from its `(source, id)`. Returns once
    /// JetStream stored it.
    pub async fn publish_event(&self, subject: &str, event: &Event) -> Result<(), BusError> {
        let payload = weft_events::encode_event(event);
        let msg_id = weft_events::ids::message_id(event.source(), event.id());
        self.publish_bytes(subject, &msg_id, Bytes::from(payload))
            .await
    }

    /// Publish raw bytes (already an encoded CloudEvent) with a message id.
    pub async fn publish_bytes(
        &self,
        subject: &str,
        msg_id: &str,
        payload: Bytes,
    ) -> Result<(), BusError> {
        if !self.is_connected() {
            return Err(BusError::Unavailable);
        }
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", msg_id);
        headers.insert("Content-Type", CLOUDEVENTS_JSON);
        let fail = |e: PublishError| publish_error(subject, &e);
        let ack = self
            .js
            .publish_with_headers(subject.to_string(), headers, payload)
            .await
            .map_err(fail)?;
        ack.await.map_err(fail)?;
        metrics::counter!("weft_bus_published_total").increment(1);
        Ok(())
    }
}

/// A failed publish to `subject`, classified: no answer in time, a broken connection, no stream
/// for the subject or too many unacknowledged publishes mean the bus is unavailable.
pub(crate) fn publish_error(subject: &str, e: &PublishError) -> BusError {
    let unavailable = matches!(
        e.kind(),
        PublishErrorKind::TimedOut
            | PublishErrorKind::BrokenPipe
            | PublishErrorKind::StreamNotFound
            | PublishErrorKind::MaxAckPending
    );
    BusError::Publish {
        subject: subject.to_string(),
        message: e.to_string(),
        unavailable,
    }
}
