//! The last stage of a flow: batch records into requests of the flow's destination
//! (PutRecordBatch for Firehose, PutRecords for Kinesis Data Streams, PutLogEvents for
//! CloudWatch Logs), send them, retry exactly the records that failed, and acknowledge
//! each record's span only once the destination accepted that record (or refused it for
//! good, which is counted and reported).
//!
//! # Layout
//! - [`batch`]: pure batching by record count, request bytes and age.
//! - [`client`]: the [`PutClient`] trait every destination implements, per-record results
//!   and the classification of whole-call errors ([`PutError`]).
//! - [`firehose`], [`kinesis`], [`logs`]: the AWS destinations over the official SDK, one
//!   module each; a new destination is one more module implementing [`PutClient`].
//! - [`retry`]: the pure retry policy ([`retry::RetryPolicy`]: the failure score, capped
//!   exponential backoff with full jitter, the retry budget), AIMD concurrency, and the
//!   pacer.
//! - [`ceiling`]: the request-rate ceiling learned from throttles (a fleet sharing a
//!   stream's quota).
//! - [`linger`]: the low-latency mode's linger, which grows under throttling.
//! - [`send`]: [`run_sink`], the per-flow loop that ties them together.
//! - [`events`]: the observability hooks ([`SinkEvents`]).
//! - [`wire`], [`trim`]: the data-plane request bodies and answers, encoded and read
//!   by hand (the SDK signs and sends them).
//!
//! # Invariants
//! - A span is acknowledged only for a record whose own response entry carries no error
//!   code, or that the destination refused for good ([`RecordResult::Rejected`], counted
//!   and logged). Throttles, errors, timeouts, lost responses and shutdown never
//!   acknowledge.
//! - A failed record is retried until it is accepted or the flow is stopped; nothing is
//!   ever dropped here (a stopped flow re-reads from its checkpoint: at-least-once).
//! - Memory is bounded: a flow stops pulling from its input while it is backed off or has
//!   enough batches queued, so the bounded channel pauses the tailer.
//! - No stall on a timer: while the tailer waits for acknowledgements
//!   ([`Acker::reader_waiting`]), the input is empty and no answer is due (nothing in
//!   flight or queued), the open batch is closed at once; it could not fill before
//!   something it holds is acknowledged.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod batch;
pub mod ceiling;
pub mod client;
pub mod events;
pub mod firehose;
pub mod kinesis;
pub mod linger;
pub mod logs;
pub mod retry;
mod sdk;
pub mod send;
pub mod trim;
pub mod wire;

use std::time::Duration;

use bytes::Bytes;
pub use firetail_record::{Acker, FileId, Span};

pub use ceiling::CeilingConfig;
pub use client::{DestinationLimits, PutClient, PutError, PutFuture, RecordResult};
pub use events::{NoopEvents, SinkEvents};
pub use firehose::FirehoseClient;
pub use firetail_agent::limits::{CLOUDWATCH_LOGS, FIREHOSE, KINESIS};
pub use firetail_agent::partition::{PartitionKey, PartitionKeyOption};
pub use kinesis::KinesisClient;
pub use logs::{LogsClient, LogsTarget};
pub use send::run_sink;

/// One record on its way to the destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutRecord {
    /// The bytes to send, exactly (the processing stage's output).
    pub data: Bytes,
    /// The file bytes this record settles once accepted.
    pub span: Span,
    /// The Kinesis partition key (1–256 characters). Ignored by destinations without
    /// keys. When absent (or invalid) the sink picks one with
    /// [`SinkConfig::partition_keys`].
    pub partition_key: Option<PartitionKey>,
    /// When the record was read, in milliseconds since the Unix epoch: the event time of
    /// destinations that want one (CloudWatch Logs), ignored by the others.
    pub read_at_millis: i64,
}

impl From<firetail_record::Record> for OutRecord {
    /// A framed record sent as it is, without a partition key, read now.
    fn from(record: firetail_record::Record) -> Self {
        OutRecord {
            data: record.data,
            span: record.span,
            partition_key: None,
            read_at_millis: firetail_agent::time::now_unix_millis(),
        }
    }
}

