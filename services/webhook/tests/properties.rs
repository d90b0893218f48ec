//! Property tests for the two parsers that face the outside: the CloudEvents HTTP binding
//! (`incoming::parse`, `decode_header_value`) and the webhook payload builder
//! (`payload::event_data`). Arbitrary headers and bodies never panic; valid generated events
//! round-trip through binary, structured and batch mode; header values round-trip through the
//! spec's percent-encoding; accepted webhook data never holds U+0000 and keeps a JSON body.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use base64::Engine;
use cloudevents::{AttributesReader, Data, Event};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use weft_webhook::{
    incoming::{self, decode_header_value, encode_header_value},
    payload,
};

/// Bytes an HTTP header value may hold (visible ASCII, space, tab, obs-text).
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            Just(b'\t'),
            0x20_u8..0x7f,
            0x80_u8..=0xff,
            Just(b'%'),
            Just(b'"')
        ],
        0..24,
    )
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("ce-specversion".to_string()),
        Just("ce-id".to_string()),
        Just("ce-source".to_string()),
        Just("ce-type".to_string()),
        Just("ce-time".to_string()),
        Just("ce-datacontenttype".to_string()),
        Just("content-type".to_string()),
        "ce-[a-zA-Z0-9_.-]{0,8}",
        "x-[a-z]{1,6}",
    ]
}

fn content_type() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"application/cloudevents+json".to_vec()),
        Just(b"application/cloudevents-batch+json".to_vec()),
        Just(b"application/json".to_vec()),
        Just(b"text/plain; charset=utf-8".to_vec()),
        Just(b"application/x-www-form-urlencoded".to_vec()),
        Just(b"application/octet-stream".to_vec()),
        header_bytes(),
    ]
}

fn headers() -> impl Strategy<Value = HeaderMap> {
    (
        prop::collection::vec((header_name(), header_bytes()), 0..8),
        prop::option::of(content_type()),
    )
        .prop_map(|(pairs, ct)| {
            let mut h = HeaderMap::new();
            for (name, value) in pairs {
                if let (Ok(n), Ok(v)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_bytes(&value),
                ) {
                    h.append(n, v);
                }
            }
            if let Some(Ok(v)) = ct.map(|ct| HeaderValue::from_bytes(&ct)) {
                h.insert("content-type", v);
            }
            h
        })
}

/// JSON without floats (serde_json's default float parsing is not exactly round-trip).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,8}".prop_map(Value::String),
        "[\\x00-\\x7f]{0,4}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,6}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<Vec<u8>>(),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        (json_value(), json_value()).prop_map(|(a, b)| {
            json!([{"specversion": "1.0", "id": a, "source": "/s", "type": "t", "data": b}])
                .to_string()
                .into_bytes()
        }),
    ]
}

/// Data of a generated event.
#[derive(Debug, Clone)]
enum GenData {
    None,
    Json(Value),
    Text(String),
    Bytes(Vec<u8>),
}

/// A valid CloudEvent: CloudEvents strings (no control characters, noncharacters or
/// surrogates: `\PC`), names by the naming rule, extension values of the three JSON types.
#[derive(Debug, Clone)]
struct GenEvent {
    id: String,
    source: String,
    ty: String,
    subject: Option<String>,
    time: Option<i64>,
    extensions: std::collections::BTreeMap<String, Value>,
    data: GenData,
}

fn gen_event() -> impl Strategy<Value = GenEvent> {
    let extension = prop_oneof![
        "\\PC{0,12}".prop_map(Value::String),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
    ];
    let data = prop_oneof![
        Just(GenData::None),
        json_value()
            .prop_filter("no U+0000", |v| !weft_events::text::has_nul(v))
            .prop_map(GenData::Json),
        "\\PC{1,16}".prop_map(GenData::Text),
        prop::collection::vec(any::<u8>(), 1..16).prop_map(GenData::Bytes),
    ];
    (
        "\\PC{1,16}",
        "\\PC{1,16}",
        "\\PC{1,16}".prop_filter("reserved", |t| !t.starts_with("dev.weft.")),
        prop::option::of("\\PC{1,12}"),
        prop::option::of(0_i64..4_102_444_800),
        prop::collection::btree_map("x[a-z0-9]{0,19}", extension, 0..4),
        data,
    )
        .prop_map(
            |(id, source, ty, subject, time, extensions, data)| GenEvent {
                id,
                source,
                ty,
                subject,
                time,
                extensions,
                data,
            },
        )
}

fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc3339()
}

fn structured(e: &GenEvent) -> Value {
    let mut obj = Map::new();
    obj.insert("specversion".into(), json!("1.0"));
    obj.insert("id".into(), json!(e.id));
    obj.insert("source".into(), json!(e.source));
    obj.insert("type".into(), json!(e.ty));
    if let Some(s) = &e.subject {
        obj.insert("subject".into(), json!(s));
    }
    if let Some(t) = e.time {
        obj.insert("time".into(), json!(rfc3339(t)));
    }
    for (k, v) in &e.extensions {
        obj.insert(k.clone(), v.clone());
    }
    let (ct, member, value) = match &e.data {
        GenData::None => return Value::Object(obj),
        GenData::Json(v) => ("application/json", "data", v.clone()),
        GenData::Text(s) => ("text/plain", "data", json!(s)),
        GenData::Bytes(b) => (
            "application/octet-stream",
            "data_base64",
            json!(base64::engine::general_purpose::STANDARD.encode(b)),
        ),
    };
    obj.insert("datacontenttype".into(), json!(ct));
    obj.insert(member.into(), value);
    Value::Object(obj)
}

