//! Turning an HTTP request into the data of a `dev.weft.webhook.received` event.
//!
//! Consumes the request's method, path, query string, headers and body bytes; produces the
//! JSON object `{method, path, query, headers, body}` and the event id. Credentials never reach
//! the event: well-known secret headers, any header whose name says token/secret/signature, and
//! the headers the path's `on.webhook.auth` reads are replaced by `[redacted]`. Text holding
//! U+0000 anywhere in the data (a JSON body's strings or keys, a text or form body, which
//! becomes one JSON string, query parameters, header values) is refused with
//! [`PayloadError::Nul`] naming its JSON path (`$.body.a[2]`, `$.query.q`): PostgreSQL cannot
//! store it (Weft's policy, see `weft_events::text`); bodies stored as `{"base64": …}` are
//! fine. Touches nothing.

use axum::http::{HeaderMap, Method, Uri, header};
use base64::Engine;
use serde_json::{Map, Value, json};

/// Header values replaced by this marker in the event.
pub const REDACTED: &str = "[redacted]";

/// Headers that carry an idempotency key, in order of preference.
const KEY_HEADERS: [&str; 3] = ["idempotency-key", "x-github-delivery", "webhook-id"];

/// Headers never copied into an event in clear.
const SECRET_HEADERS: [&str; 4] = [
    "authorization",
    "cookie",
    "proxy-authorization",
    "x-api-key",
];

/// Name fragments that mark a header as secret.
const SECRET_FRAGMENTS: [&str; 3] = ["token", "secret", "signature"];

/// The request could not be turned into event data.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// The content type says JSON but the body is not.
    #[error("the body is not valid JSON: {0}")]
    InvalidJson(serde_json::Error),
    /// The query string cannot be decoded.
    #[error("the query string is invalid: {0}")]
    InvalidQuery(String),
    /// Text in the request holds U+0000.
    #[error("U+0000 (NUL) is not accepted in text (PostgreSQL cannot store it): at {at}")]
    Nul {
        /// JSON path in the event data: `$.body…`, `$.query.<name>`, `$.headers.<name>`.
        at: String,
    },
}

/// The event data for a request; `also_secret` names (lowercase) further headers to redact.
pub fn event_data(
    method: &Method,
    path: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    also_secret: &[String],
) -> Result<Value, PayloadError> {
    let data = json!({
        "method": method.as_str(),
        "path": path,
        "query": query(uri)?,
        "headers": redacted_headers(headers, also_secret),
        "body": body_value(headers, body)?,
    });
    match weft_events::text::find_nul(&data) {
        Some(at) => Err(PayloadError::Nul { at }),
        None => Ok(data),
    }
}

/// The sender's idempotency key, when it supplied one.
pub fn idempotency_key(headers: &HeaderMap) -> Option<&str> {
    KEY_HEADERS.iter().find_map(|name| {
        headers
            .get(*name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    })
}

/// Query parameters as an object; a repeated key becomes a list of its values.
fn query(uri: &Uri) -> Result<Value, PayloadError> {
    let pairs = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|e| PayloadError::InvalidQuery(e.body_text()))?
        .0;
    let mut out = Map::new();
    for (key, value) in pairs {
        match out.get_mut(&key) {
            None => {
                out.insert(key, Value::String(value));
            }
            Some(Value::Array(list)) => list.push(Value::String(value)),
            Some(first) => *first = json!([first.take(), value]),
        }
    }
    Ok(Value::Object(out))
}

