//! `/api/v1/secrets`: stored sealed, listed without values, deleted; clear errors.

use weft_api::ApiService;
use weft_events::subjects::SECRETS_BUCKET;

use crate::common::{assert_error, call, env};

#[tokio::test]
async fn put_list_delete_and_values_never_shown() {
    let env = env().await;
    let body = r#"{"value": "pa55-w0rd-clear"}"#;
    let (status, info) = call(&env.app, "PUT", "/api/v1/secrets/SMTP_PASSWORD", &[], body).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["name"], "SMTP_PASSWORD");
    assert!(info.get("value").is_none());

    // Replacing keeps the creation date.
    let (status, again) = call(
        &env.app,
        "PUT",
        "/api/v1/secrets/SMTP_PASSWORD",
        &[],
        r#"{"value":"v2-secret"}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(again["created_at"], info["created_at"]);

    let (status, list) = call(&env.app, "GET", "/api/v1/secrets", &[], "").await;
    assert_eq!(status, 200);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    assert!(!list.to_string().contains("pa55") && !list.to_string().contains("v2-secret"));

    // At rest the value is sealed.
    let kv = env.bus.kv(SECRETS_BUCKET).await.unwrap();
    let stored = kv.get("SMTP_PASSWORD").await.unwrap().unwrap();
    let stored = String::from_utf8_lossy(&stored);
    assert!(
        stored.contains("ciphertext") && !stored.contains("v2-secret"),
        "{stored}"
    );

    let (status, _) = call(&env.app, "DELETE", "/api/v1/secrets/SMTP_PASSWORD", &[], "").await;
    assert_eq!(status, 204);
    let (status, body) = call(&env.app, "DELETE", "/api/v1/secrets/SMTP_PASSWORD", &[], "").await;
    assert_eq!(status, 404);
    assert_error(&body, "not_found");
}

#[tokio::test]
async fn bad_names_bodies_and_a_missing_master_key_are_clear_errors() {
    let env = env().await;
    let (status, body) = call(
        &env.app,
        "PUT",
        "/api/v1/secrets/bad-name",
        &[],
        r#"{"value":"x"}"#,
    )
    .await;
    assert_eq!(status, 400);
    assert!(assert_error(&body, "invalid_name").contains("secret name"));
    let (status, body) = call(&env.app, "PUT", "/api/v1/secrets/OK", &[], r#"{"val":"x"}"#).await;
    assert_eq!(status, 400);
    assert!(assert_error(&body, "bad_request").contains("value"));

    let keyless = ApiService::new(
        weft_api::ApiConfig::default(),
        crate::common::deps(&env.store, &env.bus, None),
    )
    .router();
    let (status, body) = call(
        &keyless,
        "PUT",
        "/api/v1/secrets/OK",
        &[],
        r#"{"value":"x"}"#,
    )
    .await;
    assert_eq!(status, 503);
    assert!(assert_error(&body, "unavailable").contains("WEFT_MASTER_KEY"));
}
