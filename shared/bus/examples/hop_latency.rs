//! Measures one hop: JetStream publish (with ack) → the shared consume loop → handler.
//! `cargo run --release -p weft-bus --example hop_latency -- nats://127.0.0.1:14222`
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::mpsc;
use weft_bus::{Bus, ConsumerSpec, Delivery, Disposition, Handler, consume};
use weft_runtime::Shutdown;

struct H(mpsc::UnboundedSender<Instant>);
impl Handler for H {
    async fn handle(&self, _d: Delivery) -> Disposition {
        let _ = self.0.send(Instant::now());
        Disposition::Ack
    }
}

#[tokio::main]
async fn main() {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    let bus = Bus::connect(&url, "hop").await.expect("connect");
    bus.ensure_streams().await.expect("streams");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let storage = std::env::args().nth(3).unwrap_or_else(|| "file".into());
    let _ = bus.jetstream().delete_stream("HOP").await;
    bus.jetstream()
        .create_stream(async_nats::jetstream::stream::Config {
            name: "HOP".into(),
            subjects: vec!["hop.>".into()],
            retention: async_nats::jetstream::stream::RetentionPolicy::WorkQueue,
            storage: if storage == "memory" {
                async_nats::jetstream::stream::StorageType::Memory
            } else {
                async_nats::jetstream::stream::StorageType::File
            },
            ..Default::default()
        })
        .await
        .expect("stream");
    let mut spec = ConsumerSpec::new("HOP", "hop-probe", "hop.probe");
    spec.concurrency = std::env::args()
        .nth(2)
        .and_then(|c| c.parse().ok())
        .unwrap_or(64);
    // Baseline: a core subscription on the same subject sees the message as JetStream stores it.
    let mut core = bus.client().subscribe("hop.probe").await.expect("sub");
    let (ctx, mut crx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        use futures::StreamExt;
        while core.next().await.is_some() {
            let _ = ctx.send(Instant::now());
        }
    });
    let shutdown = Shutdown::new();
    tokio::spawn(consume(
        bus.clone(),
        spec,
        Arc::new(H(tx)),
        shutdown.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut pub_us = Vec::new();
    let mut hop_us = Vec::new();
    let mut core_us = Vec::new();
    for i in 0..200 {
        let t0 = Instant::now();
        bus.publish_bytes(
            "hop.probe",
            &format!("m{i}-{}", std::process::id()),
            bytes::Bytes::from_static(b"{}"),
        )
        .await
        .expect("pub");
        pub_us.push(t0.elapsed().as_micros());
        let got = rx.recv().await.expect("recv");
        hop_us.push(got.duration_since(t0).as_micros());
        if let Some(c) = crx.recv().await {
            core_us.push(c.duration_since(t0).as_micros());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    pub_us.sort();
    hop_us.sort();
    core_us.sort();
    println!("core subscriber p50 {}us", core_us[100]);
    println!(
        "publish+ack p50 {}us p90 {}us; publish→handler p50 {}us p90 {}us",
        pub_us[100], pub_us[180], hop_us[100], hop_us[180]
    );
    shutdown.trigger();
}
