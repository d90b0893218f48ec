//! Weft as separate `weft serve` processes (as deployed) for the tests that kill one of them
//! or give one its own settings: a [`Stack`] of the API, webhook, router and HTTP executor.

use std::{collections::HashMap, time::Duration};

use serde_json::Value;
use weft_testkit::{ChildProcess, NatsServer, TestDb, free_port};

use super::Upstream;

/// Spawns `weft serve <service>` processes on one bus and database.
pub struct Procs {
    pub nats_url: String,
    pub db_url: String,
    /// More environment for every process (e.g. `WEFT_ROUTER_…` settings).
    pub env: Vec<(&'static str, &'static str)>,
}

impl Procs {
    pub fn spawn(&self, service: &str, port: u16) -> ChildProcess {
        self.spawn_together(&[service], port)
    }

    /// One `weft serve <services…>` process hosting all of `services`.
    pub fn spawn_together(&self, services: &[&str], port: u16) -> ChildProcess {
        let port = port.to_string();
        let addr = format!("127.0.0.1:{port}");
        let mut env = vec![
            ("NATS_URL", self.nats_url.as_str()),
            ("DATABASE_URL", self.db_url.as_str()),
            ("WEFT_HTTP_ADDR", addr.as_str()),
            ("WEFT_ACK_WAIT_MS", "2000"),
            ("RUST_LOG", "warn"),
        ];
        env.extend(self.env.iter().copied());
        let args = std::iter::once("serve").chain(services.iter().copied());
        ChildProcess::spawn(env!("CARGO_BIN_EXE_weft"), args, env).expect("spawns")
    }
}

/// Wait until the service on `port` answers `/readyz`.
pub async fn ready(http: &reqwest::Client, port: u16) {
    let url = format!("http://127.0.0.1:{port}/readyz");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        if let Ok(r) = http.get(&url).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("service on {port} never became ready");
}

/// A bus, a database, an upstream server, a client, and `Procs` over them with `env`.
pub struct Base {
    pub nats: NatsServer,
    pub db: TestDb,
    pub upstream: Upstream,
    pub http: reqwest::Client,
    pub procs: Procs,
}

impl Base {
    pub async fn start(env: Vec<(&'static str, &'static str)>) -> Base {
        weft_testkit::init_crypto();
        let nats = NatsServer::start().await.expect("nats");
        let db = TestDb::create().await.expect("db");
        let procs = Procs {
            nats_url: nats.url.clone(),
            db_url: db.url.clone(),
            env,
        };
        Base {
            upstream: Upstream::start().await,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client"),
            nats,
            db,
            procs,
        }
    }
}

/// Separate processes over one bus and database, for the crash tests that kill one of them.
pub struct Stack {
    _nats: NatsServer,
    pub db: TestDb,
    pub upstream: Upstream,
    pub http: reqwest::Client,
    pub procs: Procs,
    pub ports: HashMap<&'static str, u16>,
    pub running: HashMap<&'static str, ChildProcess>,
}

impl Stack {
    /// The API first (it migrates), then the webhook, a router and the HTTP executor.
    pub async fn start() -> Stack {
        Self::start_with(Vec::new()).await
    }

    /// [`Stack::start`] with more environment for every process.
    pub async fn start_with(env: Vec<(&'static str, &'static str)>) -> Stack {
        let base = Base::start(env).await;
        let mut stack = Stack {
            upstream: base.upstream,
            http: base.http,
            _nats: base.nats,
            db: base.db,
            procs: base.procs,
            ports: HashMap::new(),
            running: HashMap::new(),
        };
        for name in ["api", "webhook", "router", "exec-http"] {
            stack.ports.insert(name, free_port());
            stack.spawn(name);
            if name == "api" {
                ready(&stack.http, stack.ports["api"]).await;
            }
        }
        for name in ["webhook", "router", "exec-http"] {
            ready(&stack.http, stack.ports[name]).await;
        }
        stack
    }

    pub fn spawn(&mut self, name: &'static str) {
        let child = self.procs.spawn(name, self.ports[name]);
        self.running.insert(name, child);
    }

    pub fn kill9(&mut self, name: &'static str) {
        if let Some(mut child) = self.running.remove(name) {
            child.kill9().expect("killed");
        }
    }

    pub fn api(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1", self.ports["api"])
    }

    /// Apply a workflow (`{upstream}` replaced by the test upstream).
    pub async fn apply(&self, name: &str, yaml: &str) {
        let resp = self
            .http
            .put(format!("{}/workflows/{name}", self.api()))
            .header("content-type", "application/yaml")
            .body(yaml.replace("{upstream}", &self.upstream.base))
            .send()
            .await
            .expect("apply");
        assert!(resp.status().is_success(), "apply: {}", resp.status());
    }

    /// POST to a webhook until it accepts (hot reload is asynchronous); the event's id.
    pub async fn hook(&self, path: &str, body: Value) -> String {
        let url = format!("http://127.0.0.1:{}/hooks/{path}", self.ports["webhook"]);
        post_until_accepted(&self.http, &url, &body, None).await
    }

    /// A CloudEvent to `POST /events`.
    pub async fn event(&self, event: Value) {
        let resp = self
            .http
            .post(format!("http://127.0.0.1:{}/events", self.ports["webhook"]))
            .header("content-type", "application/cloudevents+json")
            .body(event.to_string())
            .send()
            .await
            .expect("events");
        assert_eq!(resp.status().as_u16(), 202);
    }

    pub async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.api()))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json")
    }

    /// The execution of `event_id` once it ended.
    pub async fn ended(&self, event_id: &str, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let list = self.get(&format!("/executions?event_id={event_id}")).await;
            if let Some(e) = list["items"].as_array().and_then(|a| a.first())
                && e["status"] != "running"
                && e["status"] != "queued"
            {
                let id = e["id"].as_str().expect("id");
                return self.get(&format!("/executions/{id}")).await;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the run never ended"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The journal of execution `id` replays to its recorded state.
    pub async fn replays(&self, id: &str) {
        let store = weft_store::Store::connect(&self.db.url, 2)
            .await
            .expect("store");
        let id: uuid::Uuid = id.parse().expect("uuid");
        let report = weft_router::replay::replay(&store, id)
            .await
            .expect("replay")
            .expect("the execution");
        assert_eq!(report.divergence, None, "the journal replays to the state");
    }
}

/// Step `id` of an execution detail.
pub fn step<'a>(detail: &'a Value, id: &str) -> &'a Value {
    detail["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"] == id))
        .expect("the step")
}

/// POST `body` to the webhook at `url` (with `key` as its Idempotency-Key) until it answers
/// 202 — hot reload is asynchronous, and a crash test's webhook may be briefly away; the
/// event's id.
pub async fn post_until_accepted(
    http: &reqwest::Client,
    url: &str,
    body: &Value,
    key: Option<&str>,
) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut req = http.post(url).json(body);
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        if let Ok(r) = req.send().await
            && r.status().as_u16() == 202
        {
            let accepted: Value = r.json().await.expect("json");
            return accepted["event_id"].as_str().expect("event_id").to_string();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{url} never accepted {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
