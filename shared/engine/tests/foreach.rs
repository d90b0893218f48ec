//! `foreach` in the decision core: items start up to `concurrency`, each with its own attempts,
//! the output lists their outputs in item order, a failed item fails the step at once
//! (`fail_fast`) or after the others; replay arrives at the same state.
#![allow(clippy::unwrap_used)]
mod common;

use common::*;
use serde_json::json;
use weft_engine::{ExecutionStatus, Input, Outcome, StepStatus, TimerKind};

const LOOP: &str = r#"
name: w
on: { webhook: { path: w } }
steps:
  loop:
    uses: http
    foreach: ${{ event.data.items }}
    concurrency: 2
    with: { url: "http://x/${{ item }}", n: "${{ index }}" }
  after: { uses: http, needs: loop, with: { all: "${{ steps.loop.output }}" } }
"#;

fn created_with(items: serde_json::Value) -> weft_engine::Execution {
    let mut st = created();
    st.event = json!({"data": {"items": items}});
    st
}

fn ok_item(index: u32, v: serde_json::Value) -> Input {
    item_result("loop", index, 1, Outcome::Succeeded(v))
}

#[test]
fn items_run_up_to_the_concurrency_and_the_output_keeps_item_order() {
    let w = wf(LOOP);
    let (d, st) = run_from(
        &w,
        created_with(json!(["a", "b", "c"])),
        &[
            (0, Input::START),
            (1, ok_item(1, json!("B"))),
            (2, ok_item(0, json!("A"))),
            (3, ok_item(2, json!("C"))),
        ],
    );
    assert_eq!(
        d[0],
        [
            "started",
            "lifecycle running",
            "loop items 3",
            "dispatch loop[0]#1",
            "dispatch loop[1]#1"
        ]
    );
    assert_eq!(
        d[1],
        [
            "loop[1] attempt succeeded, item succeeded",
            "dispatch loop[2]#1"
        ]
    );
    assert_eq!(d[2], ["loop[0] attempt succeeded, item succeeded"]);
    assert_eq!(
        d[3],
        [
            "loop[2] attempt succeeded, item succeeded",
            "loop=succeeded",
            "dispatch after#1"
        ]
    );
    let step = st.step("loop").unwrap();
    assert_eq!(step.output, Some(json!(["A", "B", "C"])));
    let f = step.fanout.as_ref().unwrap();
    assert_eq!((f.total, f.next, f.succeeded, f.failed), (3, 3, 3, 0));
}

