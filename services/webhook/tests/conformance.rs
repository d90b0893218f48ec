//! The CloudEvents projects' own samples against `POST /events` and a real NATS server: every
//! valid sample (tests/fixtures/cloudevents: the conformance project's YAML events and the
//! spec's JSON examples, origins noted in the files) is sent in binary, structured and batch
//! mode, answered 202, and lands on `weft.events.external` as the same event (attributes,
//! extensions, data); every invalid sample gets 400 and publishes nothing. Binary mode is
//! written as the HTTP binding says a sender must: header values percent-encoded (3.1.3.2).

mod common;

use std::collections::BTreeMap;

use axum::{Router, http::StatusCode};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use weft_bus::Bus;
use weft_events::subjects::{EVENTS_EXTERNAL, EVENTS_STREAM};
use weft_runtime::Shutdown;
use weft_webhook::{WebhookConfig, incoming::encode_header_value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cloudevents");
const MODES: [&str; 3] = ["binary", "structured", "batch"];

/// A sample in the JSON event format, and where it comes from.
struct Sample {
    from: String,
    event: Map<String, Value>,
}

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).expect("fixture readable")
}

/// The conformance project's YAML events, in the JSON format (values trimmed, as its sender
/// does; `Data` is the body text, JSON when the content type says so).
fn conformance_samples(name: &str) -> Vec<Sample> {
    let text = read(name);
    let mut out = Vec::new();
    for (i, doc) in yaml_serde::Deserializer::from_str(&text).enumerate() {
        let doc: Value = Value::deserialize(doc).expect("yaml document");
        let mut event = Map::new();
        for (k, v) in doc["ContextAttributes"].as_object().expect("attributes") {
            if k == "Extensions" {
                for (ext, v) in v.as_object().expect("extensions") {
                    event.insert(ext.clone(), json!(v.as_str().expect("string").trim()));
                }
            } else {
                event.insert(k.clone(), json!(scalar(v).trim()));
            }
        }
        if let Some(data) = doc["Data"].as_str() {
            let json_type = event
                .get("datacontenttype")
                .and_then(Value::as_str)
                .is_none_or(weft_webhook::payload::is_json);
            let data = match json_type {
                true => serde_json::from_str(data).expect("JSON data"),
                false => json!(data),
            };
            event.insert("data".into(), data);
        }
        out.push(Sample {
            from: format!("{name} document {i}"),
            event,
        });
    }
    out
}

fn spec_samples() -> Vec<Sample> {
    let file: Value = serde_json::from_str(&read("spec-examples.json")).expect("json");
    file["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|s| Sample {
            from: s["from"].as_str().expect("from").to_string(),
            event: s["event"].as_object().expect("object").clone(),
        })
        .collect()
}

/// The canonical string of an attribute value (spec, Type System).
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn implied_type(event: &Map<String, Value>) -> Option<String> {
    match event.get("datacontenttype").and_then(Value::as_str) {
        Some(t) => Some(t.to_string()),
        None if event.contains_key("data") => Some("application/json".into()),
        None => None,
    }
}

/// Binary mode: `ce-*` headers, `Content-Type`, the data as the body.
fn binary_request(event: &Map<String, Value>) -> (Vec<(String, String)>, Vec<u8>) {
    let mut headers = Vec::new();
    for (k, v) in event {
        if !v.is_null() && !matches!(k.as_str(), "data" | "data_base64" | "datacontenttype") {
            headers.push((format!("ce-{k}"), encode_header_value(&scalar(v))));
        }
    }
    let content_type = implied_type(event);
    if let Some(ct) = &content_type {
        headers.push(("content-type".into(), ct.clone()));
    }
    let body = match (event.get("data"), event.get("data_base64")) {
        (_, Some(b64)) => base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().expect("base64 string"))
            .expect("base64"),
        (Some(data), None)
            if content_type
                .as_deref()
                .is_some_and(weft_webhook::payload::is_json) =>
        {
            serde_json::to_vec(data).expect("json")
        }
        (Some(data), None) => data.as_str().expect("text data").as_bytes().to_vec(),
        (None, None) => Vec::new(),
    };
    (headers, body)
}

/// An event as comparable across modes: canonical attribute strings (binary mode has no other
/// types), the time as an instant, the effective content type, data as JSON or bytes.
#[derive(Debug, PartialEq)]
struct Normal {
    attributes: BTreeMap<String, String>,
    time: Option<chrono::DateTime<chrono::Utc>>,
    content_type: Option<String>,
    data: Option<Data>,
}

#[derive(Debug, PartialEq)]
enum Data {
    Json(Value),
    Bytes(Vec<u8>),
}

