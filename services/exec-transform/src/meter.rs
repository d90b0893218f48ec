//! The budget of one jq evaluation: jaq has no fuel, so the program is instrumented (see
//! [`crate::jq`]) to call [`charge`] at every step, and the evaluating thread keeps its meter
//! here.
//!
//! Consumes the limits of the attempt and a cancellation flag; produces, at every step, `Ok`
//! or the [`Exceeded`] limit. Once one limit is exceeded every later step fails too (a `try`
//! in the program cannot keep it running). Also collects the lines `debug`/`stderr` write
//! (bounded). Touches a thread-local: one evaluation per thread at a time.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use jaq_json::Val;

/// Lines of `debug`/`stderr` kept per attempt; more are counted, not kept.
pub const MAX_LOG_LINES: usize = 100;
/// Longest line kept (longer ones are cut).
pub const MAX_LOG_LINE: usize = 1024;

/// What one evaluation may spend.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Steps (calls of defined filters, `range` values, `reduce`/`foreach` iterations).
    pub max_steps: u64,
    /// Largest single value (strings by length, containers 16 bytes an entry).
    pub max_value_bytes: u64,
    /// When to stop.
    pub deadline: Instant,
    /// Set by the attempt's owner to stop the evaluation (cancel, or deadline passed).
    pub cancel: Arc<AtomicBool>,
    /// Stack the evaluation may use below the point where it started, in bytes.
    pub max_stack: usize,
}

/// Which limit an evaluation ran out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// More steps than allowed.
    Steps(u64),
    /// A value larger than allowed.
    ValueBytes(u64),
    /// The deadline passed.
    Time,
    /// Cancelled from outside.
    Cancelled,
    /// Recursion too deep for the stack.
    Stack,
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exceeded::Steps(n) => write!(f, "the program ran more than {n} evaluation steps"),
            Exceeded::ValueBytes(n) => {
                write!(f, "the program built a value larger than {} MiB", n >> 20)
            }
            Exceeded::Time => f.write_str("the program ran out of time"),
            Exceeded::Cancelled => f.write_str("the attempt was cancelled"),
            Exceeded::Stack => f.write_str("the program recursed too deeply"),
        }
    }
}

struct Meter {
    budget: Budget,
    steps: u64,
    stack_base: usize,
    exceeded: Option<Exceeded>,
    log: Vec<String>,
    log_dropped: usize,
}

thread_local! {
    static METER: RefCell<Option<Meter>> = const { RefCell::new(None) };
}

/// The address of a local of the caller's frame: a measure of stack depth (the stack grows
/// down on every platform we build for).
#[inline(never)]
fn stack_pointer() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// What an evaluation left behind.
#[derive(Debug, Default)]
pub struct Report {
    /// The limit it ran out of, if any.
    pub exceeded: Option<Exceeded>,
    /// Steps taken.
    pub steps: u64,
    /// Lines written by `debug`/`stderr`.
    pub log: Vec<String>,
    /// Lines not kept.
    pub log_dropped: usize,
}

/// Run `f` under `budget` on this thread.
pub fn metered<T>(budget: Budget, f: impl FnOnce() -> T) -> (T, Report) {
    let meter = Meter {
        budget,
        steps: 0,
        stack_base: stack_pointer(),
        exceeded: None,
        log: Vec::new(),
        log_dropped: 0,
    };
    let outer = METER.replace(Some(meter));
    let out = f();
    let report = METER
        .replace(outer)
        .map(|m| Report {
            exceeded: m.exceeded,
            steps: m.steps,
            log: m.log,
            log_dropped: m.log_dropped,
        })
        .unwrap_or_default();
    (out, report)
}

/// A rough size of a value, in O(1).
fn weight(v: &Val) -> u64 {
    match v {
        Val::TStr(s) | Val::BStr(s) => s.len() as u64,
        Val::Arr(a) => 16 * a.len() as u64,
        Val::Obj(o) => 16 * o.len() as u64,
        _ => 0,
    }
}

/// Charge one step that produced `v`. Outside [`metered`] (never in this crate) it is free.
pub fn charge(v: &Val) -> Result<(), Exceeded> {
    METER.with(|cell| {
        let mut cell = cell.borrow_mut();
        let Some(m) = cell.as_mut() else {
            return Ok(());
        };
        if let Some(e) = m.exceeded {
            return Err(e);
        }
        m.steps += 1;
        let b = &m.budget;
        let exceeded = if m.steps > b.max_steps {
            Some(Exceeded::Steps(b.max_steps))
        } else if b.cancel.load(Ordering::Relaxed) {
            Some(Exceeded::Cancelled)
        } else if weight(v) > b.max_value_bytes {
            Some(Exceeded::ValueBytes(b.max_value_bytes))
        } else if m.stack_base.saturating_sub(stack_pointer()) > b.max_stack {
            Some(Exceeded::Stack)
        } else if m.steps % 64 == 0 && Instant::now() > b.deadline {
            Some(Exceeded::Time)
        } else {
            None
        };
        m.exceeded = exceeded;
        exceeded.map_or(Ok(()), Err)
    })
}

/// Check time and cancellation between output values (no step charged).
pub fn check_between() -> Result<(), Exceeded> {
    METER.with(|cell| {
        let mut cell = cell.borrow_mut();
        let Some(m) = cell.as_mut() else {
            return Ok(());
        };
        if m.exceeded.is_none() {
            if m.budget.cancel.load(Ordering::Relaxed) {
                m.exceeded = Some(Exceeded::Cancelled);
            } else if Instant::now() > m.budget.deadline {
                m.exceeded = Some(Exceeded::Time);
            }
        }
        m.exceeded.map_or(Ok(()), Err)
    })
}

/// Keep one line of `debug`/`stderr` output.
pub fn log(line: String) {
    METER.with(|cell| {
        if let Some(m) = cell.borrow_mut().as_mut() {
            if m.log.len() >= MAX_LOG_LINES {
                m.log_dropped += 1;
                return;
            }
            let mut line = line;
            if line.len() > MAX_LOG_LINE {
                let mut cut = MAX_LOG_LINE;
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                line.truncate(cut);
                line.push('…');
            }
            m.log.push(line);
        }
    })
}
