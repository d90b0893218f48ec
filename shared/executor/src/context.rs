//! The context of one attempt: what an [`crate::Agent`] gets besides its `with`.
//!
//! Cancellation (a router `cancel`, or the step's deadline), a bounded log and the artifact
//! store. (Heartbeats are the runner's: it sends them while the attempt runs.) Cheap to clone; every clone speaks for the same attempt.

use std::sync::{Arc, Mutex};

use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use uuid::Uuid;
use weft_events::{ErrorCode, LogLine, StepError};

use crate::Artifacts;

/// Who the attempt is.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// Unique per attempt, the same on every redelivery: the idempotency key.
    pub attempt_id: Uuid,
    /// The execution.
    pub execution_id: Uuid,
    /// Workflow name.
    pub workflow: String,
    /// Step id.
    pub step_id: String,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// W3C trace context to pass on.
    pub traceparent: Option<String>,
}

/// Bounds of an attempt's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// Most lines kept.
    pub max_lines: usize,
    /// Most bytes kept (sum of the lines).
    pub max_bytes: usize,
    /// Longest line kept; longer lines are cut.
    pub max_line_bytes: usize,
}

impl Default for LogLimits {
    fn default() -> Self {
        Self {
            max_lines: 500,
            max_bytes: 64 * 1024,
            max_line_bytes: 4096,
        }
    }
}

#[derive(Debug, Default)]
struct LogBuf {
    lines: Vec<LogLine>,
    bytes: usize,
    dropped: u64,
}

/// Why an attempt was stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// A router `cancel` (the execution was cancelled, or the router timed the step out).
    Cancelled,
    /// The step's deadline passed.
    Deadline,
}

#[derive(Debug)]
struct Inner {
    attempt: Attempt,
    token: CancellationToken,
    stop: Mutex<Option<StopReason>>,
    deadline: Option<Instant>,
    log: Mutex<LogBuf>,
    limits: LogLimits,
    artifacts: Artifacts,
}

/// The context of one attempt.
#[derive(Debug, Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

impl Context {
    /// A context for `attempt`; the runner builds these.
    pub fn new(
        attempt: Attempt,
        deadline: Option<Instant>,
        artifacts: Artifacts,
        limits: LogLimits,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                attempt,
                token: CancellationToken::new(),
                stop: Mutex::new(None),
                deadline,
                log: Mutex::new(LogBuf::default()),
                limits,
                artifacts,
            }),
        }
    }

    /// A context for tests of an agent: a fresh attempt, no deadline, an in-memory store.
    pub fn for_test() -> Self {
        let attempt = Attempt {
            attempt_id: Uuid::now_v7(),
            execution_id: Uuid::now_v7(),
            workflow: "test".into(),
            step_id: "step".into(),
            attempt: 1,
            traceparent: None,
        };
        Self::new(attempt, None, Artifacts::in_memory(), LogLimits::default())
    }

    /// Who the attempt is.
    pub fn attempt(&self) -> &Attempt {
        &self.inner.attempt
    }

    /// Resolves when the attempt must stop (a cancel, or its deadline).
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.inner.token.cancelled()
    }

    /// Whether the attempt must stop.
    pub fn is_cancelled(&self) -> bool {
        self.inner.token.is_cancelled()
    }

    /// The cancellation token (for handing to spawned work).
    pub fn token(&self) -> CancellationToken {
        self.inner.token.clone()
    }

    /// When the step's timeout runs out, if it has one.
    pub fn deadline(&self) -> Option<Instant> {
        self.inner.deadline
    }

    /// Stop the attempt (the runner calls this on a cancel or at the deadline).
    pub fn stop(&self, reason: StopReason) {
        if let Ok(mut stop) = self.inner.stop.lock() {
            stop.get_or_insert(reason);
        }
        self.inner.token.cancel();
    }

    /// Why the attempt was stopped, if it was.
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.inner.stop.lock().ok().and_then(|s| *s)
    }

    /// The error an agent returns when it notices it was stopped.
    pub fn stopped_error(&self) -> StepError {
        match self.stop_reason() {
            Some(StopReason::Deadline) => {
                StepError::retryable(ErrorCode::Timeout, "the step's timeout ran out")
            }
            _ => StepError::permanent(ErrorCode::Cancelled, "the attempt was cancelled"),
        }
    }

    /// Add a line to the attempt's log (kept bounded: extra lines are counted and dropped, long
    /// lines cut). Secrets are masked by the runner before the log leaves the executor.
    pub fn log(&self, line: impl Into<String>) {
        let mut line = line.into();
        let limits = self.inner.limits;
        if line.len() > limits.max_line_bytes {
            let mut cut = limits.max_line_bytes;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            line.push('…');
        }
        let Ok(mut log) = self.inner.log.lock() else {
            return;
        };
        if log.lines.len() >= limits.max_lines || log.bytes + line.len() > limits.max_bytes {
            log.dropped += 1;
            return;
        }
        log.bytes += line.len();
        log.lines.push(LogLine {
            at: chrono::Utc::now(),
            line,
        });
    }

    /// Take the lines logged so far and the count of dropped ones.
    pub fn take_log(&self) -> (Vec<LogLine>, u64) {
        match self.inner.log.lock() {
            Ok(mut log) => (std::mem::take(&mut log.lines), log.dropped),
            Err(_) => (Vec::new(), 0),
        }
    }

    /// The artifact store.
    pub fn artifacts(&self) -> &Artifacts {
        &self.inner.artifacts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_is_bounded_in_lines_bytes_and_line_length() {
        let limits = LogLimits {
            max_lines: 3,
            max_bytes: 20,
            max_line_bytes: 8,
        };
        let cx = Context::new(
            Context::for_test().attempt().clone(),
            None,
            Artifacts::in_memory(),
            limits,
        );
        cx.log("0123456789abc");
        cx.log("short");
        cx.log("tiny");
        cx.log("more");
        let (lines, dropped) = cx.take_log();
        let text: Vec<&str> = lines.iter().map(|l| l.line.as_str()).collect();
        assert_eq!(text, ["01234567…", "short", "tiny"]);
        assert_eq!(dropped, 1);
    }

    #[test]
    fn stopping_says_why() {
        let cx = Context::for_test();
        assert!(!cx.is_cancelled());
        cx.stop(StopReason::Deadline);
        cx.stop(StopReason::Cancelled);
        assert!(cx.is_cancelled());
        assert_eq!(cx.stop_reason(), Some(StopReason::Deadline));
        assert_eq!(cx.stopped_error().code, ErrorCode::Timeout);
    }
}
