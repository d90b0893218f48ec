//! Shared setup: a migrated store on a fresh database, a bus on a private NATS server, and a
//! way to insert an execution (timers, steps and attempts reference one).

use serde_json::json;
use uuid::Uuid;
use weft_bus::Bus;
use weft_store::{
    ExecutionStatus, Store,
    engine::{self, NewExecution},
};
use weft_testkit::{NatsServer, TestDb};

/// A migrated store; the database is dropped after the pool (fields drop in order).
pub struct Pg {
    pub store: Store,
    pub db: TestDb,
}

pub async fn pg() -> Pg {
    let db = TestDb::create().await.unwrap();
    let store = Store::connect(&db.url, 8).await.unwrap();
    store.migrate().await.unwrap();
    Pg { store, db }
}

/// A bus with the Weft streams on its own server; the server is stopped after the client.
pub struct Nats {
    pub bus: Bus,
    pub server: NatsServer,
}

pub async fn nats() -> Nats {
    let server = NatsServer::start().await.unwrap();
    let bus = Bus::connect(&server.url, "weft-store-test").await.unwrap();
    bus.ensure_streams().await.unwrap();
    Nats { bus, server }
}

/// Insert a `queued` execution of `workflow` for `event_id` in its own transaction.
pub async fn insert_execution(store: &Store, workflow: &str, event_id: &str) -> Uuid {
    let id = weft_events::ids::execution_id(workflow, "weft/test", event_id);
    let event = json!({"id": event_id, "source": "weft/test", "type": "dev.weft.test"});
    let mut tx = store.begin().await.unwrap();
    let e = NewExecution {
        id,
        workflow,
        version: 1,
        status: ExecutionStatus::Queued,
        event_id,
        event: &event,
        inputs: &json!({}),
    };
    assert!(engine::insert_execution(&mut tx, &e).await.unwrap());
    weft_store::commit(tx, "inserting a test execution")
        .await
        .unwrap();
    id
}
