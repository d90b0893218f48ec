//! Signed webhooks against a real NATS server: each `on.webhook.auth` scheme accepts a correct
//! signature (the event then names the workflow and carries no signature header) and refuses a
//! wrong, missing or stale one with 401 and nothing on the bus; two workflows on one path with
//! different auth only accept what their own auth allows.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::{Router, http::StatusCode};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use weft_bus::Bus;
use weft_events::subjects::{EVENTS_STREAM, EVENTS_WEBHOOK};
use weft_runtime::Shutdown;
use weft_webhook::{Lookup, WebhookConfig};

const BODY: &str = r#"{"action":"opened","n":1}"#;

/// A service whose table lists `n` workflows on `path`.
async fn service(bus: &Bus, path: &str, n: usize) -> (Router, Shutdown) {
    let (service, shutdown) = common::started(WebhookConfig::default(), bus);
    for _ in 0..300 {
        if matches!(service.registry().lookup(path), Lookup::Known(r) if r.len() == n) {
            return (service.router(), shutdown);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("registry did not load {path}");
}

async fn post(app: &Router, path: &str, headers: &[(&str, String)]) -> (StatusCode, Value) {
    let mut all = vec![("content-type", "application/json")];
    all.extend(headers.iter().map(|(k, v)| (*k, v.as_str())));
    common::post(app, &format!("/hooks/{path}"), &all, BODY).await
}

use common::put_workflow as put;

fn hmac256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<sha2_v011::Sha256>::new_from_slice(key).expect("key");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

async fn events(bus: &Bus, min: usize) -> Vec<Value> {
    common::read_stream(bus, EVENTS_STREAM, EVENTS_WEBHOOK, min).await
}

/// Every refused request answers 401 `{code: unauthorized, message}`.
fn assert_refused((status, body): (StatusCode, Value), case: &str) {
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}: {body}");
    assert_eq!(body["code"], "unauthorized", "{case}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{case}"
    );
}

#[tokio::test]
async fn github_signature() {
    let (_nats, bus) = common::bus().await;
    put(
        &bus,
        "gh",
        json!({"path": "gh", "auth": {"github": {"secret": "gh-secret"}}}),
    )
    .await;
    let (app, _s) = service(&bus, "gh", 1).await;
    let good = format!(
        "sha256={}",
        hex::encode(hmac256(b"gh-secret", &[BODY.as_bytes()]))
    );
    let bad = format!(
        "sha256={}",
        hex::encode(hmac256(b"other", &[BODY.as_bytes()]))
    );
    assert_refused(
        post(&app, "gh", &[("x-hub-signature-256", bad)]).await,
        "wrong",
    );
    assert_refused(post(&app, "gh", &[]).await, "missing");
    let (status, ack) = post(&app, "gh", &[("x-hub-signature-256", good.clone())]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{ack}");
    let stored = events(&bus, 2).await;
    assert_eq!(
        stored.len(),
        1,
        "refused requests published nothing: {stored:?}"
    );
    assert_eq!(stored[0]["id"], ack["event_id"]);
    assert_eq!(stored[0]["weftworkflows"], "gh");
    assert_eq!(
        stored[0]["data"]["headers"]["x-hub-signature-256"],
        "[redacted]"
    );
    assert!(
        !stored[0].to_string().contains(&good[7..]),
        "no signature in the event"
    );
}

#[tokio::test]
async fn stripe_signature_with_rotation_and_tolerance() {
    let (_nats, bus) = common::bus().await;
    let secret = "whsec_stripe";
    put(
        &bus,
        "st",
        json!({"path": "st", "auth": {"stripe": {"secret": secret, "tolerance": "60s"}}}),
    )
    .await;
    let (app, _s) = service(&bus, "st", 1).await;
    let sign = |t: u64, key: &str| {
        hex::encode(hmac256(
            key.as_bytes(),
            &[t.to_string().as_bytes(), b".", BODY.as_bytes()],
        ))
    };
    let t = now();
    let rotated = format!("t={t},v1={},v1={}", sign(t, "whsec_old"), sign(t, secret));
    let stale_t = t - 120;
    let stale = format!("t={stale_t},v1={}", sign(stale_t, secret));
    let wrong = format!("t={t},v1={}", sign(t, "whsec_old"));
    assert_refused(
        post(&app, "st", &[("stripe-signature", stale)]).await,
        "stale",
    );
    assert_refused(
        post(&app, "st", &[("stripe-signature", wrong)]).await,
        "wrong",
    );
    assert_refused(post(&app, "st", &[]).await, "missing");
    let (status, _) = post(&app, "st", &[("stripe-signature", rotated)]).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(events(&bus, 2).await.len(), 1);
}

#[tokio::test]
async fn standard_webhooks_signature() {
    let (_nats, bus) = common::bus().await;
    let key = b"standard-key-bytes";
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    );
    put(
        &bus,
        "sw",
        json!({"path": "sw", "auth": {"standard": {"secret": secret}}}),
    )
    .await;
    let (app, _s) = service(&bus, "sw", 1).await;
    let b64 = |bytes: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(bytes);
    let signed = |id: &str, t: u64, key: &[u8]| {
        let sig = b64(hmac256(
            key,
            &[
                id.as_bytes(),
                b".",
                t.to_string().as_bytes(),
                b".",
                BODY.as_bytes(),
            ],
        ));
        vec![
            ("webhook-id", id.to_string()),
            ("webhook-timestamp", t.to_string()),
            (
                "webhook-signature",
                format!("v1,{} v1,{sig}", b64(b"nope".to_vec())),
            ),
        ]
    };
    assert_refused(
        post(&app, "sw", &signed("msg_1", now(), b"wrong-key")).await,
        "wrong",
    );
    assert_refused(
        post(&app, "sw", &signed("msg_2", now() - 600, key)).await,
        "stale",
    );
    let mut missing = signed("msg_3", now(), key);
    missing.retain(|(k, _)| *k != "webhook-timestamp");
    assert_refused(post(&app, "sw", &missing).await, "missing");
    let (status, ack) = post(&app, "sw", &signed("msg_4", now(), key)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{ack}");
    let stored = events(&bus, 2).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0]["data"]["headers"]["webhook-signature"],
        "[redacted]"
    );
}

