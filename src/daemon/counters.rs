//! Per-flow counters, kept with the Kinesis Agent's definitions so the status lines it
//! prints (and that users alarm on) mean the same thing here.
//!
//! - parsed: records framed, including ones later skipped; bytes: file bytes they cover.
//! - transformed: records the chain converted (the agent's "processed").
//! - skipped: records the chain dropped (LOGTOJSON no-match).
//! - sent: records the service accepted.
//! - rejected: records the service refused for good (CloudWatch Logs: too old, too new,
//!   expired); acknowledged, never sent again.
//!
//! Counters are plain atomics written by the flow's own tasks; readers (status lines,
//! metrics, health) only load them, so no stage shares mutable state with another.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use firetail_sink::SinkEvents;

/// One flow's counters. Shared as `Arc<FlowCounters>`.
#[derive(Debug)]
pub struct FlowCounters {
    pub flow_id: String,
    /// `DeliveryStream:<name>`, `KinesisStream:<name>` or `LogGroup:<group>/<stream>`
    /// (the CloudWatch dimension).
    pub destination: String,
    pub records_parsed: AtomicU64,
    pub bytes_parsed: AtomicU64,
    pub records_transformed: AtomicU64,
    pub records_skipped: AtomicU64,
    /// Records a converter failed on, sent raw (the agent's `TotalDataProcessingErrors`).
    pub records_processing_errors: AtomicU64,
    pub records_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub records_attempted: AtomicU64,
    pub records_failed: AtomicU64,
    /// Records the destination refused for good (acknowledged, not sent again).
    pub records_rejected: AtomicU64,
    pub records_retried: AtomicU64,
    pub requests: AtomicU64,
    pub throttles: AtomicU64,
    pub permanent_errors: AtomicU64,
    pub abandoned: AtomicU64,
    /// The adaptive in-flight request limit.
    pub concurrency: AtomicU64,
    /// The current backoff, in milliseconds (0 when sending freely).
    pub backoff_ms: AtomicU64,
    /// The permanent error the flow is stuck on, if any; cleared by the next success.
    permanent: Mutex<Option<String>>,
    /// The latest failure of any kind (throttle, rejected records, failed call,
    /// permanent error) and when it happened; kept after a success, so `firetail status`
    /// can say how long ago the flow last had trouble.
    last_error: Mutex<Option<(String, Instant)>>,
    /// Why the flow stopped delivering while the daemon runs (a stage task ended early,
    /// see `daemon::supervise`); the first reason is kept. Never cleared: the flow stays
    /// down until the daemon restarts it.
    down: Mutex<Option<String>>,
    /// Milliseconds since `started` of the last accepted record; 0 = never.
    last_ack_ms: AtomicU64,
    started: Instant,
}

impl FlowCounters {
    pub fn new(flow_id: impl Into<String>, destination: impl Into<String>) -> Self {
        FlowCounters {
            flow_id: flow_id.into(),
            destination: destination.into(),
            records_parsed: AtomicU64::new(0),
            bytes_parsed: AtomicU64::new(0),
            records_transformed: AtomicU64::new(0),
            records_skipped: AtomicU64::new(0),
            records_processing_errors: AtomicU64::new(0),
            records_sent: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            records_attempted: AtomicU64::new(0),
            records_failed: AtomicU64::new(0),
            records_rejected: AtomicU64::new(0),
            records_retried: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            throttles: AtomicU64::new(0),
            permanent_errors: AtomicU64::new(0),
            abandoned: AtomicU64::new(0),
            concurrency: AtomicU64::new(1),
            backoff_ms: AtomicU64::new(0),
            permanent: Mutex::new(None),
            last_error: Mutex::new(None),
            down: Mutex::new(None),
            last_ack_ms: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    pub fn records_parsed(&self, records: u64, bytes: u64) {
        self.records_parsed.fetch_add(records, Relaxed);
        self.bytes_parsed.fetch_add(bytes, Relaxed);
    }

    pub fn records_transformed(&self, records: u64) {
        if records > 0 {
            self.records_transformed.fetch_add(records, Relaxed);
        }
    }

    pub fn records_skipped(&self, records: u64) {
        if records > 0 {
            self.records_skipped.fetch_add(records, Relaxed);
        }
    }

    /// The permanent error this flow is failing with right now, if any.
    pub fn permanent_error_active(&self) -> Option<String> {
        self.permanent.lock().map(|p| p.clone()).unwrap_or(None)
    }

    fn set_permanent(&self, error: Option<String>) {
        if let Ok(mut p) = self.permanent.lock() {
            *p = error;
        }
    }

    /// Why this flow stopped delivering, if one of its stages ended while the daemon runs.
    pub fn down(&self) -> Option<String> {
        self.down.lock().map(|d| d.clone()).unwrap_or(None)
    }

    /// Records that a stage ended early (the first reason wins: later stages usually end
    /// because of it).
    pub fn mark_down(&self, reason: String) {
        self.set_last_error(reason.clone());
        if let Ok(mut d) = self.down.lock() {
            d.get_or_insert(reason);
        }
    }

    /// The latest failure of this flow and how long ago it happened, if it ever failed.
    pub fn last_error(&self) -> Option<(String, Duration)> {
        let last = self.last_error.lock().ok()?.clone();
        last.map(|(message, at)| (message, at.elapsed()))
    }

    fn set_last_error(&self, message: String) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some((message, Instant::now()));
        }
    }

