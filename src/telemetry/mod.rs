//! Observability: Prometheus metrics, health endpoints, and the status snapshot
//! (`/status`, `firetail status`, systemd's `STATUS=`).
//!
//! Hot-path counters are plain atomics in each flow's [`FlowCounters`]; they are copied
//! into the Prometheus registry only when `/metrics` is scraped, so counting costs the
//! pipeline one relaxed add per event. Per-request figures (latency, batch sizes,
//! failures by code) go straight to the registry through the `metrics` macros: they
//! happen once per API call, not per record.
//!
//! Label cardinality is bounded: `flow` (configured), `code` (AWS error codes), and
//! `path` only on the per-file bytes-behind gauge, capped at [`MAX_FILE_SERIES`] files per
//! flow (the rest are summed in the per-flow gauge).

mod server;
pub mod snapshot;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::sync::watch;

use crate::daemon::counters::FlowCounters;

pub use server::serve;

/// Files per flow that get their own bytes-behind series.
pub const MAX_FILE_SERIES: usize = 64;

/// One flow as the metrics see it.
#[derive(Clone)]
pub struct FlowView {
    pub counters: Arc<FlowCounters>,
    pub status: watch::Receiver<firetail_tail::FlowTailStatus>,
}

/// The registry and what it reads from at scrape time. Cheap to clone.
#[derive(Clone)]
pub struct Observability {
    handle: PrometheusHandle,
    flows: watch::Receiver<Vec<FlowView>>,
    checkpoints: Option<firetail_tail::CheckpointStore>,
    started: Instant,
    tracker: Arc<snapshot::Tracker>,
}

/// Installs the process-wide recorder. A second call (tests, the demo after a run)
/// gets a fresh, unregistered handle: macros then record into the first one, which
/// only costs those tests the per-request histograms.
pub fn install() -> PrometheusHandle {
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_seconds".into()),
            &[
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ],
        )
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full("firetail_batch_records".into()),
                // 499: a full batch (500 records) is told apart from a partial one.
                &[1.0, 10.0, 50.0, 100.0, 250.0, 499.0, 500.0],
            )
        })
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full("firetail_batch_bytes".into()),
                &[
                    1024.0, 16384.0, 131072.0, 524288.0, 1048576.0, 2097152.0, 4194304.0, 5242880.0,
                ],
            )
        })
        .unwrap_or_else(|_| PrometheusBuilder::new());
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    // Fails only when a recorder is already installed; see the function docs.
    let _ = metrics::set_global_recorder(recorder);
    handle
}

impl Observability {
    pub fn new(handle: PrometheusHandle, flows: watch::Receiver<Vec<FlowView>>) -> Self {
        Observability {
            handle,
            flows,
            checkpoints: None,
            started: Instant::now(),
            tracker: Arc::default(),
        }
    }

    /// Reports whether `store` is being saved, in `/metrics` and `/health/ready`.
    pub fn with_checkpoints(mut self, store: firetail_tail::CheckpointStore) -> Self {
        self.checkpoints = Some(store);
        self
    }

