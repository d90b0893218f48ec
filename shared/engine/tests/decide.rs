//! The decision core, table by table, without a database: a workflow, a list of inputs, and
//! what each decision must do. Replay of the same inputs must arrive at the same state.
#![allow(clippy::unwrap_used)]
mod common;

use common::*;
use serde_json::{Value, json};
use weft_engine::{
    AttemptStatus, Effect, Entry, Execution, ExecutionStatus, Input, Settings, StepStatus,
    TimerKind, decide, state,
};

const CHAIN: &str = r#"
name: w
on: { webhook: { path: w } }
steps:
  a: { uses: http, with: { url: "http://x/${{ event.data.n }}" } }
  b: { uses: http, needs: a, with: { json: "${{ steps.a.output }}" } }
"#;

#[test]
fn a_chain_runs_step_by_step_and_succeeds_with_the_sinks_output() {
    let (d, st) = run(
        &wf(CHAIN),
        &[
            (0, Input::START),
            (1, ok("a", 1, json!(1))),
            (2, ok("b", 1, json!(2))),
        ],
    );
    assert_eq!(d[0], ["started", "lifecycle running", "dispatch a#1"]);
    assert_eq!(
        d[1],
        ["a attempt succeeded, step succeeded", "dispatch b#1"]
    );
    assert_eq!(
        d[2],
        [
            "b attempt succeeded, step succeeded",
            "ended succeeded",
            "lifecycle succeeded"
        ]
    );
    assert_eq!(st.status, ExecutionStatus::Succeeded);
    assert_eq!(st.output, Some(json!({"b": 2})));
    assert_eq!(st.started_at, Some(at(0)));
}

#[test]
fn with_is_rendered_from_the_event_and_earlier_outputs() {
    let w = wf(CHAIN);
    let st = created();
    let d = start(&w, &st);
    let task = dispatched(&d.effects);
    assert_eq!(task.with, json!({"url": "http://x/2"}));
    assert_eq!(task.attempt_id, state::attempt_id(ID, "a", 1));
    let e = Entry {
        at: at(1),
        input: ok("a", 1, json!({"k": "v"})),
    };
    let d = decide(&w, &d.state, &e, &Settings::STEP).unwrap();
    let task = dispatched(&d.effects);
    assert_eq!(task.with, json!({"json": {"k": "v"}}));
}

#[test]
fn duplicate_and_late_results_change_nothing() {
    let w = wf(CHAIN);
    let (_, st) = run(&w, &[(0, Input::START), (1, ok("a", 1, json!(1)))]);
    for input in [
        ok("a", 1, json!("again")),
        ok("b", 7, json!(0)),
        ok("zz", 1, json!(0)),
    ] {
        let d = decide(&w, &st, &Entry { at: at(5), input }, &Settings::STEP).unwrap();
        assert!(d.is_empty(), "{:?}", names(&d.effects));
        assert_eq!(d.state, st);
    }
}

#[test]
fn a_retryable_failure_retries_after_backoff_then_fails_the_execution() {
    let yaml = r#"
name: w
on: { webhook: { path: w } }
steps:
  a: { uses: http, retry: { attempts: 2, backoff: 10s } }
"#;
    let (d, st) = run(
        &wf(yaml),
        &[
            (0, Input::START),
            (1, err("a", 1, true)),
            (11, timer(TimerKind::Retry, Some("a"), None)),
            (12, err("a", 2, true)),
        ],
    );
    assert_eq!(d[1], ["a attempt failed, retry", "timer retry"]);
    assert_eq!(d[2], ["dispatch a#2"]);
    assert_eq!(d[3][0], "a attempt failed, step failed");
    assert_eq!(
        d[3][1..],
        ["drop timers", "ended failed", "lifecycle failed"]
    );
    assert_eq!(st.error.as_ref().unwrap()["step"], "a");
    assert_eq!(st.step("a").unwrap().attempts, 2);
}

