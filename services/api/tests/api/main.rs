//! End-to-end tests of the admin API against a real PostgreSQL and a real NATS server.
#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;

mod contract;
mod dead_letters;
mod email;
mod executions;
mod runs;
mod schedule;
mod secrets;
mod triggers;
mod workflows;

#[tokio::test]
async fn openapi_lists_every_route() {
    let env = common::env().await;
    let (status, doc) = common::call(&env.app, "GET", "/api/v1/openapi.json", &[], "").await;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/workflows", "get"),
        ("/api/v1/workflows/{name}", "put"),
        ("/api/v1/workflows/{name}", "get"),
        ("/api/v1/workflows/{name}", "delete"),
        ("/api/v1/workflows/{name}/versions", "get"),
        ("/api/v1/workflows/{name}/run", "post"),
        ("/api/v1/executions", "get"),
        ("/api/v1/executions/{id}", "get"),
        ("/api/v1/executions/{id}/cancel", "post"),
        ("/api/v1/dead-letters", "get"),
        ("/api/v1/dead-letters/{id}", "get"),
        ("/api/v1/dead-letters/{id}/replay", "post"),
        ("/api/v1/openapi.json", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    let mut ids: Vec<&str> = paths
        .values()
        .flat_map(|p| p.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "operation ids must be unique: {ids:?}");
    if let Ok(path) = std::env::var("WEFT_DUMP_OPENAPI") {
        std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    }
}
