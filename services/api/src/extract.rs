//! axum's extractors with their rejections turned into [`ApiError`], so that a bad path,
//! query or body gets the same JSON error shape as every other failure, plus the API's own:
//! bodies refused when they hold U+0000 ([`Body`], 400 `invalid_text`), which PostgreSQL
//! cannot store. Names in paths are checked in `crate::params` (400 `invalid_name`).
//!
//! Consumes requests; produces typed values or an [`ApiError`]. Touches nothing.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
};

use crate::error::ApiError;

/// `axum::extract::Path` answering rejections with [`ApiError`].
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// `axum::extract::Query` answering rejections with [`ApiError`].
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// The raw body, answering rejections (e.g. too large) with [`ApiError`]. A body holding
/// U+0000 (a raw 0 byte, or `\u0000` in a JSON string or key, whatever the content type) is
/// refused with 400 `invalid_text` naming where.
#[derive(Debug)]
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await?;
        if let Some(at) = nul_in_body(&bytes) {
            return Err(ApiError::InvalidText(at));
        }
        Ok(Self(bytes))
    }
}

/// Where a body holds U+0000, if it does.
pub(crate) fn nul_in_body(bytes: &[u8]) -> Option<String> {
    if let Some(offset) = bytes.iter().position(|b| *b == 0) {
        return Some(format!("at byte {offset} of the body"));
    }
    if !weft_events::text::json_may_hold_nul(bytes) {
        return None;
    }
    let value = serde_json::from_slice::<serde_json::Value>(bytes).ok()?;
    weft_events::text::find_nul(&value).map(|at| format!("at {at} of the body"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_found_in_raw_bytes_and_json_text() {
        assert_eq!(nul_in_body(b"name: x\n"), None);
        assert_eq!(
            nul_in_body(br#"{"value": "a\\u0000"}"#),
            None,
            "an escaped backslash"
        );
        assert!(nul_in_body(b"a\0b").is_some_and(|at| at.contains("byte 1")));
        for (body, at) in [
            (&br#"{"value": "a\u0000b"}"#[..], "$.value"),
            (br#"{"inputs": {"k\u0000": 1}}"#, "$.inputs.k"),
            (br#"["\u0000"]"#, "$[0]"),
        ] {
            let found = nul_in_body(body).expect("found");
            assert!(found.contains(at), "{found}");
        }
    }
}
