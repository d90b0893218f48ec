//! The `with:` block of a `uses: http` step, and the request it becomes.
//!
//! Consumes the step's evaluated `with:` JSON and the attempt id; produces a
//! `reqwest::RequestBuilder` carrying `Idempotency-Key: <attempt id>` unless the step set one.
//! Touches nothing: sending is the executor's job. Every problem is a non-retryable
//! `bad_input` [`StepError`].

use std::{collections::BTreeMap, time::Duration};

use reqwest::{
    Client, Method, RequestBuilder, Url,
    header::{HeaderMap, HeaderName, HeaderValue},
};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;
use weft_events::{ErrorCode, StepError};

/// Header carrying the attempt id, so the far side can drop a redelivered attempt.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// `with:` of an http step.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpWith {
    /// HTTP method. Default `GET`.
    #[serde(default = "HttpWith::default_method")]
    pub method: String,
    /// Absolute `http` or `https` URL.
    pub url: String,
    /// Request headers (scalar values).
    #[serde(default)]
    pub headers: BTreeMap<String, Value>,
    /// Query parameters (scalars; a list repeats the key).
    #[serde(default)]
    pub query: BTreeMap<String, Value>,
    /// JSON body. At most one of `json`, `body`, `form`.
    #[serde(default)]
    pub json: Option<Value>,
    /// Raw text body.
    #[serde(default)]
    pub body: Option<String>,
    /// URL-encoded form body (scalars; a list repeats the key).
    #[serde(default)]
    pub form: Option<BTreeMap<String, Value>>,
    /// Time limit of the whole call, e.g. `10s`, `500ms`. Default `30s`.
    #[serde(default = "HttpWith::default_timeout")]
    pub timeout: String,
    /// Follow up to 10 redirects. Default true.
    #[serde(default = "yes")]
    pub follow_redirects: bool,
    /// Fail on a non-2xx status. Default true; false makes any status a success.
    #[serde(default = "yes")]
    pub fail_on_status: bool,
}

fn yes() -> bool {
    true
}

fn bad_input(message: impl Into<String>) -> StepError {
    StepError::permanent(ErrorCode::BadInput, message)
}

impl HttpWith {
    fn default_method() -> String {
        "GET".into()
    }

    fn default_timeout() -> String {
        "30s".into()
    }

    /// Parse and check a `with:` block.
    pub fn parse(with: &Value) -> Result<Self, StepError> {
        let parsed: Self = serde_json::from_value(with.clone())
            .map_err(|e| bad_input(format!("invalid `with`: {e}")))?;
        parsed.check()?;
        Ok(parsed)
    }

    /// What the types alone do not say: at most one body, a valid `timeout`.
    pub fn check(&self) -> Result<(), StepError> {
        let bodies = [
            self.json.is_some(),
            self.body.is_some(),
            self.form.is_some(),
        ];
        if bodies.iter().filter(|b| **b).count() > 1 {
            return Err(bad_input("give at most one of `json`, `body` and `form`"));
        }
        self.timeout()?;
        Ok(())
    }

    /// The `timeout` as a duration.
    pub fn timeout(&self) -> Result<Duration, StepError> {
        humantime::parse_duration(&self.timeout)
            .map_err(|e| bad_input(format!("invalid `timeout` `{}`: {e}", self.timeout)))
    }

