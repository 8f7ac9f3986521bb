//! Structured logs (JSON to stderr) and the Prometheus metrics recorder.
//!
//! Logs never hold PHI or credentials: callers log ids, counts and fixed phrases.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Histogram buckets for latencies in seconds (0.5 ms … 10 s).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Histogram buckets for sizes counted in events (batch sizes).
pub const SIZE_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 50000.0,
];

/// Logs as JSON lines to stderr, filtered by `RUST_LOG` (default `info`). Calling it again
/// (or after another subscriber was set) does nothing.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the global Prometheus recorder once and returns its handle (render it at
/// `/metrics`). Histograms whose names end in `_seconds` get [`LATENCY_BUCKETS`], those
/// ending in `_events` get [`SIZE_BUCKETS`].
///
/// If another global recorder was installed first, the handle still renders (an empty
/// registry) and a warning is logged.
pub fn install_metrics() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("_events".into()), SIZE_BUCKETS)
                });
            let recorder = match builder {
                Ok(b) => b.build_recorder(),
                // Only an empty bucket list fails, and ours are constant and non-empty.
                Err(_) => PrometheusBuilder::new().build_recorder(),
            };
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics stays empty");
            }
            handle
        })
        .clone()
}

/// How often histogram samples are drained into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Drains histogram samples into their buckets every [`UPKEEP_EVERY`] on the current
/// tokio runtime. The recorder keeps every sample until a drain, which only a scrape of
/// `/metrics` would otherwise do: a server nobody scrapes grew by ~25 bytes a request.
pub fn spawn_upkeep(handle: PrometheusHandle) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP_EVERY);
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_with_buckets_and_install_is_idempotent() {
        let handle = install_metrics();
        let again = install_metrics();
        metrics::histogram!("recall_test_latency_seconds").record(0.003);
        metrics::counter!("recall_test_total").increment(2);
        let text = again.render();
        assert!(text.contains("recall_test_total 2"), "{text}");
        assert!(
            text.contains("recall_test_latency_seconds_bucket{le=\"0.005\"} 1"),
            "{text}"
        );
        drop(handle);
        init_logging();
        init_logging();
    }
}
