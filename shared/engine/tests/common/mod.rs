//! Helpers of the decision core's tests: a workflow, inputs at fixed times, effect names, and
//! a run that checks replay after every table.
#![allow(clippy::unwrap_used, dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use uuid::Uuid;
use weft_engine::{
    Effect, Entry, Execution, Input, Outcome, Settings, TimerKind, decide, replay, state,
};
use weft_events::{ErrorCode, StepError};
use weft_flow::{Format, Workflow};

pub const ID: Uuid = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);

pub fn wf(yaml: &str) -> Workflow {
    weft_flow::parse(yaml, Format::Yaml).unwrap()
}

pub fn at(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
}

pub fn created() -> Execution {
    Execution::created(ID, "w", 1, "ev-1", json!({"data": {"n": 2}}), json!({}))
}

/// A short name for each effect, to compare decisions at a glance.
pub fn names(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .map(|e| match e {
            Effect::ExecutionStarted => "started".into(),
            Effect::DefaultsSet(_) => "defaults".into(),
            Effect::StepSet { step, status, .. } => format!("{step}={status}"),
            Effect::FanoutStarted { step, items } => format!("{step} items {}", items.len()),
            Effect::Dispatch(t) => match t.instance {
                Some(i) => format!("dispatch {}[{i}]#{}", t.step_id, t.attempt),
                None => format!("dispatch {}#{}", t.step_id, t.attempt),
            },
            Effect::AttemptRefused { step, instance, .. } => match instance {
                Some(i) => format!("refused {step}[{i}]"),
                None => format!("refused {step}"),
            },
            Effect::AttemptEnded {
                step,
                status,
                step_status,
                instance: Some(i),
                ..
            } => match step_status {
                Some(s) => format!("{step}[{i}] attempt {status}, item {s}"),
                None => format!("{step}[{i}] attempt {status}, retry"),
            },
            Effect::AttemptEnded {
                step,
                status,
                step_status,
                ..
            } => match step_status {
                Some(s) => format!("{step} attempt {status}, step {s}"),
                None => format!("{step} attempt {status}, retry"),
            },
            Effect::OutputStored {
                step, reference, ..
            } => format!("{step} output stored, {} bytes", reference.size),
            Effect::WaitStarted { step, since } => format!("{step} waits since {since}"),
            Effect::TimerSet(t) => format!("timer {}", t.kind),
            Effect::TimersDroppedForAttempt(_) => "drop attempt timers".into(),
            Effect::TimersDropped => "drop timers".into(),
            Effect::Failing { .. } => "failing".into(),
            Effect::Stop { .. } => "stop".into(),
            Effect::ExecutionEnded { status, .. } => format!("ended {status}"),
            Effect::Lifecycle { status, .. } => format!("lifecycle {status}"),
        })
        .collect()
}

/// Run inputs one after another; returns each decision's effect names and the final state.
pub fn run(w: &Workflow, inputs: &[(i64, Input)]) -> (Vec<Vec<String>>, Execution) {
    run_from(w, created(), inputs)
}

/// [`run`] from the state `first` (e.g. with another event).
pub fn run_from(
    w: &Workflow,
    first: Execution,
    inputs: &[(i64, Input)],
) -> (Vec<Vec<String>>, Execution) {
    let mut st = first.clone();
    let mut all = Vec::new();
    let mut journal = Vec::new();
    for (t, input) in inputs {
        let entry = Entry {
            at: at(*t),
            input: input.clone(),
        };
        let d = decide(w, &st, &entry, &Settings::STEP).unwrap();
        all.push(names(&d.effects));
        st = d.state;
        journal.push(entry);
    }
    let replayed = replay::replay(w, first, &journal, &Settings::STEP);
    assert_eq!(replay::compare(&st, &replayed), None, "replay diverges");
    (all, st)
}

/// The task of the first dispatch among `effects`.
pub fn dispatched(effects: &[Effect]) -> &weft_events::Task {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::Dispatch(t) => Some(&**t),
            _ => None,
        })
        .expect("a dispatch")
}

/// Decide the start of `st` at time 0.
pub fn start(w: &Workflow, st: &Execution) -> weft_engine::Decision {
    let entry = Entry {
        at: at(0),
        input: Input::START,
    };
    decide(w, st, &entry, &Settings::STEP).unwrap()
}

pub fn ok(step: &str, n: i32, output: Value) -> Input {
    Input::Result {
        attempt_id: state::attempt_id(ID, step, n),
        step: step.into(),
        n,
        outcome: Some(Outcome::Succeeded(output)),
    }
}

pub fn err(step: &str, n: i32, retryable: bool) -> Input {
    let e = match retryable {
        true => StepError::retryable(ErrorCode::Connect, "refused"),
        false => StepError::permanent(ErrorCode::HttpStatus, "404"),
    };
    Input::Result {
        attempt_id: state::attempt_id(ID, step, n),
        step: step.into(),
        n,
        outcome: Some(Outcome::Failed(e)),
    }
}

pub fn timer(kind: TimerKind, step: Option<&str>, n: Option<i32>) -> Input {
    Input::Timer {
        timer: kind,
        step: step.map(str::to_string),
        attempt_id: step.zip(n).map(|(s, n)| state::attempt_id(ID, s, n)),
        instance: None,
    }
}

/// The result of attempt `n` of item `index` of `step`.
pub fn item_result(step: &str, index: u32, n: i32, outcome: Outcome) -> Input {
    Input::Result {
        attempt_id: state::instance_attempt_id(ID, step, index, n),
        step: step.into(),
        n,
        outcome: Some(outcome),
    }
}

/// A retryable (`true`) or permanent failure.
pub fn failure(retryable: bool) -> Outcome {
    Outcome::Failed(match retryable {
        true => StepError::retryable(ErrorCode::Connect, "refused"),
        false => StepError::permanent(ErrorCode::HttpStatus, "404"),
    })
}

/// The retry timer of item `index` of `step`.
pub fn item_retry(step: &str, index: u32) -> Input {
    Input::Timer {
        timer: TimerKind::Retry,
        step: Some(step.into()),
        attempt_id: None,
        instance: Some(index),
    }
}

/// Decide `input` at second `t` for `st`.
pub fn decide_full(w: &Workflow, st: Execution, t: i64, input: Input) -> weft_engine::Decision {
    let entry = Entry { at: at(t), input };
    decide(w, &st, &entry, &Settings::STEP).unwrap()
}

/// The state after deciding `input` at second `t` for `st`.
pub fn decide_at(w: &Workflow, st: Execution, t: i64, input: Input) -> Execution {
    decide_full(w, st, t, input).state
}
