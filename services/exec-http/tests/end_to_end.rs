//! The executor loop on a real NATS: a task on `weft.tasks.http` becomes a result on
//! `weft.results.http`.

mod common;

use std::time::Duration;

use serde_json::json;
use weft_bus::Bus;
use weft_events::{Outcome, TaskResult, subjects, types};
use weft_exec_http::ExecHttpConfig;
use weft_runtime::Shutdown;

#[tokio::test]
async fn a_task_on_the_bus_gets_its_result_on_the_bus() {
    let nats = weft_testkit::NatsServer::start()
        .await
        .expect("nats starts");
    let bus = Bus::connect(&nats.url, "test").await.expect("connect");
    bus.ensure_streams().await.expect("streams");
    let addr = common::target().await;

    let shutdown = Shutdown::new();
    let agent = weft_exec_http::HttpExecutor::new(&ExecHttpConfig::default()).expect("agent");
    let deps = weft_executor::ExecutorDeps {
        bus: bus.clone(),
        inputs: std::sync::Arc::new(weft_executor::NoSecrets),
        artifacts: weft_executor::Artifacts::jetstream(&bus)
            .await
            .expect("artifacts"),
        locals: weft_executor::Locals::default(),
    };
    let config = weft_executor::ExecutorConfig {
        concurrency: 4,
        ..Default::default()
    };
    let service = weft_executor::ExecutorService::new(agent, config, deps);
    let runner = tokio::spawn(service.run(shutdown.clone()));

    let task = common::task(
        json!({"method": "POST", "url": format!("http://{addr}/echo"), "json": {"n": 1}}),
    );
    let data = serde_json::to_value(&task).expect("task json");
    let event = weft_events::new_event(
        format!("task-{}", task.attempt_id),
        types::TASK,
        "weft/router",
        Some(&task.step_id),
        data,
    );
    bus.publish_event(&subjects::task_subject("http"), &event)
        .await
        .expect("publish task");

    let subject = subjects::result_subject("http");
    let wait = Duration::from_secs(15);
    let results =
        weft_testkit::stored_messages(bus.jetstream(), subjects::RESULTS_STREAM, &subject, 1, wait)
            .await
            .expect("results readable");
    let message = results.first().expect("a result within 15 s");

    let event = weft_events::decode_event(&message.payload).expect("cloudevent");
    let json = weft_events::event_json(&event);
    assert_eq!(json["type"], types::TASK_RESULT);
    let result: TaskResult = serde_json::from_value(json["data"].clone()).expect("task result");
    assert_eq!(result.attempt_id, task.attempt_id);
    assert_eq!(result.execution_id, task.execution_id);
    assert_eq!(result.step_id, "call");
    let Outcome::Succeeded(output) = result.outcome else {
        panic!("attempt failed: {:?}", result.outcome);
    };
    assert_eq!(output["status"], 200);
    assert_eq!(
        output["body"]["headers"]["idempotency-key"],
        task.attempt_id.to_string().as_str()
    );

    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(35), runner)
        .await
        .expect("the runner stops on shutdown")
        .expect("joined")
        .expect("ran");
}
