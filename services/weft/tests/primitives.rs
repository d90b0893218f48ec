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
    let mut nap = json!(null);
    for _ in 0..100 {
        nap = Env::step(&env.execution(&id).await, "nap")["status"].clone();
        if nap == "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The restart happens while the step sleeps (else this would test nothing).
    assert_eq!(nap, "running");
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

#[tokio::test]
async fn on_failure_steps_run_with_the_error_and_the_execution_stays_failed() {
    let env = Env::start().await;
    env.apply(
        r#"
name: handled
on: { webhook: { path: handled } }
steps:
  charge: { uses: http, with: { method: POST, url: "{upstream}/status/502" } }
on_failure:
  report:
    uses: http
    with: { method: POST, url: "{upstream}/echo/report", json: "${{ execution.error }}" }
"#,
    )
    .await;
    let done = env.finished(&env.trigger("handled", json!({})).await).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["error"]["step"], "charge", "{done}");
    assert_eq!(Env::step(&done, "report")["status"], "succeeded", "{done}");
    let report = env.upstream.seen("/echo/report");
    assert_eq!(report.len(), 1);
    assert_eq!(report[0].body["step"], "charge", "{:?}", report[0].body);
    assert_eq!(
        report[0].body["cause"]["code"], "http_status",
        "{:?}",
        report[0].body
    );
}

/// The server-sent events of `GET /api/v1/executions/{id}/events` until the stream closes:
/// `(event type, data)` pairs.
async fn live_events(env: &Env, id: &str) -> Vec<(String, serde_json::Value)> {
    let url = format!("{}/api/v1/executions/{id}/events", env.base);
    let mut resp = env.http.get(url).send().await.expect("events");
    assert_eq!(resp.status().as_u16(), 200);
    let mut text = String::new();
    let read = async {
        while let Some(chunk) = resp.chunk().await.expect("chunk") {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("the stream closes once the run ended");
    text.split("\n\n")
        .filter_map(|block| {
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            };
            Some((
                field("event:")?,
                serde_json::from_str(&field("data:")?).ok()?,
            ))
        })
        .collect()
}

#[tokio::test]
async fn a_run_can_be_followed_live_step_by_step_until_it_ends() {
    let env = Env::start().await;
    env.apply(
        r#"
name: live
on: { webhook: { path: live } }
steps:
  nap: { sleep: 1s }
  call: { uses: http, needs: nap, with: { method: POST, url: "{upstream}/echo/live" } }
"#,
    )
    .await;
    let event_id = env.trigger("live", json!({})).await;
    let id = env.execution_id_of(&event_id).await;
    let events = live_events(&env, &id).await;
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    let wanted = [
        "dev.weft.step.succeeded",
        "dev.weft.step.started",
        "dev.weft.step.succeeded",
        "dev.weft.execution.succeeded",
    ];
    assert!(types.ends_with(&wanted), "{types:?}");
    let steps: Vec<&str> = events
        .iter()
        .filter_map(|(_, e)| e["data"]["step"].as_str())
        .collect();
    assert!(steps.ends_with(&["nap", "call", "call"]), "{steps:?}");
    assert_eq!(events[events.len() - 2].1["data"]["status"], "succeeded");
    // An execution that has ended gives its end at once, then the stream closes.
    let again = live_events(&env, &id).await;
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].0, "dev.weft.execution.succeeded");
    let (status, _) = env
        .get_json("/api/v1/executions/00000000-0000-0000-0000-000000000000/events")
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn weft_runs_watch_prints_each_step_as_it_moves_and_exits_with_the_outcome() {
    let env = Env::start().await;
    env.apply(
        r#"
name: watched
on: { webhook: { path: watched } }
steps:
  nap: { sleep: 1s }
  call: { uses: http, needs: nap, with: { method: POST, url: "{upstream}/status/500" } }
"#,
    )
    .await;
    let id = env
        .execution_id_of(&env.trigger("watched", json!({})).await)
        .await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["runs", "watch", &id, "--api", &env.base])
        .output()
        .await
        .expect("weft runs watch");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "the run failed, so does watch: {stdout}"
    );
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("nap") && l.ends_with("succeeded")),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("call") && l.ends_with("started")),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("call") && l.ends_with("failed")),
        "{stdout}"
    );
    let end = format!("{id} failed");
    assert!(lines.contains(&end.as_str()), "{stdout}");
    assert!(
        lines.last().is_some_and(|l| l.starts_with("error:")),
        "{stdout}"
    );
}

