//! The cron trigger as a [`Source`] of the shared trigger runtime: one task per `on.schedule`
//! entry sleeps until the next tick, publishes `dev.weft.schedule.fired` and saves the tick as
//! its cursor.
//!
//! Consumes the entry's [`ScheduleTrigger`] and its cursor (KV `weft_cursors`: the last tick
//! handled); produces events on `weft.events.schedule` with data `{schedule, timezone,
//! scheduled_time, fired_time}` and id `event_id(cron, timezone, scheduled_time)`, the same in
//! every replica, so replicas publishing one tick give one event and one execution. Touches
//! NATS only.
//!
//! At start, ticks that came due since the cursor were missed (no cron service ran) and are
//! handled per `catchup` within `catchup_window`; a new trigger (no cursor) catches up nothing
//! and records when it began watching. Afterwards a tick fires when it comes due; one found
//! more than [`LIVE_GRACE`] late (the process was suspended, the bus was slow) counts as missed.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use weft_events::types;
use weft_flow::triggers::ScheduleTrigger;
use weft_trigger::{Source, TriggerCtx, TriggerError};

use crate::schedule::{Plan, Schedule, plan};

/// How late a tick may be found and still count as on time.
pub const LIVE_GRACE: TimeDelta = TimeDelta::seconds(5);

/// Longest single sleep: the wall clock is re-read at least this often (clock steps, suspend).
const MAX_SLEEP: std::time::Duration = std::time::Duration::from_secs(30);

/// The `on.schedule` trigger kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct CronSource;

/// The saved position of one schedule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// The last tick handled (fired or deliberately skipped), or when watching began.
    pub last_tick: DateTime<Utc>,
}

impl Source for CronSource {
    const KIND: &'static str = "schedule";
    type Config = ScheduleTrigger;

    fn configs(on: &weft_flow::Triggers) -> &[Self::Config] {
        on.schedule.as_slice()
    }

    /// The expression in its zone: another expression or zone is another schedule, with a
    /// fresh cursor; a change of `catchup` or `overlap` keeps the cursor.
    fn scope(config: &Self::Config) -> String {
        format!("cron:{}:{}", config.timezone, config.cron)
    }

    async fn run(&self, ctx: TriggerCtx<Self::Config>) -> Result<(), TriggerError> {
        let schedule = Schedule::new(&ctx.config).map_err(TriggerError::source)?;
        let mut last = match ctx.cursor::<Cursor>().await? {
            Some(c) => c.last_tick,
            None => {
                let now = Utc::now();
                ctx.save_cursor(&Cursor { last_tick: now }).await?;
                now
            }
        };
        ctx.healthy();
        let mut grace = TimeDelta::zero(); // at start every due tick was missed
        while !ctx.shutdown.is_triggered() {
            last = handle_due(&ctx, &schedule, last, grace).await?;
            grace = LIVE_GRACE;
            let Some(next) = schedule.next_after(last) else {
                tracing::info!(workflow = %ctx.workflow, cron = %ctx.config.cron, "schedule has no further ticks");
                ctx.shutdown.wait().await;
                break;
            };
            let wait = (next - Utc::now()).to_std().unwrap_or_default();
            tokio::select! {
                _ = ctx.shutdown.wait() => break,
                _ = tokio::time::sleep(wait.min(MAX_SLEEP)) => {}
            }
        }
        Ok(())
    }
}

/// Fire or skip the ticks due since `last`; returns the new `last` (saved as the cursor).
async fn handle_due(
    ctx: &TriggerCtx<ScheduleTrigger>,
    schedule: &Schedule,
    last: DateTime<Utc>,
    grace: TimeDelta,
) -> Result<DateTime<Utc>, TriggerError> {
    let now = Utc::now();
    let cfg = &ctx.config;
    let window = TimeDelta::from_std(cfg.catchup_window).unwrap_or(TimeDelta::MAX);
    let from = now.checked_sub_signed(window).map_or(last, |w| w.max(last));
    if from > last {
        tracing::info!(workflow = %ctx.workflow, cron = %cfg.cron, since = %last, "ticks older than catchup_window are not caught up");
    }
    let due = schedule.due(from, now);
    let Plan { fire, skipped } = plan(&due, now, cfg.catchup, cfg.catchup_window, grace);
    if skipped > 0 {
        tracing::info!(workflow = %ctx.workflow, cron = %cfg.cron, skipped, catchup = ?cfg.catchup, "missed schedule ticks skipped");
        metrics::counter!("weft_schedule_ticks_skipped_total", "workflow" => ctx.workflow.clone(), "reason" => "missed")
            .increment(skipped as u64);
    }
    let mut saved = None;
    for tick in fire {
        publish(ctx, schedule, tick).await?;
        ctx.save_cursor(&Cursor { last_tick: tick }).await?;
        saved = Some(tick);
    }
    let Some(&newest) = due.last() else {
        return Ok(from);
    };
    if saved != Some(newest) {
        ctx.save_cursor(&Cursor { last_tick: newest }).await?;
    }
    Ok(newest)
}

/// Publish one tick (a re-publish of the same tick, by this or another replica, is dropped).
async fn publish(
    ctx: &TriggerCtx<ScheduleTrigger>,
    schedule: &Schedule,
    tick: DateTime<Utc>,
) -> Result<(), TriggerError> {
    let cfg = &ctx.config;
    let scheduled = schedule.render(tick);
    let id = ctx.event_id(&[&cfg.cron, &cfg.timezone, &scheduled]);
    let data = json!({
        "schedule": cfg.cron,
        "timezone": cfg.timezone,
        "scheduled_time": scheduled,
        "fired_time": schedule.render_now(Utc::now()),
    });
    ctx.publish(&id, types::SCHEDULE_FIRED, Some(&scheduled), data)
        .await?;
    tracing::debug!(workflow = %ctx.workflow, scheduled_time = %scheduled, "schedule tick fired");
    Ok(())
}
