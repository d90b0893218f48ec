//! Hostile and odd requests against `weft dev`'s one listener (every service in-process, real
//! NATS and PostgreSQL): every refusal is JSON `{code, message}`, U+0000 anywhere in a request
//! is 400 `invalid_text` (never 500, never a 202 followed by loss), names in paths have one
//! character set, webhook paths cannot climb out of `/hooks/`, and slow clients are cut off.

mod common;

use std::time::Duration;

use common::Env;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Asserts a JSON error with `status` and `code`; returns the body.
async fn refused(resp: reqwest::Response, status: u16, code: &str) -> Value {
    let what = format!("{} {}", resp.status(), resp.url());
    assert_eq!(resp.status().as_u16(), status, "{what}");
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(ct.starts_with("application/json"), "{what}: {ct}");
    let body: Value = resp.json().await.expect("JSON body");
    assert_eq!(body["code"], code, "{what}: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

/// Send raw bytes; the status and JSON body of the answer.
async fn raw(env: &Env, request: &str) -> (u16, Value) {
    let addr = env.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .expect("answered and closed within 10 s")
        .ok();
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{text}"
    );
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

const MANUAL: &str = "name: manual\non: {manual: {}}\nsteps:\n  a: {uses: http, with: {url: 'http://127.0.0.1:9/'}}\n";

#[tokio::test]
async fn nul_in_paths_queries_and_bodies_is_invalid_text() {
    let env = Env::start().await;
    env.apply(MANUAL).await;
    let api = format!("{}/api/v1", env.base);
    let h = &env.http;
    for url in [
        format!("{api}/executions?workflow=a%00b"),
        format!("{api}/executions?event_id=%00"),
        format!("{api}/executions?status=failed&workflow=%00"),
        format!("{api}/workflows/a%00b"),
        format!("{api}/workflows/a%00b/versions"),
        format!("{api}/executions/%00"),
    ] {
        refused(
            h.get(&url).send().await.expect("answer"),
            400,
            "invalid_text",
        )
        .await;
    }
    let sent = [
        h.post(format!("{api}/workflows/a%00b/run")),
        h.delete(format!("{api}/secrets/A%00B")),
        h.delete(format!("{api}/workflows/%00")),
        h.post(format!("{}/hooks/x%00y", env.base)),
    ];
    for req in sent {
        refused(req.send().await.expect("answer"), 400, "invalid_text").await;
    }
    // Bodies: JSON with or without a JSON content type, raw bytes, YAML escapes.
    let inputs = r#"{"inputs": {"who": "a\u0000b"}}"#;
    for ct in ["application/json", "text/plain"] {
        let resp = h
            .post(format!("{api}/workflows/manual/run"))
            .header("content-type", ct)
            .body(inputs)
            .send()
            .await
            .expect("answer");
        let body = refused(resp, 400, "invalid_text").await;
        assert!(
            body["message"]
                .as_str()
                .unwrap_or("")
                .contains("$.inputs.who"),
            "{body}"
        );
    }
    let resp = h
        .put(format!("{api}/secrets/TOKEN"))
        .header("content-type", "application/json")
        .body(r#"{"value": "s3cr\u0000t"}"#)
        .send()
        .await
        .expect("answer");
    refused(resp, 400, "invalid_text").await;
    for (ct, file) in [
        ("application/yaml", format!("{MANUAL}description: \"a\\0b\"\n")),
        ("application/yaml", format!("{MANUAL}description: a\u{0}b\n")),
        (
            "application/json",
            r#"{"name": "manual", "description": "a\u0000", "on": {"manual": {}}, "steps": {"a": {"uses": "http"}}}"#.to_string(),
        ),
    ] {
        let resp = h
            .put(format!("{api}/workflows/manual"))
            .header("content-type", ct)
            .body(file)
            .send()
            .await
            .expect("answer");
        refused(resp, 400, "invalid_text").await;
    }
    // Webhook and CloudEvents JSON bodies: refused before anything is published.
    env.apply("name: hooked\non: {webhook: {path: hooked}}\nsteps:\n  a: {uses: http, with: {url: 'http://127.0.0.1:9/'}}\n").await;
    let resp = h
        .post(format!("{}/hooks/hooked", env.base))
        .header("content-type", "application/json")
        .body(r#"{"s": "a\u0000b"}"#)
        .send()
        .await
        .expect("answer");
    refused(resp, 400, "invalid_text").await;
    // Nothing of the above reached the store.
    let resp = h
        .get(format!("{api}/executions"))
        .send()
        .await
        .expect("answer");
    let list: Value = resp.json().await.expect("json");
    assert_eq!(list["items"], json!([]), "{list}");
}

#[tokio::test]
async fn names_in_paths_have_one_character_set() {
    let env = Env::start().await;
    let api = format!("{}/api/v1", env.base);
    let h = &env.http;
    for name in ["Bad", "a_b", "a.b", "a%20b", "%C3%A9", &"a".repeat(64)] {
        for url in [
            format!("{api}/workflows/{name}"),
            format!("{api}/workflows/{name}/versions"),
        ] {
            refused(
                h.get(&url).send().await.expect("answer"),
                400,
                "invalid_name",
            )
            .await;
        }
        let resp = h
            .post(format!("{api}/workflows/{name}/run"))
            .send()
            .await
            .expect("answer");
        refused(resp, 400, "invalid_name").await;
    }
    for name in ["1abc", "a-b", "a.b", "%C3%A9", &"A".repeat(129)] {
        let resp = h
            .delete(format!("{api}/secrets/{name}"))
            .send()
            .await
            .expect("answer");
        refused(resp, 400, "invalid_name").await;
        let resp = h
            .put(format!("{api}/secrets/{name}"))
            .json(&json!({"value": "x"}))
            .send()
            .await
            .expect("answer");
        refused(resp, 400, "invalid_name").await;
    }
    // Well-formed but unknown names keep their 404.
    let resp = h
        .get(format!("{api}/workflows/no-such"))
        .send()
        .await
        .expect("answer");
    refused(resp, 404, "not_found").await;
    let resp = h
        .delete(format!("{api}/secrets/NO_SUCH"))
        .send()
        .await
        .expect("answer");
    refused(resp, 404, "not_found").await;
}

#[tokio::test]
async fn every_layer_answers_json() {
    let env = Env::start().await;
    let api = format!("{}/api/v1", env.base);
    let h = &env.http;
    refused(
        h.get(format!("{api}/nope")).send().await.expect("answer"),
        404,
        "not_found",
    )
    .await;
    refused(
        h.get(format!("{}/nope", env.base))
            .send()
            .await
            .expect("answer"),
        404,
        "not_found",
    )
    .await;
    let resp = h
        .patch(format!("{api}/workflows"))
        .send()
        .await
        .expect("answer");
    refused(resp, 405, "method_not_allowed").await;
    let resp = h
        .get(format!("{}/hooks/x", env.base))
        .send()
        .await
        .expect("answer");
    refused(resp, 405, "method_not_allowed").await;
    for path in [
        "/api/v1/../v1/secrets",
        "/api/v1/workflows/..",
        "/hooks/../api/v1/secrets",
    ] {
        let (status, body) = raw(
            &env,
            &format!("GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"),
        )
        .await;
        assert!(matches!(status, 400 | 404 | 405), "{path}: {status} {body}");
        assert!(body["code"].is_string(), "{path}: {body}");
    }
    let many: String = (0..300).map(|i| format!("x-h{i}: v\r\n")).collect();
    let (status, body) = raw(
        &env,
        &format!("GET /healthz HTTP/1.1\r\nhost: t\r\n{many}connection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (431, Some("headers_too_large")),
        "{body}"
    );
    let big = "a".repeat(1024 * 1024);
    let (status, body) = raw(
        &env,
        &format!("GET /healthz HTTP/1.1\r\nhost: t\r\nx-big: {big}\r\n\r\n"),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (431, Some("headers_too_large")),
        "{body}"
    );
    for length in ["abc", "-1"] {
        let request =
            format!("POST /hooks/x HTTP/1.1\r\nhost: t\r\ncontent-length: {length}\r\n\r\n");
        let (status, body) = raw(&env, &request).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("bad_request")),
            "{body}"
        );
    }
}

#[tokio::test]
async fn webhook_paths_that_leave_hooks_are_refused_at_apply() {
    let env = Env::start().await;
    for path in ["../../api/v1/secrets", "a/../../b", "./x", "a//b", "x/"] {
        let file = format!(
            "name: climb\non:\n  webhook:\n    path: '{path}'\nsteps:\n  a: {{uses: http, with: {{url: 'http://127.0.0.1:9/'}}}}\n"
        );
        let (status, body) = env.apply_raw(&file).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["code"], "invalid_workflow", "{body}");
        assert_eq!(
            (body["line"].as_u64(), body["field"].as_str()),
            (Some(4), Some("on.webhook.path")),
            "{body}"
        );
    }
}

#[tokio::test]
async fn slow_clients_are_cut_off_with_408() {
    let env = Env::start_with(|c| {
        c.http_body_read_timeout_ms = 300;
        c.http_header_read_timeout_ms = 300;
    })
    .await;
    for (request, path) in [
        // A body that stops coming (slowloris), on the webhook door and on the API.
        (
            "POST /hooks/x HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"a\": 1234",
            "hooks",
        ),
        (
            "PUT /api/v1/secrets/X HTTP/1.1\r\nhost: t\r\ncontent-length: 1000\r\n\r\n{\"value\"",
            "api",
        ),
        // A head that stops coming.
        ("GET /healthz HTTP/1.1\r\nhost: t\r\n", "head"),
    ] {
        let started = tokio::time::Instant::now();
        let (status, body) = raw(&env, request).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (408, Some("request_timeout")),
            "{path}: {body}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{path}: {:?}",
            started.elapsed()
        );
    }
}
