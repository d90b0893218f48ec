//! `map`: an object of CEL expressions evaluated against `input`, through the workflow
//! file's own CEL support (`weft_flow`: the same environment, shape limits and evaluation
//! budget as `${{ }}` expressions).
//!
//! Consumes the map and the input value; produces an object with the same keys. Each
//! expression runs under `weft_flow::Limits::FULL` (200 000 loop iterations, 64 MiB of loop
//! output, 250 ms), with the time cut to what is left of the attempt's deadline. Synchronous:
//! call it on a blocking thread. Touches nothing.

use std::time::Instant;

use indexmap::IndexMap;
use serde_json::{Map, Value, json};
use weft_flow::{ExprError, Limits};

use crate::error::{Code, TransformError};

/// Evaluate every entry of `map` with `input` bound.
pub fn eval(
    map: &IndexMap<String, String>,
    input: &Value,
    deadline: Instant,
    max_entries: usize,
) -> Result<Value, TransformError> {
    if map.len() > max_entries {
        return Err(TransformError::new(
            Code::BadInput,
            format!(
                "map: {} entries; at most {max_entries} are allowed",
                map.len()
            ),
        ));
    }
    let ctx = json!({ "input": input });
    let mut out = Map::new();
    for (key, expr) in map {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(TransformError::new(
                Code::SandboxLimit,
                format!("map.{key}: the attempt ran out of time"),
            ));
        }
        let limits = Limits {
            time: Limits::FULL.time.min(left),
            ..Limits::FULL
        };
        // One expression written bare: wrapped so that it is one whole-value template.
        let template = Value::String(format!("${{{{ {expr} }}}}"));
        let value = weft_flow::render_within(&template, &ctx, &limits).map_err(|e| {
            let code = match e {
                ExprError::Limit { .. } => Code::SandboxLimit,
                ExprError::Syntax { .. } => Code::BadInput,
                _ => Code::Transform,
            };
            TransformError::new(code, format!("map.{key}: {e}"))
        })?;
        out.insert(key.clone(), value);
    }
    Ok(Value::Object(out))
}
