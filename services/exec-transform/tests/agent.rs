//! The `transform` agent through the executor contract: `Agent::execute` with a test context.

use serde_json::{Value, json};
use weft_exec_transform::{TransformAgent, TransformConfig, TransformWith};
use weft_executor::{Agent, Context, ErrorCode};

fn agent() -> TransformAgent {
    TransformAgent::new(TransformConfig::default()).expect("agent")
}

fn with(v: Value) -> TransformWith {
    serde_json::from_value(v).expect("with")
}

#[tokio::test]
async fn ndjson_artifact_through_the_context_store() {
    let cx = Context::for_test();
    let r = cx
        .artifacts()
        .put(
            b"{\"sku\":\"a\",\"qty\":2}\n{\"sku\":\"b\",\"qty\":3}\n".to_vec(),
            "lines.ndjson",
            "application/x-ndjson",
        )
        .await
        .expect("put");
    let input = serde_json::to_value(&r).expect("ref");
    let out = agent()
        .execute(
            with(json!({"input": input, "jq": "map(.qty) | add"})),
            cx.clone(),
        )
        .await
        .expect("ok");
    assert_eq!(out, json!(5));
}

#[tokio::test]
async fn errors_carry_the_documented_codes() {
    let cases = [
        (json!({"jq": "error(\"no\")"}), ErrorCode::Transform, false),
        (json!({"jq": "nosuch"}), ErrorCode::BadInput, false),
        (json!({"jq": ".", "map": {}}), ErrorCode::BadInput, false),
        (
            json!({"input": {"id": "x", "name": "gone.json", "content_type": "application/json",
                             "size": 1, "sha256": "00"}, "jq": "."}),
            ErrorCode::ArtifactNotFound,
            false,
        ),
        (
            json!({"jq": "[range(1e9)]"}),
            ErrorCode::SandboxLimit,
            false,
        ),
        (
            json!({"map": {"a": "input.b"}, "input": {}}),
            ErrorCode::Transform,
            false,
        ),
    ];
    for (w, code, retryable) in cases {
        let err = agent()
            .execute(with(w.clone()), Context::for_test())
            .await
            .expect_err("fails");
        assert_eq!(err.code, code, "{w}: {}", err.message);
        assert_eq!(err.retryable, retryable, "{w}");
    }
}

#[tokio::test]
async fn debug_output_lands_in_the_attempt_log() {
    let cx = Context::for_test();
    let out = agent()
        .execute(with(json!({"input": 2, "jq": "debug | . * 3"})), cx.clone())
        .await
        .expect("ok");
    assert_eq!(out, json!(6));
    let (lines, dropped) = cx.take_log();
    assert_eq!(dropped, 0);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        serde_json::to_string(&lines[0])
            .expect("line")
            .contains('2')
    );
}

#[test]
fn schemas_are_published() {
    let (with_schema, _output) = weft_executor::schemas::<TransformAgent>();
    assert!(with_schema["properties"]["jq"]["description"].is_string());
    assert!(
        TransformAgent::new(TransformConfig {
            max_steps: 0,
            ..TransformConfig::default()
        })
        .is_err()
    );
}
