//! Text PostgreSQL cannot hold.
//!
//! PostgreSQL's `text` and `jsonb` refuse U+0000 (NUL). Weft's policy: every HTTP door refuses
//! such text with 400 `invalid_text` before anything is published or stored ([`find_nul`] names
//! where it is), and the router replaces what still arrives from a trigger service without a
//! door with U+FFFD ([`replace_nul`]) so an accepted event is never lost. Touches nothing.

use serde_json::Value;

/// The character PostgreSQL cannot store.
pub const NUL: char = '\u{0}';

/// What replaces U+0000 in text that must be stored anyway.
pub const REPLACEMENT: char = '\u{FFFD}';

/// The JSON path (`$.a.b[2]`) of the first string or object key in `v` holding U+0000.
pub fn find_nul(v: &Value) -> Option<String> {
    find_in(v, &mut String::from("$"))
}

fn find_in(v: &Value, path: &mut String) -> Option<String> {
    match v {
        Value::String(s) if s.contains(NUL) => Some(path.clone()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = find_in(item, path);
            path.truncate(len);
            found
        }),
        Value::Object(map) => map.iter().find_map(|(k, item)| {
            let len = path.len();
            path.push('.');
            path.push_str(k);
            let found = if k.contains(NUL) {
                Some(path.clone())
            } else {
                find_in(item, path)
            };
            path.truncate(len);
            found
        }),
        _ => None,
    }
}

/// Whether JSON text may hold U+0000: JSON can only write it as the escape `\u0000` (a raw
/// control character is invalid), so text without one (an escaped backslash before `u0000`
/// does not count) holds none. A scan without parsing, for hot paths: only when it says yes
/// need the text be parsed and searched with [`find_nul`].
pub fn json_may_hold_nul(text: &[u8]) -> bool {
    let mut from = 0;
    while let Some(i) = text[from..].windows(6).position(|w| w == b"\\u0000") {
        let at = from + i;
        let backslashes = text[..=at]
            .iter()
            .rev()
            .take_while(|b| **b == b'\\')
            .count();
        if backslashes % 2 == 1 {
            return true;
        }
        from = at + 1;
    }
    false
}

/// Whether `v` holds U+0000 anywhere (strings and keys); cheaper than [`find_nul`].
pub fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains(NUL),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains(NUL) || has_nul(v)),
        _ => false,
    }
}

/// Replace every U+0000 in strings and keys of `v` with U+FFFD; true when something changed.
pub fn replace_nul(v: &mut Value) -> bool {
    if !has_nul(v) {
        return false;
    }
    replace_in(v);
    true
}

fn replace_in(v: &mut Value) {
    match v {
        Value::String(s) if s.contains(NUL) => *s = s.replace(NUL, "\u{FFFD}"),
        Value::Array(items) => items.iter_mut().for_each(replace_in),
        Value::Object(map) => {
            let old = std::mem::take(map);
            for (k, mut item) in old {
                replace_in(&mut item);
                map.insert(k.replace(NUL, "\u{FFFD}"), item);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn finds_the_path_of_the_first_nul() {
        assert_eq!(
            find_nul(&json!({"a": [1, "x\u{0}"]})).as_deref(),
            Some("$.a[1]")
        );
        assert_eq!(find_nul(&json!({"k\u{0}": 1})).as_deref(), Some("$.k\u{0}"));
        assert_eq!(find_nul(&json!("\u{0}")).as_deref(), Some("$"));
        assert_eq!(find_nul(&json!({"a": "fine", "b": [null, 1.5]})), None);
    }

    #[test]
    fn json_text_is_scanned_for_the_escape_without_parsing() {
        for (text, may) in [
            (r#"{"a": "x\u0000"}"#, true),
            (r#"{"a\u0000": 1}"#, true),
            (r#"{"a": "\\\u0000"}"#, true),
            (r#"{"a": "\\u0000"}"#, false),
            (r#"{"a": "u0000", "b": "\u00001"}"#, true),
            (r#"{"a": "\u0001"}"#, false),
            ("", false),
        ] {
            assert_eq!(json_may_hold_nul(text.as_bytes()), may, "{text}");
            let parsed: Option<Value> = serde_json::from_str(text).ok();
            if let Some(v) = parsed {
                assert_eq!(find_nul(&v).is_some(), may, "{text}");
            }
        }
    }

    #[test]
    fn replaces_in_strings_and_keys() {
        let mut v = json!({"k\u{0}": ["a\u{0}b", {"c": "\u{0}"}], "ok": 1});
        assert!(replace_nul(&mut v));
        assert_eq!(
            v,
            json!({"k\u{FFFD}": ["a\u{FFFD}b", {"c": "\u{FFFD}"}], "ok": 1})
        );
        assert!(!has_nul(&v));
        assert!(!replace_nul(&mut v));
    }
}
