//! Shared harness of the end-to-end tests: a real NATS server and a fresh PostgreSQL database per
//! test (weft-testkit), Weft hosted in-process exactly as `weft dev` hosts it, and a real HTTP
//! server ([`Upstream`]) that the workflows' HTTP steps call.

#![allow(dead_code)]

pub mod procs;
pub mod upstream;

use std::time::Duration;

use serde_json::{Value, json};
use weft::{host, serve::Service};
use weft_runtime::{CommonConfig, Shutdown};
use weft_testkit::{NatsServer, TestDb};

pub use upstream::Upstream;

/// One isolated Weft installation.
pub struct Env {
    pub nats: NatsServer,
    pub db: TestDb,
    pub running: Option<host::Running>,
    pub base: String,
    pub http: reqwest::Client,
    pub upstream: Upstream,
    /// The configuration the services run with.
    pub config: CommonConfig,
}

impl Env {
    /// NATS, a database, every service in-process, and an upstream HTTP server.
    pub async fn start() -> Env {
        Self::start_with(|_| {}).await
    }

    /// As [`Env::start`], adjusting the configuration first.
    pub async fn start_with(adjust: impl FnOnce(&mut CommonConfig)) -> Env {
        weft_testkit::init_crypto();
        // Service logs in test output (filtered by RUST_LOG; captured unless --nocapture).
        weft_runtime::telemetry::init_logging("text");
        let nats = NatsServer::start().await.expect("nats starts");
        let db = TestDb::create().await.expect("database created");
        let mut config = CommonConfig {
            nats_url: nats.url.clone(),
            database_url: db.url.clone(),
            http_addr: "127.0.0.1:0".into(),
            ack_wait_ms: 5_000,
            ..Default::default()
        };
        adjust(&mut config);
        let running = host::start(&Service::all(), &config, Shutdown::new())
            .await
            .expect("weft starts");
        let base = format!("http://{}", running.addr);
        let upstream = Upstream::start().await;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Env {
            nats,
            db,
            running: Some(running),
            base,
            http,
            upstream,
            config,
        }
    }

    /// Stop every service, then start them again on the same bus and database (a new
    /// listener address).
    pub async fn restart(&mut self) {
        self.stop().await;
        let running = host::start(&Service::all(), &self.config, Shutdown::new())
            .await
            .expect("weft starts again");
        self.base = format!("http://{}", running.addr);
        self.running = Some(running);
    }

    /// Apply a YAML workflow; panics unless 200/201. `{upstream}` in the text becomes the
    /// upstream server's base URL.
    pub async fn apply(&self, yaml: &str) -> Value {
        let (status, body) = self.apply_raw(yaml).await;
        assert!(
            status == 200 || status == 201,
            "apply failed: {status} {body}"
        );
        body
    }

