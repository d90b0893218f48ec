//! Column values to JSON: pgoutput sends every value as text; this turns it into the JSON
//! value a workflow expects, by the column's type OID.
//!
//! Consumes a type OID and the text; produces a `serde_json::Value`; touches nothing.
//!
//! | PostgreSQL type | JSON |
//! |---|---|
//! | `int2`, `int4`, `int8`, `oid` | number |
//! | `float4`, `float8` | number (`NaN`, `Infinity` stay strings) |
//! | `numeric` | **string**, exactly as PostgreSQL prints it (no precision lost; convert with `double()` in CEL where a number is wanted) |
//! | `bool` | `true` / `false` |
//! | `json`, `jsonb` | the parsed JSON value |
//! | anything else (text, timestamps, uuid, arrays, …) | string, PostgreSQL's text form |

use serde_json::Value;

const BOOL: u32 = 16;
const INT8: u32 = 20;
const INT2: u32 = 21;
const INT4: u32 = 23;
const OID: u32 = 26;
const JSON: u32 = 114;
const FLOAT4: u32 = 700;
const FLOAT8: u32 = 701;
const JSONB: u32 = 3802;

/// The JSON form of a column value given as `text`, for a column of type `type_oid`.
pub fn to_json(type_oid: u32, text: &str) -> Value {
    let typed = match type_oid {
        BOOL => match text {
            "t" => Some(Value::Bool(true)),
            "f" => Some(Value::Bool(false)),
            _ => None,
        },
        INT2 | INT4 | INT8 | OID => text.parse::<i64>().ok().map(Value::from),
        FLOAT4 | FLOAT8 => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        JSON | JSONB => serde_json::from_str(text).ok(),
        _ => None,
    };
    typed.unwrap_or_else(|| Value::String(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::to_json;

    #[test]
    fn converts_by_type() {
        assert_eq!(to_json(16, "t"), json!(true));
        assert_eq!(to_json(16, "f"), json!(false));
        assert_eq!(
            to_json(20, "9007199254740993"),
            json!(9_007_199_254_740_993_i64)
        );
        assert_eq!(to_json(21, "-3"), json!(-3));
        assert_eq!(to_json(23, "42"), json!(42));
        assert_eq!(to_json(701, "2.5"), json!(2.5));
        assert_eq!(to_json(701, "NaN"), json!("NaN"));
        assert_eq!(to_json(700, "Infinity"), json!("Infinity"));
        assert_eq!(
            to_json(1700, "12345678901234567890.12"),
            json!("12345678901234567890.12")
        );
        assert_eq!(to_json(3802, r#"{"a": [1, "x"]}"#), json!({"a": [1, "x"]}));
        assert_eq!(to_json(114, "not json"), json!("not json"));
        assert_eq!(to_json(25, "hello"), json!("hello"));
        assert_eq!(
            to_json(1184, "2026-11-22 10:00:00+00"),
            json!("2026-11-22 10:00:00+00")
        );
    }
}
