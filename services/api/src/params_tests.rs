//! The documented patterns accept exactly what the handlers accept, for every string drawn
//! from the characters that matter (and a few that must never pass).

use proptest::prelude::*;
use regex::Regex;
use serde_json::Value;

use super::*;

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("pattern {pattern}: {e}"))
}

/// The schema of parameter `name` of `method path` in the served document.
fn documented(path: &str, method: &str, name: &str) -> Value {
    let doc = crate::openapi::document_json();
    let params = doc["paths"][path][method]["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    params
        .into_iter()
        .find(|p| p["name"] == name)
        .map(|p| p["schema"].clone())
        .unwrap_or_else(|| panic!("{method} {path} documents no parameter {name}"))
}

#[test]
fn the_document_states_these_patterns() {
    for (path, method) in [
        ("/api/v1/workflows/{name}", "put"),
        ("/api/v1/workflows/{name}", "get"),
        ("/api/v1/workflows/{name}", "delete"),
        ("/api/v1/workflows/{name}/versions", "get"),
        ("/api/v1/workflows/{name}/run", "post"),
    ] {
        let schema = documented(path, method, "name");
        assert_eq!(schema["pattern"], WORKFLOW_NAME_PATTERN, "{method} {path}");
    }
    for method in ["put", "delete"] {
        let schema = documented("/api/v1/secrets/{name}", method, "name");
        assert_eq!(schema["pattern"], SECRET_NAME_PATTERN, "{method} secrets");
    }
    for path in [
        "/api/v1/workflows/{name}/run",
        "/api/v1/executions/{id}/retry",
    ] {
        let schema = documented(path, "post", "Idempotency-Key");
        assert_eq!(schema["pattern"], IDEMPOTENCY_KEY_PATTERN, "{path}");
        assert_eq!(schema["maxLength"], 255, "{path}");
    }
    for (path, method) in [
        ("/api/v1/executions/{id}", "get"),
        ("/api/v1/executions/{id}/cancel", "post"),
        ("/api/v1/executions/{id}/retry", "post"),
    ] {
        assert_eq!(documented(path, method, "id")["format"], "uuid", "{path}");
    }
    for (path, method) in [
        ("/api/v1/dead-letters/{id}", "get"),
        ("/api/v1/dead-letters/{id}/replay", "post"),
    ] {
        let schema = documented(path, method, "id");
        assert_eq!(schema["pattern"], DEAD_LETTER_ID_PATTERN, "{path}");
    }
    let cursor = documented("/api/v1/dead-letters", "get", "cursor");
    assert_eq!(cursor["pattern"], DEAD_LETTER_ID_PATTERN);
}

fn key_headers(key: &str) -> Option<HeaderMap> {
    let mut h = HeaderMap::new();
    h.insert("idempotency-key", key.parse().ok()?);
    Some(h)
}

proptest! {
    #[test]
    fn workflow_name_pattern_is_the_check(name in "[a-zA-Z0-9_ .-]{0,70}|[a-z0-9-]{60,66}") {
        let documented = regex(WORKFLOW_NAME_PATTERN).is_match(&name);
        prop_assert_eq!(documented, workflow_name(&name).is_ok(), "{}", name);
        prop_assert_eq!(documented, weft_flow::validate::is_name(&name), "{}", name);
    }

    #[test]
    fn secret_name_pattern_is_the_check(name in "[a-zA-Z0-9_ .-]{0,20}|[A-Za-z_][A-Za-z0-9_]{120,130}") {
        let documented = regex(SECRET_NAME_PATTERN).is_match(&name);
        prop_assert_eq!(documented, weft_secrets::is_valid_name(&name), "{}", name);
    }

    #[test]
    fn idempotency_key_pattern_is_the_check(key in "[ -~]{1,20}|[!-~]{250,260}") {
        // What reaches the handler: HTTP drops spaces around a header value.
        let key = key.trim();
        let documented = regex(IDEMPOTENCY_KEY_PATTERN).is_match(key) && key.len() <= 255;
        let accepted = key_headers(key).is_some_and(|h| idempotency_key(&h).is_ok());
        prop_assert_eq!(documented, accepted, "{}", key);
    }

    #[test]
    fn dead_letter_id_pattern_is_the_check(s in "[0-9a-z-]{0,3}|[0-9]{17,21}|0[0-9]{0,3}") {
        let documented = regex(DEAD_LETTER_ID_PATTERN).is_match(&s);
        prop_assert_eq!(documented, dead_letter_id(&s).is_ok(), "{}", s);
    }

    #[test]
    fn execution_ids_are_hyphenated_uuids(s in "[0-9a-f-]{30,40}|\\{?[0-9a-f]{32}\\}?") {
        let hyphenated = regex(
            "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        );
        prop_assert_eq!(hyphenated.is_match(&s), execution_id(&s).is_ok(), "{}", s);
    }
}

#[test]
fn execution_id_forms() {
    let id = Uuid::now_v7();
    assert!(execution_id(&id.to_string()).is_ok());
    assert!(execution_id(&id.simple().to_string()).is_err());
    assert!(execution_id(&id.braced().to_string()).is_err());
    assert!(execution_id(&id.urn().to_string()).is_err());
    assert!(execution_id("null,null").is_err());
}

#[test]
fn json_content_types() {
    let with = |ct: &str| {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, ct.parse().expect("header"));
        json_content_type(&h).is_ok()
    };
    assert!(json_content_type(&HeaderMap::new()).is_ok());
    assert!(with("application/json"));
    assert!(with("Application/JSON; charset=utf-8"));
    assert!(with("application/merge-patch+json"));
    assert!(!with("text/plain"));
    assert!(!with("application/x-www-form-urlencoded"));
    assert!(!with("text/foo+json"));
}