    /// Apply and return status and body whatever they are.
    pub async fn apply_raw(&self, yaml: &str) -> (u16, Value) {
        let yaml = yaml.replace("{upstream}", &self.upstream.base);
        let name = yaml
            .lines()
            .find_map(|l| l.strip_prefix("name:"))
            .map(|n| n.trim().to_string())
            .unwrap_or_else(|| "unnamed".into());
        let resp = self
            .http
            .put(format!("{}/api/v1/workflows/{name}", self.base))
            .header("content-type", "application/yaml")
            .body(yaml)
            .send()
            .await
            .expect("api answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// POST a JSON body to a hook; returns status and body.
    pub async fn hook(&self, path: &str, body: Value, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}/hooks/{path}", self.base))
            .json(&body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("hook answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// POST to a hook until the route is live (hot reload is asynchronous), then return the
    /// event id of the accepted request.
    pub async fn trigger(&self, path: &str, body: Value) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let (status, resp) = self.hook(path, body.clone(), &[]).await;
            if status == 202 {
                return resp["event_id"].as_str().expect("event_id").to_string();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "hook {path} never accepted: {status} {resp}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Executions started by an event.
    pub async fn executions_for(&self, event_id: &str) -> Vec<Value> {
        self.list_executions(&format!("event_id={event_id}")).await
    }

    /// Executions of a workflow, newest first.
    #[allow(dead_code)] // not every test binary uses it
    pub async fn executions_of(&self, workflow: &str) -> Vec<Value> {
        self.list_executions(&format!("workflow={workflow}")).await
    }

    /// `GET /api/v1/executions?<query>` items.
    async fn list_executions(&self, query: &str) -> Vec<Value> {
        let url = format!("{}/api/v1/executions?{query}", self.base);
        let body: Value = self
            .http
            .get(url)
            .send()
            .await
            .expect("api")
            .json()
            .await
            .expect("json");
        body["items"].as_array().cloned().unwrap_or_default()
    }

    /// The execution detail.
    pub async fn execution(&self, id: &str) -> Value {
        let url = format!("{}/api/v1/executions/{id}", self.base);
        self.http
            .get(url)
            .send()
            .await
            .expect("api")
            .json()
            .await
            .expect("json")
    }

    /// Wait until the (single) execution of `event_id` ends; return its detail.
    pub async fn finished(&self, event_id: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(e) = self.executions_for(event_id).await.first() {
                let id = e["id"].as_str().expect("id").to_string();
                let detail = self.execution(&id).await;
                if !matches!(detail["status"].as_str(), Some("queued" | "running")) {
                    return detail;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "execution of {event_id} did not end in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A step of an execution detail.
    pub fn step<'a>(detail: &'a Value, id: &str) -> &'a Value {
        detail["steps"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["id"] == json!(id)))
            .unwrap_or_else(|| panic!("no step {id} in {detail}"))
    }

    /// Stop the services (NATS and the database go when the Env drops).
    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }
}

/// Every execution a test produced must replay from its journal to the state it ended the test
/// in: checked when the test's [`Env`] goes away (unless the test already failed).
impl Drop for Env {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let url = self.config.database_url.clone();
        let checked = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(replay_all(&url))
        })
        .join();
        match checked {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => panic!("replaying the executions panicked"),
        }
    }
}

/// Replay every ended execution in the database; `Err` names the first that diverges. One
/// still queued or running is left out: its state is still moving, and the services deciding
/// it are frozen while this runs (the test's runtime waits for this thread), holding its row
/// lock if they were mid-decision — replay would wait for that lock forever. So is an ended
/// one whose lock a frozen decision holds ([`held`]).
async fn replay_all(url: &str) -> Result<(), String> {
    let store = weft_store::Store::connect(url, 2)
        .await
        .map_err(|e| e.to_string())?;
    let ids: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM executions WHERE status NOT IN ('queued', 'running')")
            .fetch_all(store.pool())
            .await
            .map_err(|e| e.to_string())?;
    for id in ids {
        if held(&store, id).await? {
            continue;
        }
        let report = weft_router::replay::replay(&store, id)
            .await
            .map_err(|e| format!("replaying {id}: {e}"))?;
        if let Some(r) = report
            && let Some(d) = &r.divergence
        {
            let journal = store.journal(id).await.unwrap_or_default();
            let lines: Vec<String> = journal
                .iter()
                .map(|e| format!("  {} {}", e.at, serde_json::json!(e.input)))
                .collect();
            return Err(format!(
                "execution {id} does not replay to its state: {d}\njournal:\n{}\nrecorded: {:?}\nreplayed: {:?}",
                lines.join("\n"),
                r.recorded,
                r.replayed
            ));
        }
    }
    Ok(())
}

/// Whether a frozen service holds the row lock of ended execution `id` (a late decision on it,
/// e.g. a child's outcome reaching a cancelled parent, was mid-transaction when the test ended):
/// replay would wait for that lock forever, and its state may still move, so it is left out
/// like a running one. Exact: frozen services take no new lock.
async fn held(store: &weft_store::Store, id: uuid::Uuid) -> Result<bool, String> {
    let mut tx = store.pool().begin().await.map_err(|e| e.to_string())?;
    let probe = sqlx::query("SELECT 1 FROM executions WHERE id = $1 FOR UPDATE NOWAIT")
        .bind(id)
        .execute(&mut *tx)
        .await;
    match probe {
        Ok(_) => Ok(false),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55P03") => Ok(true),
        Err(e) => Err(e.to_string()),
    }
}

impl Env {
    /// Ask to cancel execution `id` (the router decides it over the bus); expects 202.
    pub async fn cancel(&self, id: &str) {
        let resp = self
            .http
            .post(format!("{}/api/v1/executions/{id}/cancel", self.base))
            .send()
            .await
            .expect("cancel");
        assert_eq!(resp.status().as_u16(), 202);
    }

