//! NATS JetStream for every Weft service: the connection, the streams, publishing with a
//! JetStream ack, the one consume → handle → ack loop ([`consume`]) and a live map over a key-value bucket ([`kv`]).
//!
//! Consumes and produces CloudEvents on the subjects named in `weft_events::subjects`.

pub mod consume;
pub mod dlq;
pub mod kv;
pub mod objects;
mod publish;
pub mod streams;

use std::time::Duration;

use async_nats::jetstream;

pub use consume::{
    BatchHandler, ConsumerSpec, Delivery, Disposition, Handler, consume, consume_batches,
};

/// Bus failures, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// Could not reach the NATS server.
    #[error("cannot connect to NATS at {url}: {message}")]
    Connect {
        /// Server URL.
        url: String,
        /// Why.
        message: String,
    },
    /// The client is not connected right now; nothing was sent.
    #[error("the bus is unavailable (not connected to NATS)")]
    Unavailable,
    /// Publishing did not get a JetStream ack.
    #[error("publish to {subject} failed: {message}")]
    Publish {
        /// Subject.
        subject: String,
        /// Why.
        message: String,
        /// Whether it failed because the server did not answer or has no stream for the
        /// subject yet (a timeout, a broken connection), rather than refusing this message.
        unavailable: bool,
    },
    /// Creating or reading a stream, consumer or bucket failed.
    #[error("{what} failed: {message}")]
    JetStream {
        /// What was attempted.
        what: String,
        /// Why.
        message: String,
    },
}

impl BusError {
    /// Whether NATS is unreachable or not answering (not connected, no ack in time, no stream
    /// yet), so the same request can succeed once it is back; false for a message the server
    /// refused (too large, …) and for other JetStream failures.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::Unavailable => true,
            Self::Publish { unavailable, .. } => *unavailable,
            Self::JetStream { .. } => false,
        }
    }

    /// A JetStream failure while doing `what`.
    pub fn js(what: impl Into<String>, e: impl std::fmt::Display) -> Self {
        Self::JetStream {
            what: what.into(),
            message: e.to_string(),
        }
    }
}

/// A connection to NATS with its JetStream context. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Bus {
    client: async_nats::Client,
    js: jetstream::Context,
}

impl Bus {
    /// Connect to `url`, naming the connection after the service. Reconnects forever in the
    /// background after the first connection succeeded.
    pub async fn connect(url: &str, name: &str) -> Result<Self, BusError> {
        let client = async_nats::ConnectOptions::new()
            .name(name)
            .max_reconnects(None)
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| BusError::Connect {
                url: url.to_string(),
                message: e.to_string(),
            })?;
        let js = jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(5))
            .build(client.clone());
        Ok(Self { client, js })
    }

    /// The JetStream context.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// The core NATS client.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The largest message the server accepts, in bytes (its `max_payload`).
    pub fn max_payload(&self) -> usize {
        self.client.server_info().max_payload
    }

    /// Whether the client is connected right now.
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Readiness probe: connected, and the server answers a round trip.
    pub async fn check(&self) -> Result<(), String> {
        if !self.is_connected() {
            return Err("not connected to NATS".into());
        }
        self.client
            .flush()
            .await
            .map_err(|e| format!("NATS did not answer: {e}"))
    }
}