#[test]
fn the_retry_timer_is_due_after_the_backoff_from_the_decision_time() {
    let yaml = "name: w\non: { webhook: { path: w } }\nsteps:\n  a: { uses: http, retry: { attempts: 3, backoff: 10s } }\n";
    let w = wf(yaml);
    let (_, st) = run(&w, &[(0, Input::START)]);
    let d = decide(
        &w,
        &st,
        &Entry {
            at: at(100),
            input: err("a", 1, true),
        },
        &Settings::STEP,
    )
    .unwrap();
    let Some(Effect::TimerSet(t)) = d.effects.iter().find(|e| matches!(e, Effect::TimerSet(_)))
    else {
        panic!("no timer");
    };
    assert_eq!(t.due_at, at(110));
    assert_eq!(t.kind, TimerKind::Retry);
}

#[test]
fn a_failed_need_skips_its_dependents_unless_it_continues_on_error() {
    let yaml = r#"
name: w
on: { webhook: { path: w } }
steps:
  a: { uses: http }
  b: { uses: http, needs: a }
  c: { uses: http, continue_on_error: true }
  d: { uses: http, needs: c }
"#;
    let (d, st) = run(
        &wf(yaml),
        &[
            (0, Input::START),
            (1, err("a", 1, false)),
            (2, err("c", 1, false)),
            (3, ok("d", 1, json!(4))),
        ],
    );
    assert_eq!(
        d[0],
        [
            "started",
            "lifecycle running",
            "dispatch a#1",
            "dispatch c#1"
        ]
    );
    assert_eq!(d[1], ["a attempt failed, step failed", "b=skipped"]);
    assert_eq!(d[2], ["c attempt failed, step failed", "dispatch d#1"]);
    assert_eq!(
        st.status,
        ExecutionStatus::Failed,
        "a failed without continue_on_error"
    );
    assert_eq!(st.status_of("b"), Some(StepStatus::Skipped));
}

#[test]
fn a_false_if_skips_and_an_expression_error_fails_the_step() {
    let yaml = r#"
name: w
on: { webhook: { path: w } }
steps:
  a: { uses: http, if: "${{ event.data.n > 5 }}" }
  b: { uses: http, with: { x: "${{ nope.nothing }}" } }
"#;
    let (d, st) = run(&wf(yaml), &[(0, Input::START)]);
    assert_eq!(d[0][2], "a=skipped");
    assert_eq!(d[0][3], "b=failed");
    assert_eq!(st.status, ExecutionStatus::Failed);
}

#[test]
fn a_step_timeout_stops_the_attempt_and_times_the_step_out() {
    let yaml = "name: w\non: { webhook: { path: w } }\nsteps:\n  a: { uses: http, timeout: 5s }\n";
    let (d, st) = run(
        &wf(yaml),
        &[
            (0, Input::START),
            (5, timer(TimerKind::StepTimeout, Some("a"), Some(1))),
            (6, ok("a", 1, json!("late"))),
        ],
    );
    assert_eq!(
        d[0],
        [
            "started",
            "lifecycle running",
            "dispatch a#1",
            "timer step_timeout"
        ]
    );
    assert_eq!(d[1][..2], ["stop", "a attempt timed_out, step timed_out"]);
    assert!(d[2].is_empty(), "the late result counts for nothing");
    assert_eq!(st.status, ExecutionStatus::Failed);
    assert_eq!(
        st.step("a").unwrap().attempt.unwrap().status,
        AttemptStatus::TimedOut
    );
}

#[test]
fn a_stale_timer_for_an_attempt_that_ended_does_nothing() {
    let yaml = "name: w\non: { webhook: { path: w } }\nsteps:\n  a: { uses: http, timeout: 5s }\n  b: { uses: http, needs: a }\n";
    let (d, _) = run(
        &wf(yaml),
        &[
            (0, Input::START),
            (1, ok("a", 1, json!(1))),
            (5, timer(TimerKind::StepTimeout, Some("a"), Some(1))),
        ],
    );
    assert!(d[2].is_empty());
}

#[test]
fn cancel_ends_running_attempts_and_queued_steps_and_stops_executors() {
    let (d, st) = run(
        &wf(CHAIN),
        &[
            (0, Input::START),
            (
                1,
                Input::Cancel {
                    reason: "by an operator".into(),
                },
            ),
        ],
    );
    assert_eq!(
        d[1],
        [
            "a attempt cancelled, step cancelled",
            "stop",
            "b=cancelled",
            "drop timers",
            "ended cancelled",
            "lifecycle cancelled"
        ]
    );
    assert_eq!(
        st.error,
        Some(json!({"code": "cancelled", "message": "by an operator"}))
    );
    let (d, _) = run(
        &wf(CHAIN),
        &[
            (0, Input::START),
            (1, Input::Cancel { reason: "x".into() }),
            (2, ok("a", 1, json!(1))),
        ],
    );
    assert!(d[2].is_empty(), "an ended execution takes no input");
}

