//! The dead-letter stream (`WEFT_DLQ`, `weft.dlq.<stream>`): what a parked message carries, and
//! reading and replaying it.
//!
//! Produces, for the consume loop, the headers a dead letter is stored with: the original
//! message's own headers (its `Nats-Msg-Id` kept as `Weft-Dlq-Msg-Id`, so the dead-letter stream
//! never drops a second dead letter of the same message as a duplicate) plus `Weft-Dlq-*`: the
//! reason, the original stream, subject and sequence, the consumer and the delivery count.
//! Consumes the stream for [`Bus::dead_letters`] and [`Bus::dead_letter`] (by its sequence in
//! `WEFT_DLQ`, the dead letter's id). [`Bus::replay_dead_letter`] publishes the message again to
//! its original subject with its original headers and a new `Nats-Msg-Id` derived from the id
//! (the original one may still be inside the stream's duplicate window, which would drop the
//! replay; a second replay of the same dead letter within the window is dropped instead), then
//! deletes the dead letter. Consumers are idempotent, so a replay of a message that was in fact
//! handled changes nothing.

use async_nats::{
    HeaderMap,
    jetstream::{
        message::StreamMessage,
        stream::{DeleteMessageErrorKind, LastRawMessageErrorKind, Stream},
    },
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use weft_events::subjects;

use crate::{Bus, BusError, publish::publish_error};

/// Why the message was dead-lettered.
pub const REASON: &str = "Weft-Dlq-Reason";
/// The subject it was published to, where a replay publishes it again.
pub const SUBJECT: &str = "Weft-Dlq-Subject";
/// The stream it was in.
pub const STREAM: &str = "Weft-Dlq-Stream";
/// Its sequence in that stream.
pub const SEQUENCE: &str = "Weft-Dlq-Sequence";
/// The durable consumer that gave up on it.
pub const CONSUMER: &str = "Weft-Dlq-Consumer";
/// How many times it had been delivered.
pub const DELIVERED: &str = "Weft-Dlq-Delivered";
/// Its original `Nats-Msg-Id`.
pub const MSG_ID: &str = "Weft-Dlq-Msg-Id";
/// On a replayed message: the id of the dead letter it came from.
pub const REPLAY_OF: &str = "Weft-Replay-Of";

const PREFIX: &str = "Weft-Dlq-";
const NATS_MSG_ID: &str = "Nats-Msg-Id";
/// Longest reason kept, in bytes (a header, not a log).
const MAX_REASON: usize = 1024;

/// Where a message was when a consumer gave up on it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin<'a> {
    pub stream: &'a str,
    pub subject: &'a str,
    pub sequence: Option<u64>,
    pub consumer: &'a str,
    pub delivered: i64,
}

/// The headers a dead letter is stored with (see the module docs).
pub(crate) fn headers(original: Option<&HeaderMap>, origin: Origin<'_>, reason: &str) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, values) in original.into_iter().flat_map(HeaderMap::iter) {
        let name: &str = name.as_ref();
        if name.eq_ignore_ascii_case(NATS_MSG_ID) {
            if let Some(v) = values.first() {
                out.insert(MSG_ID, v.as_str());
            }
        } else if !is_ours(name) && !has_prefix(name, "Nats-") {
            for v in values {
                out.append(name, v.as_str());
            }
        }
    }
    out.insert(REASON, header_text(reason).as_str());
    out.insert(SUBJECT, origin.subject);
    out.insert(STREAM, origin.stream);
    if let Some(seq) = origin.sequence {
        out.insert(SEQUENCE, seq.to_string().as_str());
    }
    out.insert(CONSUMER, origin.consumer);
    out.insert(DELIVERED, origin.delivered.to_string().as_str());
    out
}

