//! End to end, against real NATS, PostgreSQL and HTTP: signed webhooks with `respond: wait`
//! (200 with the output, 500 on a failing step, 202 when the wait runs out or the `if` filters
//! the request out), workflows on one path with different auth, CloudEvents from `POST /events`
//! starting `on.event` workflows through their `if`, CloudEvents identified by `(source, id)`
//! (the same id from two sources runs twice, a true duplicate once even past JetStream's
//! duplicate window), and `on.workflow` chaining.

mod common;

use std::time::{Duration, Instant};

use common::Env;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};

const SECRET: &str = "gh-hook-secret";

fn github_signature(body: &str) -> String {
    let mut mac = Hmac::<sha2_v011::Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// POST `body` to a hook, signed or not, once the route is live (anything but 404).
async fn post_hook(
    env: &Env,
    path: &str,
    body: &Value,
    signed: bool,
) -> (u16, Value, Option<String>) {
    let body = body.to_string();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut req = env
            .http
            .post(format!("{}/hooks/{path}", env.base))
            .header("content-type", "application/json")
            .body(body.clone());
        if signed {
            req = req.header("x-hub-signature-256", github_signature(&body));
        }
        let resp = req.send().await.expect("hook answers");
        let status = resp.status().as_u16();
        let execution = resp
            .headers()
            .get("x-weft-execution-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if status != 404 || Instant::now() > deadline {
            return (status, resp.json().await.unwrap_or(Value::Null), execution);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Wait until `workflow` has `n` ended executions; return them.
async fn ended_executions(env: &Env, workflow: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let all = env.executions_of(workflow).await;
        let ended = all
            .iter()
            .filter(|e| !matches!(e["status"].as_str(), Some("queued" | "running")));
        if ended.count() >= n {
            return all;
        }
        assert!(
            Instant::now() < deadline,
            "{workflow} has not {n} ended executions: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn signed_webhook_waits_for_the_output_or_the_error() {
    let env = Env::start().await;
    let bad = [
        (
            "name: bad-auth\non:\n  webhook:\n    path: x\n    auth:\n      hmac: { secret: k, algorithm: md5, header: x-sig }\nsteps:\n  s: { uses: http, with: { url: http://127.0.0.1:1 } }\n",
            "on.webhook.auth.hmac.algorithm",
        ),
        (
            "name: bad-chain\non:\n  workflow: { name: up, status: [done] }\nsteps:\n  s: { uses: http, with: { url: http://127.0.0.1:1 } }\n",
            "on.workflow.status[0]",
        ),
    ];
    for (yaml, field) in bad {
        let (status, body) = env.apply_raw(yaml).await;
        assert_eq!((status, &body["field"]), (400, &json!(field)), "{body}");
        assert!(body["line"].as_u64().is_some(), "{body}");
    }
    env.apply(&format!(
        r#"
name: greet
on:
  webhook:
    path: greet
    auth: {{ github: {{ secret: {SECRET} }} }}
    respond: wait
steps:
  hello:
    uses: http
    with: {{ method: POST, url: "{{upstream}}/echo/hello", json: "${{{{ event.data.body }}}}" }}
  check:
    needs: hello
    if: ${{{{ event.data.body.fail }}}}
    uses: http
    with: {{ url: "{{upstream}}/status/404" }}
output: {{ greeting: "Hello, ${{{{ steps.hello.output.body.received.who }}}}" }}
"#
    ))
    .await;
    let (status, body, _) = post_hook(&env, "greet", &json!({"who": "Ada"}), false).await;
    assert_eq!(
        (status, &body["code"]),
        (401, &json!("unauthorized")),
        "{body}"
    );
    assert!(
        env.upstream.seen("/echo/hello").is_empty(),
        "nothing ran for the unsigned request"
    );

    let (status, body, execution) =
        post_hook(&env, "greet", &json!({"who": "Ada", "fail": false}), true).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"greeting": "Hello, Ada"}));
    let execution = execution.expect("execution header");
    assert_eq!(env.execution(&execution).await["status"], "succeeded");

    let (status, body, _) =
        post_hook(&env, "greet", &json!({"who": "Bob", "fail": true}), true).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["code"], "failed");
    assert_eq!(body["error"]["step"], "check");
    let failed = env
        .execution(body["execution_id"].as_str().expect("execution_id"))
        .await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(env.executions_of("greet").await.len(), 2);
}

