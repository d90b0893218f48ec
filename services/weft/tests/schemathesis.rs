//! The OpenAPI document is the truth: Schemathesis (PyPI, `st run`) generates requests from
//! `/api/v1/openapi.json` (valid ones and ones the document says are wrong) and sends them to a
//! live Weft hosted as `weft dev` hosts it, with the examples applied, a secret stored and an
//! execution in its history. Its checks `not_a_server_error`, `status_code_conformance`,
//! `content_type_conformance` and `response_schema_conformance` must find nothing: no 5xx,
//! no status, content type or body the document does not describe. A finding fails the test
//! and prints Schemathesis' report (each finding with a `curl` line that reproduces it).
//!
//! Bounded: `WEFT_SCHEMATHESIS_EXAMPLES` cases per operation (default 40) in every phase,
//! one worker, killed after `WEFT_SCHEMATHESIS_TIMEOUT_S` (default 150). The seed is fixed
//! (`WEFT_SCHEMATHESIS_SEED`, default below) so a run is repeatable; set another to explore.

mod common;

use std::time::Duration;

use common::Env;
use serde_json::{Value, json};
use weft_testkit::Schemathesis;

/// The checks that must pass (Schemathesis' names).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance";
const DEFAULT_SEED: &str = "20261204";

fn setting(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_api_answers_only_what_its_openapi_document_says() {
    let env = Env::start_with(|c| {
        c.master_key =
            weft_runtime::Redacted(weft_secrets::MasterKey::generate().expect("random key"));
    })
    .await;
    let operations = seed(&env).await;

    let examples = setting("WEFT_SCHEMATHESIS_EXAMPLES", "40");
    let timeout: u64 = setting("WEFT_SCHEMATHESIS_TIMEOUT_S", "150")
        .parse()
        .expect("WEFT_SCHEMATHESIS_TIMEOUT_S is a number of seconds");
    let run = Schemathesis {
        schema_url: format!("{}/api/v1/openapi.json", env.base),
        args: [
            "--checks",
            CHECKS,
            "--max-examples",
            &examples,
            "--seed",
            &setting("WEFT_SCHEMATHESIS_SEED", DEFAULT_SEED),
            // One worker: Hypothesis parses lambda sources with `ast` while generating, and
            // CPython 3.11's AST constructor is not thread-safe ("AST constructor recursion
            // depth mismatch" once in a clean CI run, reported as a Schemathesis runtime error).
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--generation-database",
            "none",
            // Generation speed on a busy 2-core machine says nothing about the API.
            "--suppress-health-check",
            "too_slow",
        ]
        .map(str::to_owned)
        .to_vec(),
        time_limit: Duration::from_secs(timeout),
    };
    let report = run.run().await.expect("st runs");
    println!(
        "Schemathesis ran {:.0?}; its report:\n{}",
        report.elapsed, report.output
    );
    assert!(
        report.status.is_some(),
        "Schemathesis did not finish within {timeout} s (see its report above)"
    );
    assert!(
        report.passed(),
        "Schemathesis found responses the OpenAPI document does not describe ({:?}); its \
         report, with a curl line per finding, is above",
        report.status
    );
    // Every operation but the document's own is tested.
    let tested = format!("Selected: {n}/{n}\n  Tested: {n}\n", n = operations - 1);
    assert!(
        report.output.contains(&tested),
        "expected {} of the {operations} documented operations to be tested ({tested:?})",
        operations - 1
    );
}

/// What `weft dev --apply examples/` has, plus a secret and a finished execution, so the
/// generated requests also reach existing workflows, secrets and executions. Returns the
/// number of operations the document lists.
async fn seed(env: &Env) -> usize {
    let dir = weft_testkit::repo_root().join("examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    // A workflow that `call`s another applies after it (as `weft apply DIR` does): files
    // that fail are tried again while that gets further.
    let mut pending = files;
    loop {
        let mut failed = Vec::new();
        for path in &pending {
            let source = std::fs::read_to_string(path).expect("example readable");
            let workflow =
                weft_flow::parse(&source, weft_flow::Format::Yaml).expect("valid example");
            let resp = env
                .http
                .put(format!("{}/api/v1/workflows/{}", env.base, workflow.name))
                .header("content-type", "application/yaml")
                .body(source)
                .send()
                .await
                .expect("apply");
            if !resp.status().is_success() {
                failed.push((path.clone(), resp.status()));
            }
        }
        if failed.is_empty() {
            break;
        }
        assert!(
            failed.len() < pending.len(),
            "examples not applied: {failed:?}"
        );
        pending = failed.into_iter().map(|(p, _)| p).collect();
    }
    let put = env
        .http
        .put(format!("{}/api/v1/secrets/API_TOKEN", env.base))
        .json(&json!({"value": "tok"}))
        .send()
        .await
        .expect("put secret");
    assert_eq!(put.status(), 200);
    let run: Value = env
        .http
        .post(format!("{}/api/v1/workflows/hello/run", env.base))
        .json(&json!({"inputs": {"who": "Ada"}}))
        .send()
        .await
        .expect("run")
        .json()
        .await
        .expect("run answer");
    let id = run["execution_id"]
        .as_str()
        .expect("execution id")
        .to_owned();
    weft_testkit::wait_for(Duration::from_secs(30), || async {
        let detail = env.execution(&id).await;
        (!matches!(detail["status"].as_str(), Some("queued" | "running"))).then_some(())
    })
    .await
    .expect("the seeded execution ends");
    let doc: Value = env
        .http
        .get(format!("{}/api/v1/openapi.json", env.base))
        .send()
        .await
        .expect("document")
        .json()
        .await
        .expect("document json");
    doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|item| item.as_object().map_or(0, |ops| ops.len()))
        .sum()
}
