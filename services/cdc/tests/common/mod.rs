//! Harness of the CDC service tests: a private logical PostgreSQL, a private NATS, the CDC
//! trigger service in a task, workflows put into the `weft_workflows` bucket as the admin API
//! does, and the events read back from `WEFT_EVENTS`.

#![allow(dead_code)]

use std::time::Duration;

use serde_json::Value;
use sqlx::{Connection as _, PgConnection};
use weft_bus::Bus;
use weft_cdc::CdcSource;
use weft_events::subjects::{EVENTS_CDC, EVENTS_STREAM, TRIGGERS_BUCKET, WORKFLOWS_BUCKET};
use weft_runtime::Shutdown;
use weft_testkit::{NatsServer, PgServer, stored_messages, wait_for};

pub const WAIT: Duration = Duration::from_secs(20);

pub struct Env {
    pub nats: NatsServer,
    pub pg: PgServer,
    pub bus: Bus,
    service: Option<(
        Shutdown,
        tokio::task::JoinHandle<Result<(), weft_trigger::TriggerError>>,
    )>,
}

impl Env {
    /// NATS with the streams, and a logical PostgreSQL with `setup` run on it.
    pub async fn start(setup: &str) -> Env {
        weft_testkit::init_crypto();
        let nats = NatsServer::start().await.expect("nats");
        let pg = PgServer::start_logical().await.expect("postgres");
        let bus = Bus::connect(&nats.url, "cdc-test").await.expect("bus");
        bus.ensure_streams().await.expect("streams");
        let env = Env {
            nats,
            pg,
            bus,
            service: None,
        };
        env.sql(setup).await;
        env
    }

    pub async fn conn(&self) -> PgConnection {
        PgConnection::connect(&self.pg.url).await.expect("connect")
    }

    /// Runs `sql` (one implicit transaction when it holds several statements).
    pub async fn sql(&self, sql: &str) {
        let mut conn = self.conn().await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = conn.close().await;
    }

    /// Applies a workflow the way the admin API announces it. `{dsn}` becomes the test
    /// server's URL.
    pub async fn apply(&self, yaml: &str) {
        let yaml = yaml.replace("{dsn}", &self.pg.url);
        let workflow = weft_flow::parse(&yaml, weft_flow::Format::Yaml).expect("valid workflow");
        let name = workflow.name.clone();
        let published = weft_flow::Published {
            version: 1,
            workflow,
        };
        self.bus
            .put_json(WORKFLOWS_BUCKET, &name, &published)
            .await
            .expect("put workflow");
    }

    /// Starts the CDC trigger service with `source`.
    pub fn run(&mut self, source: CdcSource) {
        let shutdown = Shutdown::new();
        let service = weft_trigger::TriggerService::new(
            source,
            weft_trigger::TriggerDeps::without_secrets(self.bus.clone()),
        );
        let task = tokio::spawn(service.run(shutdown.clone()));
        self.service = Some((shutdown, task));
    }

    /// Stops the service and waits for it.
    pub async fn stop(&mut self) {
        if let Some((shutdown, task)) = self.service.take() {
            shutdown.trigger();
            tokio::time::timeout(WAIT, task)
                .await
                .expect("service stops")
                .expect("no panic")
                .expect("the trigger service stops cleanly");
        }
    }

    /// Waits until slot `slot` exists (changes before it are not captured).
    pub async fn slot_ready(&self, slot: &str) {
        wait_for(WAIT, || async {
            let mut conn = self.conn().await;
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1",
            )
            .bind(slot)
            .fetch_one(&mut conn)
            .await
            .ok()
            .filter(|n| *n == 1)
        })
        .await
        .expect("the slot is created");
    }

    /// The slot's confirmed_flush_lsn as text.
    pub async fn confirmed(&self, slot: &str) -> String {
        let mut conn = self.conn().await;
        sqlx::query_scalar(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
        )
        .bind(slot)
        .fetch_one(&mut conn)
        .await
        .expect("slot")
    }

    /// The CDC events stored so far, waiting until there are at least `min` and no more come.
    pub async fn events(&self, min: usize) -> Vec<Value> {
        let messages = stored_messages(self.bus.jetstream(), EVENTS_STREAM, EVENTS_CDC, min, WAIT)
            .await
            .expect("read events");
        messages
            .iter()
            .map(|m| serde_json::from_slice(&m.payload).expect("event json"))
            .collect()
    }

    /// Every value in the trigger health bucket, as text.
    pub async fn health(&self) -> Vec<String> {
        use futures::StreamExt as _;
        let Ok(kv) = self.bus.jetstream().get_key_value(TRIGGERS_BUCKET).await else {
            return Vec::new();
        };
        let Ok(mut keys) = kv.keys().await else {
            return Vec::new();
        };
        let mut out = Vec::new();
        while let Some(Ok(key)) = keys.next().await {
            if let Ok(Some(v)) = kv.get(&key).await {
                out.push(String::from_utf8_lossy(&v).into_owned());
            }
        }
        out
    }

    /// Waits until some health value contains `needle`; returns it.
    pub async fn health_says(&self, needle: &str) -> String {
        let found = wait_for(Duration::from_secs(30), || async {
            self.health().await.into_iter().find(|h| h.contains(needle))
        })
        .await;
        match found {
            Ok(value) => value,
            Err(_) => panic!(
                "no trigger health mentions {needle:?}: {:?}",
                self.health().await
            ),
        }
    }
}