impl OutRecord {
    /// Bytes this record adds to a request of a destination with `limits`: its data,
    /// plus its partition key where keys count (Kinesis), plus the per-record overhead
    /// the service counts (CloudWatch Logs' 26 bytes).
    pub fn request_bytes(&self, limits: &DestinationLimits) -> usize {
        limits.record_bytes(
            self.data.len(),
            self.partition_key.as_ref().map_or(0, |k| k.len()),
        )
    }
}

/// Optional client-side rate limits for one flow, e.g. to stay under a stream's quota.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pacing {
    /// Records per second (averaged); `None` means unlimited.
    pub records_per_sec: Option<f64>,
    /// Bytes of request data per second (averaged); `None` means unlimited.
    pub bytes_per_sec: Option<f64>,
}

/// How one flow batches and sends.
#[derive(Clone, Debug)]
pub struct SinkConfig {
    /// The flow's id, used in logs and events.
    pub flow_id: String,
    /// What the flow sends to: the delivery stream (Firehose) or stream (Kinesis) name,
    /// handed to [`PutClient::put_batch`]; a client that holds its own target (CloudWatch
    /// Logs) ignores it, and it names the target in logs.
    pub stream: String,
    /// Records per request, 1..= the destination's limit (`maxBufferSizeRecords`).
    pub max_records: usize,
    /// Request bytes, 1..= the destination's limit (`maxBufferSizeBytes`).
    pub max_bytes: usize,
    /// Longest a record waits in a partial batch (`maxBufferAgeMillis`).
    pub max_age: Duration,
    /// First backoff ceiling after a failure (`retryInitialBackoffMillis`).
    pub retry_initial_backoff: Duration,
    /// Largest backoff ceiling (`retryMaxBackoffMillis`).
    pub retry_max_backoff: Duration,
    /// Most requests in flight for this flow (`firetail.maxRequestsInFlight`); the
    /// adaptive limit moves between 1 and this.
    pub max_in_flight: usize,
    /// Client-side rate limits; `None` sends as fast as the destination accepts.
    pub pacing: Option<Pacing>,
    /// How often a batch is re-tried while the destination fails permanently (missing
    /// stream, access denied, ...), so a fix recovers without a restart.
    pub permanent_retry_interval: Duration,
    /// A request that has not answered after this long counts as a timeout (its records
    /// may or may not have been accepted: they are retried, possibly duplicating).
    pub request_timeout: Duration,
    /// Retry budget capacity in tokens: what a whole-call retry costs and what a success
    /// earns back are [`retry::RetryPolicy`]'s (see [`retry::RETRY_COST`]). When empty,
    /// every retry waits the full `retry_max_backoff`.
    pub retry_budget_tokens: u32,
    /// Partition keys for Kinesis records that arrive without one.
    pub partition_keys: PartitionKeyOption,
    /// Acknowledge contiguous spans of one file with a single merged span. The tailer
    /// must then treat an ack as a byte range, not as a key of a span it handed out.
    pub merge_acks: bool,
    /// Low-latency mode (`firetail.lingerMillis`): a partial batch leaves once its first
    /// record is this old and a request can leave at once; `None` waits for `max_age`.
    pub linger: Option<Duration>,
    /// The request-rate ceiling learned from whole-call throttles
    /// (`firetail.rateCeiling`); `None` relies on backoff and concurrency alone.
    pub rate_ceiling: Option<CeilingConfig>,
}

impl SinkConfig {
    /// A flow to `stream` with the defaults of the key table (`firetail_config::keys`):
    /// what the daemon builds for a flow that sets no key (a test in `src/daemon/flow.rs`
    /// holds the two equal), apart from `max_in_flight`, whose default the daemon computes
    /// from the host's CPUs (`maxSendingThreads`). The daemon starts from it and sets every
    /// field that has a key; tests and benches use it as it is.
    pub fn agent_defaults(
        flow_id: impl Into<String>,
        stream: impl Into<String>,
        limits: &DestinationLimits,
    ) -> Self {
        SinkConfig {
            flow_id: flow_id.into(),
            stream: stream.into(),
            max_records: limits.max_records_per_request,
            max_bytes: limits.max_request_bytes,
            max_age: Duration::from_secs(60),
            retry_initial_backoff: Duration::from_millis(100),
            retry_max_backoff: Duration::from_secs(10),
            max_in_flight: 4,
            pacing: None,
            permanent_retry_interval: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            retry_budget_tokens: retry::DEFAULT_RETRY_BUDGET_TOKENS,
            partition_keys: PartitionKeyOption::Random,
            merge_acks: true,
            linger: None,
            // `firetail.rateCeiling` is off by default (issue #20).
            rate_ceiling: None,
        }
    }

