//! Dead letters end to end through the `weft` command: an event parked in the dead-letter
//! stream the way a router parked accepted work during a database outage before it learned to
//! wait ("still failing after 20 deliveries") is listed by `weft dead-letters list` with its
//! reason and origin; `weft dead-letters replay` puts it back, the router starts its execution,
//! which succeeds, and the dead letter is gone.

mod common;

use async_nats::HeaderMap;
use common::Env;
use serde_json::json;
use weft_bus::dlq;
use weft_events::subjects;

const WORKFLOW: &str = "
name: replayed
on:
  event: { type: com.example.replayed }
steps:
  call:
    uses: http
    with:
      method: POST
      url: '{upstream}/echo/replayed'
      json: ${{ event.data }}
";

/// Run `weft dead-letters <args> --api <base>`: success, stdout, stderr.
async fn weft(env: &Env, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_weft"))
        .arg("dead-letters")
        .args(args)
        .args(["--api", &env.base])
        .output()
        .await
        .expect("weft runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn an_event_replayed_from_the_dead_letters_runs_its_workflow() {
    let env = Env::start().await;
    env.apply(WORKFLOW).await;
    let event = weft_events::new_event(
        "order-7",
        "com.example.replayed",
        "shop/test",
        None,
        json!({"n": 7}),
    );
    let mut headers = HeaderMap::new();
    headers.insert(dlq::REASON, "still failing after 20 deliveries");
    headers.insert(dlq::SUBJECT, subjects::EVENTS_EXTERNAL);
    headers.insert(dlq::STREAM, subjects::EVENTS_STREAM);
    headers.insert(dlq::CONSUMER, subjects::ROUTER_EVENTS_CONSUMER);
    headers.insert(dlq::DELIVERED, "20");
    let msg_id = weft_events::ids::message_id("shop/test", "order-7");
    headers.insert(dlq::MSG_ID, msg_id.as_str());
    let bus = weft_bus::Bus::connect(&env.nats.url, "dead-letters-test")
        .await
        .expect("bus");
    let parked = bus
        .jetstream()
        .publish_with_headers(
            subjects::dlq_subject(subjects::EVENTS_STREAM),
            headers,
            weft_events::encode_event(&event).into(),
        )
        .await
        .expect("publish")
        .await
        .expect("stored");
    let id = parked.sequence.to_string();

    let (ok, out, err) = weft(&env, &["list"]).await;
    assert!(ok, "{err}");
    let row = out
        .lines()
        .find(|l| l.starts_with(&format!("{id} ")))
        .unwrap_or_else(|| panic!("no row for {id}:\n{out}"));
    for part in [
        "WEFT_EVENTS",
        "weft.events.external",
        "20",
        "still failing after 20 deliveries",
    ] {
        assert!(row.contains(part), "{part} missing in {row}");
    }
    let (ok, out, err) = weft(&env, &["get", &id]).await;
    assert!(ok, "{err}");
    let shown: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(shown["payload"]["data"], json!({"n": 7}));

    let (ok, out, err) = weft(&env, &["replay", &id]).await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), format!("{id} replayed to weft.events.external"));
    let detail = env.finished("order-7").await;
    assert_eq!(detail["status"], "succeeded", "{detail}");
    assert_eq!(env.upstream.seen("/echo/replayed").len(), 1);

    let (ok, out, _) = weft(&env, &["list"]).await;
    assert!(ok);
    assert_eq!(out.lines().count(), 1, "only the header is left:\n{out}");
    let (ok, _, err) = weft(&env, &["replay", &id]).await;
    assert!(!ok, "a second replay of the same dead letter fails");
    assert!(err.contains("404"), "{err}");
}
