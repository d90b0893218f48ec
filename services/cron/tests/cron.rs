//! The cron trigger against a real NATS server and the real clock (1-second schedules): ticks
//! fire on time with deterministic ids, two replicas publish each tick once, a restart catches
//! up per `catchup`, and the bus going away and coming back neither stalls nor doubles ticks.

mod common;

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use common::{Cron, apply, assert_distinct, health, secs, setup, sleep_to_fraction, ticks};
use serde_json::json;
use weft_events::{ids, types};
use weft_flow::triggers::ScheduleTrigger;
use weft_trigger::{Source, TriggerState};

const EVERY_SECOND: &str = "*/1 * * * * *";

#[tokio::test]
async fn ticks_fire_on_time_with_deterministic_ids() {
    let (nats, bus) = setup().await;
    let config = json!({"cron": EVERY_SECOND, "timezone": "Europe/Berlin"});
    apply(&bus, "every-second", config.clone()).await;
    let started = Utc::now();
    let cron = Cron::start(&nats.url).await;
    let got = ticks(&bus, "every-second", 3, Duration::from_secs(10)).await;
    cron.stop().await;
    assert!(got.len() >= 3, "{got:#?}");
    let trigger: ScheduleTrigger = serde_json::from_value(config).expect("config");
    let scope = weft_cron::CronSource::scope(&trigger);
    for (i, t) in got.iter().enumerate() {
        assert_eq!(t.source, "weft/schedule/every-second");
        assert_eq!(t.ty, types::SCHEDULE_FIRED);
        assert_eq!(t.data["schedule"], EVERY_SECOND);
        assert_eq!(t.data["timezone"], "Europe/Berlin");
        let text = t.data["scheduled_time"].as_str().expect("text");
        // Rendered in the schedule's zone (Berlin: +01:00 or +02:00).
        assert!(
            text.ends_with("+01:00") || text.ends_with("+02:00"),
            "{text}"
        );
        let fired =
            chrono::DateTime::parse_from_rfc3339(t.data["fired_time"].as_str().expect("fired"))
                .expect("fired_time is RFC 3339");
        let lag = fired.signed_duration_since(t.scheduled);
        assert!(
            lag >= TimeDelta::zero() && lag < TimeDelta::seconds(2),
            "late by {lag}"
        );
        // A new trigger catches nothing up: every tick is after the service started.
        assert!(t.scheduled >= started - TimeDelta::milliseconds(1), "{t:?}");
        let want = ids::derive(&[
            "trigger",
            "schedule",
            "every-second",
            &scope,
            EVERY_SECOND,
            "Europe/Berlin",
            text,
        ]);
        assert_eq!(t.id, want.to_string(), "the id derives from the tick");
        if i > 0 {
            assert_eq!(
                secs(t.scheduled) - secs(got[i - 1].scheduled),
                1,
                "{got:#?}"
            );
        }
    }
    let h = health(&bus, "every-second").await.expect("health");
    assert!(h.cursor.is_some(), "the last tick is the cursor: {h:?}");
}

#[tokio::test]
async fn two_replicas_publish_each_tick_once() {
    let (nats, bus) = setup().await;
    apply(&bus, "twice", json!({"cron": EVERY_SECOND})).await;
    let a = Cron::start(&nats.url).await;
    let b = Cron::start(&nats.url).await;
    tokio::time::sleep(Duration::from_millis(4500)).await;
    a.stop().await;
    b.stop().await;
    let got = ticks(&bus, "twice", 3, Duration::from_secs(2)).await;
    assert!(got.len() >= 3, "{got:#?}");
    assert_distinct(&got);
    let span = secs(got[got.len() - 1].scheduled) - secs(got[0].scheduled);
    assert_eq!(
        span as usize + 1,
        got.len(),
        "no tick missing between: {got:#?}"
    );
    assert!(got.iter().all(|t| t.data["schedule"] == EVERY_SECOND));
}

#[tokio::test]
async fn a_restart_catches_up_per_catchup() {
    let (nats, bus) = setup().await;
    for mode in ["none", "latest", "all"] {
        apply(
            &bus,
            &format!("catchup-{mode}"),
            json!({"cron": EVERY_SECOND, "catchup": mode}),
        )
        .await;
    }
    let cron = Cron::start(&nats.url).await;
    for mode in ["none", "latest", "all"] {
        let got = ticks(&bus, &format!("catchup-{mode}"), 2, Duration::from_secs(10)).await;
        assert!(got.len() >= 2, "{mode}: {got:#?}");
    }
    cron.stop().await;
    let mut last = std::collections::HashMap::new();
    for mode in ["none", "latest", "all"] {
        let got = ticks(&bus, &format!("catchup-{mode}"), 0, Duration::ZERO).await;
        last.insert(
            mode,
            got.iter().map(|t| secs(t.scheduled)).max().expect("ticks"),
        );
    }
    // Down over at least three ticks; restart mid-second, away from any tick.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    sleep_to_fraction(0.4).await;
    let restarted = Utc::now().timestamp(); // the newest missed tick
    let cron = Cron::start(&nats.url).await;
    tokio::time::sleep(Duration::from_millis(2600)).await;
    cron.stop().await;

    for mode in ["none", "latest", "all"] {
        let got = ticks(&bus, &format!("catchup-{mode}"), 0, Duration::ZERO).await;
        assert_distinct(&got);
        let before = last[mode];
        let after: Vec<i64> = got
            .iter()
            .map(|t| secs(t.scheduled))
            .filter(|s| *s > before)
            .collect();
        let caught: Vec<i64> = after.iter().copied().filter(|s| *s <= restarted).collect();
        let live: Vec<i64> = after.iter().copied().filter(|s| *s > restarted).collect();
        let missed: Vec<i64> = (before + 1..=restarted).collect();
        assert!(missed.len() >= 3, "{mode}: down for {missed:?}");
        match mode {
            "none" => assert_eq!(caught, Vec::<i64>::new(), "none fires none"),
            "latest" => assert_eq!(
                caught,
                vec![restarted],
                "latest fires the newest missed tick only"
            ),
            _ => assert_eq!(caught, missed, "all fires each missed tick, oldest first"),
        }
        assert!(
            live.len() >= 2,
            "{mode}: ticks resume after the restart: {after:?}"
        );
        let mut sorted = after.clone();
        sorted.sort_unstable();
        assert_eq!(after, sorted, "{mode}: published oldest first");
    }
}

#[tokio::test]
async fn the_bus_going_away_and_coming_back() {
    let (mut nats, bus) = setup().await;
    apply(&bus, "outage", json!({"cron": EVERY_SECOND})).await;
    let cron = Cron::start(&nats.url).await;
    let before = ticks(&bus, "outage", 2, Duration::from_secs(10)).await;
    assert!(before.len() >= 2);
    nats.stop();
    // Longer than a JetStream publish waits for its ack (5 s): publishing fails meanwhile.
    tokio::time::sleep(Duration::from_secs(8)).await;
    nats.restart().await.expect("nats back");
    let back = Utc::now();
    // The trigger reports the outage, then recovers by itself.
    let mut states = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(h) = health(&bus, "outage").await {
            if states.last() != Some(&h.state) {
                states.push(h.state);
            }
            if h.state == TriggerState::Running && states.contains(&TriggerState::Error) {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "states seen: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let resumed = ticks(&bus, "outage", before.len() + 3, Duration::from_secs(30)).await;
    cron.stop().await;
    assert_distinct(&resumed);
    let fresh = resumed.iter().filter(|t| t.scheduled > back).count();
    assert!(
        fresh >= 2,
        "ticks resume after the bus is back: {resumed:#?}"
    );
}
