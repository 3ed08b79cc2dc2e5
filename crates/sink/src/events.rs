//! Observability hooks. The sink reports what happens through [`SinkEvents`] and knows no
//! metrics library; the daemon turns these calls into Prometheus, CloudWatch and the
//! Kinesis-Agent-style status counters.
//!
//! Counts are exact: every record a request carried shows up once in `batch_sent`, and
//! then exactly once in `records_acked`, `records_rejected` or `records_failed` for that
//! attempt, or, when the call failed as a whole, once in `call_failed`. Observers that
//! count agent-style request outcomes (CloudWatch's `ServiceErrors`) need the two kinds
//! of failure told apart, and only the sink knows which one happened: an error code
//! alone does not say (a 503 `ServiceUnavailableException` can be either).

use std::time::Duration;

/// Callbacks from a running sink. All methods default to doing nothing; they are called
/// from the sink's task, so they must be cheap (bump a counter, no I/O).
pub trait SinkEvents: Send + Sync {
    /// One request finished, whatever its outcome; `records` and `bytes` are what it
    /// carried, `latency` is from send to answer (or to the error).
    fn batch_sent(&self, flow: &str, records: usize, bytes: usize, latency: Duration) {
        let _ = (flow, records, bytes, latency);
    }

    /// The destination accepted `records` records (`bytes` data bytes, Kinesis partition
    /// keys not included); their spans were acknowledged.
    fn records_acked(&self, flow: &str, records: usize, bytes: usize) {
        let _ = (flow, records, bytes);
    }

    /// The destination refused `records` records of one request for good with `code`
    /// (CloudWatch Logs: too old, too new, expired); their spans were acknowledged, they
    /// are not sent again.
    fn records_rejected(&self, flow: &str, code: &str, records: usize) {
        let _ = (flow, code, records);
    }

    /// The destination answered a request and `records` of its records failed with the
    /// per-record error `code`; they will be sent again.
    fn records_failed(&self, flow: &str, code: &str, records: usize) {
        let _ = (flow, code, records);
    }

    /// A request failed as a whole with `code` (an error status, a reset, a timeout, an
    /// answer that does not match the request): none of its `records` was accepted and
    /// all will be sent again. Defaults to `records_failed`, for observers that count
    /// failed records by code whatever the scope.
    fn call_failed(&self, flow: &str, code: &str, records: usize) {
        self.records_failed(flow, code, records);
    }

    /// `records` records were queued to be sent again.
    fn records_retried(&self, flow: &str, records: usize) {
        let _ = (flow, records);
    }

    /// The destination throttled one request (whole call or some of its records).
    fn throttled(&self, flow: &str, code: &str) {
        let _ = (flow, code);
    }

    /// A request failed with a permanent error (called for every such attempt).
    fn permanent_error(&self, flow: &str, code: &str, message: &str) {
        let _ = (flow, code, message);
    }

    /// The adaptive in-flight request limit changed to `limit`.
    fn concurrency_changed(&self, flow: &str, limit: usize) {
        let _ = (flow, limit);
    }

    /// The flow holds off sending for `delay`.
    fn backoff(&self, flow: &str, delay: Duration) {
        let _ = (flow, delay);
    }

    /// The shutdown deadline abandoned `records` unsettled records (not acknowledged).
    fn records_abandoned(&self, flow: &str, records: usize) {
        let _ = (flow, records);
    }
}

/// Events that go nowhere.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopEvents;

impl SinkEvents for NoopEvents {}
