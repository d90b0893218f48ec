//! `CodeAgent` through the executor platform's contract (`Agent::execute` with a `Context`).

mod common;

use std::time::Duration;

use serde_json::json;
use weft_exec_code::{CodeAgent, CodeWith};
use weft_executor::{Agent, Context, ErrorCode, StopReason};

fn agent() -> CodeAgent {
    CodeAgent::new(common::config(1)).expect("agent")
}

#[tokio::test]
async fn output_and_console_lines_reach_the_attempt() {
    let agent = agent();
    let cx = Context::for_test();
    let mut with = CodeWith::script(
        "console.log('hello', inputs.name); return { greeting: `hi ${inputs.name}` };",
    );
    with.inputs = json!({"name": "Ada"});
    let out = agent.execute(with, cx.clone()).await.expect("runs");
    assert_eq!(out, json!({"greeting": "hi Ada"}));
    let (lines, dropped) = cx.take_log();
    assert_eq!(
        lines.iter().map(|l| l.line.as_str()).collect::<Vec<_>>(),
        ["hello Ada"]
    );
    assert_eq!(dropped, 0);
}

#[tokio::test]
async fn a_throw_is_a_permanent_script_error_with_its_line() {
    let agent = agent();
    let e = agent
        .execute(
            CodeWith::script("\nthrow new RangeError('too big');"),
            Context::for_test(),
        )
        .await
        .expect_err("throws");
    assert_eq!(e.code, ErrorCode::Script);
    assert_eq!(e.message, "RangeError: too big");
    assert!(!e.retryable);
    assert_eq!(e.details, Some(json!({"line": 2})));
}

#[tokio::test]
async fn limits_and_timeouts_have_their_codes() {
    let agent = agent();
    let mut with = CodeWith::script("while (true) {}");
    with.timeout = Duration::from_millis(200);
    let e = agent
        .execute(with, Context::for_test())
        .await
        .expect_err("loops");
    assert_eq!(e.code, ErrorCode::Timeout);
    assert!(!e.retryable);
    let e = agent
        .execute(
            CodeWith::script("function f() { return f() + 1 } return f()"),
            Context::for_test(),
        )
        .await
        .expect_err("recurses");
    assert_eq!(e.code, ErrorCode::SandboxLimit);
}

#[tokio::test]
async fn a_cancel_kills_the_script_and_says_cancelled() {
    let agent = agent();
    let cx = Context::for_test();
    let stopper = cx.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        stopper.stop(StopReason::Cancelled);
    });
    let mut with = CodeWith::script("while (true) {}");
    with.timeout = Duration::from_secs(30);
    let started = std::time::Instant::now();
    let e = agent.execute(with, cx).await.expect_err("cancelled");
    assert_eq!(e.code, ErrorCode::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(3));
    // The agent is still fine.
    let out = agent
        .execute(CodeWith::script("return 2"), Context::for_test())
        .await;
    assert_eq!(out.expect("runs"), json!(2));
}

#[tokio::test]
async fn ready_here_and_schemas_are_published() {
    let agent = agent();
    agent.check().await.expect("ready");
    let (with, output) = weft_executor::schemas::<CodeAgent>();
    assert_eq!(with["required"], json!(["script"]));
    assert!(
        with["properties"]["memory"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("MiB"))
    );
    assert!(output.is_object());
    assert_eq!(CodeAgent::NAME, "code");
}
