//! jaq values to JSON, within an output budget.
//!
//! Consumes `jaq_json::Val`s; produces `serde_json::Value`s, counting the bytes their compact
//! JSON would take (string escapes not counted) against one budget for the whole result, so a
//! value that shares its parts many times (`[., .]` repeated) stops early instead of
//! expanding. What JSON cannot hold follows jq: NaN becomes `null`, ±infinity the largest
//! finite number; a byte string or an object key that is not a string fails (`transform`).
//! Touches nothing.

use jaq_json::{Num, Val};
use serde_json::{Map, Number, Value};

use crate::error::{Code, TransformError};

/// Deepest nesting of a result.
pub const MAX_DEPTH: usize = 512;

/// The output budget, shared by every value of one result.
#[derive(Debug)]
pub struct Sink {
    left: usize,
    max: usize,
}

impl Sink {
    /// A budget of `max` bytes.
    pub fn new(max: usize) -> Self {
        Self { left: max, max }
    }

    fn take(&mut self, n: usize) -> Result<(), TransformError> {
        match self.left.checked_sub(n) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => Err(TransformError::new(
                Code::OutputTooLarge,
                format!("the result is larger than {} bytes", self.max),
            )),
        }
    }
}

fn script(message: String) -> TransformError {
    TransformError::new(Code::Transform, message)
}

fn number(n: &Num) -> Value {
    let float = |f: f64| {
        if f.is_nan() {
            Value::Null
        } else {
            let f = f.clamp(f64::MIN, f64::MAX);
            Number::from_f64(f).map_or(Value::Null, Value::Number)
        }
    };
    match n {
        Num::Int(i) => Value::from(*i as i64),
        Num::Float(f) => float(*f),
        Num::BigInt(_) | Num::Dec(_) => {
            let text = n.to_string();
            match serde_json::from_str::<Number>(&text) {
                Ok(n) => Value::Number(n),
                Err(_) => float(text.parse::<f64>().unwrap_or(f64::NAN)),
            }
        }
    }
}

/// Convert one value, charging `sink`.
pub fn to_json(v: &Val, sink: &mut Sink) -> Result<Value, TransformError> {
    convert(v, sink, 0)
}

fn convert(v: &Val, sink: &mut Sink, depth: usize) -> Result<Value, TransformError> {
    if depth > MAX_DEPTH {
        return Err(TransformError::new(
            Code::OutputTooLarge,
            format!("the result is nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    Ok(match v {
        Val::Null => {
            sink.take(4)?;
            Value::Null
        }
        Val::Bool(b) => {
            sink.take(5)?;
            Value::Bool(*b)
        }
        Val::Num(n) => {
            sink.take(8)?;
            number(n)
        }
        Val::TStr(s) => {
            sink.take(s.len() + 2)?;
            Value::String(String::from_utf8_lossy(s).into_owned())
        }
        Val::BStr(_) => {
            return Err(script(
                "jq: the result holds a byte string, which JSON cannot hold \
                 (convert it, e.g. with `@base64` or `tostring`)"
                    .to_owned(),
            ));
        }
        Val::Arr(items) => {
            sink.take(2)?;
            let mut out = Vec::with_capacity(items.len().min(1024));
            for item in items.iter() {
                sink.take(1)?;
                out.push(convert(item, sink, depth + 1)?);
            }
            Value::Array(out)
        }
        Val::Obj(entries) => {
            sink.take(2)?;
            let mut out = Map::new();
            for (k, item) in entries.iter() {
                let Val::TStr(key) = k else {
                    return Err(script(format!(
                        "jq: the result has an object key that is not a string: {k}"
                    )));
                };
                sink.take(key.len() + 4)?;
                let key = String::from_utf8_lossy(key).into_owned();
                out.insert(key, convert(item, sink, depth + 1)?);
            }
            Value::Object(out)
        }
    })
}