    /// Build the request on `client`.
    pub fn build(&self, client: &Client, attempt_id: Uuid) -> Result<RequestBuilder, StepError> {
        let method = Method::from_bytes(self.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| bad_input(format!("invalid `method` `{}`", self.method)))?;
        let url = Url::parse(&self.url).map_err(|e| bad_input(format!("invalid `url`: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad_input(format!(
                "`url` must be http or https, not {}",
                url.scheme()
            )));
        }
        let mut request = client
            .request(method, url)
            .headers(self.header_map(attempt_id)?)
            .timeout(self.timeout()?);
        if !self.query.is_empty() {
            request = request.query(&pairs("query", &self.query)?);
        }
        if let Some(json) = &self.json {
            request = request.json(json);
        } else if let Some(body) = &self.body {
            request = request.body(body.clone());
        } else if let Some(form) = &self.form {
            request = request.form(&pairs("form", form)?);
        }
        Ok(request)
    }

    /// Whether the step sets header `name` itself (case-insensitive).
    pub fn sets_header(&self, name: &str) -> bool {
        self.headers.keys().any(|k| k.eq_ignore_ascii_case(name))
    }

    fn header_map(&self, attempt_id: Uuid) -> Result<HeaderMap, StepError> {
        let mut map = HeaderMap::new();
        for (name, value) in &self.headers {
            let value = scalar(value)
                .ok_or_else(|| bad_input(format!("header `{name}` must be a scalar")))?;
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| bad_input(format!("invalid header name `{name}`")))?;
            let value = HeaderValue::from_str(&value)
                .map_err(|_| bad_input(format!("invalid value for header `{name}`")))?;
            map.append(name, value);
        }
        if !map.contains_key(IDEMPOTENCY_KEY) {
            let key = HeaderValue::from_str(&attempt_id.to_string())
                .map_err(|_| bad_input("invalid attempt id"))?;
            map.insert(IDEMPOTENCY_KEY, key);
        }
        Ok(map)
    }
}

/// Key/value pairs of a `query` or `form` map; a list value repeats its key.
fn pairs(field: &str, map: &BTreeMap<String, Value>) -> Result<Vec<(String, String)>, StepError> {
    let mut out = Vec::new();
    for (key, value) in map {
        let values = match value {
            Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        for v in values {
            let v = scalar(v).ok_or_else(|| {
                bad_input(format!(
                    "`{field}.{key}` must be a scalar or a list of scalars"
                ))
            })?;
            out.push((key.clone(), v));
        }
    }
    Ok(out)
}

/// A scalar as text (`null` is the empty string); `None` for arrays and objects.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults() {
        let w = HttpWith::parse(&json!({"url": "http://x/"})).expect("parses");
        assert_eq!(w.method, "GET");
        assert_eq!(w.timeout().expect("timeout"), Duration::from_secs(30));
        assert!(w.follow_redirects && w.fail_on_status);
    }

    #[test]
    fn rejects_bad_input() {
        for with in [
            json!({}),
            json!({"url": "http://x/", "nope": 1}),
            json!({"url": "http://x/", "json": {}, "body": "b"}),
            json!({"url": "http://x/", "form": {}, "body": "b"}),
            json!({"url": "http://x/", "timeout": "soon"}),
        ] {
            let err = HttpWith::parse(&with).expect_err("rejects");
            assert_eq!(err.code, weft_events::ErrorCode::BadInput, "{with}");
            assert!(!err.retryable);
        }
        weft_runtime::init_crypto();
        let client = Client::new();
        for with in [
            json!({"url": "ftp://x/"}),
            json!({"url": "not a url"}),
            json!({"url": "http://x/", "method": "GE T"}),
            json!({"url": "http://x/", "headers": {"a": [1]}}),
            json!({"url": "http://x/", "query": {"a": {"b": 1}}}),
        ] {
            let w = HttpWith::parse(&with).expect("parses");
            let err = w.build(&client, Uuid::nil()).expect_err("rejects");
            assert_eq!(err.code, weft_events::ErrorCode::BadInput, "{with}");
        }
    }

    #[test]
    fn pairs_repeat_lists() {
        let map = BTreeMap::from([
            ("a".to_string(), json!([1, "two"])),
            ("b".to_string(), json!(true)),
        ]);
        assert_eq!(
            pairs("query", &map).expect("pairs"),
            vec![
                ("a".into(), "1".into()),
                ("a".into(), "two".into()),
                ("b".into(), "true".into())
            ]
        );
    }
}