#[test]
fn the_workflow_timeout_times_the_execution_out() {
    let yaml = "name: w\non: { webhook: { path: w } }\ntimeout: 1m\nsteps:\n  a: { uses: http }\n";
    let (d, st) = run(
        &wf(yaml),
        &[
            (0, Input::START),
            (60, timer(TimerKind::WorkflowTimeout, None, None)),
        ],
    );
    assert_eq!(d[0][2], "timer workflow_timeout");
    assert_eq!(d[1].last().unwrap(), "lifecycle timed_out");
    assert_eq!(st.status, ExecutionStatus::TimedOut);
    assert_eq!(st.status_of("a"), Some(StepStatus::Cancelled));
}

#[test]
fn a_task_too_large_for_the_bus_fails_its_step_before_sending() {
    let settings = Settings {
        max_task_bytes: 1500,
        ..Settings::STEP
    };
    let yaml = "name: w\non: { webhook: { path: w } }\nsteps:\n  a: { uses: http, with: { body: \"${{ event.data }}\" } }\n";
    let w = wf(yaml);
    let mut st = created();
    st.event = json!({"data": "x".repeat(1000)});
    let d = decide(
        &w,
        &st,
        &Entry {
            at: at(0),
            input: Input::START,
        },
        &settings,
    )
    .unwrap();
    assert_eq!(
        names(&d.effects)[2..],
        [
            "refused a",
            "a=failed",
            "drop timers",
            "ended failed",
            "lifecycle failed"
        ]
    );
    let error = &d.state.step("a").unwrap().error;
    assert_eq!(error.as_ref().unwrap()["code"], "payload_too_large");
}

#[test]
fn an_expression_over_the_fast_budget_asks_for_the_larger_one() {
    // 20 × 20 × 20 iterations: over the fast budget (5,000), within the step budget (20,000).
    let list = (1..=20)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let expr = format!("[{list}].map(a, [{list}].map(b, [{list}].map(c, a*b*c)))");
    let yaml = format!(
        "name: w\non: {{ webhook: {{ path: w }} }}\nsteps:\n  a: {{ uses: http, with: {{ x: \"${{{{ {expr} }}}}\" }} }}\n"
    );
    let yaml = yaml.as_str();
    let w = wf(yaml);
    let fast = Settings {
        limits: &weft_flow::Limits::FAST,
        escalate: true,
        ..Settings::STEP
    };
    let entry = Entry {
        at: at(0),
        input: Input::START,
    };
    assert_eq!(
        decide(&w, &created(), &entry, &fast),
        Err(weft_engine::Heavy)
    );
    // The step budget's iterations, with time to spare on a slow machine.
    static ROOMY: weft_flow::Limits = weft_flow::Limits {
        time: std::time::Duration::from_secs(30),
        ..weft_flow::Limits::STEP
    };
    let roomy = Settings {
        limits: &ROOMY,
        ..Settings::STEP
    };
    let d = decide(&w, &created(), &entry, &roomy).unwrap();
    let effects = names(&d.effects);
    assert!(
        effects.contains(&"dispatch a#1".to_string()),
        "{effects:?} {:?}",
        d.state.step("a")
    );
}

#[test]
fn the_failed_step_named_does_not_depend_on_the_order_steps_are_written_in() {
    // PostgreSQL's jsonb sorts keys, so a definition read back may list steps in another order.
    for yaml in [
        "name: w\non: { webhook: { path: w } }\nsteps:\n  zed: { uses: http }\n  abe: { uses: http }\n",
        "name: w\non: { webhook: { path: w } }\nsteps:\n  abe: { uses: http }\n  zed: { uses: http }\n",
    ] {
        let (_, st) = run(
            &wf(yaml),
            &[
                (0, Input::START),
                (1, err("zed", 1, false)),
                (2, err("abe", 1, false)),
            ],
        );
        assert_eq!(st.error.as_ref().unwrap()["step"], "abe", "{yaml}");
    }
}

