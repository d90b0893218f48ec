//! Parsing each mode, header decoding, attribute checks, and the messages for what is wrong.

use axum::http::{HeaderName, HeaderValue};
use cloudevents::{AttributesReader, Data};
use serde_json::json;

use super::*;

use crate::test_support::headers;

/// Binary-mode headers of a minimal event plus `extra`.
fn binary_headers(extra: &[(&str, &str)]) -> HeaderMap {
    let mut pairs = vec![
        ("ce-specversion", "1.0"),
        ("ce-id", "b-1"),
        ("ce-source", "shop/orders"),
        ("ce-type", "com.shop.order.created"),
    ];
    pairs.extend_from_slice(extra);
    headers(&pairs)
}

fn structured_event(id: &str) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "shop/orders", "type": "com.shop.order.created",
           "subject": "o-1", "data": {"total": 7}})
}

fn structured(v: &Value) -> Result<Vec<Event>, IncomingError> {
    let h = headers(&[("content-type", STRUCTURED)]);
    parse(&h, &serde_json::to_vec(v).expect("json"))
}

fn err(r: Result<Vec<Event>, IncomingError>) -> String {
    r.expect_err("refused").to_string()
}

#[test]
fn binary_mode_maps_headers_and_body() {
    let h = binary_headers(&[
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
    for ct in ["text/plain", "application/xml; charset=utf-8"] {
        let text = binary_headers(&[("content-type", ct)]);
        assert_eq!(
            parse(&text, b"hi").expect("text")[0].data(),
            Some(&Data::String("hi".into())),
            "{ct}"
        );
    }
    let raw = binary_headers(&[("content-type", "application/octet-stream")]);
    assert_eq!(
        parse(&raw, b"hi").expect("bytes")[0].data(),
        Some(&Data::Binary(b"hi".to_vec()))
    );
    // No Content-Type: the body is bytes, no JSON is assumed (even when it parses as JSON).
    let untyped = parse(&binary_headers(&[]), br#"{"a": 1}"#).expect("untyped");
    assert_eq!(
        untyped[0].data(),
        Some(&Data::Binary(br#"{"a": 1}"#.to_vec()))
    );
    assert_eq!(untyped[0].datacontenttype(), None);
    assert_eq!(
        parse(&binary_headers(&[]), b"").expect("empty")[0].data(),
        None
    );
}

#[test]
fn header_values_are_unquoted_and_percent_decoded() {
    let cases = [
        ("Euro%20%E2%82%AC%20%F0%9F%98%80", "Euro € 😀"),
        ("euro%e2%82%ac", "euro€"),
        ("%41%42c", "ABc"),
        ("100%", "100%"),
        ("a%zzb%4", "a%zzb%4"),
        ("\"quoted value\"", "quoted value"),
        ("\"say \\\"hi\\\"\" now", "say \"hi\" now"),
        ("\"%20\"", " "),
        ("plain", "plain"),
    ];
    for (raw, want) in cases {
        assert_eq!(
            decode_header_value(raw.as_bytes()).as_deref(),
            Ok(want),
            "{raw}"
        );
        let h = binary_headers(&[("ce-subject", raw)]);
        assert_eq!(parse(&h, b"").expect(raw)[0].subject(), Some(want), "{raw}");
    }
    // Overlong, truncated, lone continuation, surrogate, and unterminated quotes.
    for raw in [
        "%C0%A0",
        "%E2%82",
        "%80",
        "%ED%A0%80",
        "%FF",
        "\"open",
        "\"a\\",
    ] {
        assert!(decode_header_value(raw.as_bytes()).is_err(), "{raw}");
        let e = err(parse(&binary_headers(&[("ce-subject", raw)]), b""));
        assert!(e.starts_with("header `ce-subject` "), "{raw}: {e}");
    }
    let e = err(parse(&binary_headers(&[("ce-subject", "a%0Ab")]), b""));
    assert!(
        e.contains("`subject`") && e.contains("control character"),
        "{e}"
    );
}

#[test]
fn binary_header_names_follow_the_naming_rule() {
    for name in ["ce-foo_bar", "ce-foo-bar", "ce-foo.bar", "ce-data"] {
        let e = err(parse(&binary_headers(&[(name, "x")]), b""));
        assert!(
            e.contains(&format!("`{name}`")) && e.contains("lower-case"),
            "{e}"
        );
    }
    // Header names are case-insensitive: `CE-Tenant` is `ce-tenant`.
    let ev = parse(&binary_headers(&[("CE-Tenant", "acme")]), b"").expect("case");
    assert!(ev[0].extension("tenant").is_some());
    let e = err(parse(
        &binary_headers(&[("ce-datacontenttype", "text/plain")]),
        b"",
    ));
    assert!(e.contains("Content-Type"), "{e}");
    let e = err(parse(&binary_headers(&[("ce-id", "again")]), b""));
    assert!(e.contains("`ce-id` is repeated"), "{e}");
    let e = err(parse(
        &headers(&[("ce-specversion", "1.0"), ("ce-id", "x")]),
        b"",
    ));
    assert!(e.contains("`ce-source`"), "{e}");
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
    assert!(
        parse(&h, b"[]")
            .expect("an empty batch is valid")
            .is_empty()
    );
    assert!(parse(&h, b" [ ] ").expect("with spaces").is_empty());
    // The same id from two sources is two events.
    let mut other = structured_event("a");
    other["source"] = json!("shop/returns");
    let body = serde_json::to_vec(&json!([structured_event("a"), other])).expect("json");
    assert_eq!(parse(&h, &body).expect("two sources").len(), 2);
}

#[test]
fn attribute_names_and_values_follow_the_spec() {
    for name in ["Tenant", "ten_ant", "ten-ant", "tenAnt", "", "é"] {
        for value in [json!("x"), Value::Null] {
            let mut v = structured_event("n");
            v[name] = value;
            let e = err(structured(&v));
            assert!(
                e.contains("attribute name") && e.contains("lower-case"),
                "{name}: {e}"
            );
        }
    }
    // Valid: digits first and more than 20 characters are only SHOULDs.
    let mut v = structured_event("ok");
    v["1st"] = json!("x");
    v["averyveryverylongextensionname"] = json!(true);
    v["count"] = json!(-2147483648_i64);
    v["unset"] = Value::Null;
    v["subject"] = Value::Null;
    let ev = structured(&v).expect("valid");
    assert!(ev[0].extension("1st").is_some() && ev[0].extension("unset").is_none());
    assert_eq!(ev[0].subject(), None);
    let bad_values = [
        ("ext", json!(1.5), "integer"),
        ("ext", json!(2147483648_i64), "32-bit"),
        ("ext", json!({"a": 1}), "string, a boolean or an integer"),
        ("ext", json!([1]), "string, a boolean or an integer"),
        ("ext", json!("a\u{7}b"), "control character"),
        ("ext", json!("a\u{85}b"), "control character"),
        ("ext", json!("a\u{FFFE}"), "noncharacter"),
        ("subject", json!(""), "non-empty"),
        ("id", json!(""), "non-empty"),
        ("source", json!(""), "non-empty"),
        ("type", json!(""), "non-empty"),
        ("id", json!(7), "must be a string"),
        ("time", json!("yesterday"), "invalid CloudEvent"),
        ("dataschema", json!("relative/path"), "invalid CloudEvent"),
        ("datacontenttype", json!("json"), "media type"),
        ("specversion", json!(1.0), "must be a string"),
    ];
    for (name, value, expected) in bad_values {
        let mut v = structured_event("x");
        v[name] = value.clone();
        let e = err(structured(&v));
        assert!(e.contains(expected), "{name}={value}: {e}");
        if !expected.contains("CloudEvent") {
            assert!(e.contains(&format!("`{name}`")), "{name}={value}: {e}");
        }
    }
}

#[test]
fn data_base64_without_a_content_type_stays_binary() {
    let mut v = structured_event("b64");
    v.as_object_mut().expect("object").remove("data");
    v["data_base64"] = json!("eyAieHl6IjogMTIzIH0=");
    let ev = structured(&v).expect("binary");
    assert_eq!(
        ev[0].data(),
        Some(&Data::Binary(br#"{ "xyz": 123 }"#.to_vec()))
    );
    v["datacontenttype"] = json!("application/json");
    let ev = structured(&v).expect("json");
    assert_eq!(ev[0].data(), Some(&Data::Json(json!({"xyz": 123}))));
    v["data"] = json!(1);
    assert!(err(structured(&v)).contains("both"));
}

#[test]
fn malformed_events_say_what_is_wrong() {
    let s = headers(&[("content-type", STRUCTURED)]);
    let b = headers(&[("content-type", BATCH)]);
    let without = |attr: &str| {
        let mut v = structured_event("x");
        v.as_object_mut().expect("object").remove(attr);
        v
    };
    for attr in ["specversion", "id", "source", "type"] {
        let e = err(structured(&without(attr)));
        assert!(e.contains(&format!("`{attr}`")), "{attr}: {e}");
    }
    assert!(err(parse(&s, b"{nope")).contains("not valid JSON"));
    assert!(err(parse(&s, b"[]")).contains("JSON object"));
    assert!(err(parse(&b, b"{}")).contains("JSON array"));
    let mut forged = structured_event("f");
    forged["type"] = json!("dev.weft.execution.succeeded");
    assert!(err(structured(&forged)).contains("reserved"));
    let mut old = structured_event("o");
    old["specversion"] = json!("0.3");
    assert!(err(structured(&old)).contains("specversion"));
    let batch = json!([structured_event("a"), {"specversion": "1.0", "id": "b", "source": "s"}]);
    let e = err(parse(&b, &serde_json::to_vec(&batch).expect("json")));
    assert!(e.starts_with("event [1]: ") && e.contains("`type`"), "{e}");
    let e = err(parse(
        &b,
        &serde_json::to_vec(&json!([structured_event("a"), structured_event("a")])).expect("json"),
    ));
    assert!(e.starts_with("event [1]: ") && e.contains("repeat"), "{e}");
    assert!(
        err(parse(
            &headers(&[("content-type", "application/json")]),
            b"{}"
        ))
        .contains("not a CloudEvent")
    );
}

#[test]
fn nul_is_refused_where_it_is() {
    let nul = |r: Result<Vec<Event>, IncomingError>| match r {
        Err(IncomingError::Nul { at }) => at,
        other => panic!("not refused for U+0000: {other:?}"),
    };
    let mut v = structured_event("z");
    v["data"] = json!({"list": [1, {"note": "a\u{0}b"}]});
    assert_eq!(nul(structured(&v)), "$.data.list[1].note");
    let mut v = structured_event("z");
    v["data"] = json!({"k\u{0}": 1});
    assert_eq!(nul(structured(&v)), "$.data.k\u{0}");
    let mut v = structured_event("z");
    v["tenant"] = json!("\u{0}");
    assert_eq!(nul(structured(&v)), "$.tenant");
    let b = headers(&[("content-type", BATCH)]);
    let mut second = structured_event("y");
    second["subject"] = json!("s\u{0}");
    let body = serde_json::to_vec(&json!([structured_event("x"), second])).expect("json");
    assert_eq!(nul(parse(&b, &body)), "$[1].subject");
    for header in ["ce-subject", "ce-tenant", "ce-id"] {
        let mut h = binary_headers(&[]);
        h.insert(
            HeaderName::from_bytes(header.as_bytes()).expect("name"),
            HeaderValue::from_static("a%00b"),
        );
        assert_eq!(nul(parse(&h, b"")), format!("header `{header}`"));
    }
    let json_body = binary_headers(&[("content-type", "application/json")]);
    assert_eq!(
        nul(parse(&json_body, br#"{"a": ["\u0000"]}"#)),
        "body $.a[0]"
    );
    let text_body = binary_headers(&[("content-type", "text/plain")]);
    assert_eq!(nul(parse(&text_body, b"a\0b")), "body");
    // Binary data is stored base64-encoded: NUL bytes are fine there.
    let raw = binary_headers(&[("content-type", "application/octet-stream")]);
    assert!(parse(&raw, b"a\0b").is_ok());
}
