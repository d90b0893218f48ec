//! The listener against raw TCP clients: every refusal, from axum's extractors down to hyper's
//! parser, is JSON `{"code", "message"}`, and no client holds a connection past the read
//! timeouts. Each test starts a real listener on a free loopback port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{net::SocketAddr, time::Duration};

use axum::{
    Json, Router,
    extract::{Path, Query},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::Instant,
};
use weft_runtime::{
    Shutdown,
    http::{self, HttpLimits},
};

#[derive(Deserialize)]
struct Shape {
    #[allow(dead_code)]
    n: u32,
}

#[derive(Deserialize)]
struct Paging {
    #[allow(dead_code)]
    limit: u32,
}

fn routes() -> Router {
    Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route("/echo", post(|body: String| async move { body }))
        .route("/json", post(|Json(_): Json<Shape>| async { "ok" }))
        .route(
            "/items/{id}",
            get(|Path(id): Path<u32>| async move { id.to_string() }),
        )
        .route("/page", get(|Query(_): Query<Paging>| async { "ok" }))
}

const FAST: HttpLimits = HttpLimits {
    max_headers: 100,
    max_header_bytes: 64 * 1024,
    max_body_bytes: 1024,
    header_read_timeout_ms: 400,
    body_read_timeout_ms: 400,
};

async fn listen(limits: HttpLimits) -> (SocketAddr, Shutdown) {
    let listener = http::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let stop = shutdown.clone();
    tokio::spawn(async move { http::serve(listener, routes(), &limits, stop).await });
    (addr, shutdown)
}

/// An answer read off the wire.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}{}",
                self.head,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts a JSON error with this status and code.
    fn refused(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.head);
        assert!(
            self.head
                .to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{}",
            self.head
        );
        let body = self.json();
        assert_eq!(body["code"], code, "{body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
}

/// Read one answer (head and `content-length` body) from `stream`.
async fn read_answer(stream: &mut (impl AsyncReadExt + Unpin)) -> Option<Answer> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status = head.get(9..12)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    Some(Answer { status, head, body })
}

/// Send `request` (while reading, so that a large one cannot block) and read the answer.
async fn exchange(addr: SocketAddr, request: Vec<u8>) -> Answer {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let sender = tokio::spawn(async move {
        let _ = write.write_all(&request).await;
        write
    });
    let answer = tokio::time::timeout(Duration::from_secs(10), read_answer(&mut read))
        .await
        .expect("an answer within 10 s")
        .expect("an answer, not a closed connection");
    sender.abort();
    answer
}

fn get_with(path: &str, extra: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nhost: t\r\n{extra}connection: close\r\n\r\n").into_bytes()
}

