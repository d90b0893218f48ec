//! Harness of the trigger tests: a private NATS and Dovecot per test, the imap
//! [`TriggerService`] running in-process on its own shutdown (so a test can stop and start it
//! like a service restart), workflows put into the `weft_workflows` bucket as the admin API
//! does, and the stored events and health entries read back.

#![allow(dead_code)]

use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinHandle;
use weft_bus::Bus;
use weft_events::subjects::{EVENTS_EMAIL, EVENTS_STREAM, TRIGGERS_BUCKET, WORKFLOWS_BUCKET};
use weft_executor::Artifacts;
use weft_flow::Published;
use weft_imap::ImapSource;
use weft_runtime::Shutdown;
use weft_testkit::{Dovecot, NatsServer};
use weft_trigger::{TriggerHealth, TriggerService};

/// One isolated installation: NATS (with its artifact store), Dovecot and (when started) the
/// service.
pub struct Rig {
    pub bus: Bus,
    /// The JetStream artifact store executors read.
    pub artifacts: Artifacts,
    service: Option<(Shutdown, JoinHandle<Result<(), weft_trigger::TriggerError>>)>,
    pub dovecot: Dovecot,
    pub nats: NatsServer,
}

impl Rig {
    pub async fn start() -> Rig {
        weft_testkit::init_crypto();
        let nats = NatsServer::start().await.expect("nats starts");
        let dovecot = Dovecot::start().await.expect("dovecot starts");
        let bus = Bus::connect(&nats.url, "imap-test").await.expect("bus");
        bus.ensure_streams().await.expect("streams");
        let artifacts = Artifacts::jetstream(&bus).await.expect("artifact store");
        Rig {
            bus,
            artifacts,
            service: None,
            dovecot,
            nats,
        }
    }

    /// A workflow `name` whose `on.email` points at this Dovecot, with `extra` YAML lines added
    /// to the trigger (indented by the caller's text being plain `key: value` lines).
    pub fn workflow_yaml(&self, name: &str, extra: &str) -> String {
        let mut trigger = format!(
            "    host: 127.0.0.1\n    port: {}\n    tls: false\n    username: {}\n    password: {}\n",
            self.dovecot.port, self.dovecot.username, self.dovecot.password
        );
        for line in extra.lines().filter(|l| !l.trim().is_empty()) {
            trigger.push_str(&format!("    {}\n", line.trim()));
        }
        format!(
            "name: {name}\non:\n  email:\n{trigger}steps:\n  noop:\n    uses: http\n    with:\n      url: http://127.0.0.1:9/\n"
        )
    }

    /// Publish a workflow as `PUT /api/v1/workflows/{name}` does.
    pub async fn apply(&self, name: &str, extra: &str) {
        let yaml = self.workflow_yaml(name, extra);
        let workflow = weft_flow::parse(&yaml, weft_flow::Format::Yaml).expect("valid workflow");
        let published = Published {
            version: 1,
            workflow,
        };
        self.bus
            .put_json(WORKFLOWS_BUCKET, name, &published)
            .await
            .expect("put workflow");
    }

    /// Start the imap trigger service (as `weft serve imap` would).
    pub fn start_service(&mut self) {
        assert!(self.service.is_none(), "already running");
        let shutdown = Shutdown::new();
        let service = TriggerService::new(
            ImapSource::new(self.artifacts.clone()),
            weft_trigger::TriggerDeps::without_secrets(self.bus.clone()),
        );
        let task = tokio::spawn(service.run(shutdown.clone()));
        self.service = Some((shutdown, task));
    }

    /// Stop it and wait until it has stopped.
    pub async fn stop_service(&mut self) {
        if let Some((shutdown, task)) = self.service.take() {
            shutdown.trigger();
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("service stops within 30 s")
                .expect("service task")
                .expect("the trigger service stops cleanly");
        }
    }

    /// Every `dev.weft.email.received` event stored so far (at least `min`, waiting up to `wait`).
    pub async fn events(&self, min: usize, wait: Duration) -> Vec<Value> {
        let messages = weft_testkit::stored_messages(
            self.bus.jetstream(),
            EVENTS_STREAM,
            EVENTS_EMAIL,
            min,
            wait,
        )
        .await
        .expect("read events");
        messages
            .iter()
            .map(|m| serde_json::from_slice(&m.payload).expect("event JSON"))
            .collect()
    }

    /// Subjects of the stored events, in order.
    pub async fn subjects(&self, min: usize, wait: Duration) -> Vec<String> {
        self.events(min, wait)
            .await
            .iter()
            .map(|e| {
                e["data"]["subject"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    /// The health entry of `workflow`'s first email trigger.
    pub async fn health(&self, workflow: &str) -> Option<TriggerHealth> {
        let kv = self.bus.kv(TRIGGERS_BUCKET).await.expect("bucket");
        let entry = kv
            .get(TriggerHealth::key(workflow, "email", 0))
            .await
            .expect("read health")?;
        serde_json::from_slice(&entry).ok()
    }

    /// Wait until the health entry satisfies `ok`; panics with the last entry after `wait`.
    pub async fn wait_health(
        &self,
        workflow: &str,
        wait: Duration,
        ok: impl Fn(&TriggerHealth) -> bool,
    ) -> TriggerHealth {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let health = self.health(workflow).await;
            if let Some(h) = health.as_ref().filter(|h| ok(h)) {
                return h.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "health of {workflow} never matched: {health:?}\ndovecot log:\n{}",
                self.dovecot.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait until `workflow`'s trigger has read or saved its cursor, i.e. it is watching.
    pub async fn wait_watching(&self, workflow: &str) -> TriggerHealth {
        self.wait_health(workflow, Duration::from_secs(20), |h| {
            h.cursor.is_some() && h.last_error.is_none()
        })
        .await
    }
}

/// A simple message with a unique Message-ID.
pub fn mail(subject: &str) -> Vec<u8> {
    format!(
        "From: Sender <sender@example.com>\r\nTo: inbox@example.com\r\nSubject: {subject}\r\nMessage-ID: <{subject}@example.com>\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\n\r\nHello from {subject}\r\n"
    )
    .into_bytes()
}
