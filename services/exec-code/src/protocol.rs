//! The wire between the executor and one sandboxed runner: newline-delimited JSON over the
//! runner's stdin and stdout.
//!
//! 1. The runner starts, sets its fixed limits, builds the JavaScript engine and writes
//!    [`RunnerMessage::Ready`]. A warm runner waits here.
//! 2. The executor writes one [`Request`] line on stdin and closes it.
//! 3. The runner writes any number of [`RunnerMessage::Log`] lines (one per `console.log`, as
//!    they happen, so a script killed at its deadline still leaves its logs), then exactly one
//!    [`RunnerMessage::Ok`] or [`RunnerMessage::Error`], and exits.
//!
//! Every size is bounded on both sides: the request by [`MAX_REQUEST_BYTES`] (the runner stops
//! reading there), a log line by [`MAX_LOG_LINE_BYTES`] (the runner truncates), log lines and
//! bytes by the request's caps (the runner counts and drops the rest), the output by
//! [`Request::max_output_bytes`] (the runner refuses a larger one with `sandbox_limit`). The
//! executor does not trust the runner: it reads each line with a bound
//! ([`max_line_bytes`]) and kills a runner that writes more. Consumes and produces nothing
//! else; touches nothing.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Version of this protocol, announced in [`RunnerMessage::Ready`]; the executor refuses a
/// runner that speaks another one (a stale binary).
pub const PROTOCOL: u32 = 1;

/// Largest request line (script + inputs + settings) in bytes.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;

/// Longest log line kept, in bytes; the runner truncates a longer one (and marks it with `…`).
pub const MAX_LOG_LINE_BYTES: usize = 8 * 1024;

/// Bytes of JSON framing allowed on top of a payload in one line.
const FRAMING_BYTES: usize = 1024;

/// The longest line the executor accepts from a runner whose request allowed
/// `max_output_bytes` of output.
pub fn max_line_bytes(max_output_bytes: usize) -> usize {
    max_output_bytes.max(MAX_LOG_LINE_BYTES * 6) + FRAMING_BYTES
}

/// The one request a runner serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The body of an async function; it sees `inputs` and `console`.
    pub script: String,
    /// Bound to `inputs` in the script.
    pub inputs: Value,
    /// QuickJS heap limit in bytes (the address-space limit is derived from it).
    pub memory: u64,
    /// Deadline for the script in milliseconds (interrupt handler; CPU rlimit a little above).
    pub timeout_ms: u64,
    /// Largest output (serialized JSON) in bytes.
    pub max_output_bytes: usize,
    /// Most log lines kept.
    pub max_log_lines: usize,
    /// Most log bytes kept.
    pub max_log_bytes: usize,
}

/// What a runner writes, one per line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RunnerMessage {
    /// The runner is up and waits for its request.
    Ready {
        /// [`PROTOCOL`] of the runner.
        protocol: u32,
    },
    /// One `console.*` line.
    Log(String),
    /// The script returned.
    Ok {
        /// What it returned, as JSON (`undefined` becomes `null`).
        output: Value,
        /// Log lines dropped over the caps.
        logs_dropped: u64,
    },
    /// The script failed.
    Error(ScriptError),
}

/// Why a script failed, as the runner saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptError {
    /// The class of failure.
    pub code: FailureCode,
    /// What happened, for the user (an exception's `name: message`).
    pub message: String,
    /// Line in the script where it was thrown, when known (1 = the script's first line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Log lines dropped over the caps.
    #[serde(default)]
    pub logs_dropped: u64,
}

/// The failure classes of a code step (they map one to one to the executor's error codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    /// The script threw, had a syntax error, returned something that is not JSON, or awaited
    /// a promise that can never settle.
    Script,
    /// A limit of the sandbox: memory, stack, output size, CPU time.
    SandboxLimit,
    /// The script ran past its `timeout`.
    Timeout,
    /// The request itself was wrong (the executor validates first, so rare).
    BadInput,
    /// The runner itself failed.
    Internal,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_small_tagged_object_each() {
        let lines = [
            (
                RunnerMessage::Ready { protocol: 1 },
                r#"{"ready":{"protocol":1}}"#,
            ),
            (RunnerMessage::Log("hi".into()), r#"{"log":"hi"}"#),
            (
                RunnerMessage::Ok {
                    output: serde_json::json!({"a": 1}),
                    logs_dropped: 0,
                },
                r#"{"ok":{"output":{"a":1},"logs_dropped":0}}"#,
            ),
            (
                RunnerMessage::Error(ScriptError {
                    code: FailureCode::SandboxLimit,
                    message: "out of memory".into(),
                    line: None,
                    logs_dropped: 2,
                }),
                r#"{"error":{"code":"sandbox_limit","message":"out of memory","logs_dropped":2}}"#,
            ),
        ];
        for (message, text) in lines {
            assert_eq!(serde_json::to_string(&message).expect("serialize"), text);
            assert_eq!(
                serde_json::from_str::<RunnerMessage>(text).expect("parse"),
                message
            );
        }
    }
}