fn normal(event: &Map<String, Value>) -> Normal {
    let content_type = implied_type(event);
    let json_type = content_type
        .as_deref()
        .is_some_and(weft_webhook::payload::is_json);
    let data = match (event.get("data"), event.get("data_base64")) {
        (_, Some(b64)) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.as_str().expect("base64 string"))
                .expect("base64");
            Some(match json_type {
                true => Data::Json(serde_json::from_slice(&bytes).expect("json bytes")),
                false => Data::Bytes(bytes),
            })
        }
        (Some(v), None) if json_type => Some(Data::Json(v.clone())),
        (Some(v), None) => Some(Data::Bytes(v.as_str().expect("text").as_bytes().to_vec())),
        (None, None) => None,
    };
    let time = event.get("time").and_then(Value::as_str).map(|t| {
        chrono::DateTime::parse_from_rfc3339(t)
            .expect("rfc 3339")
            .to_utc()
    });
    let attributes = event
        .iter()
        .filter(|(k, v)| {
            !v.is_null()
                && !matches!(
                    k.as_str(),
                    "data" | "data_base64" | "datacontenttype" | "time" | "traceparent"
                )
        })
        .map(|(k, v)| (k.clone(), scalar(v)))
        .collect();
    Normal {
        attributes,
        time,
        content_type,
        data,
    }
}

fn app(bus: &Bus) -> (Router, Shutdown) {
    let (service, shutdown) = common::started(WebhookConfig::default(), bus);
    (service.router(), shutdown)
}

async fn send(app: &Router, mode: &str, event: &Map<String, Value>) -> (StatusCode, Value) {
    let event = Value::Object(event.clone());
    match mode {
        "binary" => {
            let (headers, body) = binary_request(event.as_object().expect("object"));
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            common::post(app, "/events", &headers, body).await
        }
        "structured" => {
            let ct = [(
                "content-type",
                "application/cloudevents+json; charset=utf-8",
            )];
            common::post(app, "/events", &ct, event.to_string()).await
        }
        _ => {
            let ct = [("content-type", "application/cloudevents-batch+json")];
            common::post(app, "/events", &ct, json!([event]).to_string()).await
        }
    }
}

#[tokio::test]
async fn every_valid_sample_lands_on_the_bus_unchanged_in_every_mode() {
    let (_nats, bus) = common::bus().await;
    let (app, _s) = app(&bus);
    let mut samples = conformance_samples("conformance-v1_minimum.yaml");
    samples.extend(conformance_samples("conformance-v1.yaml"));
    samples.extend(spec_samples());
    assert!(samples.len() >= 18, "{} samples", samples.len());
    let mut expected = Vec::new();
    for (n, sample) in samples.iter().enumerate() {
        for mode in MODES {
            // Each request gets its own id: the same (source, id) would be deduplicated.
            let mut event = sample.event.clone();
            let id = format!("{}.{n}.{mode}", scalar(&event["id"]));
            event.insert("id".into(), json!(id));
            let (status, answer) = send(&app, mode, &event).await;
            assert_eq!(
                (status, &answer),
                (StatusCode::ACCEPTED, &json!({"event_ids": [id]})),
                "{} in {mode} mode",
                sample.from
            );
            expected.push((sample.from.clone(), mode, event));
        }
    }
    let stored = common::read_stream(&bus, EVENTS_STREAM, EVENTS_EXTERNAL, expected.len()).await;
    assert_eq!(stored.len(), expected.len());
    for ((from, mode, sent), landed) in expected.iter().zip(&stored) {
        let landed = landed.as_object().expect("object");
        assert_eq!(
            normal(landed),
            normal(sent),
            "{from} in {mode} mode: {landed:?}"
        );
        assert!(landed.contains_key("traceparent"), "a trace is started");
    }
}

#[tokio::test]
async fn an_empty_batch_is_accepted_with_no_ids() {
    let (_nats, bus) = common::bus().await;
    let (app, _s) = app(&bus);
    let ct = [("content-type", "application/cloudevents-batch+json")];
    let (status, answer) = common::post(&app, "/events", &ct, "[]").await;
    assert_eq!(
        (status, answer),
        (StatusCode::ACCEPTED, json!({"event_ids": []}))
    );
    assert!(
        common::read_stream(&bus, EVENTS_STREAM, EVENTS_EXTERNAL, 0)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn every_invalid_sample_is_refused_and_publishes_nothing() {
    let (_nats, bus) = common::bus().await;
    let (app, _s) = app(&bus);
    let file: Value = serde_json::from_str(&read("invalid.json")).expect("json");
    let valid = json!({"specversion": "1.0", "id": "fine", "source": "/s", "type": "t"});
    for case in file["structured"].as_array().expect("structured") {
        let why = &case["why"];
        let event = &case["event"];
        let ct = [("content-type", "application/cloudevents+json")];
        let (status, answer) = common::post(&app, "/events", &ct, event.to_string()).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{why} (structured): {answer}"
        );
        assert_eq!(answer["code"], "bad_request", "{why}");
        let ct = [("content-type", "application/cloudevents-batch+json")];
        let batch = json!([valid, event]).to_string();
        let (status, answer) = common::post(&app, "/events", &ct, batch).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why} (batch): {answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(message.starts_with("event [1]: "), "{why}: {message}");
    }
    for case in file["binary"].as_array().expect("binary") {
        let why = &case["why"];
        let headers: Vec<(&str, &str)> = case["headers"]
            .as_object()
            .expect("headers")
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().expect("value")))
            .collect();
        let body = case["body"].as_str().unwrap_or_default().to_string();
        let (status, answer) = common::post(&app, "/events", &headers, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why} (binary): {answer}");
        assert_eq!(answer["code"], "bad_request", "{why}");
    }
    assert!(
        common::read_stream(&bus, EVENTS_STREAM, EVENTS_EXTERNAL, 0)
            .await
            .is_empty(),
        "nothing was published"
    );
}
