//! Masking resolved secret values in what leaves an executor: output, error and log lines.
//!
//! An echoing server, or an error message that quotes a URL holding a token, must not carry a
//! secret into the execution history. Every occurrence of a value — as it is, and
//! percent-encoded as it would appear in a URL — becomes `***`. Values shorter than
//! [`MIN_SECRET_LEN`] are not masked (masking `a` would garble every output). No I/O.

use serde_json::Value;
use weft_events::{LogLine, StepError};

/// What a masked value is replaced with.
pub const MASK: &str = "***";

/// Shortest secret value that is masked.
pub const MIN_SECRET_LEN: usize = 3;

/// The secret values of one attempt, in every form they are masked in.
#[derive(Debug, Default, Clone)]
pub struct Redactor {
    needles: Vec<String>,
}

impl Redactor {
    /// A redactor for `values` (the clear values the attempt's `with` referenced).
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let mut needles = Vec::new();
        for v in values {
            if v.len() < MIN_SECRET_LEN {
                continue;
            }
            let encoded = percent_encode(&v);
            if encoded != v {
                needles.push(encoded);
            }
            needles.push(v);
        }
        // Longest first, so a secret that contains another is masked whole.
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        Self { needles }
    }

    /// Whether there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// `s` with every secret masked.
    pub fn text(&self, s: &str) -> String {
        let mut out = s.to_string();
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), MASK);
            }
        }
        out
    }

    /// Mask every string (and object key) of `v` in place.
    pub fn value(&self, v: &mut Value) {
        if self.is_empty() {
            return;
        }
        match v {
            Value::String(s) => {
                if self.needles.iter().any(|n| s.contains(n.as_str())) {
                    *s = self.text(s);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.value(i)),
            Value::Object(map) => {
                let keys: Vec<String> = map
                    .keys()
                    .filter(|k| self.needles.iter().any(|n| k.contains(n.as_str())))
                    .cloned()
                    .collect();
                for k in keys {
                    if let Some(inner) = map.remove(&k) {
                        map.insert(self.text(&k), inner);
                    }
                }
                map.values_mut().for_each(|i| self.value(i));
            }
            _ => {}
        }
    }

    /// Mask an error's message and details.
    pub fn error(&self, e: &mut StepError) {
        if self.is_empty() {
            return;
        }
        e.message = self.text(&e.message);
        if let Some(d) = e.details.as_mut() {
            self.value(d);
        }
    }

    /// Mask log lines.
    pub fn logs(&self, lines: &mut [LogLine]) {
        if self.is_empty() {
            return;
        }
        for l in lines {
            l.line = self.text(&l.line);
        }
    }
}

/// RFC 3986 percent-encoding of everything but unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use weft_events::ErrorCode;

    use super::*;

    #[test]
    fn masks_values_keys_errors_and_url_encoded_forms() {
        let r = Redactor::new(["s3cr3t/+x".to_string(), "ab".to_string()]);
        let mut v =
            json!({"echo": "token=s3cr3t/+x!", "s3cr3t/+x": 1, "list": ["ab", "s3cr3t%2F%2Bx"]});
        r.value(&mut v);
        assert_eq!(
            v,
            json!({"echo": "token=***!", "***": 1, "list": ["ab", "***"]})
        );
        let mut e =
            StepError::retryable(ErrorCode::Connect, "GET https://h/?k=s3cr3t%2F%2Bx failed")
                .with_details(json!({"url": "https://h/?k=s3cr3t/+x"}));
        r.error(&mut e);
        assert_eq!(e.message, "GET https://h/?k=*** failed");
        assert_eq!(e.details, Some(json!({"url": "https://h/?k=***"})));
    }
}
