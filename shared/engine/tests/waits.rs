//! `wait` steps: which events end the wait, the timeout, and what replay sees.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use weft_engine::{ExecutionStatus, Input, StepStatus, TimerKind};

const REPLY: &str = r#"
name: w
on: { webhook: { path: w } }
steps:
  ask: { uses: http }
  reply:
    needs: ask
    wait:
      type: shop.reply
      source: { prefix: "mail/" }
      match: ${{ event.data.order == execution.event.data.n && steps.ask.status == "succeeded" }}
      timeout: 1h
      window: 10m
  thank: { uses: http, needs: reply, with: { text: "${{ steps.reply.output.data.text }}" } }
"#;

fn event(id: &str, ty: &str, source: &str, order: i64) -> Value {
    json!({"specversion": "1.0", "id": id, "type": ty, "source": source,
           "data": {"order": order, "text": format!("reply {id}")}})
}

fn offer(step: &str, event: Value) -> Input {
    Input::Event {
        step: step.into(),
        event,
    }
}

#[test]
fn a_wait_starts_with_its_window_and_timer() {
    let (d, st) = run(
        &wf(REPLY),
        &[(0, Input::START), (10, ok("ask", 1, json!({})))],
    );
    let since = at(10) - chrono::Duration::minutes(10);
    assert_eq!(
        d[1],
        [
            "ask attempt succeeded, step succeeded".to_string(),
            "reply=running".into(),
            format!("reply waits since {since}"),
            "timer wait_timeout".into(),
        ]
    );
    assert_eq!(st.status_of("reply"), Some(StepStatus::Running));
}

#[test]
fn only_a_matching_event_ends_the_wait_and_becomes_the_output() {
    let (d, st) = run(
        &wf(REPLY),
        &[
            (0, Input::START),
            (1, ok("ask", 1, json!({}))),
            (2, offer("reply", event("e1", "shop.other", "mail/x", 2))),
            (3, offer("reply", event("e2", "shop.reply", "web/x", 2))),
            (4, offer("reply", event("e3", "shop.reply", "mail/x", 3))),
            (5, offer("reply", json!({"type": "shop.reply"}))),
            (6, offer("reply", event("e4", "shop.reply", "mail/x", 2))),
            (7, offer("reply", event("e5", "shop.reply", "mail/x", 2))),
        ],
    );
    assert!(d[2].is_empty(), "wrong type");
    assert!(d[3].is_empty(), "wrong source");
    assert!(d[4].is_empty(), "`match` is false");
    assert!(d[5].is_empty(), "not an event");
    assert_eq!(d[6], ["reply=succeeded", "dispatch thank#1"]);
    assert!(d[7].is_empty(), "the wait ended");
    assert_eq!(
        st.step("reply").unwrap().output.as_ref().unwrap()["id"],
        "e4"
    );
}

#[test]
fn a_match_that_cannot_be_evaluated_does_not_match() {
    let (d, st) = run(
        &wf(REPLY),
        &[
            (0, Input::START),
            (1, ok("ask", 1, json!({}))),
            (
                2,
                offer(
                    "reply",
                    json!({"id": "x", "type": "shop.reply", "source": "mail/x"}),
                ),
            ),
        ],
    );
    assert!(d[2].is_empty());
    assert_eq!(st.status_of("reply"), Some(StepStatus::Running));
}

#[test]
fn an_event_before_the_wait_or_for_another_step_changes_nothing() {
    let (d, _) = run(
        &wf(REPLY),
        &[
            (0, Input::START),
            (1, offer("reply", event("e1", "shop.reply", "mail/x", 2))),
            (2, offer("ask", event("e1", "shop.reply", "mail/x", 2))),
        ],
    );
    assert!(d[1].is_empty(), "the step is queued, not waiting");
    assert!(d[2].is_empty(), "not a wait step");
}

#[test]
fn no_event_in_time_times_the_wait_out() {
    let (d, st) = run(
        &wf(REPLY),
        &[
            (0, Input::START),
            (1, ok("ask", 1, json!({}))),
            (3601, timer(TimerKind::WaitTimeout, Some("reply"), None)),
            (3602, offer("reply", event("e1", "shop.reply", "mail/x", 2))),
        ],
    );
    assert_eq!(d[2][0], "reply=timed_out");
    assert!(d[3].is_empty(), "too late");
    let error = st.step("reply").unwrap().error.clone().unwrap();
    assert_eq!(error["message"], "no matching event within 1h");
    assert_eq!(st.status, ExecutionStatus::Failed);
}

const TWICE: &str = r#"
name: w
on: { event: { type: shop.reply } }
steps:
  first: { wait: { type: shop.reply } }
  second: { needs: first, wait: { type: shop.reply, window: 0s } }
"#;

#[test]
fn the_trigger_and_an_event_taken_by_another_wait_do_not_count() {
    let trigger = event("t", "shop.reply", "mail/x", 1);
    let mut first = created();
    first.event = trigger.clone();
    let (d, st) = run_from(
        &wf(TWICE),
        first,
        &[
            (0, Input::START),
            (1, offer("first", trigger)),
            (2, offer("first", event("e1", "shop.reply", "mail/x", 1))),
            (3, offer("second", event("e1", "shop.reply", "mail/x", 1))),
            (4, offer("second", event("e2", "shop.reply", "mail/x", 1))),
        ],
    );
    assert_eq!(
        d[0][2..4],
        [
            "first=running".to_string(),
            format!("first waits since {}", at(0) - chrono::Duration::minutes(5))
        ]
    );
    assert!(d[1].is_empty(), "its own trigger");
    assert_eq!(
        d[2][..3],
        [
            "first=succeeded".to_string(),
            "second=running".into(),
            format!("second waits since {}", at(2))
        ]
    );
    assert!(d[3].is_empty(), "taken by `first`");
    assert_eq!(d[4][0], "second=succeeded");
    assert_eq!(st.status, ExecutionStatus::Succeeded);
}

#[test]
fn cancelling_a_waiting_run_cancels_the_wait() {
    let (d, st) = run(
        &wf(TWICE),
        &[
            (0, Input::START),
            (
                1,
                Input::Cancel {
                    reason: "stop".into(),
                },
            ),
        ],
    );
    assert_eq!(d[1][0], "first=cancelled");
    assert_eq!(st.status_of("second"), Some(StepStatus::Cancelled));
}
