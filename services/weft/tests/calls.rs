//! `call:` sub-workflows end to end, on real NATS and PostgreSQL: the child runs with the
//! step's inputs and its output is the step's; a `foreach` of calls starts one child per item;
//! a failed child fails the step; cancelling the parent cancels the child; calls nest at most
//! 10 deep; unknown workflows and cycles are refused at apply. Every execution is also
//! replayed from its journal (see `common`).

mod common;

use std::time::Duration;

use common::Env;
use serde_json::{Value, json};

const GREET: &str = r#"
name: greet
on: { webhook: { path: greet } }
steps:
  hi: { uses: http, with: { method: POST, url: "{upstream}/echo/greet", json: { name: "${{ inputs.name }}" } } }
output: ${{ steps.hi.output.body.received }}
"#;

/// The one execution of `workflow`, once it ended.
async fn ended_of(env: &Env, workflow: &str) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let all = env.executions_of(workflow).await;
        if !all.is_empty()
            && all
                .iter()
                .all(|e| e["status"] != "running" && e["status"] != "queued")
        {
            return all;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{workflow} never ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_call_runs_the_child_with_its_inputs_and_its_output_is_the_steps_output() {
    let env = Env::start().await;
    env.apply(GREET).await;
    env.apply(
        r#"
name: caller
on: { webhook: { path: caller } }
steps:
  ask: { call: greet, inputs: { name: "${{ event.data.body.name }}" } }
  after: { uses: http, needs: ask, with: { method: POST, url: "{upstream}/echo/after", json: "${{ steps.ask.output }}" } }
"#,
    )
    .await;
    let event_id = env.trigger("caller", json!({"name": "ada"})).await;
    let done = env.finished(&event_id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(Env::step(&done, "ask")["output"], json!({"name": "ada"}));
    assert_eq!(
        env.upstream.seen("/echo/after")[0].body,
        json!({"name": "ada"})
    );
    let children = ended_of(&env, "greet").await;
    assert_eq!(children.len(), 1);
    let child = env.execution(children[0]["id"].as_str().expect("id")).await;
    assert_eq!(child["event"]["type"], "dev.weft.call");
    assert_eq!(child["inputs"], json!({"name": "ada"}));
    assert_eq!(child["event"]["data"]["parent"]["execution_id"], done["id"]);
}

#[tokio::test]
async fn a_foreach_of_calls_starts_one_child_per_item_and_keeps_their_order() {
    let env = Env::start().await;
    env.apply(GREET).await;
    env.apply(
        r#"
name: many
on: { webhook: { path: many } }
steps:
  each: { call: greet, foreach: "${{ event.data.body.names }}", concurrency: 3, inputs: { name: "${{ item }}" } }
"#,
    )
    .await;
    let event_id = env
        .trigger("many", json!({"names": ["a", "b", "c", "d"]}))
        .await;
    let done = env.finished(&event_id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(
        Env::step(&done, "each")["output"],
        json!([{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "d"}])
    );
    assert_eq!(ended_of(&env, "greet").await.len(), 4);
}

#[tokio::test]
async fn a_failed_child_fails_the_call_step_with_call_failed() {
    let env = Env::start().await;
    env.apply(
        "name: broken\non: { webhook: { path: broken } }\nsteps:\n  s: { uses: http, with: { url: \"{upstream}/status/500\" } }\n",
    )
    .await;
    env.apply("name: parent\non: { webhook: { path: parent } }\nsteps:\n  c: { call: broken }\n")
        .await;
    let event_id = env.trigger("parent", json!({})).await;
    let done = env.finished(&event_id).await;
    assert_eq!(done["status"], "failed", "{done}");
    let error = &Env::step(&done, "c")["error"];
    assert_eq!(error["code"], "call_failed", "{error}");
    let child = ended_of(&env, "broken").await;
    assert_eq!(error["details"]["execution_id"], child[0]["id"]);
    assert_eq!(error["details"]["status"], "failed");
}

#[tokio::test]
async fn cancelling_the_parent_cancels_its_child() {
    let env = Env::start().await;
    env.apply("name: nap\non: { webhook: { path: nap } }\nsteps:\n  z: { sleep: 60s }\n")
        .await;
    env.apply("name: boss\non: { webhook: { path: boss } }\nsteps:\n  c: { call: nap }\n")
        .await;
    let event_id = env.trigger("boss", json!({})).await;
    let id = env.execution_id_of(&event_id).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let child = loop {
        if let Some(c) = env.executions_of("nap").await.first()
            && c["status"] == "running"
        {
            break c["id"].as_str().expect("id").to_string();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the child never ran"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    env.cancel(&id).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let detail = env.execution(&child).await;
        if detail["status"] == "cancelled" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "child still {}",
            detail["status"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn calls_nest_at_most_ten_deep() {
    let env = Env::start().await;
    env.apply("name: w11\non: { webhook: { path: w11 } }\nsteps:\n  z: { sleep: 1ms }\n")
        .await;
    for i in (0..=10).rev() {
        let next = i + 1;
        env.apply(&format!(
            "name: w{i}\non: {{ webhook: {{ path: w{i} }} }}\nsteps:\n  c: {{ call: w{next} }}\n"
        ))
        .await;
    }
    let event_id = env.trigger("w0", json!({})).await;
    let done = env.finished(&event_id).await;
    assert_eq!(done["status"], "failed", "{done}");
    let deepest = ended_of(&env, "w10").await;
    let deepest = env.execution(deepest[0]["id"].as_str().expect("id")).await;
    let error = &Env::step(&deepest, "c")["error"];
    assert_eq!(error["code"], "call_depth", "{error}");
    assert!(
        env.executions_of("w11").await.is_empty(),
        "w11 never started"
    );
}

#[tokio::test]
async fn unknown_workflows_and_cycles_of_calls_are_refused_at_apply() {
    let env = Env::start().await;
    let (status, body) = env
        .apply_raw("name: a\non: { webhook: { path: a } }\nsteps:\n  s:\n    call: nowhere\n")
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "steps.s.call", "{body}");
    assert_eq!(body["line"], 5, "{body}");
    env.apply("name: b\non: { webhook: { path: b } }\nsteps:\n  z: { sleep: 1ms }\n")
        .await;
    env.apply("name: a\non: { webhook: { path: a } }\nsteps:\n  s: { call: b }\n")
        .await;
    let (status, body) = env
        .apply_raw("name: b\non: { webhook: { path: b } }\nsteps:\n  back: { call: a }\n")
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "steps.back.call", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("b → a → b"),
        "{body}"
    );
    let (status, body) = env
        .apply_raw("name: c\non: { webhook: { path: c } }\nsteps:\n  me: { call: c }\n")
        .await;
    assert_eq!(status, 400, "{body}");
}
