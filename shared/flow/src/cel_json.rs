//! JSON ⇄ CEL value conversions for [`crate::expr`].
//!
//! Consumes `serde_json` values (the evaluation context) and CEL results; produces CEL values
//! and JSON. JSON integers that fit `i64` become CEL `int`, larger ones `uint`, the rest
//! `double`. Back to JSON: `int`/`uint`/`double` become numbers (a non-finite double becomes
//! `null`), bytes a string (lossy UTF-8), timestamps RFC 3339 strings and durations humantime
//! strings such as `1m 30s`.

use std::collections::HashMap;
use std::sync::Arc;

use cel::Value as Cel;
use cel::objects::{Key, Map};
use serde_json::{Number, Value};

/// A JSON value as a CEL value.
pub(crate) fn to_cel(v: &Value) -> Cel {
    match v {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Cel::Int(i),
            (None, Some(u)) => Cel::UInt(u),
            _ => Cel::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(a) => Cel::List(Arc::new(a.iter().map(to_cel).collect())),
        Value::Object(o) => {
            let map: HashMap<Key, Cel> = o
                .iter()
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v)))
                .collect();
            Cel::Map(Map { map: Arc::new(map) })
        }
    }
}

/// A CEL value as JSON; `Err` names the CEL type that has no JSON form (functions, structs).
pub(crate) fn to_json(v: &Cel) -> Result<Value, String> {
    Ok(match v {
        Cel::Null => Value::Null,
        Cel::Bool(b) => Value::Bool(*b),
        Cel::Int(i) => Value::from(*i),
        Cel::UInt(u) => Value::from(*u),
        Cel::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Cel::String(s) => Value::String(s.to_string()),
        Cel::Bytes(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        Cel::List(l) => Value::Array(l.iter().map(to_json).collect::<Result<_, _>>()?),
        Cel::Map(m) => {
            let mut entries: Vec<(String, Value)> = m
                .map
                .iter()
                .map(|(k, v)| Ok((k.to_string(), to_json(v)?)))
                .collect::<Result<_, String>>()?;
            // CEL maps are unordered: sort for a stable output.
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().collect())
        }
        Cel::Timestamp(t) => Value::String(t.to_rfc3339()),
        Cel::Duration(d) => {
            let negative = d.num_seconds() < 0 || d.subsec_nanos() < 0;
            Value::String(duration(negative, d.abs().to_std().ok(), d.num_seconds()))
        }
        Cel::Opaque(o) => o.json().unwrap_or(Value::Null),
        other => return Err(format!("a {} has no JSON form", other.type_of())),
    })
}

/// `-` for a negative duration, then humantime (`1m 30s`).
fn duration(negative: bool, abs: Option<std::time::Duration>, secs: i64) -> String {
    let sign = if negative { "-" } else { "" };
    match abs {
        Some(d) => format!("{sign}{}", humantime::format_duration(d)),
        None => format!("{sign}{}s", secs.unsigned_abs()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn round_trip_keeps_types() {
        let v = json!({"a": 1, "b": 1.5, "c": "x", "d": [true, null], "e": {"f": u64::MAX}});
        assert_eq!(to_json(&to_cel(&v)), Ok(v));
    }

    #[test]
    fn durations_are_humantime() {
        let d = std::time::Duration::from_secs(90);
        assert_eq!(duration(false, Some(d), 90), "1m 30s");
        assert_eq!(duration(true, Some(d), -90), "-1m 30s");
    }
}
