//! Schedule arithmetic, without I/O: the ticks of a cron expression in its time zone, and which
//! of the ticks that came due since the cursor fire, given `catchup`.
//!
//! Consumes a [`ScheduleTrigger`]; produces tick instants (UTC) and their RFC 3339 text in the
//! schedule's zone. DST is croner's: a wall-clock time that a spring-forward skips fires once at
//! the first instant after the gap; a fixed time that a fall-back repeats fires once (the first
//! time); interval schedules (`*/15 * * * *`) follow real elapsed time through both halves.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use chrono_tz::Tz;
use weft_flow::triggers::{Catchup, ScheduleTrigger, schedule};

/// More ticks than this in one catch-up are not looked at (a 1-second schedule down for a
/// 3-hour window would otherwise be enumerated tick by tick).
const MAX_DUE: usize = 10_000;

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: croner::Cron,
    tz: Tz,
}

impl Schedule {
    /// Parse the trigger's expression and time zone (already checked at apply time).
    pub fn new(trigger: &ScheduleTrigger) -> Result<Self, String> {
        Ok(Self {
            cron: schedule::parse_cron(&trigger.cron)?,
            tz: schedule::parse_timezone(&trigger.timezone)?,
        })
    }

    /// The first tick strictly after `t`, or `None` when the expression never matches again.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = t.with_timezone(&self.tz);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|n| n.with_timezone(&Utc))
    }

    /// Ticks in `(after, until]`, oldest first, at most [`MAX_DUE`].
    pub fn due(&self, after: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut t = after;
        while let Some(next) = self.next_after(t).filter(|n| *n <= until) {
            if out.len() == MAX_DUE {
                break;
            }
            out.push(next);
            t = next;
        }
        out
    }

    /// A tick as RFC 3339 in the schedule's time zone (e.g. `2026-03-29T03:00:00+02:00`): the
    /// event's `scheduled_time` and part of its id.
    pub fn render(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.tz)
            .to_rfc3339_opts(SecondsFormat::Secs, false)
    }

    /// `now` in the schedule's time zone, with milliseconds: the event's `fired_time`.
    pub fn render_now(&self, now: DateTime<Utc>) -> String {
        now.with_timezone(&self.tz)
            .to_rfc3339_opts(SecondsFormat::Millis, false)
    }
}

/// What to do with the ticks that came due.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Ticks to fire, oldest first.
    pub fire: Vec<DateTime<Utc>>,
    /// How many due ticks are dropped (missed, and `catchup` or `catchup_window` says no).
    pub skipped: usize,
}

/// Decide which of the `due` ticks (oldest first) fire at `now`. A tick at most `grace` old is
/// on time and always fires; an older one was missed (no cron service ran, or the process was
/// suspended) and is handled per `catchup`, within `window`.
pub fn plan(
    due: &[DateTime<Utc>],
    now: DateTime<Utc>,
    catchup: Catchup,
    window: std::time::Duration,
    grace: TimeDelta,
) -> Plan {
    let window = TimeDelta::from_std(window).unwrap_or(TimeDelta::MAX);
    let (missed, on_time): (Vec<_>, Vec<_>) = due.iter().partition(|t| now - **t > grace);
    let catchable: Vec<DateTime<Utc>> = missed
        .iter()
        .filter(|t| now - **t <= window)
        .copied()
        .collect();
    let mut fire = match catchup {
        Catchup::None => Vec::new(),
        Catchup::Latest => catchable.last().copied().into_iter().collect(),
        Catchup::All => catchable,
    };
    let skipped = missed.len() - fire.len();
    fire.extend(on_time);
    Plan { fire, skipped }
}