#[test]
fn sleep_waits_for_its_wake_timer_and_until_in_the_past_goes_on_at_once() {
    let yaml = r#"
name: w
on: { webhook: { path: w } }
steps:
  nap: { sleep: 10m }
  past: { until: "2001-01-01T00:00:00Z", needs: nap }
  after: { uses: http, needs: past }
"#;
    let (d, st) = run(
        &wf(yaml),
        &[
            (0, Input::START),
            (600, timer(TimerKind::Wake, Some("nap"), None)),
            (601, ok("after", 1, json!(1))),
        ],
    );
    assert_eq!(
        d[0],
        ["started", "lifecycle running", "nap=running", "timer wake"]
    );
    assert_eq!(
        d[1],
        ["nap=succeeded", "past=succeeded", "dispatch after#1"]
    );
    assert_eq!(
        st.step("nap").unwrap().output,
        Some(json!({"woke_at": at(600)}))
    );
    assert_eq!(st.status, ExecutionStatus::Succeeded);
}

#[test]
fn the_wake_timer_is_due_after_the_sleep_and_an_until_expression_sets_it() {
    let yaml = "name: w\non: { webhook: { path: w } }\nsteps:\n  nap: { sleep: 90s }\n  at: { until: \"${{ event.data.when }}\" }\n";
    let w = wf(yaml);
    let mut st = created();
    st.event = json!({"data": {"when": at(3600).to_rfc3339()}});
    let d = start(&w, &st);
    let due: Vec<_> = d
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::TimerSet(t) => Some((t.step.clone().unwrap(), t.due_at)),
            _ => None,
        })
        .collect();
    assert_eq!(
        due,
        [("nap".to_string(), at(90)), ("at".to_string(), at(3600))]
    );
    st.event = json!({"data": {"when": "tomorrow"}});
    let d = start(&w, &st);
    let error = d.state.step("at").unwrap().error.clone().unwrap();
    assert_eq!(error["code"], "bad_input", "{error}");
}

const SWITCH: &str = r#"
name: w
on: { webhook: { path: w } }
steps:
  route: { switch: "${{ event.data.kind }}", cases: { refund: [refund], "1": [one] }, default: [other] }
  refund: { uses: http }
  one: { uses: http }
  other: { uses: http }
  after_refund: { uses: http, needs: refund }
"#;

fn switch_on(kind: Value) -> (Vec<Vec<String>>, Execution) {
    let w = wf(SWITCH);
    let mut st = created();
    st.event = json!({"data": {"kind": kind}});
    let d = start(&w, &st);
    (vec![names(&d.effects)], d.state)
}

#[test]
fn a_switch_runs_the_branch_it_matches_and_skips_the_others_and_their_dependents() {
    let (d, st) = switch_on(json!("refund"));
    assert_eq!(
        d[0][2..],
        [
            "route=succeeded",
            "dispatch refund#1",
            "one=skipped",
            "other=skipped"
        ]
    );
    assert_eq!(
        st.step("route").unwrap().output,
        Some(json!({"value": "refund", "case": "refund"}))
    );
    let (d, st) = switch_on(json!(1));
    assert!(d[0].contains(&"dispatch one#1".to_string()), "{d:?}");
    assert_eq!(
        st.status_of("after_refund"),
        Some(StepStatus::Skipped),
        "skips propagate"
    );
    let (d, st) = switch_on(json!("other thing"));
    assert!(d[0].contains(&"dispatch other#1".to_string()), "{d:?}");
    assert_eq!(
        st.step("route").unwrap().output.as_ref().unwrap()["case"],
        "default"
    );
}

#[test]
fn a_switch_value_matching_no_case_without_default_fails_the_step() {
    let yaml = "name: w\non: { webhook: { path: w } }\nsteps:\n  s: { switch: \"${{ event.data.n }}\", cases: { a: [x] } }\n  x: { uses: http }\n";
    let (_, st) = run(&wf(yaml), &[(0, Input::START)]);
    let error = st.step("s").unwrap().error.clone().unwrap();
    assert_eq!(error["code"], "no_matching_case", "{error}");
    assert_eq!(st.status, ExecutionStatus::Failed);
}

