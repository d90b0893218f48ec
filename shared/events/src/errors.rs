//! The one set of step error classes every executor uses ([`ErrorCode`]); the router decides on
//! these, never on free strings. On the wire a code is its snake_case name; a code this build
//! does not know (from an executor outside the repository) is kept as [`ErrorCode::Other`].

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// Why a step attempt failed, by class. Whether another attempt may succeed is carried
        /// beside it (`StepError::retryable`): the same class can be either (an SMTP 4xx and 5xx
        /// are both `smtp`).
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
            /// A code from an executor this build does not know, kept as it came.
            Other(String),
        }

        impl ErrorCode {
            /// Every known code, for documentation and schemas.
            pub const KNOWN: &[ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The wire name.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $name,)*
                    Self::Other(s) => s,
                }
            }

            /// The code named `s` (unknown names become [`ErrorCode::Other`]).
            pub fn parse(s: &str) -> Self {
                match s {
                    $($name => Self::$variant,)*
                    other => Self::Other(other.to_string()),
                }
            }
        }
    };
}

codes! {
    /// The step's `with` does not fit the agent (a missing field, a bad address, bad base64).
    BadInput => "bad_input",
    /// The attempt ran out of time (the step's `timeout`, a request timeout, or no heartbeat
    /// within `heartbeat_timeout`). Recorded as `timed_out`.
    Timeout => "timeout",
    /// The attempt was stopped by a cancel (the execution was cancelled).
    Cancelled => "cancelled",
    /// A connection to a remote server could not be made or broke.
    Connect => "connect",
    /// An HTTP call answered with a failing status (`details` holds the response).
    HttpStatus => "http_status",
    /// The remote side asked us to slow down (HTTP 429, SMTP 421/450/452 throttling).
    RateLimited => "rate_limited",
    /// A sandboxed script hit a limit: memory, CPU or wall time, stack, output size.
    SandboxLimit => "sandbox_limit",
    /// A sandboxed script threw or does not compile (`details.line` when known).
    Script => "script",
    /// A transform program (jq, CEL map) failed at run time.
    Transform => "transform",
    /// An SMTP server refused (5xx: permanent, 4xx: retryable); the message quotes it.
    Smtp => "smtp",
    /// A request could not be completed for another reason (a broken response, TLS).
    Request => "request",
    /// More redirects than allowed.
    TooManyRedirects => "too_many_redirects",
    /// A response is larger than the executor keeps.
    ResponseTooLarge => "response_too_large",
    /// An output is larger than the bus carries even as a reference, or than a limit.
    OutputTooLarge => "output_too_large",
    /// A task or result does not fit in one bus message.
    PayloadTooLarge => "payload_too_large",
    /// An artifact reference names nothing in the store.
    ArtifactNotFound => "artifact_not_found",
    /// The artifact store failed (not the reference: the store itself).
    Artifacts => "artifacts",
    /// A `${{ secrets.NAME }}` reference cannot be resolved.
    Secret => "secret",
    /// No executor serves the step's `uses:` (it never announced itself).
    UnknownAgent => "unknown_agent",
    /// A `call` step's child execution failed, timed out or was cancelled (`details` names
    /// it and holds its error).
    CallFailed => "call_failed",
    /// A `call` would nest deeper than allowed (a root execution is depth 0; default 10).
    CallDepth => "call_depth",
    /// A `call` names a workflow that does not exist (any more).
    UnknownWorkflow => "unknown_workflow",
    /// The executor failed in a way that is not the step's fault (a sandbox that cannot start).
    Internal => "internal",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for ErrorCode {
    fn from(s: &str) -> Self {
        Self::parse(s)
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Self::parse(&s))
    }
}

impl schemars::JsonSchema for ErrorCode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ErrorCode".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let known: Vec<&str> = Self::KNOWN.iter().map(ErrorCode::as_str).collect();
        schemars::json_schema!({
            "type": "string",
            "description": "An error class; executors outside the repository may send others.",
            "examples": known,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_codes_are_kept() {
        for code in ErrorCode::KNOWN {
            let json = serde_json::to_string(code).expect("serialize");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(
                &serde_json::from_str::<ErrorCode>(&json).expect("parse"),
                code
            );
        }
        let other: ErrorCode = serde_json::from_str("\"quota\"").expect("parse");
        assert_eq!(other, ErrorCode::Other("quota".into()));
        assert_eq!(serde_json::to_string(&other).expect("ser"), "\"quota\"");
    }
}
