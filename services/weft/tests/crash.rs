//! Crash safety: with the services as separate processes (two router replicas), kill -9 both
//! routers and the HTTP executor in the middle of a load — while steps are mid-call — restart
//! them, and every event still ends in exactly one succeeded execution. Also kill -9 of the
//! router mid-`foreach` and mid-`wait`, and of the code executor mid-sandbox. And kill -9 of a
//! router that runs its executor's tasks in its own process.

mod common;

use std::{collections::HashMap, time::Duration};

use common::{
    Upstream,
    procs::{Base, Stack, post_until_accepted, ready, step},
};
use serde_json::{Value, json};
use weft_testkit::{ChildProcess, NatsServer, free_port};

const EVENTS: usize = 150;

#[tokio::test]
async fn kill_9_router_and_executor_mid_load_loses_and_duplicates_nothing() {
    let Base {
        nats: _nats,
        db: _db,
        upstream,
        http,
        procs,
    } = Base::start(Vec::new()).await;
    let ports: HashMap<&str, u16> = [
        ("api", free_port()),
        ("webhook", free_port()),
        ("router", free_port()),
        ("router2", free_port()),
        ("exec-http", free_port()),
    ]
    .into();
    let _api = procs.spawn("api", ports["api"]);
    ready(&http, ports["api"]).await;
    let _webhook = procs.spawn("webhook", ports["webhook"]);
    let mut router = procs.spawn("router", ports["router"]);
    let mut router2 = procs.spawn("router", ports["router2"]);
    let mut exec = procs.spawn("exec-http", ports["exec-http"]);
    for name in ["webhook", "router", "router2", "exec-http"] {
        ready(&http, ports[name]).await;
    }

    let api = format!("http://127.0.0.1:{}/api/v1", ports["api"]);
    apply(&http, &api, &three_steps("crash", &upstream.base, 50)).await;

    let hook = format!("http://127.0.0.1:{}/hooks/crash", ports["webhook"]);
    let mut event_ids = Vec::with_capacity(EVENTS);
    for i in 0..EVENTS {
        if i == EVENTS / 3 {
            assert!(
                !upstream.seen("/delay/50/two").is_empty(),
                "no step ran before the crash"
            );
            router.kill9().expect("router killed");
            router2.kill9().expect("second router killed");
            exec.kill9().expect("executor killed");
        }
        if i == EVENTS / 2 {
            router = procs.spawn("router", ports["router"]);
            router2 = procs.spawn("router", ports["router2"]);
            exec = procs.spawn("exec-http", ports["exec-http"]);
        }
        event_ids.push(send(&http, &hook, i).await);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    each_succeeded_once(&http, &api, "crash", &event_ids, &upstream).await;
}

/// With the HTTP executor in the router's process its tasks run there, not on the bus; kill -9
/// of that process mid-load (calls in flight), restart it, and the tasks it was running go to
/// the bus when their leases run out: every event still ends in exactly one succeeded
/// execution, and no task row stays behind.
#[tokio::test]
async fn kill_9_of_a_router_running_its_executors_tasks_loses_and_duplicates_nothing() {
    const RUNS: usize = 60;
    let Base {
        nats,
        db,
        upstream,
        http,
        procs,
    } = Base::start(vec![("WEFT_ROUTER_LOCAL_LEASE_MS", "1000")]).await;
    let ports: HashMap<&str, u16> = [
        ("api", free_port()),
        ("webhook", free_port()),
        ("both", free_port()),
    ]
    .into();
    let _api = procs.spawn("api", ports["api"]);
    ready(&http, ports["api"]).await;
    let _webhook = procs.spawn("webhook", ports["webhook"]);
    let together = ["router", "exec-http"];
    let mut both = procs.spawn_together(&together, ports["both"]);
    for name in ["webhook", "both"] {
        ready(&http, ports[name]).await;
    }
    let api = format!("http://127.0.0.1:{}/api/v1", ports["api"]);
    apply(&http, &api, &three_steps("together", &upstream.base, 200)).await;

    let hook = format!("http://127.0.0.1:{}/hooks/together", ports["webhook"]);
    let mut event_ids = Vec::with_capacity(RUNS);
    for i in 0..RUNS {
        if i == RUNS / 3 {
            assert!(
                !upstream.seen("/delay/200/two").is_empty(),
                "no step ran before the crash"
            );
            assert_eq!(
                common::tasks_published(&nats).await,
                0,
                "a task crossed the bus"
            );
            both.kill9().expect("killed");
        }
        if i == RUNS / 2 {
            both = procs.spawn_together(&together, ports["both"]);
        }
        event_ids.push(send(&http, &hook, i).await);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    each_succeeded_once(&http, &api, "together", &event_ids, &upstream).await;
    assert!(
        common::tasks_published(&nats).await > 0,
        "the tasks the kill interrupted never went to the bus"
    );
    common::outbox_drained(&db).await;
}

/// Three HTTP steps with retries, the second one `delay_ms` long.
fn three_steps(name: &str, upstream: &str, delay_ms: u64) -> String {
    r#"
name: {name}
on: { webhook: { path: {name} } }
steps:
  one:   { uses: http, retry: { attempts: 5, backoff: 200ms }, with: { method: POST, url: "{upstream}/echo/one", json: "${{ event.data.body }}" } }
  two:   { needs: one, uses: http, retry: { attempts: 5, backoff: 200ms }, with: { method: POST, url: "{upstream}/delay/{delay}/two", json: "${{ steps.one.output.body.received }}" } }
  three: { needs: two, uses: http, retry: { attempts: 5, backoff: 200ms }, with: { method: POST, url: "{upstream}/echo/three", json: "${{ steps.two.output.body.received }}" } }
"#
    .replace("{name}", name)
    .replace("{upstream}", upstream)
    .replace("{delay}", &delay_ms.to_string())
}

async fn apply(http: &reqwest::Client, api: &str, yaml: &str) {
    let name = yaml
        .lines()
        .find_map(|l| l.strip_prefix("name: "))
        .expect("a name");
    let resp = http
        .put(format!("{api}/workflows/{name}"))
        .header("content-type", "application/yaml")
        .body(yaml.to_string())
        .send()
        .await
        .expect("apply");
    assert!(resp.status().is_success(), "apply: {}", resp.status());
}

/// Send event `i` (the same Idempotency-Key until the webhook takes it); its event id.
async fn send(http: &reqwest::Client, hook: &str, i: usize) -> String {
    let key = format!("crash-{i}");
    post_until_accepted(http, hook, &json!({"i": i}), Some(&key)).await
}

/// Every event ends in exactly one succeeded execution of `workflow`, which reached the last
/// step (a redelivered attempt may call twice, with the same Idempotency-Key).
async fn each_succeeded_once(
    http: &reqwest::Client,
    api: &str,
    workflow: &str,
    event_ids: &[String],
    upstream: &Upstream,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut pending = event_ids.to_vec();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for id in &pending {
            let body: Value = http
                .get(format!("{api}/executions?event_id={id}"))
                .send()
                .await
                .expect("list")
                .json()
                .await
                .expect("json");
            let items = body["items"].as_array().cloned().unwrap_or_default();
            assert!(
                items.len() <= 1,
                "event {id} has {} executions",
                items.len()
            );
            match items.first().and_then(|e| e["status"].as_str()) {
                Some("succeeded") => {}
                Some("failed" | "cancelled" | "timed_out") => {
                    panic!("event {id} ended {}", items[0])
                }
                _ => still.push(id.clone()),
            }
        }
        pending = still;
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} executions never finished: {:?}",
            pending.len(),
            &pending[..pending.len().min(5)]
        );
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let all: Value = http
        .get(format!("{api}/executions?workflow={workflow}&limit=500"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(
        all["items"].as_array().map(Vec::len),
        Some(event_ids.len()),
        "exactly one execution per event"
    );
    let third = upstream.seen("/echo/three");
    let distinct: std::collections::HashSet<String> =
        third.iter().map(|s| s.body.to_string()).collect();
    assert_eq!(distinct.len(), event_ids.len());
    let keys: HashMap<String, Option<String>> = third
        .iter()
        .map(|s| (s.body.to_string(), s.idempotency_key.clone()))
        .collect();
    for s in &third {
        assert_eq!(
            keys[&s.body.to_string()],
            s.idempotency_key,
            "a repeated call must carry the same Idempotency-Key"
        );
    }
}

/// The PIDs of the processes whose parent is `parent`, with their command names.
fn children_of(parent: u32) -> Vec<(u32, String)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let (comm, fields) = stat(pid)?;
            let ppid = fields.get(1)?.parse::<u32>().ok()?;
            (ppid == parent).then_some((pid, comm))
        })
        .collect()
}

