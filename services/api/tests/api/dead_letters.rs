//! `/api/v1/dead-letters` over a real dead-letter stream: messages parked by the shared consume
//! loop are listed with their reason, origin and payload (JSON as JSON, anything else as
//! base64), paged, fetched one by one, and replayed to the consumer that gave up on them, after
//! which they are gone.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use serde_json::{Value, json};
use weft_bus::{ConsumerSpec, Delivery, Disposition, Handler, consume};
use weft_events::subjects;

use crate::common::{assert_error, call, env};

/// Dead-letters everything until `accept`, then acks and keeps what it got.
#[derive(Default)]
struct Picky {
    accept: AtomicBool,
    got: Mutex<Vec<Bytes>>,
}

impl Handler for Picky {
    async fn handle(&self, d: Delivery) -> Disposition {
        if !self.accept.load(Ordering::SeqCst) {
            return Disposition::DeadLetter("cannot decode\nthis".into());
        }
        self.got.lock().unwrap().push(d.payload);
        Disposition::Ack
    }
}

async fn dead_letters(app: &axum::Router, query: &str) -> Value {
    let (status, body) = call(app, "GET", &format!("/api/v1/dead-letters{query}"), &[], "").await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn dead_letters_are_listed_paged_and_replayed_to_their_consumer() {
    let env = env().await;
    let subject = subjects::task_subject("dlqtest");
    let spec = ConsumerSpec::new(subjects::TASKS_STREAM, "exec-dlqtest", &subject);
    let handler = Arc::new(Picky::default());
    let shutdown = weft_runtime::Shutdown::new();
    let loop_task = tokio::spawn(consume(
        env.bus.clone(),
        spec,
        handler.clone(),
        shutdown.clone(),
    ));
    let bodies: [&[u8]; 3] = [br#"{"n":1}"#, b"\xff\x00binary", br#"{"n":3}"#];
    for (i, body) in bodies.iter().enumerate() {
        env.bus
            .publish_bytes(&subject, &format!("m{i}"), Bytes::copy_from_slice(body))
            .await
            .unwrap();
    }
    weft_testkit::wait_for(Duration::from_secs(10), || async {
        let list = dead_letters(&env.app, "").await;
        (list["items"].as_array().unwrap().len() == 3).then_some(list)
    })
    .await
    .expect("three dead letters");

    let list = dead_letters(&env.app, "").await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(list["next_cursor"], Value::Null);
    assert_eq!(items[0]["payload"], json!({"n": 1}));
    assert_eq!(items[1]["payload"], Value::Null, "{}", items[1]);
    assert_eq!(items[1]["payload_base64"], "/wBiaW5hcnk=");
    assert_eq!(items[2]["payload"], json!({"n": 3}));
    for item in items {
        assert_eq!(item["reason"], "cannot decode this", "one header line");
        assert_eq!(item["subject"], subject.as_str());
        assert_eq!(item["stream"], subjects::TASKS_STREAM);
        assert_eq!(item["consumer"], "exec-dlqtest");
        assert_eq!(item["delivered"], 1);
        assert_eq!(item["replayable"], true);
        assert!(item["dead_lettered_at"].is_string());
    }
    assert_eq!(items[1]["size"], bodies[1].len());
    let ids: Vec<u64> = items.iter().map(|i| i["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first: {ids:?}");

    let first = dead_letters(&env.app, "?limit=2").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let rest = dead_letters(&env.app, &format!("?limit=2&cursor={cursor}")).await;
    assert_eq!(rest["items"][0]["id"], ids[2]);
    assert_eq!(rest["next_cursor"], Value::Null);

    let one = format!("/api/v1/dead-letters/{}", ids[0]);
    let (status, got) = call(&env.app, "GET", &one, &[], "").await;
    assert_eq!(status, 200);
    assert_eq!(got, items[0]);

    // Replayed to its consumer, which now takes it; the dead letter is gone.
    handler.accept.store(true, Ordering::SeqCst);
    let (status, replayed) = call(&env.app, "POST", &format!("{one}/replay"), &[], "").await;
    assert_eq!(status, 202, "{replayed}");
    assert_eq!(replayed["id"], ids[0]);
    assert_eq!(replayed["subject"], subject.as_str());
    weft_testkit::wait_for(Duration::from_secs(10), || async {
        let got = handler.got.lock().unwrap().clone();
        (got == vec![Bytes::from_static(br#"{"n":1}"#)]).then_some(())
    })
    .await
    .expect("the replayed message reaches its consumer");
    let (status, body) = call(&env.app, "GET", &one, &[], "").await;
    assert_eq!(status, 404);
    assert_error(&body, "not_found");
    let (status, body) = call(&env.app, "POST", &format!("{one}/replay"), &[], "").await;
    assert_eq!(status, 404);
    assert_error(&body, "not_found");
    let left = dead_letters(&env.app, "").await;
    let left: Vec<&Value> = left["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["id"])
        .collect();
    assert_eq!(left, vec![&json!(ids[1]), &json!(ids[2])]);
    shutdown.trigger();
    loop_task.await.unwrap();
}

#[tokio::test]
async fn unknown_malformed_and_unreplayable_ids_are_refused() {
    let env = env().await;
    for id in ["0", "01", "-1", "abc", "12345678901234567890"] {
        let (status, body) = call(
            &env.app,
            "GET",
            &format!("/api/v1/dead-letters/{id}"),
            &[],
            "",
        )
        .await;
        assert_eq!(status, 400, "{id}: {body}");
        assert!(assert_error(&body, "bad_request").contains("dead-letter id"));
    }
    for query in ["?limit=0", "?cursor=x", "?cursor=0"] {
        let uri = format!("/api/v1/dead-letters{query}");
        let (status, body) = call(&env.app, "GET", &uri, &[], "").await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_error(&body, "bad_request");
    }
    let (status, body) = call(&env.app, "POST", "/api/v1/dead-letters/42/replay", &[], "").await;
    assert_eq!(status, 404, "{body}");
    assert_error(&body, "not_found");

    // Parked by hand, without saying where it came from: it cannot be replayed.
    let ack = env
        .bus
        .jetstream()
        .publish(
            subjects::dlq_subject("WEFT_TASKS"),
            Bytes::from_static(b"{}"),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let uri = format!("/api/v1/dead-letters/{}", ack.sequence);
    let (status, body) = call(&env.app, "GET", &uri, &[], "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["replayable"], false);
    let (status, body) = call(&env.app, "POST", &format!("{uri}/replay"), &[], "").await;
    assert_eq!(status, 409, "{body}");
    assert!(assert_error(&body, "conflict").contains("original subject"));
}