    /// Drains the histograms' pending samples into their buckets. Rendering does it
    /// too, but without a scraper nothing would, and each request's samples would pile up
    /// in memory; the daemon calls this on a timer. It also samples each flow's
    /// records sent, for the records/s of [`Observability::snapshot`].
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
        self.tracker.sample(&self.flows.borrow());
    }

    /// The Prometheus text exposition, with flow counters copied in first.
    pub fn render(&self) -> String {
        let flows = self.flows.borrow().clone();
        for f in &flows {
            export_flow(f);
        }
        metrics::gauge!("firetail_uptime_seconds").set(self.started.elapsed().as_secs_f64());
        if let Some(store) = &self.checkpoints {
            let health = store.write_health();
            metrics::counter!("firetail_checkpoint_write_failures_total")
                .absolute(health.failures_total);
            metrics::gauge!("firetail_checkpoint_write_failing").set(if health.failing.is_some() {
                1.0
            } else {
                0.0
            });
        }
        self.handle.render()
    }

    /// `/health/ready`: every flow has either delivered or had nothing to deliver, none is
    /// failing permanently, and the checkpoint file is being saved (when it is not,
    /// delivery goes on but a restart would re-send). Returns (ready, JSON body).
    pub fn readiness(&self) -> (bool, serde_json::Value) {
        let mut ready = true;
        let mut flows = serde_json::Map::new();
        let views = self.flows.borrow().clone();
        for f in &views {
            let c = &f.counters;
            let behind = bytes_behind(&f.status.borrow());
            let sent = c.records_sent.load(Relaxed);
            let (ok, why) = flow_readiness(c, behind);
            ready &= ok;
            flows.insert(
                c.flow_id.clone(),
                serde_json::json!({"ready": ok, "reason": why, "records_sent": sent, "bytes_behind": behind}),
            );
        }
        let mut body = serde_json::json!({"ready": ready, "flows": flows});
        if let Some(store) = &self.checkpoints {
            let health = store.write_health();
            let saved = health.failing.is_none();
            body["checkpoints"] = serde_json::json!({
                "saved": saved,
                "error": health.failing,
                "path": store.path().display().to_string(),
            });
            ready &= saved;
            body["ready"] = serde_json::json!(ready);
        }
        (ready, body)
    }

    /// Every flow and file at a glance (`GET /status`, `firetail status`, `STATUS=`).
    /// Reads only counters and the tailers' published status, plus one `stat` of the
    /// checkpoint file; never waits on the pipeline.
    pub fn snapshot(&self) -> snapshot::StatusSnapshot {
        let views = self.flows.borrow().clone();
        self.tracker.sample(&views);
        let flows: Vec<snapshot::FlowSnapshot> =
            views.iter().map(|f| self.flow_snapshot(f)).collect();
        let checkpoints = self.checkpoints.as_ref().map(|store| {
            let health = store.write_health();
            let written = std::fs::metadata(store.path())
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok());
            snapshot::CheckpointSnapshot {
                path: store.path().display().to_string(),
                saved: health.failing.is_none(),
                error: health.failing,
                written_seconds_ago: written.map(|d| d.as_secs_f64()),
            }
        });
        let ready = flows.iter().all(|f| f.ready) && checkpoints.as_ref().is_none_or(|c| c.saved);
        snapshot::StatusSnapshot {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            pid: std::process::id(),
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            ready,
            checkpoints,
            flows,
        }
    }

    fn flow_snapshot(&self, f: &FlowView) -> snapshot::FlowSnapshot {
        let c = &f.counters;
        let status = f.status.borrow().clone();
        let behind = bytes_behind(&status);
        let (ready, reason) = flow_readiness(c, behind);
        let sent = c.records_sent.load(Relaxed);
        let files = status
            .files
            .iter()
            .map(|file| {
                let age = self.tracker.checkpoint_age(&c.flow_id, file.file.0);
                snapshot::FileSnapshot {
                    path: file.path.display().to_string(),
                    size: file.size,
                    read_offset: file.read_offset,
                    acked_offset: file.acked_offset,
                    bytes_behind: file.size.saturating_sub(file.acked_offset),
                    open: file.open,
                    rotated_away: file.rotated_away,
                    checkpoint_age_seconds: age.map(|d| d.as_secs_f64()),
                }
            })
            .collect();
        snapshot::FlowSnapshot {
            id: c.flow_id.clone(),
            destination: c.destination.clone(),
            ready,
            reason,
            records_read: c.records_parsed.load(Relaxed),
            records_sent: sent,
            bytes_sent: c.bytes_sent.load(Relaxed),
            records_per_second: self.tracker.rate(&c.flow_id, sent),
            bytes_behind: behind,
            seconds_since_last_send: c.since_last_ack().map(|d| d.as_secs_f64()),
            last_error: c
                .last_error()
                .map(|(message, ago)| snapshot::ErrorSnapshot {
                    message,
                    seconds_ago: ago.as_secs_f64(),
                }),
            files,
        }
    }
}

