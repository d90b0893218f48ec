//! The executor's side of the protocol against runners that misbehave (a shell stands in for
//! the runner binary inside the same bubblewrap sandbox): each ends as a clear error.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use weft_exec_code::protocol::Request;
use weft_exec_code::{CodeConfig, ErrorCode, Sandbox};

/// A sandbox whose "runner" is `sh -c <script>`.
fn shell(script: &str) -> Sandbox {
    let mut config = CodeConfig::default().sandbox();
    config.runner = vec!["/bin/sh".into(), "-c".into(), script.into()];
    config.start_timeout = Duration::from_secs(2);
    Sandbox::new(&config).expect("sandbox")
}

fn request() -> Request {
    Request {
        script: "return 1".into(),
        inputs: serde_json::Value::Null,
        memory: 16 << 20,
        timeout_ms: 1000,
        max_output_bytes: 1024,
        max_log_lines: 10,
        max_log_bytes: 1024,
    }
}

const READY: &str = r#"echo '{"ready":{"protocol":1}}'"#;

async fn answer(sandbox: &Sandbox) -> weft_exec_code::CodeError {
    let runner = sandbox.start().await.expect("ready");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut logs = Vec::new();
    match runner
        .run(&request(), deadline, &CancellationToken::new(), &mut |l| {
            logs.push(l)
        })
        .await
    {
        Ok(out) => panic!("answered {out:?}"),
        Err(
            weft_exec_code::sandbox::RunError::Failed(e)
            | weft_exec_code::sandbox::RunError::Stale(e),
        ) => e,
    }
}

#[tokio::test]
async fn a_runner_killed_by_a_limit_is_a_sandbox_limit() {
    let sandbox = shell(&format!("{READY}; read line; kill -XCPU $$"));
    let e = answer(&sandbox).await;
    assert_eq!(e.code, ErrorCode::SandboxLimit, "{e:?}");
    assert!(e.message.contains("SIGXCPU"), "{e:?}");
}

#[tokio::test]
async fn a_runner_that_breaks_the_protocol_is_internal() {
    let sandbox = shell(&format!("{READY}; read line; echo 'not json'"));
    let e = answer(&sandbox).await;
    assert_eq!(e.code, ErrorCode::Internal, "{e:?}");
    assert!(e.message.contains("protocol"), "{e:?}");
}

#[tokio::test]
async fn an_endless_line_is_cut_off() {
    let sandbox = shell(&format!(
        "{READY}; read line; while true; do printf xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done"
    ));
    let e = answer(&sandbox).await;
    assert_eq!(e.code, ErrorCode::SandboxLimit, "{e:?}");
    assert!(e.message.contains("longer than"), "{e:?}");
}

#[tokio::test]
async fn a_stale_or_silent_runner_does_not_start() {
    let e = shell(r#"echo '{"ready":{"protocol":99}}'"#)
        .start()
        .await
        .expect_err("stale");
    assert_eq!(e.code, ErrorCode::Internal);
    assert!(e.message.contains("protocol 99"), "{e:?}");
    let e = shell("echo oops >&2; exit 1")
        .start()
        .await
        .expect_err("exits");
    assert!(
        e.message.contains("exited before it was ready") && e.message.contains("oops"),
        "{e:?}"
    );
    let started = std::time::Instant::now();
    let e = shell("read line").start().await.expect_err("silent");
    assert!(e.message.contains("not ready within"), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(4));
}
