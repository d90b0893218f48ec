//! `${{ secrets.NAME }}` references inside the strings of a JSON value.
//!
//! The router renders a step's `with` but keeps every secret reference as this literal text;
//! the trigger service or executor that uses the value replaces it here, just before use. Only
//! the bare form is allowed (the workflow validator rejects `secrets` inside larger
//! expressions), so finding references needs no expression engine. No I/O.

use serde_json::Value;

pub use weft_flow::expr::secret_ref as is_secret_ref;

/// Split `s` into text and the secret names referenced in it.
fn scan(s: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${{") {
        let after = &rest[start + 3..];
        let Some(end) = after.find("}}") else { break };
        match is_secret_ref(&after[..end]) {
            Some(name) => {
                out.push(Piece::Text(&rest[..start]));
                out.push(Piece::Secret(name));
            }
            None => out.push(Piece::Text(&rest[..start + 3 + end + 2])),
        }
        rest = &after[end + 2..];
    }
    out.push(Piece::Text(rest));
    out
}

enum Piece<'a> {
    Text(&'a str),
    Secret(&'a str),
}

/// Whether any string of `v` references a secret. Allocates nothing: the executor asks this for
/// every task, and most hold no reference.
pub fn has_references(v: &Value) -> bool {
    match v {
        Value::String(s) => {
            s.contains("${{") && scan(s).iter().any(|p| matches!(p, Piece::Secret(_)))
        }
        Value::Array(items) => items.iter().any(has_references),
        Value::Object(map) => map.values().any(has_references),
        _ => false,
    }
}

/// Every secret name referenced in the strings of `v` (with repeats).
pub fn references(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(v, &mut |s| {
        for p in scan(s) {
            if let Piece::Secret(name) = p {
                out.push(name.to_owned());
            }
        }
    });
    out
}

fn walk(v: &Value, f: &mut impl FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|i| walk(i, f)),
        Value::Object(map) => map.values().for_each(|i| walk(i, f)),
        _ => {}
    }
}

/// Replace every `${{ secrets.NAME }}` in the strings of `v` with `lookup(NAME)`.
pub fn substitute<E>(
    v: &Value,
    lookup: &mut impl FnMut(&str) -> Result<String, E>,
) -> Result<Value, E> {
    Ok(match v {
        Value::String(s) if s.contains("${{") => {
            let mut out = String::with_capacity(s.len());
            for p in scan(s) {
                match p {
                    Piece::Text(t) => out.push_str(t),
                    Piece::Secret(name) => out.push_str(&lookup(name)?),
                }
            }
            Value::String(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| substitute(i, lookup))
                .collect::<Result<_, E>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, i)| Ok((k.clone(), substitute(i, lookup)?)))
                .collect::<Result<_, E>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn lookup(name: &str) -> Result<String, String> {
        match name {
            "TOKEN" => Ok("t0k".into()),
            other => Err(other.to_owned()),
        }
    }

    #[test]
    fn replaces_whole_and_embedded_references() {
        let v = json!({"a": "${{ secrets.TOKEN }}", "b": ["Bearer ${{secrets.TOKEN}}!"], "n": 1});
        let out = substitute(&v, &mut lookup).expect("resolved");
        assert_eq!(out, json!({"a": "t0k", "b": ["Bearer t0k!"], "n": 1}));
        assert_eq!(references(&v), vec!["TOKEN", "TOKEN"]);
        assert!(has_references(&v));
        assert!(!has_references(
            &json!({"a": "${{ event.id }}", "b": [1, "x"]})
        ));
    }

    #[test]
    fn leaves_other_expressions_and_reports_missing() {
        let v = json!("${{ event.id }} ${{ secrets.NOPE }}");
        assert_eq!(substitute(&v, &mut lookup), Err("NOPE".to_string()));
        let v = json!("${{ event.id }} and ${{ unterminated");
        assert_eq!(substitute(&v, &mut lookup), Ok(v.clone()));
    }
}
