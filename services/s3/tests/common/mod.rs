//! Shared helpers of the weft-s3 tests: an SDK client for a moto server and direct bucket
//! operations (create, put, list keys) that play the part of the users dropping files.

#![allow(dead_code)]

use weft_s3::{S3Settings, s3_client};

/// moto accepts any credentials; these are signed like real ones.
pub const ACCESS_KEY: &str = "weft-test";
/// See [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "weft-test-secret";

/// Settings for the moto server at `endpoint`.
pub fn settings(endpoint: &str) -> S3Settings {
    S3Settings {
        endpoint: Some(endpoint.to_string()),
        region: "us-east-1".into(),
        access_key_id: Some(ACCESS_KEY.into()),
        secret_access_key: Some(SECRET_KEY.into()),
    }
}

/// A client for the moto server at `endpoint`.
pub fn client(endpoint: &str) -> aws_sdk_s3::Client {
    weft_testkit::init_crypto();
    s3_client(&settings(endpoint))
}

/// Creates `bucket`.
pub async fn create_bucket(client: &aws_sdk_s3::Client, bucket: &str) {
    client
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "create bucket {bucket}: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        });
}

/// Writes `body` to `bucket/key`.
pub async fn put(client: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8]) {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.to_vec().into())
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "put {bucket}/{key}: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        });
}

/// Every key in `bucket`, in order.
pub async fn keys_in(client: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let out = client
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "list {bucket}: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        });
    out.contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}

/// A private NATS with the streams, and the on.s3 trigger service running on it.
pub struct Harness {
    /// The NATS server (dropped last).
    pub nats: weft_testkit::NatsServer,
    /// A bus connection for the service and the test.
    pub bus: weft_bus::Bus,
    service: Option<(
        weft_runtime::Shutdown,
        tokio::task::JoinHandle<Result<(), weft_trigger::TriggerError>>,
    )>,
}

impl Harness {
    /// NATS + streams + the trigger service (2 keys per listing page, to exercise paging).
    pub async fn start() -> Harness {
        weft_testkit::init_crypto();
        let nats = weft_testkit::NatsServer::start()
            .await
            .expect("nats starts");
        let bus = weft_bus::Bus::connect(&nats.url, "weft-s3-test")
            .await
            .expect("bus connects");
        bus.ensure_streams().await.expect("streams");
        let mut harness = Harness {
            nats,
            bus,
            service: None,
        };
        harness.start_service();
        harness
    }

    /// (Re)starts the trigger service.
    pub fn start_service(&mut self) {
        let shutdown = weft_runtime::Shutdown::new();
        let source = weft_s3::S3Source { page_size: Some(2) };
        let service = weft_trigger::TriggerService::new(
            source,
            weft_trigger::TriggerDeps::without_secrets(self.bus.clone()),
        );
        let task = tokio::spawn(service.run(shutdown.clone()));
        self.service = Some((shutdown, task));
    }

    /// Stops the trigger service and waits until it has.
    pub async fn stop_service(&mut self) {
        if let Some((shutdown, task)) = self.service.take() {
            shutdown.trigger();
            tokio::time::timeout(std::time::Duration::from_secs(30), task)
                .await
                .expect("service stops within 30 s")
                .expect("service task")
                .expect("the trigger service stops cleanly");
        }
    }

    /// Publishes a workflow (YAML) to the registry, as the admin API does on apply.
    pub async fn apply(&self, yaml: &str) {
        let workflow = weft_flow::parse(yaml, weft_flow::Format::Yaml).expect("valid workflow");
        let name = workflow.name.clone();
        let published = weft_flow::Published {
            version: 1,
            workflow,
        };
        let kv = self
            .bus
            .kv(weft_events::subjects::WORKFLOWS_BUCKET)
            .await
            .expect("workflows bucket");
        let value = serde_json::to_vec(&published).expect("json");
        kv.put(name, value.into()).await.expect("workflow stored");
    }

    /// The S3 events stored so far, waiting up to `wait` for at least `min`.
    pub async fn events(&self, min: usize, wait: std::time::Duration) -> Vec<serde_json::Value> {
        weft_testkit::stored_messages(
            self.bus.jetstream(),
            weft_events::subjects::EVENTS_STREAM,
            weft_events::subjects::EVENTS_S3,
            min,
            wait,
        )
        .await
        .expect("events readable")
        .iter()
        .map(|m| serde_json::from_slice(&m.payload).expect("event json"))
        .collect()
    }

    /// The health entry of `workflow`'s first on.s3 trigger.
    pub async fn health(&self, workflow: &str) -> Option<weft_trigger::TriggerHealth> {
        let kv = self
            .bus
            .kv(weft_events::subjects::TRIGGERS_BUCKET)
            .await
            .expect("triggers bucket");
        let key = weft_trigger::TriggerHealth::key(workflow, "s3", 0);
        let bytes = kv.get(key).await.expect("health readable")?;
        Some(serde_json::from_slice(&bytes).expect("health json"))
    }

    /// Waits up to `timeout` until the health of `workflow` satisfies `ok`; returns it.
    pub async fn wait_health(
        &self,
        workflow: &str,
        timeout: std::time::Duration,
        ok: impl Fn(&weft_trigger::TriggerHealth) -> bool,
    ) -> weft_trigger::TriggerHealth {
        let found = weft_testkit::wait_for(timeout, || async {
            self.health(workflow).await.filter(|h| ok(h))
        })
        .await;
        match found {
            Ok(h) => h,
            Err(_) => panic!(
                "health of {workflow} not as expected within {timeout:?}; last: {:?}",
                self.health(workflow).await
            ),
        }
    }
}

/// `(type, key)` of each event, in publishing order.
pub fn types_and_keys(events: &[serde_json::Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or_default().to_string(),
                e["data"]["key"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// A workflow named `name` with one on.s3 trigger (extra trigger fields as YAML flow-map
/// entries, e.g. `"prefix: in/, after: delete"`), polling every second.
pub fn workflow(name: &str, endpoint: &str, bucket: &str, extra: &str) -> String {
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(", {extra}")
    };
    format!(
        "name: {name}\non:\n  s3: {{bucket: {bucket}, endpoint: '{endpoint}', access_key_id: {ACCESS_KEY}, \
         secret_access_key: {SECRET_KEY}, poll_interval: 1s{extra}}}\nsteps:\n  a: {{uses: http, with: {{url: 'http://127.0.0.1:9/'}}}}\n"
    )
}

impl Harness {
    /// The seen objects (key → ETag) that a trigger's cursor names, read from the object store.
    pub async fn seen(&self, cursor: &serde_json::Value) -> serde_json::Value {
        use tokio::io::AsyncReadExt as _;
        let name = cursor["listing"].as_str().expect("cursor names a listing");
        let store = self
            .bus
            .jetstream()
            .get_object_store(weft_events::subjects::S3_LISTINGS_BUCKET)
            .await
            .expect("listings bucket");
        let mut object = store.get(name).await.expect("listing object");
        let mut bytes = Vec::new();
        object.read_to_end(&mut bytes).await.expect("listing read");
        serde_json::from_slice(&bytes).expect("listing json")
    }
}