async fn decide(
    env: &Env,
    id: &str,
    step: &str,
    verb: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let url = format!("{}/api/v1/executions/{id}/steps/{step}/{verb}", env.base);
    let resp = env
        .http
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("decision");
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or_default(),
    )
}

#[tokio::test]
async fn an_approval_step_waits_for_an_approver_and_records_who_decided() {
    let env = Env::start().await;
    env.apply(
        r#"
name: payout
on: { webhook: { path: payout } }
steps:
  check:
    approval: { message: "Pay ${{ event.data.body.amount }} EUR?", approvers: [ana, bo] }
  pay: { uses: http, needs: check, with: { method: POST, url: "{upstream}/echo/pay" } }
"#,
    )
    .await;
    let id = env
        .execution_id_of(&env.trigger("payout", json!({"amount": 120})).await)
        .await;
    let mut waiting = json!(null);
    for _ in 0..100 {
        waiting = Env::step(&env.execution(&id).await, "check").clone();
        if waiting["status"] == "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(waiting["output"]["message"], "Pay 120 EUR?", "{waiting}");
    // Not an approver, not an approval step, no such step, no `by`.
    let (status, body) = decide(&env, &id, "check", "approve", json!({"by": "eve"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    let (status, _) = decide(&env, &id, "pay", "approve", json!({"by": "ana"})).await;
    assert_eq!(status, 409);
    let (status, _) = decide(&env, &id, "nope", "approve", json!({"by": "ana"})).await;
    assert_eq!(status, 404);
    let (status, _) = decide(&env, &id, "check", "approve", json!({"by": " "})).await;
    assert_eq!(status, 400);
    assert!(
        env.upstream.seen("/echo/pay").is_empty(),
        "nothing paid yet"
    );
    // The CLI approves, as ana.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_weft"))
        .args([
            "runs",
            "approve",
            &id,
            "check",
            "--by",
            "ana",
            "--comment",
            "ok",
            "--api",
            &env.base,
        ])
        .output()
        .await
        .expect("weft runs approve");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let detail = env.execution(&id).await;
    let done = env
        .finished(detail["event_id"].as_str().unwrap_or_default())
        .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let check = Env::step(&done, "check");
    assert_eq!(check["output"]["by"], "ana", "{check}");
    assert_eq!(check["output"]["comment"], "ok", "{check}");
    assert_eq!(env.upstream.seen("/echo/pay").len(), 1);
    let (status, _) = decide(&env, &id, "check", "reject", json!({"by": "bo"})).await;
    assert_eq!(status, 409, "decided already");
}

#[tokio::test]
async fn a_rejected_approval_fails_the_run_with_who_and_why() {
    let env = Env::start().await;
    env.apply(
        r#"
name: refund
on: { webhook: { path: refund } }
steps:
  check: { approval: { message: "Refund?" } }
  pay: { uses: http, needs: check, with: { method: POST, url: "{upstream}/echo/refund" } }
"#,
    )
    .await;
    let event_id = env.trigger("refund", json!({})).await;
    let id = env.execution_id_of(&event_id).await;
    let mut status = 0;
    for _ in 0..100 {
        let (s, _) = decide(
            &env,
            &id,
            "check",
            "reject",
            json!({"by": "carla", "comment": "duplicate"}),
        )
        .await;
        status = s;
        if s == 202 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 202);
    let done = env.finished(&event_id).await;
    assert_eq!(done["status"], "failed", "{done}");
    let error = &Env::step(&done, "check")["error"];
    assert_eq!(error["code"], "rejected", "{error}");
    assert_eq!(error["message"], "rejected by carla: duplicate", "{error}");
    assert!(env.upstream.seen("/echo/refund").is_empty());
}
