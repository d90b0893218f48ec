//! Per-step `rate_limit`s across every run of a workflow: starts evenly spaced, one every
//! `per / limit` (so no window of `per` holds more than `limit`; a fragile API sees no burst),
//! kept as one row per limit, `tat`, the earliest time of the next start. Reserving a start
//! moves it on under the row's lock (the dispatching transaction holds it until its commit),
//! so concurrent runs never both take the same slot.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{Ctx, StoreError, Tx};

/// Reserve a start under the limit `name` (`limit` starts per `per`) at `now`: the time the
/// attempt may be sent, `now` or later.
pub async fn reserve(
    tx: &mut Tx<'_>,
    name: &str,
    limit: u32,
    per: Duration,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, StoreError> {
    let spacing = per / limit.max(1);
    let tat: DateTime<Utc> = sqlx::query_scalar!(
        "INSERT INTO rate_limits (name, tat) \
         VALUES ($1, $2::timestamptz + make_interval(secs => $3)) \
         ON CONFLICT (name) DO UPDATE \
           SET tat = greatest(rate_limits.tat, $2) + make_interval(secs => $3) \
         RETURNING tat",
        name,
        now,
        spacing.as_secs_f64(),
    )
    .fetch_one(&mut **tx)
    .await
    .ctx("reserving a rate-limited start")?;
    let spacing = chrono::Duration::from_std(spacing).unwrap_or(chrono::Duration::MAX);
    Ok(tat
        .checked_sub_signed(spacing)
        .map_or(now, |slot| slot.max(now)))
}
