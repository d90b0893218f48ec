//! Engine v2 primitives end to end, on real NATS and PostgreSQL: `sleep` and `until` (durable
//! timers, also across a router restart), `switch` branches, and `when: failure | always`.
//! Every execution these tests produce is also replayed from its journal (see `common`).

mod common;

use std::time::{Duration, Instant};

use common::Env;
use serde_json::json;

#[tokio::test]
async fn a_sleep_step_waits_durably_then_the_next_step_runs() {
    let env = Env::start().await;
    env.apply(
        r#"
name: nap
on: { webhook: { path: nap } }
steps:
  before: { uses: http, with: { method: POST, url: "{upstream}/echo/before" } }
  nap: { sleep: 1500ms, needs: before }
  until: { until: "${{ execution.started_at }}", needs: nap }
  after: { uses: http, needs: until, with: { method: POST, url: "{upstream}/echo/after" } }
"#,
    )
    .await;
    let started = Instant::now();
    let event_id = env.trigger("nap", json!({})).await;
    let done = env.finished(&event_id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert!(started.elapsed() >= Duration::from_millis(1500), "it slept");
    let nap = Env::step(&done, "nap");
    assert_eq!(nap["status"], "succeeded", "{done}");
    assert!(nap["output"]["woke_at"].is_string(), "{nap}");
    assert_eq!(nap["attempts"], json!([]), "a sleep is no agent call");
    assert_eq!(Env::step(&done, "until")["status"], "succeeded");
    assert_eq!(env.upstream.seen("/echo/after").len(), 1);
}

#[tokio::test]
async fn a_sleep_outlives_a_router_restart() {
    let mut env = Env::start().await;
    env.apply(
        r#"
name: long-nap
on: { webhook: { path: long-nap } }
steps:
  nap: { sleep: 2s }
  after: { uses: http, needs: nap, with: { method: POST, url: "{upstream}/echo/after" } }
"#,
    )
    .await;
    let event_id = env.trigger("long-nap", json!({})).await;
    let id = env.execution_id_of(&event_id).await;
    // Asleep: the step runs with its wake timer in the database. Stop every service, then
    // start them again on the same bus and database.
    for _ in 0..100 {
        if Env::step(&env.execution(&id).await, "nap")["status"] == "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    env.restart().await;
    let done = env.finished(&event_id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(env.upstream.seen("/echo/after").len(), 1);
}

#[tokio::test]
async fn a_switch_runs_one_branch_and_skips_the_others() {
    let env = Env::start().await;
    env.apply(
        r#"
name: route
on: { webhook: { path: route } }
steps:
  kind:
    switch: "${{ event.data.body.kind }}"
    cases: { refund: [refund], order: [order] }
    default: [other]
  refund: { uses: http, with: { method: POST, url: "{upstream}/echo/refund" } }
  order: { uses: http, with: { method: POST, url: "{upstream}/echo/order" } }
  other: { uses: http, with: { method: POST, url: "{upstream}/echo/other" } }
  ship: { uses: http, needs: order, with: { method: POST, url: "{upstream}/echo/ship" } }
"#,
    )
    .await;
    let done = env
        .finished(&env.trigger("route", json!({"kind": "refund"})).await)
        .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let kind = Env::step(&done, "kind");
    assert_eq!(kind["output"], json!({"value": "refund", "case": "refund"}));
    for (step, status) in [
        ("refund", "succeeded"),
        ("order", "skipped"),
        ("other", "skipped"),
        ("ship", "skipped"),
    ] {
        assert_eq!(Env::step(&done, step)["status"], status, "{step}: {done}");
    }
    let done = env
        .finished(&env.trigger("route", json!({"kind": "gift"})).await)
        .await;
    assert_eq!(Env::step(&done, "kind")["output"]["case"], "default");
    assert_eq!(Env::step(&done, "other")["status"], "succeeded");
    assert_eq!(env.upstream.seen("/echo/refund").len(), 1);
    assert_eq!(env.upstream.seen("/echo/other").len(), 1);
    assert!(env.upstream.seen("/echo/ship").is_empty());
}

#[tokio::test]
async fn bad_primitives_are_refused_at_apply_with_line_and_field() {
    let env = Env::start().await;
    let (status, body) = env
        .apply_raw(
            "name: bad\non: { webhook: { path: bad } }\nsteps:\n  s:\n    switch: \"${{ event.data }}\"\n    cases: { a: [nope] }\n",
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "steps.s.cases.a[0]", "{body}");
    assert_eq!(body["line"], 6, "{body}");
    let (status, body) = env
        .apply_raw(
            "name: bad\non: { webhook: { path: bad } }\nsteps:\n  s: { sleep: 1s, uses: http }\n",
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "steps.s.sleep", "{body}");
}

#[tokio::test]
async fn when_failure_and_always_run_after_a_failed_step_and_the_run_still_fails() {
    let env = Env::start().await;
    env.apply(
        r#"
name: cleanup
on: { webhook: { path: cleanup } }
steps:
  work: { uses: http, with: { method: POST, url: "{upstream}/status/500" } }
  alert: { uses: http, needs: work, when: failure, with: { method: POST, url: "{upstream}/echo/alert", json: "${{ steps.work.error }}" } }
  tidy: { uses: http, needs: work, when: always, with: { method: POST, url: "{upstream}/echo/tidy" } }
  next: { uses: http, needs: work, with: { method: POST, url: "{upstream}/echo/next" } }
"#,
    )
    .await;
    let done = env.finished(&env.trigger("cleanup", json!({})).await).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["error"]["step"], "work", "{done}");
    assert_eq!(Env::step(&done, "alert")["status"], "succeeded");
    assert_eq!(Env::step(&done, "tidy")["status"], "succeeded");
    assert_eq!(Env::step(&done, "next")["status"], "skipped");
    let alert = env.upstream.seen("/echo/alert");
    assert_eq!(alert.len(), 1);
    assert_eq!(alert[0].body["code"], "http_status", "{:?}", alert[0].body);
}
