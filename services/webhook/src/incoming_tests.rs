//! Parsing each mode, and the 400 messages for what is wrong.

use axum::http::{HeaderName, HeaderValue};
use cloudevents::{AttributesReader, Data};
use serde_json::json;

use super::*;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(
            HeaderName::from_bytes(k.as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    h
}

fn structured_event(id: &str) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "shop/orders", "type": "com.shop.order.created",
           "subject": "o-1", "data": {"total": 7}})
}

#[test]
fn binary_mode_maps_headers_and_body() {
    let h = headers(&[
        ("ce-specversion", "1.0"),
        ("ce-id", "b-1"),
        ("ce-source", "shop/orders"),
        ("ce-type", "com.shop.order.created"),
        ("ce-subject", "o-9"),
        ("ce-tenant", "acme"),
        ("content-type", "application/json"),
    ]);
    let events = parse(&h, br#"{"total": 9}"#).expect("binary");
    let ev = &events[0];
    assert_eq!(
        (ev.id(), ev.ty(), ev.subject()),
        ("b-1", "com.shop.order.created", Some("o-9"))
    );
    assert_eq!(ev.data(), Some(&Data::Json(json!({"total": 9}))));
    assert_eq!(
        ev.extension("tenant").map(|v| v.to_string()),
        Some("acme".into())
    );
    let text = headers(&[
        ("ce-specversion", "1.0"),
        ("ce-id", "b-2"),
        ("ce-source", "s"),
        ("ce-type", "t"),
        ("content-type", "text/plain"),
    ]);
    assert_eq!(
        parse(&text, b"hi").expect("text")[0].data(),
        Some(&Data::String("hi".into()))
    );
}

#[test]
fn structured_and_batch_modes() {
    let h = headers(&[(
        "content-type",
        "application/cloudevents+json; charset=utf-8",
    )]);
    let body = serde_json::to_vec(&structured_event("s-1")).expect("json");
    assert_eq!(parse(&h, &body).expect("structured")[0].id(), "s-1");
    let h = headers(&[("content-type", BATCH)]);
    let body =
        serde_json::to_vec(&json!([structured_event("a"), structured_event("b")])).expect("json");
    let ids: Vec<String> = parse(&h, &body)
        .expect("batch")
        .iter()
        .map(|e| e.id().to_string())
        .collect();
    assert_eq!(ids, ["a", "b"]);
}

#[test]
fn malformed_events_say_what_is_wrong() {
    let s = headers(&[("content-type", STRUCTURED)]);
    let b = headers(&[("content-type", BATCH)]);
    let without = |attr: &str| {
        let mut v = structured_event("x");
        v.as_object_mut().expect("object").remove(attr);
        serde_json::to_vec(&v).expect("json")
    };
    for attr in REQUIRED {
        let e = parse(&s, &without(attr)).expect_err("missing attribute");
        assert!(e.contains(&format!("`{attr}`")), "{attr}: {e}");
    }
    let e = parse(&s, b"{nope").expect_err("bad json");
    assert!(e.contains("not valid JSON"), "{e}");
    let mut forged = structured_event("f");
    forged["type"] = json!("dev.weft.execution.succeeded");
    let e = parse(&s, &serde_json::to_vec(&forged).expect("json")).expect_err("forged");
    assert!(e.contains("reserved"), "{e}");
    let mut old = structured_event("o");
    old["specversion"] = json!("0.3");
    assert!(
        parse(&s, &serde_json::to_vec(&old).expect("json"))
            .expect_err("0.3")
            .contains("specversion")
    );
    let batch = json!([structured_event("a"), {"specversion": "1.0", "id": "b", "source": "s"}]);
    let e = parse(&b, &serde_json::to_vec(&batch).expect("json")).expect_err("batch");
    assert!(e.starts_with("event [1]: ") && e.contains("`type`"), "{e}");
    let e = parse(
        &b,
        &serde_json::to_vec(&json!([structured_event("a"), structured_event("a")])).expect("json"),
    )
    .expect_err("repeat");
    assert!(e.contains("repeats"), "{e}");
    assert!(parse(&b, b"[]").expect_err("empty").contains("empty"));
    let e = parse(&headers(&[("ce-specversion", "1.0"), ("ce-id", "x")]), b"").expect_err("binary");
    assert!(e.contains("`ce-source`"), "{e}");
    assert!(
        parse(&headers(&[("content-type", "application/json")]), b"{}")
            .expect_err("plain")
            .contains("not a CloudEvent")
    );
}