#[tokio::test]
async fn wait_timeout_answers_202_and_a_filtered_request_does_not_wait() {
    let env = Env::start().await;
    env.apply(
        r#"
name: slow-sync
on:
  webhook: { path: slow, respond: wait, wait_timeout: 300ms }
if: ${{ event.data.body.go }}
steps:
  nap: { uses: http, with: { method: POST, url: "{upstream}/slow/1500" } }
"#,
    )
    .await;
    let started = Instant::now();
    let (status, body, _) = post_hook(&env, "slow", &json!({"go": true}), false).await;
    assert_eq!(status, 202, "{body}");
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "answered before the step ended"
    );
    let event_id = body["event_id"].as_str().expect("event_id");
    let done = env.finished(event_id).await;
    assert_eq!(done["id"], body["execution_id"]);
    assert_eq!(done["status"], "succeeded", "the execution went on");

    let started = Instant::now();
    let (status, body, _) = post_hook(&env, "slow", &json!({"go": false}), false).await;
    assert_eq!(
        (status, &body["execution_id"]),
        (202, &Value::Null),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "no wait for an execution that cannot exist"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.executions_of("slow-sync").await.len(), 1);
}

#[tokio::test]
async fn same_path_different_auth_runs_only_the_accepted_workflows() {
    let env = Env::start().await;
    for (name, auth) in [
        ("open-hook", ""),
        (
            "signed-hook",
            "auth: { github: { secret: gh-hook-secret } }",
        ),
    ] {
        env.apply(&format!(
            "name: {name}\non:\n  webhook: {{ path: shared, {auth} }}\nsteps:\n  s: {{ uses: http, with: {{ url: \"{{upstream}}/echo/{name}\" }} }}\n"
        ))
        .await;
    }
    // Both routes must be live before counting what ran.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        post_hook(&env, "shared", &json!({"n": 1}), false).await.0,
        202
    );
    ended_executions(&env, "open-hook", 1).await;
    assert!(
        env.executions_of("signed-hook").await.is_empty(),
        "the unsigned request started the signed workflow"
    );
    assert_eq!(
        post_hook(&env, "shared", &json!({"n": 2}), true).await.0,
        202
    );
    ended_executions(&env, "open-hook", 2).await;
    ended_executions(&env, "signed-hook", 1).await;
    assert_eq!(env.upstream.seen("/echo/signed-hook").len(), 1);
}

#[tokio::test]
async fn external_cloudevents_start_on_event_workflows_through_their_if() {
    let env = Env::start().await;
    env.apply(
        r#"
name: big-orders
on:
  event: { type: com.shop.order.created, source: { prefix: "shop/" } }
if: ${{ event.data.total > 100 }}
steps:
  record: { uses: http, with: { method: POST, url: "{upstream}/echo/big", json: { total: "${{ event.data.total }}", subject: "${{ event.subject }}" } } }
"#,
    )
    .await;
    let order = |id: &str, total: u64| {
        json!({"specversion": "1.0", "id": id, "source": "shop/eu", "type": "com.shop.order.created",
               "subject": id, "data": {"total": total}})
    };
    let batch = json!([order("small-1", 50), order("big-1", 500)]);
    let resp = env
        .http
        .post(format!("{}/events", env.base))
        .header("content-type", "application/cloudevents-batch+json")
        .body(batch.to_string())
        .send()
        .await
        .expect("events answers");
    assert_eq!(resp.status().as_u16(), 202);
    let resp = env
        .http
        .post(format!("{}/events", env.base))
        .header("ce-specversion", "1.0")
        .header("ce-id", "big-2")
        .header("ce-source", "shop/us")
        .header("ce-type", "com.shop.order.created")
        .header("ce-subject", "big-2")
        .header("content-type", "application/json")
        .body(r#"{"total": 900}"#)
        .send()
        .await
        .expect("events answers");
    assert_eq!(resp.status().as_u16(), 202);
    assert_eq!(env.finished("big-1").await["status"], "succeeded");
    assert_eq!(env.finished("big-2").await["status"], "succeeded");
    let seen: Vec<Value> = env
        .upstream
        .seen("/echo/big")
        .iter()
        .map(|s| s.body.clone())
        .collect();
    assert!(
        seen.contains(&json!({"total": 500, "subject": "big-1"})),
        "{seen:?}"
    );
    assert!(
        seen.contains(&json!({"total": 900, "subject": "big-2"})),
        "{seen:?}"
    );
    assert!(
        env.executions_for("small-1").await.is_empty(),
        "the `if` filtered the small order"
    );
}

#[tokio::test]
async fn on_workflow_chains_with_the_upstream_output_and_status() {
    let env = Env::start().await;
    env.apply(
        r#"
name: upstream-job
on: { webhook: { path: job } }
steps:
  work: { uses: http, with: { method: POST, url: "{upstream}/status/${{ event.data.body.code }}" } }
output: { code: "${{ steps.work.output.status }}" }
"#,
    )
    .await;
    env.apply(
        r#"
name: downstream-job
on: { workflow: { name: upstream-job } }
steps:
  next: { uses: http, with: { method: POST, url: "{upstream}/echo/next", json: { got: "${{ event.data.output }}", from: "${{ event.data.execution_id }}" } } }
"#,
    )
    .await;
    env.apply(
        r#"
name: alarm-job
on:
  workflow: { name: upstream-job, status: [failed, timed_out] }
steps:
  page: { uses: http, with: { method: POST, url: "{upstream}/echo/page", json: "${{ event.data.error }}" } }
"#,
    )
    .await;
    let ok = env
        .finished(&env.trigger("job", json!({"code": 200})).await)
        .await;
    assert_eq!(ok["status"], "succeeded", "{ok}");
    let downstream = ended_executions(&env, "downstream-job", 1).await;
    assert_eq!(downstream[0]["status"], "succeeded", "{downstream:?}");
    let next = env.upstream.seen("/echo/next");
    assert_eq!(
        next[0].body,
        json!({"got": {"code": 200}, "from": ok["id"]})
    );

    let failed = env
        .finished(&env.trigger("job", json!({"code": 404})).await)
        .await;
    assert_eq!(failed["status"], "failed");
    let alarms = ended_executions(&env, "alarm-job", 1).await;
    assert_eq!(alarms.len(), 1, "one alarm for one failure: {alarms:?}");
    assert_eq!(env.upstream.seen("/echo/page")[0].body["step"], "work");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        env.executions_of("downstream-job").await.len(),
        1,
        "status defaults to succeeded only"
    );
}