    /// Checks the limits that would otherwise make every request fail.
    pub fn validate(&self, limits: &DestinationLimits) -> Result<(), SinkError> {
        let invalid = |field: &'static str, value: String, allowed: String| {
            Err(SinkError::InvalidConfig {
                flow: self.flow_id.clone(),
                field,
                value,
                allowed,
            })
        };
        if self.max_records == 0 || self.max_records > limits.max_records_per_request {
            return invalid(
                "max_records",
                self.max_records.to_string(),
                format!("1..={} for {}", limits.max_records_per_request, limits.name),
            );
        }
        if self.max_bytes == 0 || self.max_bytes > limits.max_request_bytes {
            return invalid(
                "max_bytes",
                self.max_bytes.to_string(),
                format!("1..={} for {}", limits.max_request_bytes, limits.name),
            );
        }
        if self.max_in_flight == 0 {
            return invalid("max_in_flight", "0".into(), "at least 1".into());
        }
        if self.retry_max_backoff < self.retry_initial_backoff {
            return invalid(
                "retry_max_backoff",
                format!("{:?}", self.retry_max_backoff),
                format!(
                    "at least retry_initial_backoff ({:?})",
                    self.retry_initial_backoff
                ),
            );
        }
        Ok(())
    }
}

/// What a sink did over its life; the exact counts, for the final status line and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SinkSummary {
    /// Records the destination accepted (and whose spans were acknowledged).
    pub records_accepted: u64,
    /// Records the destination refused for good ([`RecordResult::Rejected`]); their spans
    /// were acknowledged too.
    pub records_rejected: u64,
    /// Data bytes of the accepted records (Kinesis partition keys not included).
    pub bytes_accepted: u64,
    /// Requests made (PutRecordBatch / PutRecords calls), whatever their outcome.
    pub requests: u64,
    /// Records put back for another attempt (counted once per retry).
    pub records_retried: u64,
    /// Records still unsettled when the shutdown deadline fired (not acknowledged; they
    /// are read again from the checkpoint).
    pub records_abandoned: u64,
    /// True when the sink stopped because of the shutdown deadline rather than a drain.
    pub abandoned: bool,
}

/// Why a sink could not run.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("flow {flow}: sink setting {field} = {value} is out of range ({allowed})")]
    InvalidConfig {
        flow: String,
        field: &'static str,
        value: String,
        allowed: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    use firetail_agent::limits::{CLOUDWATCH_LOGS, FIREHOSE, KINESIS};

    #[test]
    fn agent_defaults_are_valid_and_limits_are_enforced() {
        for limits in [&FIREHOSE, &KINESIS, &CLOUDWATCH_LOGS] {
            let cfg = SinkConfig::agent_defaults("f", "s", limits);
            cfg.validate(limits).unwrap();
            assert_eq!(cfg.max_bytes, limits.max_request_bytes);
            assert_eq!(cfg.max_records, limits.max_records_per_request);
        }
        let mut cfg = SinkConfig::agent_defaults("f", "s", &KINESIS);
        assert!(
            cfg.validate(&FIREHOSE).is_err(),
            "5 MiB is too big for Firehose"
        );
        cfg.max_records = 501;
        let err = cfg.validate(&KINESIS).unwrap_err();
        assert!(err.to_string().contains("max_records = 501"), "{err}");
        cfg.max_records = 500;
        cfg.max_in_flight = 0;
        assert!(cfg.validate(&KINESIS).is_err());
        let mut logs = SinkConfig::agent_defaults("f", "s", &CLOUDWATCH_LOGS);
        assert_eq!(logs.max_records, 10_000);
        logs.max_records = 10_001;
        assert!(logs.validate(&CLOUDWATCH_LOGS).is_err());
    }
}