fn binary(e: &GenEvent) -> (HeaderMap, Vec<u8>) {
    let mut h = HeaderMap::new();
    let mut put = |name: &str, value: &str| {
        let v = HeaderValue::from_str(&encode_header_value(value)).expect("encoded is ASCII");
        h.insert(HeaderName::from_bytes(name.as_bytes()).expect("name"), v);
    };
    put("ce-specversion", "1.0");
    put("ce-id", &e.id);
    put("ce-source", &e.source);
    put("ce-type", &e.ty);
    if let Some(s) = &e.subject {
        put("ce-subject", s);
    }
    if let Some(t) = e.time {
        put("ce-time", &rfc3339(t));
    }
    for (k, v) in &e.extensions {
        let canonical = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        put(&format!("ce-{k}"), &canonical);
    }
    let (ct, body) = match &e.data {
        GenData::None => return (h, Vec::new()),
        GenData::Json(v) => ("application/json", v.to_string().into_bytes()),
        GenData::Text(s) => ("text/plain", s.as_bytes().to_vec()),
        GenData::Bytes(b) => ("application/octet-stream", b.clone()),
    };
    h.insert("content-type", HeaderValue::from_static(ct));
    (h, body)
}

fn with_type(ct: &'static str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static(ct));
    h
}

/// The parsed event is the generated one (binary mode: extensions as canonical strings).
fn same(e: &GenEvent, got: &Event, binary: bool) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.id(), e.id.as_str());
    prop_assert_eq!(got.source().as_str(), e.source.as_str());
    prop_assert_eq!(got.ty(), e.ty.as_str());
    prop_assert_eq!(got.subject(), e.subject.as_deref());
    prop_assert_eq!(got.time().map(|t| t.timestamp()), e.time);
    let extensions: std::collections::BTreeMap<String, String> = got
        .iter_extensions()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let want: std::collections::BTreeMap<String, String> = e
        .extensions
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => (k.clone(), s.clone()),
            other => (k.clone(), other.to_string()),
        })
        .collect();
    prop_assert_eq!(extensions, want, "binary: {}", binary);
    let data = match &e.data {
        GenData::None => None,
        GenData::Json(v) => Some(Data::Json(v.clone())),
        GenData::Text(s) => Some(Data::String(s.clone())),
        GenData::Bytes(b) => Some(Data::Binary(b.clone())),
    };
    prop_assert_eq!(got.data(), data.as_ref());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_requests_never_panic(h in headers(), body in body()) {
        if let Ok(events) = incoming::parse(&h, &body) {
            for event in events {
                let v = serde_json::to_value(&event).expect("serializes");
                prop_assert!(!weft_events::text::has_nul(&v), "accepted U+0000: {v}");
            }
        }
    }

    #[test]
    fn arbitrary_header_values_decode_or_refuse(raw in header_bytes()) {
        if let Ok(text) = decode_header_value(&raw) {
            prop_assert!(std::str::from_utf8(text.as_bytes()).is_ok());
        }
    }

    #[test]
    fn header_values_round_trip_through_percent_encoding(s in "\\PC{0,24}|[\\x00-\\x7f]{0,24}") {
        let encoded = encode_header_value(&s);
        prop_assert!(HeaderValue::from_str(&encoded).is_ok());
        prop_assert_eq!(decode_header_value(encoded.as_bytes()), Ok(s));
    }

    #[test]
    fn valid_events_round_trip_in_every_mode(e in gen_event()) {
        let body = structured(&e);
        let s = incoming::parse(&with_type(incoming::STRUCTURED), body.to_string().as_bytes());
        let s = s.map_err(|err| TestCaseError::fail(format!("structured: {err}: {body}")))?;
        same(&e, &s[0], false)?;
        let batch = json!([body, {"specversion": "1.0", "id": "other", "source": "/s", "type": "t"}]);
        let b = incoming::parse(&with_type(incoming::BATCH), batch.to_string().as_bytes());
        let b = b.map_err(|err| TestCaseError::fail(format!("batch: {err}")))?;
        prop_assert_eq!(b.len(), 2);
        same(&e, &b[0], false)?;
        let (h, raw) = binary(&e);
        let one = incoming::parse(&h, &raw)
            .map_err(|err| TestCaseError::fail(format!("binary: {err}: {h:?}")))?;
        same(&e, &one[0], true)?;
    }

    #[test]
    fn webhook_data_never_panics_and_never_holds_nul(
        method in prop_oneof![Just(Method::POST), Just(Method::PUT), Just(Method::GET)],
        query in any::<Vec<u8>>(),
        h in headers(),
        body in body(),
    ) {
        let encoded: String = query.iter().map(|b| format!("%{b:02X}")).collect();
        let uri: Uri = format!("/hooks/p?q={encoded}&{encoded}=1").parse().expect("uri");
        if let Ok(data) = payload::event_data(&method, "p", &uri, &h, &body, &[]) {
            prop_assert!(weft_events::text::find_nul(&data).is_none(), "{data}");
        }
    }

    #[test]
    fn webhook_json_bodies_are_kept(v in json_value()) {
        let uri: Uri = "/hooks/p".parse().expect("uri");
        let body = v.to_string();
        let result = payload::event_data(&Method::POST, "p", &uri, &with_type("application/json"), body.as_bytes(), &[]);
        match weft_events::text::find_nul(&v) {
            None => prop_assert_eq!(&result.expect("accepted")["body"], &v),
            Some(at) => {
                let err = result.expect_err("refused").to_string();
                prop_assert!(err.ends_with(&format!("at $.body{}", &at[1..])), "{}", err);
            }
        }
    }
}
