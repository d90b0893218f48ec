//! Harness of the `on.file` tests: a private nats-server (weft-testkit), the real
//! `TriggerService<FileSource>` in this process, workflows put into the `weft_workflows`
//! bucket as the admin API does, and real folders in a temporary directory.

#![allow(dead_code)]

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use serde_json::Value;
use tokio::task::JoinHandle;
use weft_bus::Bus;
use weft_events::subjects::{EVENTS_FILE, EVENTS_STREAM, TRIGGERS_BUCKET, WORKFLOWS_BUCKET};
use weft_files::FileSource;
use weft_runtime::Shutdown;
use weft_testkit::NatsServer;

/// One isolated installation: NATS, a folder, the files trigger service.
pub struct Harness {
    pub bus: Bus,
    pub dir: tempfile::TempDir,
    service: Option<(Shutdown, JoinHandle<Result<(), weft_trigger::TriggerError>>)>,
    versions: i32,
    // Last: the server outlives the clients.
    pub nats: NatsServer,
}

impl Harness {
    /// NATS with the streams, a temporary directory, and the service running.
    pub async fn start() -> Harness {
        weft_runtime::telemetry::init_logging("text");
        let nats = NatsServer::start().await.expect("nats starts");
        let bus = Bus::connect(&nats.url, "weft-files-test")
            .await
            .expect("bus");
        bus.ensure_streams().await.expect("streams");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut h = Harness {
            bus,
            dir,
            service: None,
            versions: 0,
            nats,
        };
        h.start_service();
        h
    }

    /// `rel` under the temporary directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `rel` under the temporary directory, as a string (for workflow files).
    pub fn path_str(&self, rel: &str) -> String {
        self.path(rel).to_string_lossy().into_owned()
    }

    /// Start the trigger service (it picks up the published workflows).
    pub fn start_service(&mut self) {
        assert!(self.service.is_none(), "service already running");
        let shutdown = Shutdown::new();
        let service = weft_trigger::TriggerService::new(
            FileSource,
            weft_trigger::TriggerDeps::without_secrets(self.bus.clone()),
        );
        let task = tokio::spawn(service.run(shutdown.clone()));
        self.service = Some((shutdown, task));
    }

    /// Stop the trigger service and wait for it.
    pub async fn stop_service(&mut self) {
        if let Some((shutdown, task)) = self.service.take() {
            shutdown.trigger();
            tokio::time::timeout(Duration::from_secs(20), task)
                .await
                .expect("service stops within 20 s")
                .expect("service task")
                .expect("the trigger service stops cleanly");
        }
    }

    /// Publish workflow `name` with `on.file` = `file` (YAML flow mapping), as the admin API
    /// does on apply.
    pub async fn apply(&mut self, name: &str, file: &str) {
        let yaml = format!(
            "name: {name}\non:\n  file: {file}\nsteps:\n  s:\n    uses: http\n    with: {{ url: 'http://127.0.0.1:9/' }}\n"
        );
        let workflow = weft_flow::parse(&yaml, weft_flow::Format::Yaml).expect("valid workflow");
        self.versions += 1;
        let published = weft_flow::Published {
            version: self.versions,
            workflow,
        };
        self.bus
            .put_json(WORKFLOWS_BUCKET, name, &published)
            .await
            .expect("put workflow");
    }

    /// The health entry of `workflow`'s first file trigger.
    pub async fn health(&self, workflow: &str) -> Option<Value> {
        let kv = self.bus.kv(TRIGGERS_BUCKET).await.expect("bucket");
        let key = format!("{workflow}.file.0");
        let bytes = kv.get(&key).await.expect("kv get")?;
        Some(serde_json::from_slice(&bytes).expect("health json"))
    }

    /// Wait until the health entry satisfies `ok`; returns it.
    pub async fn wait_health(
        &self,
        workflow: &str,
        within: Duration,
        ok: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let h = self.health(workflow).await;
            if let Some(h) = h.as_ref().filter(|h| ok(h)) {
                return h.clone();
            }
            assert!(
                Instant::now() < deadline,
                "health of {workflow} never matched; last: {h:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until `workflow`'s trigger has scanned its folder, saved its cursor and watches.
    pub async fn wait_watching(&self, workflow: &str) -> Value {
        self.wait_health(workflow, Duration::from_secs(15), |h| {
            h["state"] == "running" && h["cursor"].is_object()
        })
        .await
    }

    /// Every file event stored so far, waiting up to `wait` for at least `min`.
    pub async fn events(&self, min: usize, wait: Duration) -> Vec<Value> {
        let js = self.bus.jetstream();
        weft_testkit::stored_messages(js, EVENTS_STREAM, EVENTS_FILE, min, wait)
            .await
            .expect("events readable")
            .iter()
            .map(|m| serde_json::from_slice(&m.payload).expect("event json"))
            .collect()
    }

    /// Exactly `n` events: waits for them, then waits `quiet` more and checks none followed.
    pub async fn exactly(&self, n: usize, quiet: Duration) -> Vec<Value> {
        let got = self.events(n, Duration::from_secs(15)).await;
        assert!(
            got.len() >= n,
            "expected {n} events, got {}: {got:#?}",
            got.len()
        );
        tokio::time::sleep(quiet).await;
        let again = self.events(n + 1, Duration::from_millis(300)).await;
        assert_eq!(again.len(), n, "expected exactly {n} events: {again:#?}");
        again
    }
}

/// (type, subject) of each event, in order.
pub fn kinds(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or("").to_string(),
                e["subject"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}
