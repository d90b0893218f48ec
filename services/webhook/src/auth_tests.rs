//! Each scheme against published or independently computed (Python `hmac`) vectors.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::json;

use super::*;

fn auth(v: serde_json::Value) -> WebhookAuth {
    serde_json::from_value(v).expect("auth config")
}

use crate::test_support::headers;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[test]
fn github_docs_example() {
    let a = auth(json!({"github": {"secret": "It's a Secret to Everybody"}}));
    let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let ok = headers(&[("X-Hub-Signature-256", sig)]);
    assert_eq!(verify(&a, &ok, b"Hello, World!", at(0)), Ok(()));
    assert_eq!(
        verify(&a, &ok, b"Hello, World?", at(0)),
        Err(AuthError::Mismatch)
    );
    assert_eq!(
        verify(&a, &HeaderMap::new(), b"Hello, World!", at(0)),
        Err(AuthError::Missing("x-hub-signature-256".into()))
    );
    let no_prefix = headers(&[("x-hub-signature-256", &sig[7..])]);
    assert!(matches!(
        verify(&a, &no_prefix, b"Hello, World!", at(0)),
        Err(AuthError::Malformed(_))
    ));
    let empty = headers(&[("x-hub-signature-256", "sha256=")]);
    assert_eq!(
        verify(&a, &empty, b"", at(0)),
        Err(AuthError::Mismatch),
        "an empty signature never matches"
    );
}

#[test]
fn stripe_rotation_and_tolerance() {
    let a = auth(json!({"stripe": {"secret": "whsec_test_secret"}}));
    let good = "248a374f50f943a28b0f6ab50faf9a7e7e29b710fa26df9fb1618b9bf8ea9c9a";
    let body = br#"{"id":"evt_1"}"#;
    let value = format!("t=1700000000,v1={},v1={good},v0=ignored", "00".repeat(32));
    let h = headers(&[("Stripe-Signature", &value)]);
    assert_eq!(verify(&a, &h, body, at(1_700_000_100)), Ok(()));
    assert_eq!(verify(&a, &h, body, at(1_699_999_800)), Ok(()));
    assert_eq!(
        verify(&a, &h, body, at(1_700_000_301)),
        Err(AuthError::Stale(300))
    );
    let strict = auth(json!({"stripe": {"secret": "whsec_test_secret", "tolerance": "10s"}}));
    assert_eq!(
        verify(&strict, &h, body, at(1_700_000_011)),
        Err(AuthError::Stale(10))
    );
    let only_old = headers(&[("stripe-signature", "t=1700000000,v0=abc")]);
    assert!(matches!(
        verify(&a, &only_old, body, at(1_700_000_000)),
        Err(AuthError::Malformed(_))
    ));
    let wrong = headers(&[("stripe-signature", &format!("t=1700000001,v1={good}"))]);
    assert_eq!(
        verify(&a, &wrong, body, at(1_700_000_000)),
        Err(AuthError::Mismatch),
        "the timestamp is signed too"
    );
}

#[test]
fn standard_webhooks_spec_example() {
    let a = auth(json!({"standard": {"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}));
    let body = br#"{"test": 2432232314}"#;
    let good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    let h = |sig: &str, ts: &str| {
        headers(&[
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", ts),
            ("webhook-signature", sig),
        ])
    };
    let now = at(1_614_265_330);
    let several = format!("v1,bm90IGl0 v2,x {good}");
    assert_eq!(verify(&a, &h(&several, "1614265330"), body, now), Ok(()));
    assert_eq!(
        verify(&a, &h("v1,bm90IGl0", "1614265330"), body, now),
        Err(AuthError::Mismatch)
    );
    assert_eq!(
        verify(&a, &h(good, "1614265330"), body, at(1_614_265_331 + 300)),
        Err(AuthError::Stale(300))
    );
    let mut missing = h(good, "1614265330");
    missing.remove("webhook-id");
    assert_eq!(
        verify(&a, &missing, body, now),
        Err(AuthError::Missing("webhook-id".into()))
    );
}

#[test]
fn generic_hmac_encodings_and_prefix() {
    let sha1 = auth(json!({"hmac": {"secret": "k3y", "header": "X-Sig", "algorithm": "sha1"}}));
    let h = headers(&[("x-sig", "E10DD497E214D3C12496EF4A215A79532E324E2A")]);
    assert_eq!(verify(&sha1, &h, b"payload", at(0)), Ok(()));
    let b64 =
        "JuSf83Z2yw25qDKLDtJMsChhbbZ15zML629Z6xWJDKTf6zK9vvXWciALB0LlhDZNrys3VCgMkuMmfyycxz/+QA==";
    let sha512 = auth(json!({"hmac": {
        "secret": "k3y", "header": "x-sig", "algorithm": "sha512",
        "encoding": "base64", "prefix": "sha512="
    }}));
    let with_prefix = headers(&[("x-sig", &format!("sha512={b64}"))]);
    assert_eq!(verify(&sha512, &with_prefix, b"payload", at(0)), Ok(()));
    assert!(matches!(
        verify(&sha512, &headers(&[("x-sig", b64)]), b"payload", at(0)),
        Err(AuthError::Malformed(_))
    ));
    assert_eq!(
        verify(&sha512, &with_prefix, b"payloaD", at(0)),
        Err(AuthError::Mismatch)
    );
}

#[test]
fn token_is_compared_whole() {
    let a = auth(json!({"token": {"header": "X-Gitlab-Token", "value": "s3cret"}}));
    assert_eq!(
        verify(&a, &headers(&[("x-gitlab-token", "s3cret")]), b"", at(0)),
        Ok(())
    );
    for wrong in ["s3cre", "s3cret!", "S3CRET"] {
        assert_eq!(
            verify(&a, &headers(&[("x-gitlab-token", wrong)]), b"", at(0)),
            Err(AuthError::Mismatch),
            "{wrong}"
        );
    }
}

#[test]
fn unresolved_secret_references_fail_closed() {
    let a = auth(json!({"github": {"secret": "${{ secrets.GH }}"}}));
    assert_eq!(
        resolve_auth(&a, &Secrets::none()),
        Err(AuthError::Unresolved)
    );
    let plain = auth(json!({"token": {"header": "x-t", "value": "v"}}));
    assert_eq!(resolve_auth(&plain, &Secrets::none()), Ok(plain.clone()));
}
