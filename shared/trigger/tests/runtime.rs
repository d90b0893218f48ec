//! The trigger runtime against a real NATS server: instances follow the workflows bucket,
//! publish with deterministic ids, keep their cursor, report health and resolve secrets.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_nats::jetstream::kv;
use serde_json::json;
use weft_bus::Bus;
use weft_events::subjects::{EVENTS_STREAM, SECRETS_BUCKET, TRIGGERS_BUCKET, WORKFLOWS_BUCKET};
use weft_flow::{Published, Triggers, triggers::ScheduleTrigger};
use weft_runtime::Shutdown;
use weft_secrets::{MasterKey, SecretStore, Secrets};
use weft_testkit::{NatsServer, init_crypto, stored_messages, wait_for};
use weft_trigger::{Source, TriggerCtx, TriggerError, TriggerHealth, TriggerService, TriggerState};

/// A test source: publishes items 1, 2, 3… (continuing after its cursor) every 50 ms, and
/// fails on purpose while its `cron` field says `fail`.
#[derive(Default)]
struct Counter {
    runs: AtomicUsize,
}

impl Source for Counter {
    const KIND: &'static str = "schedule";
    type Config = ScheduleTrigger;

    fn configs(on: &Triggers) -> &[ScheduleTrigger] {
        on.schedule.as_slice()
    }

    fn scope(config: &ScheduleTrigger) -> String {
        config.timezone.clone()
    }

    async fn run(&self, ctx: TriggerCtx<ScheduleTrigger>) -> Result<(), TriggerError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        if ctx.config.cron == "fail" {
            return Err(TriggerError::source(
                "source unreachable: connection refused",
            ));
        }
        ctx.healthy();
        let mut next: u64 = ctx.cursor().await?.unwrap_or(0) + 1;
        while next <= 3 {
            let id = ctx.event_id(&[&next.to_string()]);
            let data = json!({"n": next, "cron": ctx.config.cron});
            ctx.publish(&id, "dev.weft.test", None, data).await?;
            ctx.save_cursor(&next).await?;
            next += 1;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = ctx.shutdown.wait() => return Ok(()),
            }
        }
        ctx.shutdown.wait().await;
        Ok(())
    }
}

async fn apply(bus: &Bus, name: &str, version: i32, on: serde_json::Value) {
    let workflow = serde_json::from_value(json!({
        "name": name, "on": on, "steps": {"a": {"uses": "http"}}
    }))
    .expect("workflow");
    let published = Published { version, workflow };
    bus.put_json(WORKFLOWS_BUCKET, name, &published)
        .await
        .expect("put workflow");
}

async fn health(kv: &kv::Store, key: &str) -> Option<TriggerHealth> {
    let bytes = kv.get(key).await.ok()??;
    serde_json::from_slice(&bytes).ok()
}

async fn setup() -> (NatsServer, Bus) {
    init_crypto();
    let nats = NatsServer::start().await.expect("nats");
    let bus = Bus::connect(&nats.url, "test").await.expect("bus");
    bus.ensure_streams().await.expect("streams");
    (nats, bus)
}

#[tokio::test]
async fn instances_follow_the_workflows_and_keep_their_cursor() {
    let (_nats, bus) = setup().await;
    apply(&bus, "wf", 1, json!({"schedule": {"cron": "a"}})).await;
    let shutdown = Shutdown::new();
    let source = Counter::default();
    let service = TriggerService::new(
        source,
        weft_trigger::TriggerDeps::without_secrets(bus.clone()),
    );
    let task = tokio::spawn(service.run(shutdown.clone()));

    let js = bus.jetstream();
    let msgs = stored_messages(
        js,
        EVENTS_STREAM,
        "weft.events.schedule",
        3,
        Duration::from_secs(10),
    )
    .await
    .expect("events");
    assert_eq!(msgs.len(), 3);
    let event: serde_json::Value = serde_json::from_slice(&msgs[0].payload).expect("json");
    assert_eq!(event["source"], "weft/schedule/wf");
    assert_eq!(event["data"]["n"], 1);

    let health_kv = bus.kv(TRIGGERS_BUCKET).await.expect("bucket");
    let h = wait_for(Duration::from_secs(5), || async {
        health(&health_kv, "wf.schedule.0")
            .await
            .filter(|h| h.events == 3)
    })
    .await
    .expect("health");
    assert_eq!(h.state, TriggerState::Running);
    assert_eq!(h.cursor, Some(json!(3)));
    assert!(h.last_event_at.is_some());

    // A new version with the same trigger config does not restart the instance; a changed
    // config does, and the cursor (same scope) carries over: no event is repeated.
    apply(&bus, "wf", 2, json!({"schedule": {"cron": "a"}})).await;
    apply(&bus, "wf", 3, json!({"schedule": {"cron": "b"}})).await;
    wait_for(Duration::from_secs(5), || async {
        health(&health_kv, "wf.schedule.0")
            .await
            .filter(|h| h.cursor == Some(json!(3)) && h.events == 0)
    })
    .await
    .expect("restarted with its cursor");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all = stored_messages(
        js,
        EVENTS_STREAM,
        "weft.events.schedule",
        3,
        Duration::from_millis(500),
    )
    .await
    .expect("events");
    assert_eq!(
        all.len(),
        3,
        "a restart with a saved cursor publishes nothing new"
    );

    // Deleting the workflow stops the instance and removes its health entry.
    let wf_kv = bus.kv(WORKFLOWS_BUCKET).await.expect("bucket");
    wf_kv.purge("wf").await.expect("purge");
    wait_for(Duration::from_secs(5), || async {
        health(&health_kv, "wf.schedule.0")
            .await
            .is_none()
            .then_some(())
    })
    .await
    .expect("health entry removed");

    shutdown.trigger();
    task.await
        .expect("service stops")
        .expect("the trigger service stops cleanly");
}

