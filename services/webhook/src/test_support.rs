//! Helpers for this crate's unit tests.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

/// A header map from `(name, value)` pairs, repeated names appended.
pub(crate) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    h
}
