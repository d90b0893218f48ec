//! Unit tests of the schedule arithmetic: nicknames, seconds, DST on both sides of the
//! Atlantic, and the catch-up plan.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use weft_flow::triggers::{Catchup, Overlap, ScheduleTrigger};

use crate::schedule::{Plan, Schedule, plan};

fn schedule(cron: &str, tz: &str) -> Schedule {
    Schedule::new(&ScheduleTrigger {
        cron: cron.into(),
        timezone: tz.into(),
        catchup: Catchup::Latest,
        catchup_window: std::time::Duration::from_secs(3600),
        overlap: Overlap::Allow,
    })
    .expect("schedule")
}

fn local(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .earliest()
        .expect("local time")
        .with_timezone(&Utc)
}

/// Ticks of `s` during the local calendar day starting at 00:00 of (y, mo, d) in `tz`.
fn day(s: &Schedule, tz: Tz, y: i32, mo: u32, d: u32) -> Vec<String> {
    let start = local(tz, y, mo, d, 0, 0);
    let end = local(tz, y, mo, d + 1, 0, 0);
    s.due(start, end).into_iter().map(|t| s.render(t)).collect()
}

#[test]
fn spring_forward_fires_a_skipped_time_once() {
    let tz: Tz = "Europe/Berlin".parse().expect("tz");
    // 2026-03-29: 02:00 → 03:00 in Berlin; 02:30 does not exist that day.
    let s = schedule("30 2 * * *", "Europe/Berlin");
    assert_eq!(day(&s, tz, 2026, 3, 29), ["2026-03-29T03:00:00+02:00"]);
    assert_eq!(day(&s, tz, 2026, 3, 30), ["2026-03-30T02:30:00+02:00"]);
    let ny: Tz = "America/New_York".parse().expect("tz");
    // 2026-03-08: 02:00 → 03:00 in New York.
    let s = schedule("30 2 * * *", "America/New_York");
    assert_eq!(day(&s, ny, 2026, 3, 8), ["2026-03-08T03:00:00-04:00"]);
}

#[test]
fn fall_back_fires_a_repeated_time_once() {
    let ny: Tz = "America/New_York".parse().expect("tz");
    // 2026-11-01: 02:00 → 01:00 in New York; 01:30 happens twice.
    let s = schedule("30 1 * * *", "America/New_York");
    assert_eq!(day(&s, ny, 2026, 11, 1), ["2026-11-01T01:30:00-04:00"]);
    let tz: Tz = "Europe/Berlin".parse().expect("tz");
    // 2026-10-25: 03:00 → 02:00 in Berlin; 02:30 happens twice.
    let s = schedule("30 2 * * *", "Europe/Berlin");
    assert_eq!(day(&s, tz, 2026, 10, 25), ["2026-10-25T02:30:00+02:00"]);
}

#[test]
fn interval_schedules_follow_real_time_through_a_fall_back() {
    let ny: Tz = "America/New_York".parse().expect("tz");
    // A 25-hour day: an hourly job runs 25 times, the repeated hour in both halves.
    let s = schedule("@hourly", "America/New_York");
    let ticks = day(&s, ny, 2026, 11, 1);
    assert_eq!(ticks.len(), 25, "{ticks:?}");
    assert!(ticks.contains(&"2026-11-01T01:00:00-04:00".to_string()));
    assert!(ticks.contains(&"2026-11-01T01:00:00-05:00".to_string()));
}

#[test]
fn seconds_field_and_nicknames() {
    let s = schedule("*/2 * * * * *", "UTC");
    let t0 = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 1)
        .single()
        .expect("t");
    let due = s.due(t0, t0 + TimeDelta::seconds(6));
    assert_eq!(due.len(), 3);
    assert_eq!(s.render(due[0]), "2026-01-01T00:00:02+00:00");
    let daily = schedule("@daily", "Europe/Berlin");
    let next = daily.next_after(t0).expect("next");
    assert_eq!(daily.render(next), "2026-01-02T00:00:00+01:00");
}

fn ticks(now: DateTime<Utc>, ages: &[i64]) -> Vec<DateTime<Utc>> {
    ages.iter().map(|a| now - TimeDelta::seconds(*a)).collect()
}

#[test]
fn catchup_plans() {
    let now = Utc
        .with_ymd_and_hms(2026, 5, 1, 12, 0, 0)
        .single()
        .expect("t");
    let hour = std::time::Duration::from_secs(3600);
    let due = ticks(now, &[7200, 30, 20, 10]); // one outside the window, three missed
    let zero = TimeDelta::zero();
    let none = plan(&due, now, Catchup::None, hour, zero);
    assert_eq!(
        none,
        Plan {
            fire: vec![],
            skipped: 4
        }
    );
    let latest = plan(&due, now, Catchup::Latest, hour, zero);
    assert_eq!(
        latest,
        Plan {
            fire: ticks(now, &[10]),
            skipped: 3
        }
    );
    let all = plan(&due, now, Catchup::All, hour, zero);
    assert_eq!(
        all,
        Plan {
            fire: ticks(now, &[30, 20, 10]),
            skipped: 1
        }
    );
    // Live: a tick within the grace is on time and fires whatever `catchup` says.
    let live = plan(
        &ticks(now, &[1]),
        now,
        Catchup::None,
        hour,
        TimeDelta::seconds(5),
    );
    assert_eq!(
        live,
        Plan {
            fire: ticks(now, &[1]),
            skipped: 0
        }
    );
    assert_eq!(plan(&[], now, Catchup::All, hour, zero), Plan::default());
}