#[tokio::test]
async fn generic_hmac_and_token() {
    let (_nats, bus) = common::bus().await;
    let hmac_auth = json!({"hmac": {"secret": "k", "header": "X-Payload-Sig", "encoding": "base64", "prefix": "v1="}});
    put(&bus, "hm", json!({"path": "hm", "auth": hmac_auth})).await;
    put(
        &bus,
        "tk",
        json!({"path": "tk", "auth": {"token": {"header": "X-Auth", "value": "letmein"}}}),
    )
    .await;
    let (app, _s) = service(&bus, "tk", 1).await;
    let (_, _s2) = service(&bus, "hm", 1).await;
    let sig = base64::engine::general_purpose::STANDARD.encode(hmac256(b"k", &[BODY.as_bytes()]));
    assert_refused(
        post(&app, "hm", &[("x-payload-sig", sig.clone())]).await,
        "no prefix",
    );
    assert_refused(
        post(
            &app,
            "hm",
            &[("x-payload-sig", format!("v1={}", sig.to_lowercase()))],
        )
        .await,
        "wrong",
    );
    assert_refused(
        post(&app, "tk", &[("x-auth", "letmein!".into())]).await,
        "wrong token",
    );
    assert_refused(post(&app, "tk", &[]).await, "missing token");
    assert_eq!(
        post(&app, "hm", &[("x-payload-sig", format!("v1={sig}"))])
            .await
            .0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        post(&app, "tk", &[("x-auth", "letmein".into())]).await.0,
        StatusCode::ACCEPTED
    );
    let stored = events(&bus, 3).await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0]["data"]["headers"]["x-payload-sig"], "[redacted]");
    assert_eq!(stored[1]["data"]["headers"]["x-auth"], "[redacted]");
    assert!(!stored[1].to_string().contains("letmein"));
}

#[tokio::test]
async fn two_workflows_on_one_path_accept_only_their_own_auth() {
    let (_nats, bus) = common::bus().await;
    put(&bus, "a-open", json!({"path": "shared"})).await;
    put(
        &bus,
        "b-token",
        json!({"path": "shared", "auth": {"token": {"header": "x-t", "value": "b"}}}),
    )
    .await;
    put(
        &bus,
        "c-token",
        json!({"path": "shared", "auth": {"token": {"header": "x-t", "value": "c"}}}),
    )
    .await;
    let (app, _s) = service(&bus, "shared", 3).await;
    assert_eq!(post(&app, "shared", &[]).await.0, StatusCode::ACCEPTED);
    assert_eq!(
        post(&app, "shared", &[("x-t", "c".into())]).await.0,
        StatusCode::ACCEPTED
    );
    let stored = events(&bus, 2).await;
    assert_eq!(stored[0]["weftworkflows"], "a-open");
    assert_eq!(stored[1]["weftworkflows"], "a-open,c-token");

    put(&bus, "a-open", json!({"path": "elsewhere"})).await;
    let (app, _s) = service(&bus, "shared", 2).await;
    assert_refused(
        post(&app, "shared", &[("x-t", "a".into())]).await,
        "no workflow accepts",
    );
    assert_eq!(
        events(&bus, 3).await.len(),
        2,
        "nothing published for the refused request"
    );
}