/// A flow is ready when it has delivered, or has nothing to deliver, and is not failing
/// permanently. Returns the verdict and the reason `/health/ready` gives.
fn flow_readiness(c: &FlowCounters, behind: u64) -> (bool, String) {
    if let Some(down) = c.down() {
        (false, format!("flow {} is down: {down}", c.flow_id))
    } else if let Some(err) = c.permanent_error_active() {
        (false, format!("permanent error: {err}"))
    } else if c.records_sent.load(Relaxed) > 0 {
        (true, "delivering".to_string())
    } else if behind == 0 {
        (true, "nothing to send yet".to_string())
    } else {
        (
            false,
            format!("{behind} bytes waiting, nothing delivered yet"),
        )
    }
}

fn export_flow(f: &FlowView) {
    let c = &f.counters;
    let flow = c.flow_id.clone();
    let totals = [
        ("firetail_records_read_total", &c.records_parsed),
        ("firetail_bytes_read_total", &c.bytes_parsed),
        ("firetail_records_transformed_total", &c.records_transformed),
        ("firetail_records_skipped_total", &c.records_skipped),
        (
            "firetail_records_processing_errors_total",
            &c.records_processing_errors,
        ),
        ("firetail_records_sent_total", &c.records_sent),
        ("firetail_bytes_sent_total", &c.bytes_sent),
        ("firetail_records_attempted_total", &c.records_attempted),
        ("firetail_records_retried_total", &c.records_retried),
        ("firetail_requests_total", &c.requests),
        ("firetail_throttles_total", &c.throttles),
        ("firetail_permanent_errors_total", &c.permanent_errors),
        // Records leave firetail without delivery only when the destination refuses
        // them for good (CloudWatch Logs: too old, too new, expired; by code in
        // firetail_records_rejected_total); for Firehose and Kinesis this stays 0, and
        // exists so an alert can prove it.
        ("firetail_records_dropped_total", &c.records_rejected),
    ];
    for (name, total) in totals {
        metrics::counter!(name, "flow" => flow.clone()).absolute(total.load(Relaxed));
    }
    // 0 once a stage of the flow ended while the daemon runs (daemon::supervise).
    metrics::gauge!("firetail_flow_up", "flow" => flow.clone()).set(if c.down().is_some() {
        0.0
    } else {
        1.0
    });
    metrics::gauge!("firetail_concurrency", "flow" => flow.clone())
        .set(c.concurrency.load(Relaxed) as f64);
    metrics::gauge!("firetail_backoff_seconds", "flow" => flow.clone())
        .set(c.backoff_ms.load(Relaxed) as f64 / 1000.0);
    if let Some(since) = c.since_last_ack() {
        metrics::gauge!("firetail_seconds_since_last_send", "flow" => flow.clone())
            .set(since.as_secs_f64());
    }
    let status = f.status.borrow();
    metrics::gauge!("firetail_bytes_behind", "flow" => flow.clone())
        .set(bytes_behind(&status) as f64);
    metrics::gauge!("firetail_files_tailed", "flow" => flow.clone()).set(status.files.len() as f64);
    metrics::gauge!("firetail_files_open", "flow" => flow.clone())
        .set(status.files.iter().filter(|s| s.open).count() as f64);
    for file in status.files.iter().take(MAX_FILE_SERIES) {
        metrics::gauge!(
            "firetail_file_bytes_behind",
            "flow" => flow.clone(),
            "path" => file.path.display().to_string()
        )
        .set(file.size.saturating_sub(file.acked_offset) as f64);
    }
}

/// File size minus checkpoint, summed over the flow's files: the number operators
/// alarm on.
pub fn bytes_behind(status: &firetail_tail::FlowTailStatus) -> u64 {
    status
        .files
        .iter()
        .map(|f| f.size.saturating_sub(f.acked_offset))
        .sum()
}
