//! `HttpExecutor::execute` against a real HTTP server started by the test.

mod common;

use std::net::SocketAddr;

use serde_json::{Value, json};
use weft_events::StepError;
use weft_exec_http::{ExecHttpConfig, HttpExecutor};

use common::task;

async fn setup() -> (HttpExecutor, SocketAddr) {
    let executor = HttpExecutor::new(&ExecHttpConfig::default()).expect("executor");
    (executor, common::target().await)
}

async fn run(executor: &HttpExecutor, t: &weft_events::Task) -> Result<Value, StepError> {
    weft_executor::execute_task(executor, t, weft_executor::Artifacts::in_memory())
        .await
        .0
}

async fn ok(executor: &HttpExecutor, with: Value) -> Value {
    run(executor, &task(with)).await.expect("succeeds")
}

async fn fails(executor: &HttpExecutor, with: Value) -> StepError {
    run(executor, &task(with)).await.expect_err("fails")
}

#[tokio::test]
async fn get_with_query_and_headers() {
    let (executor, addr) = setup().await;
    let out = ok(
        &executor,
        json!({
            "url": format!("http://{addr}/echo"),
            "query": {"q": "a b", "n": 3, "tag": ["x", "y"]},
            "headers": {"X-Team": "ops", "X-Count": 2},
        }),
    )
    .await;
    assert_eq!(out["status"], 200);
    assert_eq!(out["headers"]["content-type"], "application/json");
    let echoed = &out["body"];
    assert_eq!(echoed["method"], "GET");
    assert_eq!(echoed["query"], "n=3&q=a+b&tag=x&tag=y");
    assert_eq!(echoed["headers"]["x-team"], "ops");
    assert_eq!(echoed["headers"]["x-count"], "2");
    assert_eq!(
        echoed["headers"]["user-agent"],
        concat!("weft/", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn bodies_json_form_and_text() {
    let (executor, addr) = setup().await;
    let url = format!("http://{addr}/echo");
    let out = ok(
        &executor,
        json!({"method": "post", "url": url, "json": {"a": [1, 2]}}),
    )
    .await;
    assert_eq!(out["body"]["method"], "POST");
    assert_eq!(out["body"]["headers"]["content-type"], "application/json");
    assert_eq!(
        serde_json::from_str::<Value>(out["body"]["body"].as_str().expect("s")).expect("json"),
        json!({"a": [1, 2]})
    );

    let out = ok(
        &executor,
        json!({"method": "PUT", "url": url, "form": {"a": "1 2", "b": true}}),
    )
    .await;
    assert_eq!(out["body"]["method"], "PUT");
    assert_eq!(
        out["body"]["headers"]["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(out["body"]["body"], "a=1+2&b=true");

    let out = ok(&executor, json!({"method": "POST", "url": url, "body": "raw text", "headers": {"content-type": "text/plain"}})).await;
    assert_eq!(out["body"]["body"], "raw text");
    assert_eq!(out["body"]["headers"]["content-type"], "text/plain");
}

#[tokio::test]
async fn output_bodies_by_content_type() {
    let (executor, addr) = setup().await;
    let text = ok(&executor, json!({"url": format!("http://{addr}/text")})).await;
    assert_eq!(text["body"], "plain words");
    let bin = ok(&executor, json!({"url": format!("http://{addr}/bin")})).await;
    assert_eq!(bin["body"], json!({"base64": "/wAB"}));
}

#[tokio::test]
async fn statuses_decide_retryability() {
    let (executor, addr) = setup().await;
    let e = fails(
        &executor,
        json!({"url": format!("http://{addr}/status/404")}),
    )
    .await;
    assert_eq!((e.code.as_str(), e.retryable), ("http_status", false));
    let details = e.details.expect("details");
    assert_eq!(details["status"], 404);
    assert_eq!(details["body"], json!({"error": 404}));
    assert_eq!(details["headers"]["x-multi"], "a, b");

    for code in [503, 500, 429] {
        let e = fails(
            &executor,
            json!({"url": format!("http://{addr}/status/{code}")}),
        )
        .await;
        let class = if code == 429 {
            "rate_limited"
        } else {
            "http_status"
        };
        assert_eq!((e.code.as_str(), e.retryable), (class, true), "{code}");
    }

    let out = ok(
        &executor,
        json!({"url": format!("http://{addr}/status/404"), "fail_on_status": false}),
    )
    .await;
    assert_eq!(out["status"], 404);
}

#[tokio::test]
async fn network_failures_are_retryable() {
    let (executor, addr) = setup().await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let e = fails(&executor, json!({"url": format!("http://{closed}/")})).await;
    assert_eq!((e.code.as_str(), e.retryable), ("connect", true), "{e:?}");

    let started = std::time::Instant::now();
    let e = fails(
        &executor,
        json!({"url": format!("http://{addr}/slow"), "timeout": "200ms"}),
    )
    .await;
    assert_eq!((e.code.as_str(), e.retryable), ("timeout", true), "{e:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[tokio::test]
async fn bad_input_is_permanent() {
    let (executor, addr) = setup().await;
    let e = fails(
        &executor,
        json!({"url": format!("http://{addr}/echo"), "json": {}, "body": "x"}),
    )
    .await;
    assert_eq!((e.code.as_str(), e.retryable), ("bad_input", false));
    let e = fails(
        &executor,
        json!({"url": format!("http://{addr}/echo"), "verb": "GET"}),
    )
    .await;
    assert_eq!((e.code.as_str(), e.retryable), ("bad_input", false));
}

#[tokio::test]
async fn redirects_follow_unless_disabled() {
    let (executor, addr) = setup().await;
    let out = ok(&executor, json!({"url": format!("http://{addr}/redirect")})).await;
    assert_eq!(out["status"], 200);
    assert_eq!(out["body"]["method"], "GET");
    let out = ok(&executor, json!({"url": format!("http://{addr}/redirect"), "follow_redirects": false, "fail_on_status": false})).await;
    assert_eq!(out["status"], 303);
    assert_eq!(out["headers"]["location"], "/echo");
}

#[tokio::test]
async fn idempotency_key_is_the_attempt_id_on_every_run() {
    let (executor, addr) = setup().await;
    let t = task(json!({"method": "POST", "url": format!("http://{addr}/echo")}));
    let first = run(&executor, &t).await.expect("first");
    let second = run(&executor, &t).await.expect("second");
    let key = t.attempt_id.to_string();
    assert_eq!(first["body"]["headers"]["idempotency-key"], key.as_str());
    assert_eq!(second["body"]["headers"]["idempotency-key"], key.as_str());

    let own = ok(
        &executor,
        json!({"url": format!("http://{addr}/echo"), "headers": {"Idempotency-Key": "mine"}}),
    )
    .await;
    assert_eq!(own["body"]["headers"]["idempotency-key"], "mine");
}
