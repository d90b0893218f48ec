//! Verifying `on.webhook.auth`: GitHub, Stripe, Standard Webhooks, generic HMAC and token.
//!
//! Consumes a workflow's [`WebhookAuth`] (through [`resolve_auth`]), the request headers, the
//! raw body and the clock; produces `Ok` or an [`AuthError`] that says what was wrong without
//! echoing any secret or signature. Every comparison of a MAC or token is constant-time
//! (`subtle`). Touches nothing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use subtle::ConstantTimeEq;
use weft_flow::webhook_auth::{
    HmacAlgorithm, HmacAuth, SignatureEncoding, StandardAuth, StripeAuth, standard_key,
};
use weft_flow::{Secret, WebhookAuth};
use weft_secrets::Secrets;

use crate::registry::Route;

/// Why a request failed its workflow's auth. Messages never include secrets or signatures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A header the scheme needs is absent (or not text).
    #[error("missing `{0}` header")]
    Missing(String),
    /// A header is present but not in the scheme's format.
    #[error("malformed `{0}` header")]
    Malformed(String),
    /// The signed timestamp is too far from now (a replay, or a wrong clock).
    #[error("the signature timestamp is outside the {0}s tolerance")]
    Stale(u64),
    /// No signature (or token) matches.
    #[error("the signature does not match")]
    Mismatch,
    /// The configured secret cannot be used (e.g. an unresolved `${{ secrets.* }}`).
    #[error("the webhook's secret is not available")]
    Unresolved,
}

/// The auth config used for verification, with `${{ secrets.NAME }}` values resolved.
/// Every verification goes through here.
/// A reference that cannot be resolved fails closed: it is never used as a literal key.
pub fn resolve_auth(auth: &WebhookAuth, secrets: &Secrets) -> Result<WebhookAuth, AuthError> {
    let mut auth = auth.clone();
    let secret = match &mut auth {
        WebhookAuth::Github(a) => &mut a.secret,
        WebhookAuth::Stripe(a) => &mut a.secret,
        WebhookAuth::Standard(a) => &mut a.secret,
        WebhookAuth::Hmac(a) => &mut a.secret,
        WebhookAuth::Token(a) => &mut a.value,
    };
    if secret.is_reference() {
        let value = secrets
            .resolve(&serde_json::Value::String(secret.expose().to_owned()))
            .map_err(|e| {
                tracing::warn!(error = %e, "webhook secret unavailable; refusing the request");
                AuthError::Unresolved
            })?;
        *secret = Secret::new(value.as_str().unwrap_or_default());
    }
    Ok(auth)
}

/// The routes whose auth the request satisfies (a route without `auth` always does), in table
/// order; when none does, why the first one failed.
pub fn authorize<'a>(
    routes: &'a [Route],
    secrets: &Secrets,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<Vec<&'a Route>, AuthError> {
    let mut passed = Vec::new();
    let mut first_error = None;
    for route in routes {
        let result = match &route.trigger.auth {
            None => Ok(()),
            Some(auth) => resolve_auth(auth, secrets).and_then(|a| verify(&a, headers, body, now)),
        };
        match result {
            Ok(()) => passed.push(route),
            Err(e) => {
                if e == AuthError::Unresolved {
                    tracing::warn!(workflow = %route.workflow, "webhook secret unavailable; request refused");
                }
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) if passed.is_empty() => Err(e),
        _ => Ok(passed),
    }
}

/// Check a request against `auth` (already resolved) at time `now`.
pub fn verify(
    auth: &WebhookAuth,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<(), AuthError> {
    match auth {
        WebhookAuth::Github(a) => {
            let sig = header(headers, "x-hub-signature-256")?;
            let hex = sig
                .strip_prefix("sha256=")
                .ok_or_else(|| AuthError::Malformed("x-hub-signature-256".into()))?;
            let expected = mac(HmacAlgorithm::Sha256, a.secret.expose().as_bytes(), &[body]);
            matches_any(&expected, [decode_hex(hex)])
        }
        WebhookAuth::Stripe(a) => stripe(a, headers, body, now),
        WebhookAuth::Standard(a) => standard(a, headers, body, now),
        WebhookAuth::Hmac(a) => generic_hmac(a, headers, body),
        WebhookAuth::Token(a) => token(&a.value, headers, &a.header),
    }
}

fn stripe(
    a: &StripeAuth,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<(), AuthError> {
    const NAME: &str = "stripe-signature";
    let value = header(headers, NAME)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in value.split(',') {
        match item.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t),
            Some(("v1", s)) => signatures.push(decode_hex(s)),
            _ => {} // v0 and unknown schemes are ignored, as Stripe's libraries do.
        }
    }
    let t = timestamp.ok_or_else(|| AuthError::Malformed(NAME.into()))?;
    if signatures.is_empty() {
        return Err(AuthError::Malformed(NAME.into()));
    }
    fresh(t, a.tolerance, now, NAME)?;
    let expected = mac(
        HmacAlgorithm::Sha256,
        a.secret.expose().as_bytes(),
        &[t.as_bytes(), b".", body],
    );
    matches_any(&expected, signatures)
}