    /// Wait until the execution of `event_id` exists and return its id.
    pub async fn execution_id_of(&self, event_id: &str) -> String {
        for _ in 0..200 {
            if let Some(e) = self.executions_for(event_id).await.first() {
                return e["id"].as_str().expect("id").to_string();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no execution for {event_id}");
    }

    /// Read execution `id` until `done` holds of its view (10 s at most, else the test fails
    /// naming `what`); returns that view.
    pub async fn execution_until(
        &self,
        id: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let e = self.execution(id).await;
            if done(&e) {
                return e;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what} within 10 s: {e}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The artifact store of this Weft's NATS, as executors and the router open it.
    pub async fn artifacts(&self) -> weft_executor::Artifacts {
        let bus = weft_bus::Bus::connect(&self.nats.url, "test-artifacts")
            .await
            .expect("bus");
        weft_executor::Artifacts::jetstream(&bus)
            .await
            .expect("artifact store")
    }

    /// GET `path` of the API; status and JSON body (`null` when not JSON).
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("api answers");
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }

    /// Cancel execution `id` (202), then wait until the first attempt of `step` carries its
    /// log — the stopped attempt's own result came back — and return that attempt.
    pub async fn cancel_and_await_log(&self, id: &str, step: &str) -> Value {
        self.cancel(id).await;
        let mut attempt = Value::Null;
        for _ in 0..60 {
            let detail = self.execution(id).await;
            attempt = Env::step(&detail, step)["attempts"][0].clone();
            if attempt["logs"].is_array() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        attempt
    }
}

/// Types of the lifecycle events published for an execution (read from WEFT_EVENTS).
pub async fn lifecycle_types(env: &Env, execution_id: &str) -> Vec<String> {
    lifecycle_events(env, execution_id)
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The lifecycle events published for an execution (read from WEFT_EVENTS).
pub async fn lifecycle_events(env: &Env, execution_id: &str) -> Vec<Value> {
    let client = async_nats::connect(&env.nats.url).await.expect("nats");
    let js = async_nats::jetstream::new(client);
    let subject = weft_events::subjects::EVENTS_EXECUTION;
    let wait = Duration::from_millis(500);
    weft_testkit::stored_messages(&js, "WEFT_EVENTS", subject, 0, wait)
        .await
        .expect("events readable")
        .iter()
        .map(|m| serde_json::from_slice::<Value>(&m.payload).expect("event json"))
        .filter(|ev| ev["subject"] == json!(execution_id))
        .collect()
}

/// How many tasks were ever published to the bus (the tasks stream's last sequence).
#[allow(dead_code)] // not every test binary uses it
pub async fn tasks_published(nats: &weft_testkit::NatsServer) -> u64 {
    let js = async_nats::jetstream::new(nats.connect().await.expect("nats"));
    let stream = js
        .get_stream(weft_events::subjects::TASKS_STREAM)
        .await
        .expect("tasks stream");
    stream.cached_info().state.last_sequence
}

/// Wait until the outbox is empty (published rows are deleted in the background, soon after).
#[allow(dead_code)] // not every test binary uses it
pub async fn outbox_drained(db: &weft_testkit::TestDb) {
    let pool = db.pool().await.expect("pool");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
            .fetch_one(&pool)
            .await
            .expect("outbox");
        if left == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{left} outbox rows stay"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