#[test]
fn when_failure_runs_only_after_a_failure_and_when_always_runs_anyway() {
    let yaml = r#"
name: w
on: { webhook: { path: w } }
steps:
  a: { uses: http }
  cleanup: { uses: http, needs: a, when: always }
  alert: { uses: http, needs: a, when: failure }
  next: { uses: http, needs: a }
"#;
    let (d, st) = run(&wf(yaml), &[(0, Input::START), (1, err("a", 1, false))]);
    assert_eq!(
        d[1],
        [
            "a attempt failed, step failed",
            "dispatch cleanup#1",
            "dispatch alert#1",
            "next=skipped"
        ]
    );
    assert_eq!(st.status, ExecutionStatus::Running);
    let (d, _) = run(&wf(yaml), &[(0, Input::START), (1, ok("a", 1, json!(1)))]);
    assert_eq!(
        d[1][1..],
        ["dispatch cleanup#1", "alert=skipped", "dispatch next#1"]
    );
}

const HANDLED: &str = r#"
name: w
on: { webhook: { path: w } }
steps:
  a: { uses: http }
on_failure:
  notify: { uses: http, with: { text: "${{ execution.error.step }} failed" } }
  tidy: { uses: http, needs: notify }
"#;

#[test]
fn on_failure_steps_run_with_the_error_then_the_execution_fails() {
    let (d, st) = run(
        &wf(HANDLED),
        &[
            (0, Input::START),
            (1, err("a", 1, false)),
            (2, ok("notify", 1, json!(1))),
            (3, err("tidy", 1, false)),
        ],
    );
    assert_eq!(
        d[1],
        [
            "a attempt failed, step failed",
            "failing",
            "dispatch notify#1"
        ]
    );
    assert_eq!(
        d[2],
        [
            "notify attempt succeeded, step succeeded",
            "dispatch tidy#1"
        ]
    );
    assert_eq!(
        d[3][1..],
        ["drop timers", "ended failed", "lifecycle failed"]
    );
    assert_eq!(st.status, ExecutionStatus::Failed);
    assert_eq!(
        st.error.as_ref().unwrap()["step"],
        "a",
        "the first failure stays the error"
    );
    let w = wf(HANDLED);
    let (_, mid) = run(&w, &[(0, Input::START), (1, err("a", 1, false))]);
    assert_eq!(
        mid.status,
        ExecutionStatus::Running,
        "running while its handlers run"
    );
    let task = dispatched(
        &decide(
            &w,
            &created(),
            &Entry {
                at: at(0),
                input: Input::START,
            },
            &Settings::STEP,
        )
        .unwrap()
        .effects,
    )
    .clone();
    assert_eq!(task.step_id, "a");
    let (_, st) = run(&w, &[(0, Input::START), (1, ok("a", 1, json!(1)))]);
    assert_eq!(
        st.status,
        ExecutionStatus::Succeeded,
        "no failure, no handlers"
    );
    assert!(st.step("notify").is_none());
}

#[test]
fn on_failure_steps_see_the_error_in_their_expressions() {
    let w = wf(HANDLED);
    let (_, st) = run(&w, &[(0, Input::START)]);
    let d = decide(
        &w,
        &st,
        &Entry {
            at: at(1),
            input: err("a", 1, false),
        },
        &Settings::STEP,
    )
    .unwrap();
    assert_eq!(dispatched(&d.effects).with, json!({"text": "a failed"}));
}

const APPROVAL: &str = r#"
name: w
on: { webhook: { path: w } }
steps:
  ok: { approval: { message: "ship order ${{ event.data.n }}?", approvers: [ana, bo], timeout: 1h } }
  ship: { uses: http, needs: ok }
"#;

fn decision(step: &str, approved: bool, by: &str) -> Input {
    Input::Decision {
        step: step.into(),
        approved,
        by: by.into(),
        comment: Some("looks fine".into()),
    }
}

#[test]
fn an_approval_waits_for_a_decision_by_an_approver() {
    let (d, st) = run(
        &wf(APPROVAL),
        &[
            (0, Input::START),
            (5, decision("ok", true, "eve")),
            (6, decision("ok", true, "ana")),
        ],
    );
    assert_eq!(d[0][2..], ["ok=running", "timer approval_timeout"]);
    assert!(d[1].is_empty(), "eve is not an approver");
    assert_eq!(d[2], ["ok=succeeded", "dispatch ship#1"]);
    let out = st.step("ok").unwrap().output.clone().unwrap();
    assert_eq!(out["by"], "ana");
    assert_eq!(out["message"], "ship order 2?");
    assert_eq!(out["comment"], "looks fine");
    assert_eq!(out["at"], json!(at(6)));
}

