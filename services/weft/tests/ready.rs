//! `weft dev --apply` is ready only once what it was asked to apply is applied and routable:
//! the README's first command, sent the moment `/readyz` turns 200, must reach the workflow.

use std::{path::Path, time::Duration};

use serde_json::{Value, json};
use weft_testkit::{ChildProcess, NatsServer, TestDb};

const MASTER_KEY: &str = "0101010101010101010101010101010101010101010101010101010101010101";

/// `weft dev --apply <apply>` on a port of its own choosing (a port picked here and bound
/// later could be taken by another test's server meanwhile); its port, read from its log.
async fn weft_dev(nats: &NatsServer, db: &TestDb, apply: &Path) -> (ChildProcess, u16) {
    let addr = "127.0.0.1:0";
    let env = [
        ("NATS_URL", nats.url.as_str()),
        ("DATABASE_URL", db.url.as_str()),
        ("WEFT_HTTP_ADDR", addr),
        ("WEFT_MASTER_KEY", MASTER_KEY),
        ("RUST_LOG", "warn,weft::host=info"),
    ];
    let apply = apply.to_string_lossy().to_string();
    let child = ChildProcess::spawn(env!("CARGO_BIN_EXE_weft"), ["dev", "--apply", &apply], env)
        .expect("spawns");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let log = child.log();
        let port = log
            .lines()
            .find(|l| l.contains("weft is running"))
            .and_then(|l| {
                // (The line may carry colour codes around `addr=`.)
                let at = l.find("127.0.0.1:")? + "127.0.0.1:".len();
                let digits: String = l[at..].chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            });
        if let Some(port) = port {
            return (child, port);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "weft dev did not start: {log}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Poll `/readyz` until it answers 200 or `within` passes; every not-ready body seen.
async fn until_ready(http: &reqwest::Client, port: u16, within: Duration) -> (bool, Vec<Value>) {
    let url = format!("http://127.0.0.1:{port}/readyz");
    let deadline = tokio::time::Instant::now() + within;
    let mut not_ready = Vec::new();
    while tokio::time::Instant::now() < deadline {
        if let Ok(r) = http.get(&url).send().await {
            if r.status().is_success() {
                return (true, not_ready);
            }
            not_ready.push(r.json().await.unwrap_or(Value::Null));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (false, not_ready)
}

#[tokio::test]
async fn ready_means_the_applied_examples_are_routable() {
    let nats = NatsServer::start().await.expect("nats");
    let db = TestDb::create().await.expect("db");
    let examples = weft_testkit::repo_root().join("examples");
    let (_weft, port) = weft_dev(&nats, &db, &examples).await;
    let http = reqwest::Client::new();
    let (ready, _) = until_ready(&http, port, Duration::from_secs(60)).await;
    assert!(ready, "weft dev never became ready");
    // The README's first command, right away.
    let resp = http
        .post(format!("http://127.0.0.1:{port}/hooks/orders"))
        .json(&json!({"id": 7, "total": 250}))
        .send()
        .await
        .expect("hook answers");
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 202, "{body}");
}

#[tokio::test]
async fn a_failed_apply_keeps_weft_dev_not_ready_and_says_why() {
    let nats = NatsServer::start().await.expect("nats");
    let db = TestDb::create().await.expect("db");
    let dir = tempfile::tempdir().expect("tempdir");
    let flows = dir.path().join("flows");
    std::fs::create_dir_all(&flows).expect("mkdir");
    std::fs::write(
        flows.join("bad.yaml"),
        "name: bad\non: { webhook: { path: bad } }\nsteps:\n  a: { uses: nope }\n",
    )
    .expect("write");
    let (_weft, port) = weft_dev(&nats, &db, &flows).await;
    let http = reqwest::Client::new();
    let (ready, seen) = until_ready(&http, port, Duration::from_secs(6)).await;
    assert!(!ready, "ready although the apply failed");
    let last = seen.last().cloned().unwrap_or(Value::Null);
    let startup = last["checks"]["startup"].as_str().unwrap_or_default();
    assert!(startup.contains("failed"), "{last}");
}