#[test]
fn each_item_sees_its_item_and_index() {
    let w = wf(LOOP);
    let d = start(&w, &created_with(json!(["a", "b"])));
    let tasks: Vec<_> = d
        .effects
        .iter()
        .filter_map(|e| match e {
            weft_engine::Effect::Dispatch(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(tasks[0].with, json!({"url": "http://x/a", "n": 0}));
    assert_eq!(tasks[1].with, json!({"url": "http://x/b", "n": 1}));
    assert_eq!(tasks[1].instance, Some(1));
    assert_ne!(tasks[0].attempt_id, tasks[1].attempt_id);
}

#[test]
fn a_failed_item_fails_the_step_at_once_and_cancels_the_others() {
    let (d, st) = run_from(
        &wf(LOOP),
        created_with(json!([1, 2, 3])),
        &[
            (0, Input::START),
            (1, item_result("loop", 0, 1, failure(false))),
        ],
    );
    assert_eq!(
        d[1],
        [
            "loop[0] attempt failed, item failed",
            "loop[1] attempt cancelled, item cancelled",
            "stop",
            "loop=failed",
            "after=skipped",
            "drop timers",
            "ended failed",
            "lifecycle failed"
        ]
    );
    let error = st.step("loop").unwrap().error.clone().unwrap();
    assert_eq!(error["code"], "item_failed");
    assert_eq!(error["index"], 0);
    assert_eq!(st.status, ExecutionStatus::Failed);
}

#[test]
fn without_fail_fast_every_item_runs_and_the_step_fails_after_them() {
    let w = wf(&LOOP.replace("concurrency: 2", "concurrency: 2\n    fail_fast: false"));
    let (d, st) = run_from(
        &w,
        created_with(json!([1, 2, 3])),
        &[
            (0, Input::START),
            (1, item_result("loop", 0, 1, failure(false))),
            (2, ok_item(1, json!("B"))),
            (3, ok_item(2, json!("C"))),
        ],
    );
    assert_eq!(
        d[1],
        ["loop[0] attempt failed, item failed", "dispatch loop[2]#1"]
    );
    let step = st.step("loop").unwrap();
    assert_eq!(step.status, StepStatus::Failed);
    assert_eq!(step.output, Some(json!([null, "B", "C"])));
    assert_eq!(step.error.as_ref().unwrap()["code"], "items_failed");
    assert_eq!(step.error.as_ref().unwrap()["failed"], 1);
}

#[test]
fn an_item_retries_on_its_own_with_its_own_attempt_numbers() {
    let w = wf(&LOOP.replace(
        "concurrency: 2",
        "concurrency: 2\n    retry: { attempts: 2 }",
    ));
    let (d, st) = run_from(
        &w,
        created_with(json!([1, 2])),
        &[
            (0, Input::START),
            (1, item_result("loop", 1, 1, failure(true))),
            (2, item_retry("loop", 1)),
            (3, ok_item(0, json!(0))),
            (4, item_result("loop", 1, 2, Outcome::Succeeded(json!(1)))),
        ],
    );
    assert_eq!(d[1], ["loop[1] attempt failed, retry", "timer retry"]);
    assert_eq!(d[2], ["dispatch loop[1]#2"]);
    assert_eq!(st.step("loop").unwrap().output, Some(json!([0, 1])));
    // A retry timer that fires twice (redelivered) starts nothing more.
    assert!(d[3].iter().all(|e| !e.starts_with("dispatch loop")));
}

#[test]
fn a_list_that_is_not_one_fails_the_step_and_an_empty_one_succeeds_at_once() {
    let (_, st) = run_from(
        &wf(LOOP),
        created_with(json!({"a": 1})),
        &[(0, Input::START)],
    );
    let error = st.step("loop").unwrap().error.clone().unwrap();
    assert_eq!(error["code"], "bad_input");
    assert_eq!(
        error["message"],
        "`foreach` must give a list, got an object"
    );

    let (_, st) = run_from(&wf(LOOP), created_with(json!([])), &[(0, Input::START)]);
    let step = st.step("loop").unwrap();
    assert_eq!(
        (step.status, step.output.clone()),
        (StepStatus::Succeeded, Some(json!([])))
    );
}

#[test]
fn items_whose_with_fails_end_at_once_and_the_rest_go_on() {
    let yaml = LOOP
        .replace("concurrency: 2", "concurrency: 2\n    fail_fast: false")
        .replace("n: \"${{ index }}\"", "n: \"${{ item.n }}\"");
    let (d, st) = run_from(
        &wf(&yaml),
        created_with(json!([{"n": 1}, 7, 8, {"n": 2}])),
        &[
            (0, Input::START),
            (1, ok_item(0, json!(1))),
            (2, ok_item(3, json!(2))),
        ],
    );
    assert_eq!(
        d[0][2..],
        [
            "loop items 4",
            "dispatch loop[0]#1",
            "refused loop[1]",
            "refused loop[2]",
            "dispatch loop[3]#1"
        ]
    );
    let step = st.step("loop").unwrap();
    assert_eq!(step.output, Some(json!([1, null, null, 2])));
    assert_eq!(step.error.as_ref().unwrap()["failed"], 2);
}

#[test]
fn a_window_of_items_used_up_with_nothing_in_flight_continues_in_a_timer() {
    // The router reads only the next few items: here one, and it fails before it is sent.
    let yaml = LOOP
        .replace("concurrency: 2", "concurrency: 1\n    fail_fast: false")
        .replace("n: \"${{ index }}\"", "n: \"${{ item.n }}\"");
    let w = wf(&yaml);
    let mut st = start(&w, &created_with(json!([{"n": 1}, 7, {"n": 2}]))).state;
    let f = st.steps[0].fanout.as_mut().unwrap();
    f.pending.truncate(1); // item 1 only: the router's window after item 0 starts
    f.outputs = None;
    let d = decide_full(&w, st, 1, ok_item(0, json!(1)));
    let names = names(&d.effects);
    assert_eq!(
        names,
        [
            "loop[0] attempt succeeded, item succeeded",
            "refused loop[1]",
            "timer continue"
        ]
    );
    let timer = d.effects.iter().find_map(|e| match e {
        weft_engine::Effect::TimerSet(t) => Some(t),
        _ => None,
    });
    assert_eq!(timer.unwrap().kind, TimerKind::Continue);
    assert_eq!(timer.unwrap().due_at, at(1), "due at once");
}

#[test]
fn an_output_over_the_inline_limit_is_stored_and_the_step_output_is_its_reference() {
    let w = wf(LOOP);
    let big = |c: &str| json!({"body": c.repeat(100 * 1024)});
    let (_, st) = run_from(
        &w,
        created_with(json!(["a", "b", "c"])),
        &[
            (0, Input::START),
            (1, ok_item(1, big("b"))),
            (2, ok_item(0, big("a"))),
        ],
    );
    let d = decide_full(&w, st, 3, ok_item(2, big("c")));
    let bytes = serde_json::to_vec(&json!([big("a"), big("b"), big("c")])).unwrap();
    assert!(bytes.len() > weft_engine::MAX_INLINE_OUTPUT);
    assert_eq!(
        names(&d.effects)[..3],
        [
            "loop[2] attempt succeeded, item succeeded".to_string(),
            format!("loop output stored, {} bytes", bytes.len()),
            "loop=succeeded".to_string(),
        ]
    );
    let reference = weft_engine::stored_output("loop", &bytes);
    assert_eq!(reference.name, "loop.output.json");
    let stored = d.effects.iter().find_map(|e| match e {
        weft_engine::Effect::OutputStored {
            reference, bytes, ..
        } => Some((reference, bytes)),
        _ => None,
    });
    assert_eq!(
        stored,
        Some((&reference, &bytes)),
        "the list, in item order"
    );
    let output = d.state.step("loop").unwrap().output.clone().unwrap();
    assert_eq!(output, serde_json::to_value(&reference).unwrap());
    let after = dispatched(&d.effects);
    assert_eq!(after.with["all"], output, "a later step gets the reference");
}
