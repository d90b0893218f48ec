//! `on.schedule`: cron schedules, and the one way to read them ([`parse_cron`],
//! [`parse_timezone`]) shared by the apply-time check and the cron service, so a schedule the
//! API accepts is exactly one the cron service can run.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Problem, required};

/// `on.schedule`: a cron expression; each tick becomes a `dev.weft.schedule.fired` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleTrigger {
    /// 5 fields (minute precision), 6 fields (seconds first) or a nickname such as `@hourly`;
    /// day of month and day of week combine with OR (Vixie cron).
    pub cron: String,
    /// IANA time zone the expression is read in, e.g. `Europe/Berlin`.
    #[serde(default = "ScheduleTrigger::default_timezone")]
    pub timezone: String,
    /// Ticks missed while no cron service ran: `none`, `latest` (default) or `all`.
    #[serde(default)]
    pub catchup: Catchup,
    /// How far back missed ticks are caught up.
    #[serde(
        default = "ScheduleTrigger::default_catchup_window",
        with = "crate::duration::required"
    )]
    #[schemars(with = "crate::duration::DurationString")]
    pub catchup_window: Duration,
    /// What a tick does while an execution of this workflow still runs.
    #[serde(default)]
    pub overlap: Overlap,
}

impl ScheduleTrigger {
    fn default_timezone() -> String {
        "UTC".into()
    }
    fn default_catchup_window() -> Duration {
        Duration::from_secs(3600)
    }
}

impl Check for ScheduleTrigger {
    fn check(&self) -> Result<(), Problem> {
        required("cron", &self.cron)?;
        required("timezone", &self.timezone)?;
        parse_cron(&self.cron).map_err(|e| Problem::new("cron", e))?;
        parse_timezone(&self.timezone).map_err(|e| Problem::new("timezone", e))?;
        Ok(())
    }
}

/// Parse a cron expression: 5 fields (minute precision), 6 fields (seconds first) or a
/// nickname (`@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@hourly`). Day of month
/// and day of week combine with OR, as in Vixie cron.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    let fields = expr.split_whitespace().count();
    if !expr.trim_start().starts_with('@') && !(5..=6).contains(&fields) {
        return Err(format!(
            "invalid cron expression `{expr}`: expected 5 fields (minute hour day month weekday), \
             6 (with seconds first) or a nickname such as `@hourly`, found {fields} fields"
        ));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .year(croner::parser::Year::Disallowed)
        .build()
        .parse(expr)
        .map_err(|e| format!("invalid cron expression `{expr}`: {e}"))
}

/// Parse an IANA time zone name such as `Europe/Berlin` or `UTC`.
pub fn parse_timezone(name: &str) -> Result<chrono_tz::Tz, String> {
    name.trim().parse::<chrono_tz::Tz>().map_err(|_| {
        format!("unknown time zone `{name}`: use an IANA name such as `UTC` or `Europe/Berlin`")
    })
}

/// Missed ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Catchup {
    /// Skip them.
    None,
    /// Fire once, for the latest missed tick.
    #[default]
    Latest,
    /// Fire each of them, oldest first.
    All,
}

/// A tick while an execution started by this workflow is still running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// Start another execution anyway.
    #[default]
    Allow,
    /// Drop the tick.
    Skip,
    /// Keep at most one tick waiting; it starts when the running execution ends.
    BufferOne,
    /// Cancel the running execution, then start.
    CancelPrevious,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger(cron: &str, timezone: &str) -> ScheduleTrigger {
        ScheduleTrigger {
            cron: cron.into(),
            timezone: timezone.into(),
            catchup: Catchup::default(),
            catchup_window: ScheduleTrigger::default_catchup_window(),
            overlap: Overlap::default(),
        }
    }

    #[test]
    fn accepts_five_six_fields_and_nicknames() {
        for cron in [
            "*/5 * * * *",
            "*/1 * * * * *",
            "30 2 * * MON-FRI",
            "@hourly",
            "@daily",
        ] {
            assert_eq!(trigger(cron, "Europe/Berlin").check(), Ok(()), "{cron}");
        }
    }

    #[test]
    fn rejects_bad_cron_and_unknown_zone() {
        for cron in [
            "* * * *",
            "61 * * * *",
            "* * * * * * *",
            "@sometimes",
            "not cron",
        ] {
            let problem = trigger(cron, "UTC").check().expect_err(cron);
            assert_eq!(problem.field, "cron", "{cron}");
            assert!(problem.message.contains(cron), "{}", problem.message);
        }
        let problem = trigger("@hourly", "Mars/Olympus")
            .check()
            .expect_err("zone");
        assert_eq!(problem.field, "timezone");
        assert!(problem.message.contains("Mars/Olympus"));
    }
}
