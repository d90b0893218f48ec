//! The OpenAPI document and the API agree: the document lists the shared error responses on
//! every operation, every error is `ErrorBody`, every reference resolves and every parameter
//! carries its pattern; the API refuses what falls outside those patterns with 400, refuses
//! U+0000 with `invalid_text`, and reads back every number it accepted.

use serde_json::{Value, json};

use crate::common::{apply_yaml, assert_error, call, env, hello};

const METHODS: [&str; 4] = ["get", "put", "post", "delete"];

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((path.clone(), method.to_owned(), op.clone()));
            }
        }
    }
    out
}

/// Follow a local `$ref` (once) in `doc`.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str() {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling reference {r}")),
        None => v,
    }
}

fn all_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, item) in map {
                match (k.as_str(), item.as_str()) {
                    ("$ref", Some(r)) => out.push(r.to_owned()),
                    _ => all_refs(item, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| all_refs(i, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_lists_every_error_and_every_constraint() {
    let env = env().await;
    let (status, doc) = call(&env.app, "GET", "/api/v1/openapi.json", &[], "").await;
    assert_eq!(status, 200);

    let mut refs = Vec::new();
    all_refs(&doc, &mut refs);
    assert!(refs.len() > 50, "{refs:?}");
    for r in &refs {
        assert!(r.starts_with("#/"), "only local references: {r}");
        assert!(doc.pointer(&r[1..]).is_some(), "dangling reference {r}");
    }

    for (path, method, op) in operations(&doc) {
        let responses = op["responses"].as_object().unwrap();
        let is_meta = op["tags"][0] == "meta";
        let has_body = op.get("requestBody").is_some();
        let mut expected = vec!["400", "408", "431"];
        if !is_meta {
            expected.push("500");
        }
        if has_body {
            expected.extend(["413", "415"]);
        }
        for status in expected {
            assert!(
                responses.contains_key(status),
                "{method} {path} does not list {status}"
            );
        }
        for (status, response) in responses {
            if status.starts_with('2') {
                continue;
            }
            let response = resolve(&doc, response);
            let schema = &response["content"]["application/json"]["schema"];
            assert_eq!(
                schema["$ref"], "#/components/schemas/ErrorBody",
                "{method} {path} {status}: errors are ErrorBody"
            );
        }
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let mut names: Vec<_> = params.iter().map(|p| (&p["name"], &p["in"])).collect();
        names.dedup();
        assert_eq!(
            names.len(),
            params.len(),
            "{method} {path}: a parameter twice"
        );
        for param in &params {
            let schema = &param["schema"];
            if param["in"] == "path" {
                assert!(
                    schema.get("pattern").is_some() || schema["format"] == "uuid",
                    "{method} {path}: path parameter {} has no pattern",
                    param["name"]
                );
            }
        }
    }
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(error["required"], json!(["code", "message"]));

    let put_secret = &doc["components"]["schemas"]["PutSecret"];
    assert_eq!(put_secret["required"], json!(["value"]));
    assert_eq!(put_secret["additionalProperties"], false);
    let run = &doc["paths"]["/api/v1/workflows/{name}/run"]["post"]["requestBody"];
    assert_eq!(run["required"], false, "an empty body runs without inputs");
    assert_eq!(
        run["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/RunRequest"
    );
    assert_eq!(
        doc["components"]["schemas"]["RunRequest"]["additionalProperties"],
        false
    );
    let apply = &doc["paths"]["/api/v1/workflows/{name}"]["put"]["requestBody"];
    assert_eq!(apply["required"], true);
    for media in [
        "application/yaml",
        "application/x-yaml",
        "text/yaml",
        "text/x-yaml",
        "application/json",
    ] {
        assert_eq!(
            apply["content"][media]["schema"]["$ref"], "#/components/schemas/WorkflowFile",
            "{media}"
        );
    }
    let file = &doc["components"]["schemas"]["WorkflowFile"];
    assert_eq!(file["additionalProperties"], false);
    assert_eq!(file["required"], json!(["name", "steps"]));
}

#[tokio::test]
async fn parameters_outside_their_pattern_are_400() {
    let env = env().await;
    let long = "a".repeat(64);
    for name in ["Upper", "-a", "a-", "a_b", "a.b", long.as_str()] {
        for (method, uri) in [
            ("GET", format!("/api/v1/workflows/{name}")),
            ("DELETE", format!("/api/v1/workflows/{name}")),
            ("GET", format!("/api/v1/workflows/{name}/versions")),
            ("POST", format!("/api/v1/workflows/{name}/run")),
        ] {
            let (status, body) = call(&env.app, method, &uri, &[], "").await;
            assert_eq!(status, 400, "{method} {uri}: {body}");
            assert!(assert_error(&body, "invalid_name").contains("workflow name"));
        }
        let (status, body) = apply_yaml(&env.app, name, &hello("hi", "x")).await;
        assert_eq!(status, 400, "PUT {name}: {body}");
        assert_error(&body, "invalid_name");
    }
    let long = "A".repeat(129);
    for name in ["0", "1abc", "a-b", long.as_str()] {
        let uri = format!("/api/v1/secrets/{name}");
        let (status, body) = call(&env.app, "DELETE", &uri, &[], "").await;
        assert_eq!(status, 400, "DELETE {uri}: {body}");
        assert!(assert_error(&body, "invalid_name").contains("secret name"));
        let (status, body) = call(&env.app, "PUT", &uri, &[], r#"{"value":"v"}"#).await;
        assert_eq!(status, 400, "PUT {uri}: {body}");
        assert!(assert_error(&body, "invalid_name").contains("secret name"));
    }
    let simple = uuid::Uuid::now_v7().simple().to_string();
    for id in ["null,null", "0", simple.as_str()] {
        for (method, suffix) in [("GET", ""), ("POST", "/cancel"), ("POST", "/retry")] {
            let uri = format!("/api/v1/executions/{id}{suffix}");
            let (status, body) = call(&env.app, method, &uri, &[], "").await;
            assert_eq!(status, 400, "{method} {uri}: {body}");
            assert!(assert_error(&body, "bad_request").contains("execution id"));
        }
    }
    let any = uuid::Uuid::now_v7();
    for key in [" ", "\t", &"k".repeat(256)] {
        for uri in [
            format!("/api/v1/executions/{any}/retry"),
            "/api/v1/workflows/some/run".to_owned(),
        ] {
            let headers = [("idempotency-key", key)];
            let (status, body) = call(&env.app, "POST", &uri, &headers, "").await;
            assert_eq!(status, 400, "{uri} key {key:?}: {body}");
            assert!(assert_error(&body, "bad_request").contains("Idempotency-Key"));
        }
    }
}

#[tokio::test]
async fn text_holding_nul_is_refused_with_invalid_text() {
    let env = env().await;
    let free =
        "name: free\non: {}\nsteps:\n  a: {uses: http, with: {url: 'http://127.0.0.1:9/'}}\n";
    let (status, body) = apply_yaml(&env.app, "free", free).await;
    assert!(status.is_success(), "{body}");
    for inputs in [
        json!({"s": "a\u{0}b"}),
        json!({"deep": {"list": [1, "\u{0}"]}}),
        json!({"k\u{0}ey": 1}),
    ] {
        let body = json!({ "inputs": inputs }).to_string();
        let (status, answer) =
            call(&env.app, "POST", "/api/v1/workflows/free/run", &[], body).await;
        assert_eq!(status, 400, "{inputs}: {answer}");
        assert!(assert_error(&answer, "invalid_text").contains("inputs."));
    }
    let (status, answer) = call(
        &env.app,
        "PUT",
        "/api/v1/secrets/WITH_NUL",
        &[],
        json!({"value": "a\u{0}"}).to_string(),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert_error(&answer, "invalid_text");
}

#[tokio::test]
async fn every_accepted_number_reads_back() {
    let env = env().await;
    let free =
        "name: nums\non: {}\nsteps:\n  a: {uses: http, with: {url: 'http://127.0.0.1:9/'}}\n";
    let (status, body) = apply_yaml(&env.app, "nums", free).await;
    assert!(status.is_success(), "{body}");
    // PostgreSQL's jsonb prints these in full (the first as 309 digits); each must read back.
    let inputs = json!({
        "max": f64::MAX, "min": f64::MIN, "tiny": 5e-324, "small": -1.9729045051305e-67,
        "big": 2.1243091080498613e234, "int": i64::MIN, "uint": u64::MAX, "frac": 0.1,
    });
    let body = json!({ "inputs": inputs }).to_string();
    let (status, run) = call(&env.app, "POST", "/api/v1/workflows/nums/run", &[], body).await;
    assert_eq!(status, 202, "{run}");
    let id = run["execution_id"].as_str().unwrap();
    let (status, detail) = call(
        &env.app,
        "GET",
        &format!("/api/v1/executions/{id}"),
        &[],
        "",
    )
    .await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["inputs"], inputs);
    let (status, list) = call(&env.app, "GET", "/api/v1/executions?workflow=nums", &[], "").await;
    assert_eq!(status, 200, "{list}");
}

#[tokio::test]
async fn json_bodies_take_json_content_types_only() {
    let env = env().await;
    let body = r#"{"value":"v"}"#;
    for (ct, expected) in [
        ("application/json", 200),
        ("application/merge-patch+json; charset=utf-8", 200),
        ("text/plain", 415),
        ("application/x-www-form-urlencoded", 415),
    ] {
        let (status, answer) = call(
            &env.app,
            "PUT",
            "/api/v1/secrets/CT",
            &[("content-type", ct)],
            body,
        )
        .await;
        assert_eq!(status, expected, "{ct}: {answer}");
    }
    let (status, _) = apply_yaml(&env.app, "ct", &hello("ct", "x")).await;
    assert!(status.is_success());
    let (status, answer) = call(
        &env.app,
        "POST",
        "/api/v1/workflows/ct/run",
        &[("content-type", "text/plain")],
        r#"{"inputs":{"who":"a"}}"#,
    )
    .await;
    assert_eq!(status, 415, "{answer}");
    assert_error(&answer, "unsupported_media_type");
}
