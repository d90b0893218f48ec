//! Logs (tracing) and metrics (a process-wide Prometheus recorder).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

static METRICS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Install the log subscriber once (`RUST_LOG` filters; default `info`). `json` gives JSON lines.
pub fn init_logging(format: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if format == "json" {
        registry.with(fmt::layer().json()).try_init()
    } else {
        registry.with(fmt::layer()).try_init()
    };
}

/// The process-wide Prometheus handle, installing the recorder on first use. Call it before
/// anything counts (the service host does, first thing): counts made while no recorder is
/// installed are lost.
pub fn metrics_handle() -> PrometheusHandle {
    METRICS
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only when another recorder is installed; the handle still renders ours.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
