//! The step's `input`: a JSON value, a string to parse, or an artifact of JSON / NDJSON.
//!
//! Consumes `with.input`, `with.input_format` and an [`ArtifactSource`]; produces the JSON
//! value the program sees. Touches the artifact store (one read) when `input` is an artifact
//! reference.

use std::future::Future;

use serde_json::Value;
pub use weft_executor::ArtifactRef;
use weft_executor::Artifacts;

use crate::error::{Code, TransformError};
use crate::with::InputFormat;

/// Where artifacts are read from (the attempt's artifact store).
pub trait ArtifactSource: Sync {
    /// The artifact's bytes; a missing one is `artifact_not_found` naming it.
    fn get(&self, r: &ArtifactRef) -> impl Future<Output = Result<Vec<u8>, TransformError>> + Send;
}

impl ArtifactSource for Artifacts {
    async fn get(&self, r: &ArtifactRef) -> Result<Vec<u8>, TransformError> {
        Artifacts::get(self, r)
            .await
            .map(|b| b.to_vec())
            .map_err(TransformError::from_step_error)
    }
}

/// Content types read as NDJSON by `input_format: auto`.
const NDJSON_TYPES: &[&str] = &[
    "application/x-ndjson",
    "application/ndjson",
    "application/jsonl",
    "application/x-jsonlines",
    "application/jsonlines",
];

fn is_ndjson(r: &ArtifactRef) -> bool {
    let ct = r.content_type.split(';').next().unwrap_or("").trim();
    NDJSON_TYPES.iter().any(|t| ct.eq_ignore_ascii_case(t))
        || r.name.ends_with(".ndjson")
        || r.name.ends_with(".jsonl")
}

/// The artifact reference `input` is, when it is an object with exactly its five fields.
pub fn as_artifact(input: &Value) -> Option<ArtifactRef> {
    match input {
        Value::Object(o) if o.len() == 5 && o.contains_key("sha256") => {
            serde_json::from_value(input.clone()).ok()
        }
        _ => None,
    }
}

fn bad(what: &str, message: String) -> TransformError {
    TransformError::new(Code::BadInput, format!("input{what}: {message}"))
}

fn parse_json(what: &str, bytes: &[u8]) -> Result<Value, TransformError> {
    serde_json::from_slice(bytes).map_err(|e| bad(what, format!("not JSON: {e}")))
}

fn parse_ndjson(what: &str, bytes: &[u8]) -> Result<Value, TransformError> {
    let mut out = Vec::new();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let v = serde_json::from_slice(line)
            .map_err(|e| bad(what, format!("line {} is not JSON: {e}", i + 1)))?;
        out.push(v);
    }
    Ok(Value::Array(out))
}

/// Resolve `input` to the value the program sees.
pub async fn resolve(
    input: Value,
    format: InputFormat,
    source: &impl ArtifactSource,
    max_bytes: u64,
) -> Result<Value, TransformError> {
    if let Some(r) = as_artifact(&input) {
        let what = format!(" (artifact `{}`)", r.name);
        let limit = |size: u64| {
            TransformError::new(
                Code::SandboxLimit,
                format!("input{what}: {size} bytes; at most {max_bytes} are read"),
            )
        };
        if r.size > max_bytes {
            return Err(limit(r.size));
        }
        let bytes = source.get(&r).await?;
        if bytes.len() as u64 > max_bytes {
            return Err(limit(bytes.len() as u64));
        }
        let ndjson = match format {
            InputFormat::Ndjson => true,
            InputFormat::Json => false,
            InputFormat::Auto => is_ndjson(&r),
        };
        return if ndjson {
            parse_ndjson(&what, &bytes)
        } else {
            parse_json(&what, &bytes)
        };
    }
    match (format, &input) {
        (InputFormat::Json, Value::String(s)) => parse_json("", s.as_bytes()),
        (InputFormat::Ndjson, Value::String(s)) => parse_ndjson("", s.as_bytes()),
        (InputFormat::Ndjson, Value::Array(_)) | (InputFormat::Json | InputFormat::Auto, _) => {
            Ok(input)
        }
        (InputFormat::Ndjson, _) => Err(bad(
            "",
            "`input_format: ndjson` needs a string of JSON lines or an artifact".to_owned(),
        )),
    }
}