/// Every process below `root`.
fn descendants(root: u32) -> Vec<u32> {
    let mut all = Vec::new();
    let mut next = vec![root];
    while let Some(pid) = next.pop() {
        for (child, _) in children_of(pid) {
            all.push(child);
            next.push(child);
        }
    }
    all
}

/// `/proc/<pid>/stat`: the command name and the fields after it (state first).
fn stat(pid: u32) -> Option<(String, Vec<String>)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`; comm may hold spaces, so split at the last `)`.
    let (head, rest) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_string();
    Some((comm, rest.split_whitespace().map(String::from).collect()))
}

/// Whether `pid` still runs (a zombie waiting to be reaped has stopped running).
fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|(_, f)| f.first().is_some_and(|s| s != "Z"))
}

/// CPU time `pid` has used, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let field = |f: &[String], i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    stat(pid)
        .and_then(|(_, f)| Some(field(&f, 11)? + field(&f, 12)?))
        .unwrap_or(0)
}

/// Hand the code executor a task whose script never ends (it would run for a minute).
async fn spin(nats_url: &str) {
    let bus = weft_bus::Bus::connect(nats_url, "spin").await.expect("bus");
    let id = uuid::Uuid::new_v4();
    let task = weft_events::Task {
        attempt_id: id,
        execution_id: id,
        workflow: "spin".into(),
        step_id: "spin".into(),
        instance: None,
        attempt: 1,
        agent: "code".into(),
        with: json!({"script": "while (true) {}", "timeout": "60s"}),
        timeout_ms: Some(60_000),
        traceparent: None,
        heartbeat_timeout_ms: None,
    };
    let data = serde_json::to_value(&task).expect("task json");
    let types = weft_events::types::TASK;
    let event = weft_events::new_event(id.to_string(), types, "test", None, data);
    bus.publish_event(&weft_events::subjects::task_subject("code"), &event)
        .await
        .expect("task published");
}

#[tokio::test]
async fn kill_9_of_the_code_executor_leaves_no_sandbox_behind() {
    weft_testkit::init_crypto();
    let nats = NatsServer::start().await.expect("nats");
    let http = reqwest::Client::new();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let env = [
        ("NATS_URL", nats.url.as_str()),
        ("WEFT_HTTP_ADDR", addr.as_str()),
        ("WEFT_EXEC_CODE_WARM_RUNNERS", "2"),
        ("RUST_LOG", "warn"),
    ];
    let mut exec = ChildProcess::spawn(env!("CARGO_BIN_EXE_weft"), ["serve", "exec-code"], env)
        .expect("spawns");
    ready(&http, port).await;
    spin(&nats.url).await;
    // Wait until a sandboxed runner is busy with the endless script: it no longer reads its
    // input, so only the sandbox's own tie to the executor can end it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let sandboxed = loop {
        let below = descendants(exec.pid());
        if below.iter().any(|p| cpu_ticks(*p) >= 30) {
            break below;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no sandboxed runner got busy: {:?}\n{}",
            children_of(exec.pid()),
            exec.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let bwraps = children_of(exec.pid())
        .into_iter()
        .filter(|(_, c)| c == "bwrap")
        .count();
    assert!(bwraps >= 1, "the runners run under bwrap: {sandboxed:?}");
    exec.kill9().expect("kill -9");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<u32> = sandboxed.iter().copied().filter(|p| alive(*p)).collect();
        if left.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "sandbox processes outlived the killed executor: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The issue's crash test for `foreach`: kill -9 the router in the middle of a 1,000-item step
/// with concurrency 20; after a restart every item runs exactly once (a redelivered attempt
/// may call twice, with the same key), the output keeps item order, and the journal replays to
/// the recorded state.
#[tokio::test]
async fn kill_9_of_the_router_mid_foreach_runs_every_item_exactly_once() {
    const ITEMS: usize = 1000;
    let mut stack = Stack::start().await;
    let yaml = r#"
name: fan
on: { webhook: { path: fan } }
steps:
  each:
    uses: http
    foreach: ${{ event.data.body.items }}
    concurrency: 20
    with: { method: POST, url: "{upstream}/delay/5/item", json: { index: "${{ index }}" } }
"#;
    stack.apply("fan", yaml).await;
    let items: Vec<usize> = (0..ITEMS).collect();
    let event_id = stack.hook("fan", json!({ "items": items })).await;

    // Kill the router once a fifth of the items ran, then start it again.
    let upstream = stack.upstream.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while upstream.seen("/delay/5/item").len() < ITEMS / 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the items never ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stack.kill9("router");
    let before = upstream.seen("/delay/5/item").len();
    assert!(before < ITEMS, "the crash came mid-step");
    stack.spawn("router");

    let detail = stack.ended(&event_id, Duration::from_secs(180)).await;
    assert_eq!(detail["status"], "succeeded", "{detail}");
    let output = step(&detail, "each")["output"]
        .as_array()
        .expect("output list")
        .clone();
    assert_eq!(output.len(), ITEMS);
    for (i, o) in output.iter().enumerate() {
        assert_eq!(o["body"]["received"]["index"], i, "item order");
    }
    let mut keys: HashMap<i64, std::collections::HashSet<String>> = HashMap::new();
    for s in upstream.seen("/delay/5/item") {
        let index = s.body["index"].as_i64().expect("index");
        keys.entry(index)
            .or_default()
            .insert(s.idempotency_key.clone().unwrap_or_default());
    }
    assert_eq!(keys.len(), ITEMS, "every item ran");
    assert!(
        keys.values().all(|k| k.len() == 1),
        "an item ran as two attempts"
    );
    stack.replays(detail["id"].as_str().expect("id")).await;
}

/// The issue's crash test for `wait`: 20 runs wait for their order's reply; kill -9 the router
/// while the first replies are being taken, send the rest while it is down, start it again:
/// every run takes its own reply exactly once, and each journal replays to the state.
#[tokio::test]
async fn kill_9_of_the_router_mid_wait_ends_every_wait_once() {
    const RUNS: usize = 20;
    let mut stack = Stack::start().await;
    let yaml = r#"
name: await
on: { webhook: { path: await } }
steps:
  reply:
    wait: { type: shop.reply, match: "${{ event.data.order == execution.event.data.body.order }}", timeout: 5m }
  after: { uses: http, needs: reply, with: { method: POST, url: "{upstream}/echo/after", json: { order: "${{ steps.reply.output.data.order }}" } } }
"#;
    stack.apply("await", yaml).await;
    let mut events = Vec::with_capacity(RUNS);
    for order in 0..RUNS {
        events.push(stack.hook("await", json!({ "order": order })).await);
    }
    // Every run waits.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let list = stack.get("/executions?workflow=await&status=running").await;
        let ids: Vec<String> = list["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["id"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let mut waiting = 0;
        for id in &ids {
            let detail = stack.get(&format!("/executions/{id}")).await;
            waiting += usize::from(step(&detail, "reply")["status"] == "running");
        }
        if waiting == RUNS {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the runs never waited"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reply = |order: usize| {
        json!({"specversion": "1.0", "id": format!("reply-{order}"), "source": "mail/x",
               "type": "shop.reply", "data": {"order": order}})
    };
    for order in 0..RUNS / 2 {
        stack.event(reply(order)).await;
    }
    stack.kill9("router");
    for order in RUNS / 2..RUNS {
        stack.event(reply(order)).await;
    }
    stack.spawn("router");
    for (order, event_id) in events.iter().enumerate() {
        let detail = stack.ended(event_id, Duration::from_secs(60)).await;
        assert_eq!(detail["status"], "succeeded", "{detail}");
        assert_eq!(step(&detail, "reply")["output"]["data"]["order"], order);
        stack.replays(detail["id"].as_str().expect("id")).await;
    }
    let mut keys: HashMap<i64, std::collections::HashSet<String>> = HashMap::new();
    for s in stack.upstream.seen("/echo/after") {
        let order = s.body["order"].as_i64().expect("order");
        keys.entry(order)
            .or_default()
            .insert(s.idempotency_key.clone().unwrap_or_default());
    }
    assert_eq!(keys.len(), RUNS, "every run went on");
    assert!(keys.values().all(|k| k.len() == 1), "a wait ended twice");
}
