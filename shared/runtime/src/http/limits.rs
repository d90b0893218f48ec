//! The limits every HTTP listener enforces on a request: header count and size, body size, and
//! how long a client may take to send its headers and its body.
//!
//! Consumes the shared configuration ([`crate::CommonConfig`], keys `http_*` and
//! `max_body_bytes`); produces an [`HttpLimits`] the listener and its middleware read.
//! Touches nothing.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Request limits of one listener (see `docs/architecture.md`, "HTTP limits").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpLimits {
    /// Most header fields in one request; more is answered 431 `headers_too_large`.
    pub max_headers: usize,
    /// Largest request head (request line and header fields), in bytes; larger is answered 431.
    pub max_header_bytes: usize,
    /// Largest request body, in bytes; larger is answered 413 `payload_too_large`.
    pub max_body_bytes: usize,
    /// Time a client has to send a complete request head, in milliseconds, counted from the
    /// connection's start or the end of the previous answer. A partly sent head is answered 408
    /// `request_timeout`; an idle keep-alive connection is closed.
    pub header_read_timeout_ms: u64,
    /// Time a client has to send the whole body once the head is in, in milliseconds; a late
    /// body is answered 408 `request_timeout` and the connection closed.
    pub body_read_timeout_ms: u64,
}

impl HttpLimits {
    /// Default [`HttpLimits::max_headers`].
    pub const DEFAULT_MAX_HEADERS: usize = 100;
    /// Default [`HttpLimits::max_header_bytes`]: 64 KiB.
    pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
    /// Default [`HttpLimits::max_body_bytes`]: 1 MiB.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
    /// Default [`HttpLimits::header_read_timeout_ms`]: 10 s.
    pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
    /// Default [`HttpLimits::body_read_timeout_ms`]: 30 s.
    pub const DEFAULT_BODY_READ_TIMEOUT_MS: u64 = 30_000;

    /// [`HttpLimits::header_read_timeout_ms`] as a duration.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms.max(1))
    }

    /// [`HttpLimits::body_read_timeout_ms`] as a duration.
    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_millis(self.body_read_timeout_ms.max(1))
    }

    /// The header count at which hyper itself refuses a request (a bare 431 that the listener
    /// turns into JSON). Above [`HttpLimits::max_headers`], so that the middleware, which can
    /// say more, decides in the usual cases.
    pub(crate) fn parser_max_headers(&self) -> usize {
        self.max_headers.saturating_mul(4).max(256)
    }

    /// hyper's read buffer: the largest head it parses at all (a bare 431 beyond, turned into
    /// JSON by the listener). At least hyper's minimum of 8 KiB, and room above
    /// [`HttpLimits::max_header_bytes`] for the middleware to decide.
    pub(crate) fn parser_max_buf(&self) -> usize {
        self.max_header_bytes
            .saturating_mul(4)
            .clamp(8 * 1024 + 1, 16 * 1024 * 1024)
    }
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_headers: Self::DEFAULT_MAX_HEADERS,
            max_header_bytes: Self::DEFAULT_MAX_HEADER_BYTES,
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            header_read_timeout_ms: Self::DEFAULT_HEADER_READ_TIMEOUT_MS,
            body_read_timeout_ms: Self::DEFAULT_BODY_READ_TIMEOUT_MS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_strictness() {
        let l: HttpLimits = serde_json::from_str("{}").expect("defaults");
        assert_eq!(l, HttpLimits::default());
        assert_eq!(l.header_read_timeout(), Duration::from_secs(10));
        assert!(serde_json::from_str::<HttpLimits>(r#"{"max_header": 1}"#).is_err());
    }

    #[test]
    fn parser_limits_leave_room_for_the_middleware() {
        for l in [
            HttpLimits::default(),
            HttpLimits {
                max_headers: 1,
                max_header_bytes: 10,
                ..HttpLimits::default()
            },
        ] {
            assert!(l.parser_max_headers() > l.max_headers);
            assert!(l.parser_max_buf() > l.max_header_bytes);
            assert!(l.parser_max_buf() > 8 * 1024);
        }
    }
}
