//! The step's `with:` and its apply-time check.
//!
//! Consumes the `with` object of a `uses: transform` step (rendered by the router at dispatch,
//! or as written in the file at apply); produces a [`TransformWith`] or, at apply,
//! [`check_with`]'s verdict naming the field. Touches nothing.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Code, TransformError};

/// `with:` of a `uses: transform` step: an `input` and exactly one of `jq` or `map`.
///
/// ```yaml
/// uses: transform
/// with:
///   input: ${{ steps.fetch.output.body }}
///   jq: '[.items[] | select(.total > 100) | {id, total}]'
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransformWith {
    /// The data to transform: any JSON value (usually an expression such as
    /// `${{ steps.fetch.output.body }}`), or an artifact reference
    /// `{id, name, content_type, size, sha256}` (an object with exactly these five fields) whose
    /// content is JSON or NDJSON, read from the artifact store. Default `null`.
    #[serde(default)]
    pub input: Value,
    /// How to read `input`: `auto` (default: a JSON value is used as is; an artifact is NDJSON
    /// when its content type is `application/x-ndjson`, `application/ndjson`,
    /// `application/jsonl` or its name ends in `.ndjson`/`.jsonl`, else JSON), `json` (a string
    /// `input` or an artifact is parsed as one JSON document), `ndjson` (a string `input` or
    /// an artifact is parsed as JSON lines). NDJSON becomes an array of the lines' values,
    /// like `jq --slurp`.
    #[serde(default)]
    pub input_format: InputFormat,
    /// A jq program (jaq dialect, with jq's standard library; no `env`/`$ENV`, no
    /// `input`/`inputs`, no modules). The result is the program's output: one value as is,
    /// several values as an array of them, no value as `null` (wrap the program in `[…]` for
    /// an array whatever the count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jq: Option<String>,
    /// An object whose values are CEL expressions (bare, without `${{ }}`) evaluated with the
    /// variable `input` bound; the result is an object with the same keys and the values of
    /// the expressions, e.g. `{total: "input.items.map(i, i.price).sum()"}`. `${{ … }}` inside a
    /// value is evaluated earlier, by the router, against the workflow's context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map: Option<IndexMap<String, String>>,
}

/// How to read [`TransformWith::input`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InputFormat {
    /// Decide from the value (and an artifact's content type or name).
    #[default]
    Auto,
    /// One JSON document.
    Json,
    /// JSON lines: one value a line, blank lines skipped; becomes an array.
    Ndjson,
}

/// The one program of a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Program {
    /// A jq program.
    Jq(String),
    /// A map of CEL expressions.
    Map(IndexMap<String, String>),
}

impl TransformWith {
    /// The program: exactly one of `jq` and `map` must be given.
    pub fn program(&self) -> Result<Program, TransformError> {
        match (&self.jq, &self.map) {
            (Some(jq), None) => Ok(Program::Jq(jq.clone())),
            (None, Some(map)) => Ok(Program::Map(map.clone())),
            (Some(_), Some(_)) => Err(TransformError::new(
                Code::BadInput,
                "give one of `jq` and `map`, not both",
            )),
            (None, None) => Err(TransformError::new(
                Code::BadInput,
                "give a program: `jq` (a jq program) or `map` (CEL expressions)",
            )),
        }
    }
}

fn is_expression(v: &Value) -> bool {
    matches!(v, Value::String(s) if s.contains("${{"))
}

const FIELDS: &[&str] = &["input", "input_format", "jq", "map"];

/// Check a step's `with` as written in the workflow file (before any `${{ }}` is evaluated):
/// `Err((field, message))` names the field (`jq`, `map.total`, …) and, for a jq program, the
/// line and column inside it. Values that are expressions are not checked (they are known
/// only at run time); everything literal is: unknown fields, one program, a jq program that
/// does not compile, a CEL expression of `map` that does not compile.
pub fn check_with(with: &Value) -> Result<(), (String, String)> {
    let err = |field: &str, message: String| Err((field.to_owned(), message));
    let obj = match with {
        Value::Object(obj) => obj,
        v if is_expression(v) => return Ok(()),
        _ => return err("", "`with` must be an object".to_owned()),
    };
    if let Some(unknown) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return err(
            unknown,
            format!(
                "unknown field `{unknown}`; expected one of: {}",
                FIELDS.join(", ")
            ),
        );
    }
    match (obj.get("jq"), obj.get("map")) {
        (Some(_), Some(_)) => return err("jq", "give one of `jq` and `map`, not both".into()),
        (None, None) => {
            return err(
                "",
                "give a program: `jq` (a jq program) or `map` (CEL expressions)".into(),
            );
        }
        _ => {}
    }
    if let Some(f) = obj.get("input_format").filter(|v| !is_expression(v))
        && serde_json::from_value::<InputFormat>(f.clone()).is_err()
    {
        return err("input_format", "expected one of: auto, json, ndjson".into());
    }
    match obj.get("jq") {
        Some(v) if is_expression(v) => {}
        Some(Value::String(code)) => check_jq(code).map_err(|m| ("jq".to_owned(), m))?,
        Some(_) => return err("jq", "expected a string (a jq program)".into()),
        None => {}
    }
    match obj.get("map") {
        Some(v) if is_expression(v) => {}
        Some(Value::Object(map)) => {
            for (key, v) in map {
                let field = format!("map.{key}");
                match v {
                    v if is_expression(v) => {}
                    Value::String(expr) => {
                        weft_flow::check(expr).map_err(|e| (field.clone(), e.to_string()))?
                    }
                    _ => return err(&field, "expected a string (a CEL expression)".into()),
                }
            }
        }
        Some(_) => return err("map", "expected an object of CEL expressions".into()),
        None => {}
    }
    Ok(())
}

/// Compile a jq program on a thread with the stack it needs; the message names the line.
fn check_jq(code: &str) -> Result<(), String> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("weft-jq-check".into())
            .stack_size(crate::jq::STACK_SIZE)
            .spawn_scoped(s, || crate::jq::compile(code).map(|_| ()))
            .map_err(|e| format!("cannot start the jq checker: {e}"))?
            .join()
            .map_err(|_| "the jq checker failed".to_owned())?
            .map_err(|e| e.message)
    })
}