#[tokio::test]
async fn a_failing_source_reports_its_error_and_is_retried() {
    let (_nats, bus) = setup().await;
    apply(&bus, "bad", 1, json!({"schedule": {"cron": "fail"}})).await;
    let shutdown = Shutdown::new();
    let source = Arc::new(Counter::default());
    let service = TriggerService::new(
        ArcSource(source.clone()),
        weft_trigger::TriggerDeps::without_secrets(bus.clone()),
    );
    let task = tokio::spawn(service.run(shutdown.clone()));
    let health_kv = bus.kv(TRIGGERS_BUCKET).await.expect("bucket");
    let h = wait_for(Duration::from_secs(10), || async {
        health(&health_kv, "bad.schedule.0")
            .await
            .filter(|h| h.state == TriggerState::Error)
    })
    .await
    .expect("error reported");
    assert_eq!(
        h.last_error.as_deref(),
        Some("source unreachable: connection refused")
    );
    wait_for(Duration::from_secs(10), || async {
        (source.runs.load(Ordering::SeqCst) >= 2).then_some(())
    })
    .await
    .expect("retried after a backoff");

    // Fixing the config recovers the trigger.
    apply(&bus, "bad", 2, json!({"schedule": {"cron": "ok"}})).await;
    wait_for(Duration::from_secs(10), || async {
        health(&health_kv, "bad.schedule.0")
            .await
            .filter(|h| h.state == TriggerState::Running && h.last_error.is_none())
    })
    .await
    .expect("recovered");
    shutdown.trigger();
    task.await
        .expect("service stops")
        .expect("the trigger service stops cleanly");
    let h = health(&health_kv, "bad.schedule.0").await.expect("kept");
    assert_eq!(h.state, TriggerState::Stopped, "a stopped service says so");
}

#[tokio::test]
async fn secrets_are_resolved_for_the_trigger_and_never_published() {
    let (_nats, bus) = setup().await;
    let key = Arc::new(MasterKey::parse(&MasterKey::generate().expect("rng")).expect("key"));
    let store = SecretStore::new(bus.clone(), Some(key.clone()));
    store.put("CRON_WORD", "s3cr3t-value").await.expect("put");
    apply(
        &bus,
        "sec",
        1,
        json!({"schedule": {"cron": "${{ secrets.CRON_WORD }}", "timezone": "x"}}),
    )
    .await;
    let shutdown = Shutdown::new();
    let secrets = Secrets::watch(bus.clone(), Some(key), shutdown.clone());
    let service = TriggerService::new(
        Counter::default(),
        weft_trigger::TriggerDeps {
            bus: bus.clone(),
            secrets,
        },
    );
    let task = tokio::spawn(service.run(shutdown.clone()));
    let msgs = stored_messages(
        bus.jetstream(),
        EVENTS_STREAM,
        "weft.events.schedule",
        1,
        Duration::from_secs(10),
    )
    .await
    .expect("events");
    let event: serde_json::Value = serde_json::from_slice(&msgs[0].payload).expect("json");
    // The test source echoes its resolved config into the event to prove resolution; real
    // sources never put credentials in events.
    assert_eq!(event["data"]["cron"], "s3cr3t-value");
    let stored = bus
        .kv(SECRETS_BUCKET)
        .await
        .expect("bucket")
        .get("CRON_WORD")
        .await
        .expect("get")
        .expect("some");
    assert!(
        !String::from_utf8_lossy(&stored).contains("s3cr3t-value"),
        "sealed at rest"
    );

    // A missing secret keeps the trigger in `error` with a message naming it.
    apply(
        &bus,
        "sec",
        2,
        json!({"schedule": {"cron": "${{ secrets.NOPE }}"}}),
    )
    .await;
    let health_kv = bus.kv(TRIGGERS_BUCKET).await.expect("bucket");
    let h = wait_for(Duration::from_secs(10), || async {
        health(&health_kv, "sec.schedule.0")
            .await
            .filter(|h| h.state == TriggerState::Error)
    })
    .await
    .expect("error");
    assert!(h.last_error.unwrap_or_default().contains("NOPE"));
    shutdown.trigger();
    task.await
        .expect("service stops")
        .expect("the trigger service stops cleanly");
}

/// Lets a test keep a handle on the source's counters.
struct ArcSource(Arc<Counter>);

impl Source for ArcSource {
    const KIND: &'static str = "schedule";
    type Config = ScheduleTrigger;
    fn configs(on: &Triggers) -> &[ScheduleTrigger] {
        Counter::configs(on)
    }
    fn scope(config: &ScheduleTrigger) -> String {
        Counter::scope(config)
    }
    async fn run(&self, ctx: TriggerCtx<ScheduleTrigger>) -> Result<(), TriggerError> {
        self.0.run(ctx).await
    }
}
