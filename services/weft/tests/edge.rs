//! End to end at the edges: idempotent webhooks, bad workflow files, unknown hooks, oversized
//! bodies and the bus going away and coming back.

mod common;

use std::time::Duration;

use common::Env;
use serde_json::json;

const SIMPLE: &str = r#"
name: simple
on: { webhook: { path: simple } }
steps:
  call: { uses: http, with: { method: POST, url: "{upstream}/echo/simple", json: "${{ event.data.body }}" } }
"#;

#[tokio::test]
async fn a_resend_with_the_same_idempotency_key_starts_one_execution() {
    let env = Env::start().await;
    env.apply(SIMPLE).await;
    let first = env.trigger("simple", json!({"warmup": true})).await;
    env.finished(&first).await;
    let headers = [("Idempotency-Key", "order-7")];
    let (s1, b1) = env.hook("simple", json!({"n": 1}), &headers).await;
    let (s2, b2) = env.hook("simple", json!({"n": 1}), &headers).await;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(
        b1["event_id"], b2["event_id"],
        "a resend must get the same event id"
    );
    let event_id = b1["event_id"].as_str().expect("id");
    env.finished(event_id).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(env.executions_for(event_id).await.len(), 1);
    let calls = env.upstream.seen("/echo/simple");
    assert_eq!(
        calls.iter().filter(|c| c.body == json!({"n": 1})).count(),
        1,
        "the step ran twice"
    );
    // A GitHub delivery id works the same way.
    let gh = [("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")];
    let (_, g1) = env.hook("simple", json!({"gh": 1}), &gh).await;
    let (_, g2) = env.hook("simple", json!({"gh": 1}), &gh).await;
    assert_eq!(g1["event_id"], g2["event_id"]);
}

#[tokio::test]
async fn bad_workflow_files_are_rejected_with_line_and_field() {
    let env = Env::start().await;
    let (status, body) = env
        .apply_raw("name: bad\non: {webhook: {path: x}\nsteps: [")
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "invalid_workflow");
    assert!(
        body["message"].as_str().unwrap_or("").contains("line"),
        "{body}"
    );

    let cycle = "name: cycle\nsteps:\n  a:\n    uses: http\n    needs: b\n  b:\n    uses: http\n    needs: a\n";
    let (status, body) = env.apply_raw(cycle).await;
    assert_eq!(status, 400, "{body}");
    let msg = body["message"].as_str().unwrap_or("");
    assert!(msg.contains("cycle") && msg.contains("line"), "{body}");

    let unknown = "name: unknown\nsteps:\n  a:\n    uses: http\n    needs: [nope]\n";
    let (status, body) = env.apply_raw(unknown).await;
    assert_eq!(status, 400, "{body}");
    let msg = body["message"].as_str().unwrap_or("");
    assert!(
        msg.contains("line 5") && msg.contains("steps.a.needs"),
        "{body}"
    );

    let field = "name: field\nsteps:\n  a:\n    uses: http\n    retries: 3\n";
    let (status, body) = env.apply_raw(field).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap_or("").contains("retries"),
        "{body}"
    );
}

#[tokio::test]
async fn unknown_hooks_404_and_oversized_bodies_413() {
    let env = Env::start_with(|c| c.max_body_bytes = 1024).await;
    env.apply(SIMPLE).await;
    env.trigger("simple", json!({})).await;
    let (status, body) = env.hook("nope", json!({}), &[]).await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "not_found");
    let big = json!({"blob": "x".repeat(4096)});
    let (status, _) = env.hook("simple", big, &[]).await;
    assert_eq!(status, 413);
}

#[tokio::test]
async fn bus_down_gives_503_and_recovers_by_itself() {
    let mut env = Env::start().await;
    env.apply(SIMPLE).await;
    let before = env.trigger("simple", json!({"phase": "before"})).await;
    env.finished(&before).await;

    env.nats.stop();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = env.hook("simple", json!({"phase": "down"}), &[]).await;
        if status == 503 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no 503 while NATS is down (last {status})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    env.nats.restart().await.expect("nats restarts");
    let after = env.trigger("simple", json!({"phase": "after"})).await;
    let done = env.finished(&after).await;
    assert_eq!(done["status"], "succeeded", "{done}");
}

#[tokio::test]
async fn a_manual_run_whose_workflow_is_deleted_before_it_starts_fails_instead_of_waiting() {
    use weft::{host, serve::Service};
    use weft_runtime::{CommonConfig, Shutdown};

    weft_testkit::init_crypto();
    let nats = weft_testkit::NatsServer::start().await.expect("nats");
    let db = weft_testkit::TestDb::create().await.expect("db");
    let config = CommonConfig {
        nats_url: nats.url.clone(),
        database_url: db.url.clone(),
        http_addr: "127.0.0.1:0".into(),
        ..Default::default()
    };
    // Only the API runs: the run is queued, then its workflow deleted, before any router exists.
    let api = host::start(&[Service::Api], &config, Shutdown::new())
        .await
        .expect("api");
    let base = format!("http://{}/api/v1", api.addr);
    let http = reqwest::Client::new();
    let yaml = "name: doomed\non: {manual: {}}\nsteps:\n  a: {uses: http, with: {url: 'http://127.0.0.1:9/'}}\n";
    let resp = http
        .put(format!("{base}/workflows/doomed"))
        .header("content-type", "application/yaml")
        .body(yaml)
        .send()
        .await
        .expect("apply");
    assert_eq!(resp.status().as_u16(), 201);
    let run: serde_json::Value = http
        .post(format!("{base}/workflows/doomed/run"))
        .send()
        .await
        .expect("run")
        .json()
        .await
        .expect("json");
    let id = run["execution_id"].as_str().expect("id").to_string();
    let resp = http
        .delete(format!("{base}/workflows/doomed"))
        .send()
        .await
        .expect("delete");
    assert_eq!(resp.status().as_u16(), 204);

    let router = host::start(&[Service::Router], &config, Shutdown::new())
        .await
        .expect("router");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let detail = loop {
        let e: serde_json::Value = http
            .get(format!("{base}/executions/{id}"))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        if e["status"] != "queued" {
            break e;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the orphaned run stayed queued"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(detail["status"], "failed", "{detail}");
    assert_eq!(detail["error"]["code"], "workflow_deleted", "{detail}");
    router.stop().await;
    api.stop().await;
}
