//! The process's Prometheus recorder: installed once (the `metrics` facade has one global
//! recorder), with histogram buckets, and rendered by the edge at `P/metrics/prometheus`.

use std::sync::{Arc, OnceLock};

use chatbox_ws::metrics::{CONNECTION_DURATION_BUCKETS, MetricsRender};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Prometheus' default buckets, for latencies in seconds.
const LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The renderer of this process's metrics; `None` when another recorder was installed first
/// (a host application with its own), which is logged once.
pub fn prometheus() -> Option<MetricsRender> {
    let handle = HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("chatbox_websocket_connection_duration_seconds".into()),
                    &CONNECTION_DURATION_BUCKETS,
                )
            })
            .map(PrometheusBuilder::build_recorder);
        match recorder {
            Ok(recorder) => {
                let handle = recorder.handle();
                match metrics::set_global_recorder(recorder) {
                    Ok(()) => Some(handle),
                    Err(_) => {
                        tracing::warn!("another metrics recorder is installed: P/metrics/prometheus is off; the host application's recorder gets chatbox's metrics");
                        None
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot build the Prometheus recorder: metrics are off");
                None
            }
        }
    });
    let handle = handle.clone()?;
    Some(Arc::new(move || handle.render()))
}