#[test]
fn a_rejection_fails_the_step_and_a_silence_times_it_out() {
    let (_, st) = run(
        &wf(APPROVAL),
        &[(0, Input::START), (5, decision("ok", false, "bo"))],
    );
    let error = st.step("ok").unwrap().error.clone().unwrap();
    assert_eq!(error["code"], "rejected");
    assert_eq!(error["message"], "rejected by bo: looks fine");
    assert_eq!(st.status, ExecutionStatus::Failed);
    let (d, st) = run(
        &wf(APPROVAL),
        &[
            (0, Input::START),
            (3600, timer(TimerKind::ApprovalTimeout, Some("ok"), None)),
            (3601, decision("ok", true, "ana")),
        ],
    );
    assert_eq!(st.status_of("ok"), Some(StepStatus::TimedOut));
    assert!(d[2].is_empty(), "too late");
}

const UNLIMITED: &str = r#"
name: w
on: { webhook: { path: w } }
steps:
  a: { uses: http }
  b: { uses: http, timeout: 5s }
  nap: { sleep: 1h }
"#;

#[test]
fn default_limits_apply_where_the_workflow_sets_none_and_are_kept() {
    let defaults = weft_engine::Defaults {
        timeout_ms: Some(60_000),
        step_timeout_ms: Some(10_000),
    };
    let w = wf(UNLIMITED);
    let started = start_with(&w, defaults);
    let tasks: Vec<(String, Option<u64>)> = started
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Dispatch(t) => Some((t.step_id.clone(), t.timeout_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(
        tasks,
        [
            ("a".to_string(), Some(10_000)),
            ("b".to_string(), Some(5_000))
        ]
    );
    let timers: Vec<String> = names(&started.effects)
        .into_iter()
        .filter(|n| n.starts_with("timer"))
        .collect();
    assert_eq!(
        timers,
        ["timer step_timeout", "timer wake"],
        "b's own timeout and the sleep have timers; the defaults none"
    );
    assert_eq!(started.state.defaults, defaults, "kept with the run");
    let (_, st) = run(
        &w,
        &[
            (
                0,
                Input::Start {
                    defaults,
                    kept: Vec::new(),
                },
            ),
            (10, timer(TimerKind::StepTimeout, Some("a"), Some(1))),
            (60, timer(TimerKind::WorkflowTimeout, None, None)),
        ],
    );
    let error = st.step("a").unwrap().error.clone().unwrap();
    assert_eq!(error["message"], "no result within 10s");
    assert_eq!(
        st.error.unwrap()["message"],
        "execution did not finish within 1m"
    );
    // Without defaults nothing is limited.
    let plain = start_with(&w, weft_engine::Defaults::NONE);
    assert!(!names(&plain.effects).contains(&"defaults".to_string()));
    assert_eq!(dispatched(&plain.effects).timeout_ms, None);
}

fn start_with(w: &weft_flow::Workflow, defaults: weft_engine::Defaults) -> weft_engine::Decision {
    let entry = Entry {
        at: at(0),
        input: Input::Start {
            defaults,
            kept: Vec::new(),
        },
    };
    decide(w, &created(), &entry, &Settings::STEP).unwrap()
}

#[test]
fn a_start_keeps_the_steps_a_rerun_keeps_and_runs_the_rest() {
    let w = wf(CHAIN);
    let kept = vec![weft_engine::Kept {
        id: "a".into(),
        status: StepStatus::Succeeded,
        output: Some(json!(41)),
        error: None,
    }];
    let (d, st) = run(
        &w,
        &[
            (
                0,
                Input::Start {
                    defaults: weft_engine::Defaults::NONE,
                    kept,
                },
            ),
            (1, ok("b", 1, json!(42))),
        ],
    );
    assert!(d[0].contains(&"a=succeeded".to_string()), "{:?}", d[0]);
    assert!(d[0].contains(&"dispatch b#1".to_string()), "{:?}", d[0]);
    assert!(!d[0].contains(&"dispatch a#1".to_string()), "a is kept");
    assert_eq!(st.step("a").unwrap().output, Some(json!(41)));
    assert_eq!(st.status, ExecutionStatus::Succeeded);
}
