//! U+0000 at the doors, against a real NATS server: PostgreSQL cannot store it, so a webhook or
//! CloudEvent whose text holds it anywhere (JSON strings and keys at any depth, a text or form
//! body, a query parameter, the path, a decoded `ce-*` header, in every CloudEvents mode) is
//! refused with 400 `invalid_text` naming where, and nothing is published. Binary bodies
//! (stored base64-encoded) and an escaped `%00` that nothing decodes stay accepted.

mod common;

use std::time::Duration;

use axum::{Router, http::StatusCode};
use serde_json::{Value, json};
use weft_bus::Bus;
use weft_events::subjects::{EVENTS_EXTERNAL, EVENTS_STREAM, EVENTS_WEBHOOK};
use weft_runtime::Shutdown;
use weft_webhook::WebhookConfig;

async fn app(bus: &Bus, path: &str) -> (Router, Shutdown) {
    common::put_workflow(bus, "nul", json!({"path": path})).await;
    let (service, shutdown) = common::started(WebhookConfig::default(), bus);
    for _ in 0..200 {
        if matches!(
            service.registry().lookup(path),
            weft_webhook::Lookup::Known(_)
        ) {
            return (service.router(), shutdown);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("registry did not load");
}

/// Assert a 400 `invalid_text` whose message names `at`.
fn refused(case: &str, (status, answer): (StatusCode, Value), at: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {answer}");
    assert_eq!(answer["code"], "invalid_text", "{case}: {answer}");
    let message = answer["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("U+0000") && message.ends_with(&format!("at {at}")),
        "{case}: {message}"
    );
}

#[tokio::test]
async fn webhooks_with_nul_in_their_text_are_refused() {
    let (_nats, bus) = common::bus().await;
    let (app, _s) = app(&bus, "p").await;
    let json_ct = [("content-type", "application/json")];
    let json_cases = [
        (r#"{"s": "a\u0000b"}"#, "$.body.s"),
        (r#"{"k\u0000": 1}"#, "$.body.k\u{0}"),
        (r#"{"a": [[1, ["x", "\u0000"]]]}"#, "$.body.a[0][1][1]"),
        (r#"[{"deep": {"er": "\u0000"}}]"#, "$.body[0].deep.er"),
        (r#""\u0000""#, "$.body"),
    ];
    for (body, at) in json_cases {
        refused(
            body,
            common::post(&app, "/hooks/p", &json_ct, body).await,
            at,
        );
    }
    let text = [("content-type", "text/plain")];
    refused(
        "text",
        common::post(&app, "/hooks/p", &text, "a\0b").await,
        "$.body",
    );
    let form = [("content-type", "application/x-www-form-urlencoded")];
    refused(
        "form",
        common::post(&app, "/hooks/p", &form, "a=\0").await,
        "$.body",
    );
    refused(
        "query value",
        common::post(&app, "/hooks/p?q=a%00b", &[], "").await,
        "$.query.q",
    );
    refused(
        "query key",
        common::post(&app, "/hooks/p?k%00=1", &[], "").await,
        "$.query.k\u{0}",
    );
    refused(
        "path",
        common::post(&app, "/hooks/p%00", &[], "").await,
        "the path",
    );
    assert!(
        common::read_stream(&bus, EVENTS_STREAM, EVENTS_WEBHOOK, 0)
            .await
            .is_empty(),
        "nothing was published"
    );

    // Accepted: binary bodies (base64 in the event), and `%00` that nothing decodes (a header
    // value cannot carry U+0000 itself; the form body stays text).
    let raw = [("content-type", "application/octet-stream")];
    assert_eq!(
        common::post(&app, "/hooks/p", &raw, "a\0b").await.0,
        StatusCode::ACCEPTED
    );
    let escaped = [
        ("x-note", "a%00b"),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    assert_eq!(
        common::post(&app, "/hooks/p", &escaped, "a=%00").await.0,
        StatusCode::ACCEPTED
    );
    let stored = common::read_stream(&bus, EVENTS_STREAM, EVENTS_WEBHOOK, 2).await;
    assert_eq!(stored[0]["data"]["body"], json!({"base64": "YQBi"}));
    assert_eq!(stored[1]["data"]["headers"]["x-note"], "a%00b");
    assert_eq!(stored[1]["data"]["body"], "a=%00");
}

#[tokio::test]
async fn cloudevents_with_nul_in_their_text_are_refused_in_every_mode() {
    let (_nats, bus) = common::bus().await;
    let (app, _s) = app(&bus, "unused").await;
    let event = |extra: Value| {
        let mut e = json!({"specversion": "1.0", "id": "n", "source": "/s", "type": "t"});
        if let (Some(e), Value::Object(extra)) = (e.as_object_mut(), extra) {
            e.extend(extra);
        }
        e
    };
    let structured = [("content-type", "application/cloudevents+json")];
    let batch = [("content-type", "application/cloudevents-batch+json")];
    let cases = [
        (json!({"data": {"a": [1, "\u{0}"]}}), "data.a[1]"),
        (json!({"data": {"k\u{0}": true}}), "data.k\u{0}"),
        (
            json!({"datacontenttype": "text/plain", "data": "\u{0}"}),
            "data",
        ),
        (json!({"subject": "s\u{0}"}), "subject"),
        (json!({"tenant": "\u{0}"}), "tenant"),
        (json!({"id": "\u{0}"}), "id"),
    ];
    for (extra, at) in cases {
        let one = event(extra);
        let body = one.to_string();
        let answer = common::post(&app, "/events", &structured, body.clone()).await;
        refused(&body, answer, &format!("$.{at}"));
        let two = json!([event(json!({})), one]).to_string();
        let answer = common::post(&app, "/events", &batch, two).await;
        refused(&body, answer, &format!("$[1].{at}"));
    }
    let binary = |extra: &[(&'static str, &'static str)]| {
        let mut h = vec![
            ("ce-specversion", "1.0"),
            ("ce-id", "n"),
            ("ce-source", "/s"),
            ("ce-type", "t"),
        ];
        h.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        h.extend_from_slice(extra);
        h
    };
    for header in ["ce-subject", "ce-tenant", "ce-id", "ce-source"] {
        for value in ["%00", "a%00b", "\"%00\""] {
            let h = binary(&[(header, value)]);
            let answer = common::post(&app, "/events", &h, "").await;
            refused(header, answer, &format!("header `{header}`"));
        }
    }
    let json_body = binary(&[("content-type", "application/json")]);
    let answer = common::post(&app, "/events", &json_body, r#"{"a": {"b": "\u0000"}}"#).await;
    refused("binary json", answer, "body $.a.b");
    let text_body = binary(&[("content-type", "text/plain")]);
    let answer = common::post(&app, "/events", &text_body, "a\0").await;
    refused("binary text", answer, "body");
    assert!(
        common::read_stream(&bus, EVENTS_STREAM, EVENTS_EXTERNAL, 0)
            .await
            .is_empty(),
        "nothing was published"
    );
    // Binary data with NUL bytes is stored base64-encoded: fine.
    let raw = binary(&[("content-type", "application/octet-stream")]);
    assert_eq!(
        common::post(&app, "/events", &raw, "a\0").await.0,
        StatusCode::ACCEPTED
    );
}
