//! The figures of one run: stdout and a JSON file.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{Args, Shared};

/// Figures of one run.
pub struct Report(Value);

impl Report {
    /// `completed_in_window`: runs that ended while load was still being sent (the sustained
    /// throughput); `completed` also counts those that ended during the drain.
    pub fn new(
        args: &Args,
        shared: &Shared,
        sent_for: Duration,
        completed_in_window: u64,
        cpu: Value,
    ) -> Self {
        let h = shared.latencies.lock().map(|h| h.clone()).ok();
        let ms = |q: f64| {
            h.as_ref()
                .map(|h| h.value_at_quantile(q) as f64 / 1000.0)
                .unwrap_or(f64::NAN)
        };
        let completed = h.as_ref().map(|h| h.len()).unwrap_or(0);
        let accepted = shared.accepted.lock().map(|a| *a).unwrap_or(0);
        let errors = shared.errors.lock().map(|e| *e).unwrap_or(0);
        let lost = shared.waiters.lock().map(|w| w.len()).unwrap_or(0);
        Self(json!({
            "scenario": args.scenario,
            "mode": args.mode,
            "target_rate": if matches!(args.mode, crate::Mode::Fixed) { json!(args.rate) } else { Value::Null },
            "concurrency": if matches!(args.mode, crate::Mode::Saturate) { json!(args.concurrency) } else { Value::Null },
            "duration_s": sent_for.as_secs_f64(),
            "accepted": accepted,
            "rejected": errors,
            "completed": completed,
            "lost": lost,
            "completed_in_window": completed_in_window,
            "completed_per_s": completed_in_window as f64 / sent_for.as_secs_f64(),
            "items": if matches!(args.mode, crate::Mode::Items) { json!(args.items) } else { Value::Null },
            "items_per_s": if matches!(args.mode, crate::Mode::Items) && completed > 0 {
                json!(args.items as f64 / sent_for.as_secs_f64())
            } else {
                Value::Null
            },
            "latency_ms": {"p50": ms(0.5), "p95": ms(0.95), "p99": ms(0.99), "max": ms(1.0)},
            "cpu": cpu,
            "at": chrono::Utc::now().to_rfc3339(),
            "commit": std::env::var("WEFT_COMMIT").unwrap_or_default(),
        }))
    }

    /// Add a figure.
    pub fn set(&mut self, key: &str, value: Value) {
        self.0[key] = value;
    }

    pub fn print(&self) {
        println!(
            "{}",
            serde_json::to_string_pretty(&self.0).unwrap_or_default()
        );
    }

    pub fn write(&self, path: &std::path::Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_string_pretty(&self.0)? + "\n")?;
        Ok(())
    }
}