fn has_prefix(name: &str, prefix: &str) -> bool {
    name.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

fn is_ours(name: &str) -> bool {
    has_prefix(name, PREFIX)
}

/// `text` as one header line: control characters (a line break would end the header, and the
/// client refuses it) become spaces; cut to [`MAX_REASON`] bytes.
fn header_text(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if out.len() > MAX_REASON {
        let mut end = MAX_REASON;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    out
}

/// One parked message.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// Its sequence in `WEFT_DLQ`.
    pub id: u64,
    /// When it was dead-lettered.
    pub at: DateTime<Utc>,
    /// Why.
    pub reason: String,
    /// The stream it was in (empty for a dead letter written before this was recorded).
    pub stream: String,
    /// The subject it was published to, if recorded.
    pub subject: Option<String>,
    /// The consumer that gave up on it.
    pub consumer: Option<String>,
    /// How many times it had been delivered, if recorded.
    pub delivered: Option<i64>,
    /// The message itself.
    pub payload: Bytes,
    headers: HeaderMap,
}

impl DeadLetter {
    fn from_message(m: StreamMessage) -> Self {
        let get = |name: &str| m.headers.get(name).map(|v| v.as_str().to_string());
        let nanos = i64::try_from(m.time.unix_timestamp_nanos()).unwrap_or(i64::MAX);
        let stream = get(STREAM).unwrap_or_else(|| {
            // Older dead letters: the stream is the subject's last token, upper-cased.
            let token = m.subject.rsplit('.').next().unwrap_or_default();
            token.to_ascii_uppercase()
        });
        Self {
            id: m.sequence,
            at: DateTime::from_timestamp_nanos(nanos),
            reason: get(REASON).unwrap_or_default(),
            stream,
            subject: get(SUBJECT),
            consumer: get(CONSUMER),
            delivered: get(DELIVERED).and_then(|d| d.parse().ok()),
            payload: m.payload,
            headers: m.headers,
        }
    }

    /// The subject a replay publishes to: the original one, if it is one of Weft's streams'.
    pub fn replay_subject(&self) -> Option<&str> {
        let subject = self.subject.as_deref()?;
        let inside = [
            subjects::EVENTS_ALL,
            subjects::TASKS_ALL,
            subjects::RESULTS_ALL,
        ]
        .iter()
        .any(|all| {
            let prefix = all.trim_end_matches('>');
            subject.len() > prefix.len() && subject.starts_with(prefix)
        });
        inside.then_some(subject)
    }
}

/// A page of dead letters, oldest first.
#[derive(Debug, Clone)]
pub struct Page {
    /// The dead letters.
    pub items: Vec<DeadLetter>,
    /// The id to start the next page at; `None` on the last page.
    pub next: Option<u64>,
}

/// What a replay did.
#[derive(Debug, Clone)]
pub struct Replayed {
    /// The dead letter's id (now deleted).
    pub id: u64,
    /// Where it was published.
    pub subject: String,
    /// Its sequence in the stream that took it.
    pub sequence: u64,
}

/// Why a dead letter could not be read or replayed.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    /// No dead letter has this id.
    #[error("dead letter {0} not found")]
    NotFound(u64),
    /// It does not say where it came from, or that is not one of Weft's streams.
    #[error("dead letter {id} cannot be replayed: {reason}")]
    NotReplayable {
        /// The dead letter.
        id: u64,
        /// Why.
        reason: String,
    },
    /// The bus failed.
    #[error(transparent)]
    Bus(#[from] BusError),
}

impl Bus {
    async fn dlq(&self) -> Result<Stream, BusError> {
        self.js
            .get_stream(subjects::DLQ_STREAM)
            .await
            .map_err(|e| BusError::js(format!("opening stream {}", subjects::DLQ_STREAM), e))
    }

    /// Dead letters from id `from` on (1: the oldest), at most `limit`.
    pub async fn dead_letters(&self, from: u64, limit: usize) -> Result<Page, BusError> {
        let stream = self.dlq().await?;
        let mut items = Vec::new();
        let mut seq = from.max(1);
        // One more than asked, to know whether there is a next page.
        while items.len() <= limit {
            let Some(m) = next_from(&stream, seq).await? else {
                break;
            };
            seq = m.sequence.saturating_add(1);
            items.push(DeadLetter::from_message(m));
        }
        let next = items.get(limit).map(|d| d.id);
        items.truncate(limit);
        Ok(Page { items, next })
    }

    /// The dead letter with this id.
    pub async fn dead_letter(&self, id: u64) -> Result<Option<DeadLetter>, BusError> {
        let stream = self.dlq().await?;
        Ok(by_id(&stream, id).await?.map(DeadLetter::from_message))
    }

    /// Publish dead letter `id` again to its original subject, then delete it.
    pub async fn replay_dead_letter(&self, id: u64) -> Result<Replayed, DlqError> {
        let stream = self.dlq().await?;
        let dead = by_id(&stream, id)
            .await?
            .map(DeadLetter::from_message)
            .ok_or(DlqError::NotFound(id))?;
        let subject = dead
            .replay_subject()
            .ok_or_else(|| DlqError::NotReplayable {
                id,
                reason: match &dead.subject {
                    None => "it does not record its original subject".into(),
                    Some(s) => format!("`{s}` is not a subject of Weft's streams"),
                },
            })?
            .to_string();
        let mut headers = HeaderMap::new();
        for (name, values) in dead.headers.iter() {
            if !is_ours(name.as_ref()) {
                for v in values {
                    headers.append(name.clone(), v.clone());
                }
            }
        }
        let msg_id = match dead.headers.get(MSG_ID) {
            Some(original) => format!("{}.replay.{id}", original.as_str()),
            None => format!("replay.{id}"),
        };
        headers.insert(NATS_MSG_ID, msg_id.as_str());
        headers.insert(REPLAY_OF, id.to_string().as_str());
        let fail = |e| publish_error(&subject, &e);
        let ack = self
            .js
            .publish_with_headers(subject.clone(), headers, dead.payload.clone())
            .await
            .map_err(fail)?
            .await
            .map_err(fail)?;
        if let Err(e) = stream.delete_message(id).await {
            // Deleted already (by a concurrent replay of the same dead letter): done.
            let gone = matches!(e.kind(), DeleteMessageErrorKind::JetStream(_))
                && by_id(&stream, id).await?.is_none();
            if !gone {
                return Err(BusError::js(format!("deleting dead letter {id}"), e).into());
            }
        }
        tracing::info!(dead_letter = id, %subject, "dead letter replayed");
        Ok(Replayed {
            id,
            subject,
            sequence: ack.sequence,
        })
    }
}

/// The first dead letter at or after `seq`.
async fn next_from(stream: &Stream, seq: u64) -> Result<Option<StreamMessage>, BusError> {
    match stream
        .get_first_raw_message_by_subject(subjects::DLQ_ALL, seq)
        .await
    {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
        Err(e) => Err(BusError::js("reading the dead letters", e)),
    }
}

/// The dead letter at `seq` exactly.
async fn by_id(stream: &Stream, seq: u64) -> Result<Option<StreamMessage>, BusError> {
    match stream.get_raw_message(seq).await {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
        Err(e) => Err(BusError::js(format!("reading dead letter {seq}"), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_becomes_one_bounded_header_line() {
        assert_eq!(header_text("a\nb\r\tc"), "a b  c");
        let long = "é".repeat(MAX_REASON);
        let cut = header_text(&long);
        assert!(cut.len() <= MAX_REASON && cut.chars().all(|c| c == 'é'));
    }

    #[test]
    fn the_original_headers_are_kept_and_its_message_id_is_moved_aside() {
        let mut original = HeaderMap::new();
        original.insert("Nats-Msg-Id", "m-1");
        original.insert("Content-Type", "application/cloudevents+json");
        original.insert("Weft-Dlq-Reason", "an older reason");
        let origin = Origin {
            stream: "WEFT_EVENTS",
            subject: "weft.events.webhook",
            sequence: Some(7),
            consumer: "router-events",
            delivered: 3,
        };
        let h = headers(Some(&original), origin, "cannot\ndecode");
        let get = |n: &str| h.get(n).map(|v| v.as_str().to_string());
        assert_eq!(get("Nats-Msg-Id"), None);
        assert_eq!(get(MSG_ID).as_deref(), Some("m-1"));
        assert_eq!(
            get("Content-Type").as_deref(),
            Some("application/cloudevents+json")
        );
        assert_eq!(get(REASON).as_deref(), Some("cannot decode"));
        assert_eq!(get(SEQUENCE).as_deref(), Some("7"));
        assert_eq!(get(DELIVERED).as_deref(), Some("3"));
    }
}