fn post_with(path: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nhost: t\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[tokio::test]
async fn a_good_request_still_works_and_keeps_the_connection() {
    let (addr, _s) = listen(FAST).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    for _ in 0..2 {
        stream
            .write_all(b"GET /ok HTTP/1.1\r\nhost: t\r\n\r\n")
            .await
            .unwrap();
        let answer = read_answer(&mut stream).await.expect("answer");
        assert_eq!((answer.status, answer.body.as_slice()), (200, &b"ok"[..]));
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json() {
    let (addr, _s) = listen(FAST).await;
    for path in [
        "/nope",
        "/api/v1/nope",
        "/api/v1/../secrets",
        "/..",
        "/ok/..",
    ] {
        exchange(addr, get_with(path, ""))
            .await
            .refused(404, "not_found");
    }
    let answer = exchange(addr, post_with("/ok", "text/plain", "x")).await;
    answer.refused(405, "method_not_allowed");
    assert!(
        answer.head.to_ascii_lowercase().contains("allow: "),
        "{}",
        answer.head
    );
}

#[tokio::test]
async fn extractor_rejections_are_json() {
    let (addr, _s) = listen(FAST).await;
    let cases = [
        (
            post_with("/json", "text/plain", r#"{"n": 1}"#),
            415,
            "unsupported_media_type",
        ),
        (
            post_with("/json", "application/json", "{"),
            400,
            "bad_request",
        ),
        (
            post_with("/json", "application/json", r#"{"n": "x"}"#),
            422,
            "unprocessable_entity",
        ),
        (get_with("/items/abc", ""), 400, "bad_request"),
        (get_with("/page?limit=lots", ""), 400, "bad_request"),
        (get_with("/page", ""), 400, "bad_request"),
    ];
    for (request, status, code) in cases {
        exchange(addr, request).await.refused(status, code);
    }
}

#[tokio::test]
async fn too_many_or_too_large_header_fields_are_431_json() {
    let (addr, _s) = listen(FAST).await;
    let many = |n: usize| (0..n).map(|i| format!("x-h{i}: v\r\n")).collect::<String>();
    // Decided by the middleware (above the limit, below what hyper parses) …
    for n in [101, 300] {
        exchange(addr, get_with("/ok", &many(n)))
            .await
            .refused(431, "headers_too_large");
    }
    let big = |n: usize| format!("x-big: {}\r\n", "a".repeat(n));
    exchange(addr, get_with("/ok", &big(70 * 1024)))
        .await
        .refused(431, "headers_too_large");
    // … and by hyper's parser, answered in JSON all the same.
    exchange(addr, get_with("/ok", &many(2_000)))
        .await
        .refused(431, "headers_too_large");
    for n in [1024 * 1024, 3 * 1024 * 1024] {
        exchange(addr, get_with("/ok", &big(n)))
            .await
            .refused(431, "headers_too_large");
    }
    // At the limit is fine.
    let answer = exchange(addr, get_with("/ok", &many(90))).await;
    assert_eq!(answer.status, 200, "{}", answer.head);
}

#[tokio::test]
async fn malformed_heads_are_400_json() {
    let (addr, _s) = listen(FAST).await;
    for extra in [
        "content-length: abc\r\n",
        "content-length: -1\r\n",
        "content-length: 1, 2\r\n",
        "content-length: 99999999999999999999999\r\n",
        "content-length: 1\r\ncontent-length: 2\r\n",
        "no colon here\r\n",
        "bad name: x\r\n",
    ] {
        let request = format!("POST /echo HTTP/1.1\r\nhost: t\r\n{extra}\r\n").into_bytes();
        exchange(addr, request).await.refused(400, "bad_request");
    }
    for request in [
        &b"GET /ok HTTP/9.9\r\nhost: t\r\n\r\n"[..],
        b"G\x01T /ok HTTP/1.1\r\nhost: t\r\n\r\n",
        b"GET /o k HTTP/1.1\r\nhost: t\r\n\r\n",
    ] {
        exchange(addr, request.to_vec())
            .await
            .refused(400, "bad_request");
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_json() {
    let (addr, _s) = listen(FAST).await;
    let big = "x".repeat(2048);
    exchange(addr, post_with("/echo", "text/plain", &big))
        .await
        .refused(413, "payload_too_large");
    let chunked = format!(
        "POST /echo HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n800\r\n{big}\r\n0\r\n\r\n"
    );
    exchange(addr, chunked.into_bytes())
        .await
        .refused(413, "payload_too_large");
    let answer = exchange(addr, post_with("/echo", "text/plain", &"x".repeat(1024))).await;
    assert_eq!(answer.status, 200, "{}", answer.head);
}

#[tokio::test]
async fn nul_in_path_query_or_json_body_is_invalid_text() {
    let (addr, _s) = listen(FAST).await;
    for path in [
        "/items/a%00b",
        "/%00",
        "/page?limit=%00",
        "/page?x=1&a%00=2",
        "/nope/%00/x",
    ] {
        exchange(addr, get_with(path, ""))
            .await
            .refused(400, "invalid_text");
    }
    for body in [
        r#"{"n": "a\u0000b"}"#,
        r#"[1, {"k\u0000": 1}]"#,
        r#""\u0000""#,
    ] {
        for ct in [
            "application/json",
            "application/cloudevents+json; charset=utf-8",
        ] {
            let answer = exchange(addr, post_with("/echo", ct, body)).await;
            answer.refused(400, "invalid_text");
        }
    }
    // Not JSON: a handler decides (binary bodies may hold any byte), and `%2500` is no NUL.
    let answer = exchange(
        addr,
        post_with("/echo", "text/plain", r#"{"n": "a\u0000b"}"#),
    )
    .await;
    assert_eq!(answer.status, 200);
    let answer = exchange(addr, get_with("/page?limit=1&x=%2500", "")).await;
    assert_eq!(answer.status, 200, "{}", answer.head);
}

/// A body that stops coming (slowloris) is answered 408 once the body timeout passes.
#[tokio::test]
async fn a_body_that_stops_coming_is_408_json_within_the_bound() {
    let (addr, _s) = listen(FAST).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-type: text/plain\r\ncontent-length: 1000\r\n\r\n0123456789")
        .await
        .unwrap();
    let start = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(5), read_answer(&mut stream))
        .await
        .expect("answered, not held")
        .expect("an answer");
    answer.refused(408, "request_timeout");
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(350), "{waited:?}");
    assert!(waited < Duration::from_millis(2_000), "{waited:?}");
    // And the connection is closed.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the connection stayed open");
}

/// A head that stops coming is answered 408 and closed; an idle connection is just closed.
#[tokio::test]
async fn a_head_that_stops_coming_is_408_and_idle_connections_close() {
    let (addr, _s) = listen(FAST).await;
    for partial in [
        &b"GET /ok HTTP/1.1\r\nhost: t\r\n"[..],
        b"G",
        b"POST /echo HTTP/1.1\r\n",
    ] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(partial).await.unwrap();
        let start = Instant::now();
        let answer = tokio::time::timeout(Duration::from_secs(5), read_answer(&mut stream))
            .await
            .expect("answered, not held")
            .expect("an answer");
        answer.refused(408, "request_timeout");
        assert!(
            start.elapsed() < Duration::from_millis(2_000),
            "{:?}",
            start.elapsed()
        );
    }
    // Idle: no request at all, or nothing after a first answer.
    for first in [None, Some(&b"GET /ok HTTP/1.1\r\nhost: t\r\n\r\n"[..])] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        if let Some(request) = first {
            stream.write_all(request).await.unwrap();
            assert_eq!(read_answer(&mut stream).await.expect("answer").status, 200);
        }
        let start = Instant::now();
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest))
            .await
            .expect("closed, not held")
            .ok();
        assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
        assert!(
            start.elapsed() < Duration::from_millis(2_000),
            "{:?}",
            start.elapsed()
        );
    }
}

#[tokio::test]
async fn shutdown_stops_the_listener() {
    let (addr, shutdown) = listen(FAST).await;
    assert_eq!(exchange(addr, get_with("/ok", "")).await.status, 200);
    shutdown.trigger();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
}