/// Headers with lowercased names (repeated values joined by `, `) and secrets redacted.
fn redacted_headers(headers: &HeaderMap, also_secret: &[String]) -> Value {
    let mut out = Map::new();
    for name in headers.keys() {
        let name = name.as_str(); // `http` keeps names lowercase
        let value = if is_secret(name) || also_secret.iter().any(|s| s == name) {
            REDACTED.to_string()
        } else {
            headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.insert(name.to_string(), Value::String(value));
    }
    Value::Object(out)
}

fn is_secret(name: &str) -> bool {
    SECRET_HEADERS.contains(&name) || SECRET_FRAGMENTS.iter().any(|f| name.contains(f))
}

/// JSON for a JSON content type, text for UTF-8, `{"base64": …}` for anything else.
fn body_value(headers: &HeaderMap, body: &[u8]) -> Result<Value, PayloadError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if body.is_empty() {
        return Ok(Value::Null);
    }
    if is_json(content_type) {
        return serde_json::from_slice(body).map_err(PayloadError::InvalidJson);
    }
    match std::str::from_utf8(body) {
        Ok(text) if !is_binary(content_type) => Ok(Value::String(text.to_string())),
        _ => Ok(json!({ "base64": base64::engine::general_purpose::STANDARD.encode(body) })),
    }
}

/// Whether a content type declares JSON: `*/json` or `*/*+json` (as the CloudEvents JSON
/// format defines it), such as `application/json` or `application/vnd.github+json`.
pub fn is_json(content_type: &str) -> bool {
    let media = media_type(content_type);
    media
        .split_once('/')
        .is_some_and(|(_, sub)| sub == "json" || sub.ends_with("+json"))
}

/// Media types that are binary whatever their bytes look like.
pub fn is_binary(content_type: &str) -> bool {
    let media = media_type(content_type);
    media == "application/octet-stream"
        || ["image/", "audio/", "video/"]
            .iter()
            .any(|p| media.starts_with(p))
}

/// The media type of a content type: lower-case, without parameters.
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn query_repeats_become_lists() {
        let uri: Uri = "/hooks/x?a=1&b=2&a=3&a=4&c=hello%20world"
            .parse()
            .expect("uri");
        assert_eq!(
            query(&uri).expect("query"),
            json!({"a": ["1", "3", "4"], "b": "2", "c": "hello world"})
        );
    }

    #[test]
    fn secrets_are_redacted() {
        let h = headers(&[
            ("authorization", "Bearer x"),
            ("x-hub-signature-256", "sha256=1"),
            ("x-gitlab-token", "t"),
            ("x-webhook-secret", "s"),
            ("x-api-key", "k"),
            ("x-custom-auth", "c"),
            ("accept", "a"),
            ("accept", "b"),
        ]);
        let v = redacted_headers(&h, &["x-custom-auth".to_string()]);
        for name in [
            "authorization",
            "x-hub-signature-256",
            "x-gitlab-token",
            "x-webhook-secret",
            "x-api-key",
            "x-custom-auth",
        ] {
            assert_eq!(v[name], REDACTED, "{name}");
        }
        assert_eq!(v["accept"], "a, b");
    }

    #[test]
    fn bodies_by_content_type() {
        let json_h = headers(&[("content-type", "application/vnd.github+json; charset=utf-8")]);
        assert_eq!(
            body_value(&json_h, br#"{"a":1}"#).expect("json"),
            json!({"a": 1})
        );
        assert!(body_value(&json_h, b"{nope").is_err());
        let text_h = headers(&[("content-type", "text/plain")]);
        assert_eq!(body_value(&text_h, b"hi").expect("text"), json!("hi"));
        assert_eq!(
            body_value(&text_h, &[0xff, 0x00]).expect("bin"),
            json!({"base64": "/wA="})
        );
        let bin_h = headers(&[("content-type", "application/octet-stream")]);
        assert_eq!(
            body_value(&bin_h, b"hi").expect("bin"),
            json!({"base64": "aGk="})
        );
        assert_eq!(body_value(&json_h, b"").expect("empty"), Value::Null);
    }

    #[test]
    fn key_header_preference() {
        let h = headers(&[("webhook-id", "w"), ("x-github-delivery", "g")]);
        assert_eq!(idempotency_key(&h), Some("g"));
        let h = headers(&[("idempotency-key", "i"), ("webhook-id", "w")]);
        assert_eq!(idempotency_key(&h), Some("i"));
        assert_eq!(idempotency_key(&HeaderMap::new()), None);
    }
}