/// POST one structured CloudEvent to `/events`; the status.
async fn post_event(env: &Env, event: &Value) -> u16 {
    env.http
        .post(format!("{}/events", env.base))
        .header("content-type", "application/cloudevents+json")
        .body(event.to_string())
        .send()
        .await
        .expect("events answers")
        .status()
        .as_u16()
}

/// The `source` of each execution of `event_id`, sorted, once `n` of them ended.
async fn sources_of(env: &Env, event_id: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let all = env.executions_for(event_id).await;
        let ended = all
            .iter()
            .filter(|e| !matches!(e["status"].as_str(), Some("queued" | "running")))
            .count();
        if ended >= n {
            let mut sources = Vec::new();
            for e in &all {
                let detail = env.execution(e["id"].as_str().expect("id")).await;
                sources.push(detail["event"]["source"].as_str().unwrap_or("").to_string());
            }
            sources.sort();
            return sources;
        }
        assert!(
            Instant::now() < deadline,
            "{event_id} has not {n} ended executions: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn cloudevents_are_identified_by_source_and_id() {
    let env = Env::start().await;
    env.apply(
        r#"
name: notes
on:
  event: { type: com.example.note }
steps:
  record: { uses: http, with: { method: POST, url: "{upstream}/echo/note", json: { source: "${{ event.source }}" } } }
"#,
    )
    .await;
    let note = |id: &str, source: &str| json!({"specversion": "1.0", "id": id, "source": source, "type": "com.example.note", "data": {}});
    // The same id from two sources: two events, two executions (one sent in binary mode).
    assert_eq!(post_event(&env, &note("n-1", "shop/eu")).await, 202);
    let resp = env
        .http
        .post(format!("{}/events", env.base))
        .header("ce-specversion", "1.0")
        .header("ce-id", "n-1")
        .header("ce-source", "shop/us")
        .header("ce-type", "com.example.note")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("events answers");
    assert_eq!(resp.status().as_u16(), 202);
    assert_eq!(sources_of(&env, "n-1", 2).await, ["shop/eu", "shop/us"]);

    // True duplicates of (shop/eu, n-1): a resend through the door inside JetStream's duplicate
    // window, and a copy published with a message id the window never saw, as a resend after
    // the window (or a replay) would be. Only the execution id derived from (workflow, source,
    // id) can tell that copy is the same event.
    assert_eq!(post_event(&env, &note("n-1", "shop/eu")).await, 202);
    let bus = weft_bus::Bus::connect(&env.nats.url, "test")
        .await
        .expect("bus");
    let copy = weft_events::new_event("n-1", "com.example.note", "shop/eu", None, json!({}));
    bus.publish_bytes(
        weft_events::subjects::EVENTS_EXTERNAL,
        "a-message-id-the-window-never-saw",
        weft_events::encode_event(&copy).into(),
    )
    .await
    .expect("copy published");
    // Published after the copy: once its execution ended, the copy was handled too.
    assert_eq!(post_event(&env, &note("n-2", "shop/eu")).await, 202);
    sources_of(&env, "n-2", 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        sources_of(&env, "n-1", 2).await,
        ["shop/eu", "shop/us"],
        "a duplicate started a second execution"
    );
    assert_eq!(env.upstream.seen("/echo/note").len(), 3);
}
