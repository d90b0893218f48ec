//! One attempt: resolve the input, run the program off the async workers, bound its time and
//! output.
//!
//! Consumes a [`TransformWith`], the attempt's artifact store, cancellation token and deadline;
//! produces the result or a [`TransformError`], plus the lines `debug`/`stderr` wrote. A jq
//! program runs on a thread of its own ([`jq::STACK_SIZE`] of stack) under the meter; a `map`
//! on tokio's blocking pool. Touches the artifact store (through `input`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::config::TransformConfig;
use crate::error::{Code, TransformError};
use crate::input::{self, ArtifactSource};
use crate::jq::{self, OutputLimits};
use crate::map;
use crate::meter::{self, Budget, Exceeded};
use crate::with::{Program, TransformWith};

/// How long a jq thread gets, after it was told to stop, before it is abandoned.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// What an attempt produced.
#[derive(Debug)]
pub struct Outcome {
    /// The result, or why there is none.
    pub result: Result<Value, TransformError>,
    /// Lines written by `debug`/`stderr` (bounded; see [`meter::MAX_LOG_LINES`]).
    pub log: Vec<String>,
}

/// Run one attempt.
pub async fn transform(
    config: &TransformConfig,
    with: TransformWith,
    artifacts: &impl ArtifactSource,
    token: CancellationToken,
    step_deadline: Option<Instant>,
) -> Outcome {
    let fail = |e| Outcome {
        result: Err(e),
        log: Vec::new(),
    };
    let program = match with.program() {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let mut deadline = Instant::now() + config.timeout();
    if let Some(d) = step_deadline {
        deadline = deadline.min(d);
    }
    let resolve = input::resolve(
        with.input,
        with.input_format,
        artifacts,
        config.max_input_bytes,
    );
    let value = tokio::select! {
        v = resolve => v,
        () = token.cancelled() => Err(cancelled()),
    };
    let value = match value {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    match program {
        Program::Jq(code) => run_jq(config, code, value, token, deadline).await,
        Program::Map(entries) => {
            let max_entries = config.max_map_entries;
            let max_bytes = config.max_output_bytes;
            let task = tokio::task::spawn_blocking(move || {
                let out = map::eval(&entries, &value, deadline, max_entries)?;
                check_size(&out, max_bytes)?;
                Ok(out)
            });
            let result = tokio::select! {
                r = task => r.unwrap_or_else(|e| Err(internal(format!("map evaluation: {e}")))),
                () = token.cancelled() => Err(cancelled()),
            };
            Outcome {
                result,
                log: Vec::new(),
            }
        }
    }
}

fn cancelled() -> TransformError {
    TransformError::new(Code::Cancelled, "the attempt was cancelled")
}

fn internal(message: String) -> TransformError {
    TransformError::new(Code::Internal, message)
}

/// The size of a `map` result as compact JSON, against the output limit: written into a
/// counter that stops at the limit.
fn check_size(v: &Value, max: usize) -> Result<(), TransformError> {
    struct Counter {
        left: usize,
    }
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.left = self
                .left
                .checked_sub(buf.len())
                .ok_or_else(|| std::io::Error::other("too large"))?;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(Counter { left: max }, v).map_err(|_| {
        TransformError::new(
            Code::OutputTooLarge,
            format!("the result is larger than {max} bytes"),
        )
    })
}

fn exceeded(e: Exceeded, timeout: bool) -> TransformError {
    match e {
        Exceeded::Cancelled if !timeout => cancelled(),
        Exceeded::Cancelled | Exceeded::Time => {
            TransformError::new(Code::SandboxLimit, "jq: the program ran out of time")
        }
        other => TransformError::new(Code::SandboxLimit, format!("jq: {other}")),
    }
}

type JqDone = (Result<Value, TransformError>, meter::Report);

async fn run_jq(
    config: &TransformConfig,
    code: String,
    input: Value,
    token: CancellationToken,
    deadline: Instant,
) -> Outcome {
    let stop = Arc::new(AtomicBool::new(false));
    let budget = Budget {
        max_steps: config.max_steps,
        max_value_bytes: config.max_value_bytes,
        deadline,
        cancel: Arc::clone(&stop),
        max_stack: jq::MAX_STACK_USE,
    };
    let limits = OutputLimits {
        max_values: config.max_values,
        max_bytes: config.max_output_bytes,
    };
    let (tx, mut rx) = tokio::sync::oneshot::channel::<JqDone>();
    let spawned = std::thread::Builder::new()
        .name("weft-jq".into())
        .stack_size(jq::STACK_SIZE)
        .spawn(move || {
            let done = meter::metered(budget, || {
                let program = jq::compile(&code)?;
                jq::run(&program, &input, limits)
            });
            let _ = tx.send(done);
        });
    if let Err(e) = spawned {
        return Outcome {
            result: Err(internal(format!("cannot start a jq thread: {e}"))),
            log: Vec::new(),
        };
    }
    let deadline = tokio::time::Instant::from_std(deadline);
    let mut timed_out = false;
    let done = tokio::select! {
        d = &mut rx => d.ok(),
        () = token.cancelled() => None,
        () = tokio::time::sleep_until(deadline) => { timed_out = true; None }
    };
    let done = match done {
        Some(d) => Some(d),
        None => {
            stop.store(true, Ordering::Relaxed);
            tokio::time::timeout(STOP_GRACE, rx)
                .await
                .ok()
                .and_then(Result::ok)
        }
    };
    let Some((result, report)) = done else {
        tracing::warn!(
            "a jq program did not stop within {STOP_GRACE:?} of being told to; its thread is abandoned"
        );
        let e = if timed_out {
            TransformError::new(Code::SandboxLimit, "jq: the program ran out of time")
        } else {
            cancelled()
        };
        return Outcome {
            result: Err(e),
            log: Vec::new(),
        };
    };
    let mut log = report.log;
    if report.log_dropped > 0 {
        log.push(format!(
            "… {} more debug line(s) dropped",
            report.log_dropped
        ));
    }
    let result = match report.exceeded {
        Some(e) => Err(exceeded(
            e,
            timed_out || Instant::now() >= deadline.into_std(),
        )),
        None => result,
    };
    Outcome { result, log }
}