    /// Time since the service last accepted a record of this flow, if it ever did.
    pub fn since_last_ack(&self) -> Option<Duration> {
        match self.last_ack_ms.load(Relaxed) {
            0 => None,
            ms => Some(
                self.started
                    .elapsed()
                    .saturating_sub(Duration::from_millis(ms)),
            ),
        }
    }
}

impl SinkEvents for FlowCounters {
    fn batch_sent(&self, flow: &str, records: usize, bytes: usize, latency: Duration) {
        self.requests.fetch_add(1, Relaxed);
        self.records_attempted.fetch_add(records as u64, Relaxed);
        let flow = flow.to_string();
        metrics::histogram!("firetail_put_latency_seconds", "flow" => flow.clone())
            .record(latency.as_secs_f64());
        metrics::histogram!("firetail_batch_records", "flow" => flow.clone())
            .record(records as f64);
        metrics::histogram!("firetail_batch_bytes", "flow" => flow).record(bytes as f64);
    }

    fn records_acked(&self, _flow: &str, records: usize, bytes: usize) {
        self.records_sent.fetch_add(records as u64, Relaxed);
        self.bytes_sent.fetch_add(bytes as u64, Relaxed);
        let ms = self.started.elapsed().as_millis().max(1);
        self.last_ack_ms
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Relaxed);
        if records > 0 {
            self.set_permanent(None);
            self.backoff_ms.store(0, Relaxed);
        }
    }

    fn records_failed(&self, flow: &str, code: &str, records: usize) {
        self.records_failed.fetch_add(records as u64, Relaxed);
        self.set_last_error(format!("{code} ({records} records)"));
        metrics::counter!(
            "firetail_records_failed_total",
            "flow" => flow.to_string(),
            "code" => code.to_string()
        )
        .increment(records as u64);
    }

    fn records_rejected(&self, flow: &str, code: &str, records: usize) {
        self.records_rejected.fetch_add(records as u64, Relaxed);
        self.set_last_error(format!("{code} ({records} records refused for good)"));
        metrics::counter!(
            "firetail_records_rejected_total",
            "flow" => flow.to_string(),
            "code" => code.to_string()
        )
        .increment(records as u64);
    }

    fn records_retried(&self, _flow: &str, records: usize) {
        self.records_retried.fetch_add(records as u64, Relaxed);
    }

    fn throttled(&self, _flow: &str, code: &str) {
        self.throttles.fetch_add(1, Relaxed);
        self.set_last_error(format!("{code} (throttled)"));
    }

    fn permanent_error(&self, _flow: &str, code: &str, message: &str) {
        self.permanent_errors.fetch_add(1, Relaxed);
        let error = format!("{code}: {message}");
        self.set_last_error(error.clone());
        self.set_permanent(Some(error));
    }

    fn concurrency_changed(&self, _flow: &str, limit: usize) {
        self.concurrency.store(limit as u64, Relaxed);
    }

    fn backoff(&self, _flow: &str, delay: Duration) {
        self.backoff_ms.store(
            u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            Relaxed,
        );
    }

    fn records_abandoned(&self, _flow: &str, records: usize) {
        self.abandoned.fetch_add(records as u64, Relaxed);
    }
}
