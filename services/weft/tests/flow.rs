//! End to end: webhook → router → HTTP executor → execution state, against real NATS, real
//! PostgreSQL and a real HTTP server.

mod common;

use std::time::Duration;

use common::Env;
use serde_json::json;

#[tokio::test]
async fn three_sequential_steps_each_fed_the_previous_output() {
    let env = Env::start().await;
    env.apply(
        r#"
name: chain
on:
  webhook:
    path: chain
steps:
  first:
    uses: http
    with: { method: POST, url: "{upstream}/echo/first", json: "${{ event.data.body }}" }
  second:
    needs: [first]
    uses: http
    with: { method: POST, url: "{upstream}/echo/second", json: { prev: "${{ steps.first.output.body.received.n }}" } }
  third:
    needs: second
    uses: http
    with: { method: POST, url: "{upstream}/echo/third", json: { prev: "${{ steps.second.output.body.received.prev }}", note: "n=${{ steps.second.output.body.received.prev }}" } }
"#,
    )
    .await;
    let event_id = env.trigger("chain", json!({"n": 41})).await;
    let done = env.finished(&event_id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    for id in ["first", "second", "third"] {
        assert_eq!(Env::step(&done, id)["status"], "succeeded");
    }
    let third = env.upstream.seen("/echo/third");
    assert_eq!(third.len(), 1);
    // An exact expression keeps the JSON type; interpolation makes text.
    assert_eq!(third[0].body, json!({"prev": 41, "note": "n=41"}));
    assert_eq!(done["output"]["third"]["body"]["received"]["prev"], 41);
    assert_eq!(
        env.upstream.seen("/echo/second")[0].body,
        json!({"prev": 41})
    );
}

/// The decision that ends a step and starts the next writes both: while the next step's call
/// is in flight, the view shows the first ended, the next running with its attempt, the last
/// still queued.
#[tokio::test]
async fn while_a_step_runs_the_one_before_has_ended_and_the_one_after_waits() {
    let env = Env::start().await;
    env.apply(
        r#"
name: seq
on: { webhook: { path: seq } }
steps:
  first: { uses: http, with: { method: POST, url: "{upstream}/echo/first" } }
  second: { needs: first, uses: http, with: { method: POST, url: "{upstream}/delay/1500/second" } }
  third: { needs: second, uses: http, with: { method: POST, url: "{upstream}/echo/third" } }
"#,
    )
    .await;
    let event_id = env.trigger("seq", json!({})).await;
    let id = env.execution_id_of(&event_id).await;
    let e = env
        .execution_until(&id, "second running", |e| {
            Env::step(e, "second")["status"] == "running"
        })
        .await;
    let first = Env::step(&e, "first");
    assert_eq!(first["status"], "succeeded", "{e}");
    assert_eq!(first["attempts"][0]["status"], "succeeded", "{e}");
    let second = &Env::step(&e, "second")["attempts"];
    assert_eq!(second.as_array().map(Vec::len), Some(1), "{e}");
    assert_eq!(second[0]["status"], "running", "{e}");
    assert_eq!(Env::step(&e, "third")["status"], "queued", "{e}");
    let done = env.finished(&event_id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
}

#[tokio::test]
async fn independent_steps_run_at_the_same_time() {
    let env = Env::start().await;
    env.apply(
        r#"
name: fanout
on: { webhook: { path: fanout } }
steps:
  left:  { uses: http, with: { method: POST, url: "{upstream}/slow/700" } }
  right: { uses: http, with: { method: POST, url: "{upstream}/slow/700" } }
  join:
    needs: [left, right]
    uses: http
    with: { method: POST, url: "{upstream}/echo/join" }
"#,
    )
    .await;
    let done = env.finished(&env.trigger("fanout", json!({})).await).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let slow = env.upstream.seen("/slow/700");
    assert_eq!(slow.len(), 2);
    let (a, b) = (&slow[0], &slow[1]);
    let overlap = a.started < b.ended && b.started < a.ended;
    assert!(overlap, "the two independent steps did not overlap in time");
    let join = &env.upstream.seen("/echo/join")[0];
    assert!(
        join.started >= a.ended && join.started >= b.ended,
        "join ran before its needs ended"
    );
}

#[tokio::test]
async fn retryable_failures_are_retried_with_backoff() {
    let env = Env::start().await;
    env.upstream.script("flaky", &[503, 503, 200]);
    env.apply(
        r#"
name: flaky
on: { webhook: { path: flaky } }
steps:
  call:
    uses: http
    with: { url: "{upstream}/script/flaky" }
    retry: { attempts: 3, backoff: 100ms, factor: 2 }
"#,
    )
    .await;
    let done = env.finished(&env.trigger("flaky", json!({})).await).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let attempts = Env::step(&done, "call")["attempts"]
        .as_array()
        .expect("attempts")
        .clone();
    let statuses: Vec<&str> = attempts
        .iter()
        .map(|a| a["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(statuses, ["failed", "failed", "succeeded"]);
    assert_eq!(attempts[2]["output"]["body"]["attempt"], 3);
    let calls = env.upstream.seen("/script/flaky");
    assert_eq!(calls.len(), 3);
    // Backoff: at least 100 ms, then 200 ms, between attempts.
    assert!(calls[1].started.duration_since(calls[0].started) >= Duration::from_millis(100));
    assert!(calls[2].started.duration_since(calls[1].started) >= Duration::from_millis(200));
    // Each attempt has its own idempotency key.
    let keys: std::collections::HashSet<_> =
        calls.iter().map(|c| c.idempotency_key.clone()).collect();
    assert_eq!(keys.len(), 3);
}

#[tokio::test]
async fn a_404_fails_the_step_and_skips_its_dependents() {
    let env = Env::start().await;
    env.apply(
        r#"
name: broken
on: { webhook: { path: broken } }
steps:
  fetch:
    uses: http
    with: { url: "{upstream}/status/404" }
    retry: { attempts: 5, backoff: 10ms }
  after:
    needs: fetch
    uses: http
    with: { url: "{upstream}/echo/after" }
  tolerant:
    uses: http
    continue_on_error: true
    with: { url: "{upstream}/status/400" }
  still_runs:
    needs: tolerant
    uses: http
    with: { url: "{upstream}/echo/still" }
"#,
    )
    .await;
    let done = env.finished(&env.trigger("broken", json!({})).await).await;
    assert_eq!(done["status"], "failed", "{done}");
    let fetch = Env::step(&done, "fetch");
    assert_eq!(fetch["status"], "failed");
    assert_eq!(
        fetch["attempts"].as_array().map(Vec::len),
        Some(1),
        "a 404 is not retried"
    );
    assert_eq!(Env::step(&done, "after")["status"], "skipped");
    assert!(env.upstream.seen("/echo/after").is_empty());
    assert_eq!(Env::step(&done, "tolerant")["status"], "failed");
    assert_eq!(Env::step(&done, "still_runs")["status"], "succeeded");
    assert_eq!(done["error"]["step"], "fetch");
}

#[tokio::test]
async fn a_step_timeout_ends_the_attempt_and_ignores_the_late_result() {
    let env = Env::start().await;
    env.apply(
        r#"
name: slowpoke
on: { webhook: { path: slowpoke } }
steps:
  wait:
    uses: http
    timeout: 300ms
    with: { method: POST, url: "{upstream}/slow/700" }
  again:
    uses: http
    timeout: 300ms
    retry: { attempts: 2, backoff: 1s }
    with: { method: POST, url: "{upstream}/slow/701" }
"#,
    )
    .await;
    let event_id = env.trigger("slowpoke", json!({})).await;
    let done = env.finished(&event_id).await;
    assert_eq!(done["status"], "failed", "{done}");
    let step = Env::step(&done, "wait");
    assert_eq!(step["status"], "timed_out");
    assert_eq!(step["attempts"][0]["status"], "timed_out");
    // `again`'s first attempt succeeded at ~700 ms, while its retry was pending and the
    // execution still running: that late success must not complete the step.
    let again_step = Env::step(&done, "again");
    assert_eq!(again_step["status"], "timed_out", "{done}");
    let statuses: Vec<&str> = again_step["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| a["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(statuses, ["timed_out", "timed_out"]);
    // The executor stops each attempt at its deadline (the request is dropped), so no call
    // completes and no late success arrives; the state stays as it is.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        env.upstream.seen("/slow/70").is_empty(),
        "an attempt ran past its step timeout"
    );
    let again = env.execution(done["id"].as_str().expect("id")).await;
    assert_eq!(Env::step(&again, "wait")["status"], "timed_out");
    assert_eq!(
        Env::step(&again, "wait")["attempts"][0]["status"],
        "timed_out"
    );
    assert_eq!(again["status"], "failed");
    assert_eq!(Env::step(&again, "again")["status"], "timed_out");
}

#[tokio::test]
async fn conditions_skip_steps_and_filter_events() {
    let env = Env::start().await;
    env.apply(
        r#"
name: orders
on: { webhook: { path: orders } }
if: ${{ event.data.body.total > 100 }}
steps:
  always: { uses: http, with: { url: "{upstream}/echo/always" } }
  vip_only:
    needs: always
    if: ${{ event.data.body.vip == true }}
    uses: http
    with: { url: "{upstream}/echo/vip" }
  after_vip:
    needs: vip_only
    uses: http
    with: { url: "{upstream}/echo/after_vip" }
"#,
    )
    .await;
    // A false workflow `if` starts nothing.
    let small = env
        .trigger("orders", json!({"total": 5, "vip": true}))
        .await;
    // A false step `if` skips the step and its dependents.
    let big = env
        .trigger("orders", json!({"total": 500, "vip": false}))
        .await;
    let done = env.finished(&big).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(Env::step(&done, "always")["status"], "succeeded");
    assert_eq!(Env::step(&done, "vip_only")["status"], "skipped");
    assert_eq!(Env::step(&done, "after_vip")["status"], "skipped");
    assert!(env.upstream.seen("/echo/vip").is_empty());
    assert!(
        env.executions_for(&small).await.is_empty(),
        "a false workflow `if` started an execution"
    );
}

#[tokio::test]
async fn manual_runs_cancel_and_lifecycle_events() {
    let env = Env::start().await;
    env.apply(
        r#"
name: manual
on:
  manual:
    inputs:
      who: { type: string, required: true }
steps:
  greet:
    uses: http
    with: { method: POST, url: "{upstream}/slow/3000", json: { hello: "${{ inputs.who }}" } }
"#,
    )
    .await;
    let resp = env
        .http
        .post(format!("{}/api/v1/workflows/manual/run", env.base))
        .json(&json!({"inputs": {"who": "ada"}}))
        .send()
        .await
        .expect("run");
    assert_eq!(resp.status().as_u16(), 202);
    let body: serde_json::Value = resp.json().await.expect("json");
    let id = body["execution_id"].as_str().expect("id").to_string();
    // Wait until the step is running, then cancel.
    env.execution_until(&id, "greet running", |e| {
        e["status"] == "running" && Env::step(e, "greet")["status"] == "running"
    })
    .await;
    let cancel = env
        .http
        .post(format!("{}/api/v1/executions/{id}/cancel", env.base))
        .send()
        .await
        .expect("cancel");
    assert_eq!(cancel.status().as_u16(), 202);
    // The router decides the command (over the bus) a moment later.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let e = loop {
        let e = env.execution(&id).await;
        if e["status"] != "running" {
            break e;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never cancelled: {e}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(e["status"], "cancelled");
    assert_eq!(e["inputs"]["who"], "ada");
    assert_eq!(Env::step(&e, "greet")["status"], "cancelled");
    let again = env
        .http
        .post(format!("{}/api/v1/executions/{id}/cancel", env.base))
        .send()
        .await
        .expect("cancel");
    assert_eq!(again.status().as_u16(), 409);
    // The lifecycle events are on the bus.
    let events = common::lifecycle_types(&env, &id).await;
    assert!(
        events.contains(&"dev.weft.execution.started".to_string()),
        "{events:?}"
    );
    assert!(
        events.contains(&"dev.weft.execution.cancelled".to_string()),
        "{events:?}"
    );
}

#[tokio::test]
async fn the_callers_trace_follows_the_run_to_every_step_and_lifecycle_event() {
    let env = Env::start().await;
    env.apply(
        r#"
name: traced
on: { webhook: { path: traced } }
steps:
  a: { uses: http, with: { method: POST, url: "{upstream}/echo/a" } }
  b: { needs: a, uses: http, with: { method: POST, url: "{upstream}/echo/b" } }
"#,
    )
    .await;
    env.trigger("traced", json!({"warmup": true})).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let incoming = format!("00-{trace_id}-00f067aa0ba902b7-01");
    let (status, body) = env
        .hook("traced", json!({}), &[("traceparent", &incoming)])
        .await;
    assert_eq!(status, 202);
    let done = env
        .finished(body["event_id"].as_str().expect("event id"))
        .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(
        done["event"]["traceparent"].as_str().map(|t| &t[3..35]),
        Some(trace_id)
    );
    for path in ["/echo/a", "/echo/b"] {
        let calls = env.upstream.seen(path);
        let traced: Vec<_> = calls
            .iter()
            .filter_map(|c| c.traceparent.clone())
            .filter(|t| t.contains(trace_id))
            .collect();
        assert_eq!(traced.len(), 1, "{path}: {calls:?}");
        assert_ne!(traced[0], incoming, "each hop is a new span");
    }
    let events = common::lifecycle_events(&env, done["id"].as_str().expect("id")).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events.iter().all(|e| e["traceparent"]
            .as_str()
            .is_some_and(|t| t.contains(trace_id))),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_failed_execution_is_retried_with_its_original_event() {
    let env = Env::start().await;
    env.upstream.script("fixed-later", &[404]);
    env.apply(
        r#"
name: retryable
on: { webhook: { path: retryable } }
steps:
  call: { uses: http, with: { method: POST, url: "{upstream}/script/fixed-later", json: "${{ event.data.body }}" } }
"#,
    )
    .await;
    let failed = env
        .finished(&env.trigger("retryable", json!({"order": 42})).await)
        .await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let id = failed["id"].as_str().expect("id");

    let url = format!("{}/api/v1/executions/{id}/retry", env.base);
    let resp = env.http.post(&url).send().await.expect("retry");
    assert_eq!(resp.status().as_u16(), 202);
    let body: serde_json::Value = resp.json().await.expect("json");
    let retry_id = body["execution_id"]
        .as_str()
        .expect("execution id")
        .to_string();
    assert_ne!(retry_id, id);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let done = loop {
        let e = env.execution(&retry_id).await;
        if !matches!(e["status"].as_str(), Some("queued" | "running")) {
            break e;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "retry never ended: {e}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(done["status"], "succeeded", "{done}");
    // The retry saw the original triggering event.
    assert_eq!(done["event"]["data"]["body"], json!({"order": 42}));
    let calls = env.upstream.seen("/script/fixed-later");
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|c| c.body == json!({"order": 42})));
    // The original stays failed; unknown ids are 404.
    assert_eq!(env.execution(id).await["status"], "failed");
    let unknown = format!("{}/api/v1/executions/{}/retry", env.base, uuid::Uuid::nil());
    assert_eq!(
        env.http
            .post(unknown)
            .send()
            .await
            .expect("retry")
            .status()
            .as_u16(),
        404
    );
}