fn standard(
    a: &StandardAuth,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<(), AuthError> {
    let id = header(headers, "webhook-id")?;
    let ts = header(headers, "webhook-timestamp")?;
    let value = header(headers, "webhook-signature")?;
    fresh(ts, StandardAuth::TOLERANCE, now, "webhook-timestamp")?;
    let key = standard_key(a.secret.expose()).ok_or(AuthError::Unresolved)?;
    let expected = mac(
        HmacAlgorithm::Sha256,
        &key,
        &[id.as_bytes(), b".", ts.as_bytes(), b".", body],
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    let signatures = value
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .map(|s| b64.decode(s).ok());
    matches_any(&expected, signatures)
}

fn generic_hmac(a: &HmacAuth, headers: &HeaderMap, body: &[u8]) -> Result<(), AuthError> {
    let value = header(headers, &a.header)?;
    let sig = match &a.prefix {
        Some(prefix) => value
            .strip_prefix(prefix.as_str())
            .ok_or_else(|| AuthError::Malformed(a.header.to_ascii_lowercase()))?,
        None => value,
    };
    let decoded = match a.encoding {
        SignatureEncoding::Hex => decode_hex(sig),
        SignatureEncoding::Base64 => base64::engine::general_purpose::STANDARD.decode(sig).ok(),
    };
    let expected = mac(a.algorithm, a.secret.expose().as_bytes(), &[body]);
    matches_any(&expected, [decoded])
}

fn token(expected: &Secret, headers: &HeaderMap, name: &str) -> Result<(), AuthError> {
    let given = header(headers, name)?;
    if bool::from(given.as_bytes().ct_eq(expected.expose().as_bytes())) {
        Ok(())
    } else {
        Err(AuthError::Mismatch)
    }
}

/// A header as text, trimmed; [`AuthError::Missing`] when absent or empty.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, AuthError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| AuthError::Missing(name.to_ascii_lowercase()))
}

/// The unix time `t` lies within `tolerance` of `now`, either way.
fn fresh(t: &str, tolerance: Duration, now: SystemTime, name: &str) -> Result<(), AuthError> {
    let t: u64 = t.parse().map_err(|_| AuthError::Malformed(name.into()))?;
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    if now.abs_diff(t) > tolerance.as_secs() {
        return Err(AuthError::Stale(tolerance.as_secs()));
    }
    Ok(())
}

/// Whether one of the candidate signatures (`None` = undecodable) equals `expected`.
fn matches_any(
    expected: &[u8],
    candidates: impl IntoIterator<Item = Option<Vec<u8>>>,
) -> Result<(), AuthError> {
    let mut found = false;
    let candidates = candidates.into_iter().flatten().filter(|c| !c.is_empty());
    for candidate in candidates {
        // Compare every candidate (no early exit), each in constant time.
        found |= bool::from(candidate.as_slice().ct_eq(expected));
    }
    if found && !expected.is_empty() {
        Ok(())
    } else {
        Err(AuthError::Mismatch)
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    hex::decode(s.trim()).ok()
}

/// HMAC of the concatenated `parts` under `key`.
pub fn mac(algorithm: HmacAlgorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    fn run<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        // HMAC takes keys of any length, so `new_from_slice` cannot fail.
        match <M as KeyInit>::new_from_slice(key) {
            Ok(mut m) => {
                for p in parts {
                    m.update(p);
                }
                m.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        }
    }
    match algorithm {
        HmacAlgorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
        HmacAlgorithm::Sha256 => run::<Hmac<sha2_v011::Sha256>>(key, parts),
        HmacAlgorithm::Sha512 => run::<Hmac<sha2_v011::Sha512>>(key, parts),
    }
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
