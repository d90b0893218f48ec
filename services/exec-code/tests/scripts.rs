//! What a script can do: inputs, output, logs, errors with lines — through the real sandbox.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use weft_exec_code::{ByteSize, CodeConfig, CodeExecutor, CodeWith, ErrorCode};

#[tokio::test]
async fn inputs_in_output_out_and_console_lines_in_order() {
    let exec = executor();
    let mut with = CodeWith::script(
        "console.log('total', inputs.items.length, {a: 1});\n\
         console.error(new TypeError('shown'));\n\
         const sum = inputs.items.reduce((s, x) => s + x, 0);\n\
         await null;\n\
         return { sum, nested: [true, null, 'é'] };",
    );
    with.inputs = json!({"items": [1, 2, 3.5]});
    let ran = run_with(&exec, with).await;
    assert_eq!(
        ran.output(),
        &json!({"sum": 6.5, "nested": [true, null, "é"]})
    );
    assert_eq!(ran.logs, ["total 3 {\"a\":1}", "TypeError: shown"]);
}

#[tokio::test]
async fn undefined_is_null_and_non_json_is_a_script_error() {
    let exec = executor();
    assert_eq!(run(&exec, "console.log('x')").await.output(), &json!(null));
    assert_eq!(run(&exec, "return () => 1").await.output(), &json!(null));
    let e = run(&exec, "return 10n").await;
    assert!(
        e.error(ErrorCode::Script).message.contains("BigInt"),
        "{e:?}"
    );
    let e = run(&exec, "const a = {}; a.self = a; return a").await;
    assert!(
        e.error(ErrorCode::Script).message.contains("circular"),
        "{e:?}"
    );
    let e = run(&exec, "return '\\ud800'").await;
    assert!(
        e.error(ErrorCode::Script)
            .message
            .contains("not valid JSON"),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_throw_fails_with_message_and_line() {
    let exec = executor();
    let ran = run(
        &exec,
        "const x = 1;\n\nthrow new Error('no stock for ' + x);",
    )
    .await;
    let e = ran.error(ErrorCode::Script);
    assert_eq!(e.message, "Error: no stock for 1");
    assert_eq!(e.line, Some(3));
    assert!(!e.retryable());

    let ran = run(&exec, "function f() {\n  null.x;\n}\nf();").await;
    let e = ran.error(ErrorCode::Script);
    assert!(e.message.starts_with("TypeError"), "{e:?}");
    assert_eq!(e.line, Some(2));

    let ran = run(&exec, "await Promise.resolve();\nthrow 'plain'").await;
    assert_eq!(ran.error(ErrorCode::Script).message, "uncaught: plain");
}

#[tokio::test]
async fn a_syntax_error_names_its_line() {
    let exec = executor();
    let ran = run(&exec, "const a = 1;\nconst = 2;").await;
    let e = ran.error(ErrorCode::Script);
    assert!(e.message.starts_with("SyntaxError"), "{e:?}");
    assert_eq!(e.line, Some(2));
}

#[tokio::test]
async fn out_of_range_settings_are_bad_input() {
    let exec = executor();
    let mut with = CodeWith::script("return 1");
    with.memory = ByteSize(2 << 30);
    let e = run_with(&exec, with).await;
    assert!(e.error(ErrorCode::BadInput).message.contains("memory"));
    let mut with = CodeWith::script("return 1");
    with.timeout = Duration::from_secs(3600);
    let e = run_with(&exec, with).await;
    assert!(e.error(ErrorCode::BadInput).message.contains("timeout"));
    let mut with = CodeWith::script("return 1");
    with.inputs = json!("x".repeat(9 << 20));
    let e = run_with(&exec, with).await;
    assert!(
        e.error(ErrorCode::BadInput).message.contains("bytes"),
        "{e:?}"
    );
    still_works(&exec).await;
}

#[tokio::test]
async fn logs_are_capped_and_the_drop_is_counted() {
    let mut config = config(0);
    config.max_log_lines = 5;
    let exec = CodeExecutor::new(config).expect("executor");
    let ran = run(&exec, "for (let i = 0; i < 100; i++) console.log('line', i); console.log('x'.repeat(100000)); return 1").await;
    assert_eq!(ran.output(), &json!(1));
    assert_eq!(ran.logs.len(), 6, "{:?}", ran.logs);
    assert_eq!(ran.logs[4], "line 4");
    assert!(
        ran.logs[5].contains("96 more log lines dropped"),
        "{:?}",
        ran.logs[5]
    );
}

#[tokio::test]
async fn cancelling_kills_the_script_at_once() {
    let exec = executor();
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        trigger.cancel();
    });
    let mut with = CodeWith::script("console.log('spinning'); while (true) {}");
    with.timeout = Duration::from_secs(30);
    let ran = run_cancel(&exec, with, &cancel).await;
    ran.error(ErrorCode::Cancelled);
    assert!(ran.took < Duration::from_secs(3), "{:?}", ran.took);
    assert_eq!(ran.logs, ["spinning"]);
    still_works(&exec).await;
}

#[tokio::test]
async fn the_step_deadline_bounds_the_script() {
    let exec = executor();
    let mut logs = Vec::new();
    let mut with = CodeWith::script("while (true) {}");
    with.timeout = Duration::from_secs(30);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    let started = std::time::Instant::now();
    let r = exec
        .run(with, Some(deadline), &CancellationToken::new(), &mut |l| {
            logs.push(l)
        })
        .await;
    assert_eq!(r.expect_err("deadline").code, ErrorCode::Timeout);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_sandbox_that_cannot_start_fails_clearly_and_is_not_ready() {
    let config = CodeConfig {
        bwrap: "/nonexistent/bwrap".to_owned(),
        ..CodeConfig::default()
    };
    let e = CodeExecutor::new(config).expect_err("no bwrap");
    assert!(e.to_string().contains("bubblewrap"), "{e}");

    // A runner that exits at once: the step fails `internal` (retryable) and check() says why.
    let config = CodeConfig {
        warm_runners: 0,
        runner: "/bin/false".to_owned(),
        ..CodeConfig::default()
    };
    let exec = CodeExecutor::new(config).expect("executor");
    let ran = run(&exec, "return 1").await;
    let e = ran.error(ErrorCode::Internal);
    assert!(e.message.contains("cannot start"), "{e:?}");
    assert!(e.retryable());
    let why = exec.check().await.expect_err("unhealthy");
    assert!(why.contains("self-check"), "{why}");
}

#[tokio::test]
async fn the_readiness_check_passes_here() {
    let exec = executor();
    exec.check().await.expect("sandbox ready");
}

/// Per-call latency with and without the warm pool (printed; `--nocapture` to see it).
#[tokio::test]
async fn warm_pool_latency() {
    const CALLS: usize = 20;
    let mut figures = Vec::new();
    for warm in [0, 2] {
        let exec = CodeExecutor::new(config(warm)).expect("executor");
        // Let the pool fill.
        run(&exec, "return 0").await.output();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut took = Vec::new();
        for i in 0..CALLS {
            let ran = run(&exec, &format!("return {i} + 1")).await;
            assert_eq!(ran.output(), &json!(i + 1));
            took.push(ran.took);
            // A step rarely follows the previous one at once; give the pool time to refill.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        took.sort();
        let median = took[CALLS / 2];
        let p90 = took[CALLS * 9 / 10];
        println!(
            "code step latency, warm_runners={warm}: median {median:?}, p90 {p90:?}, max {:?}",
            took[CALLS - 1]
        );
        figures.push(median);
        assert!(median < Duration::from_secs(2));
    }
}
