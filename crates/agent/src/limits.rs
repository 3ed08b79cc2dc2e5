//! The AWS service limits firetail works within, and the agent's buffer sizes that follow
//! from them. Every crate that cuts, batches, validates or simulates against a limit reads it
//! here: the configuration's ranges and defaults, the framer's cut, the sink's batches and
//! `local-firehose`'s refusals.
//!
//! All values are bytes unless named otherwise; none can be raised by a quota request.

/// Records in one `PutRecordBatch` (Firehose) or `PutRecords` (Kinesis) call.
pub const MAX_RECORDS_PER_REQUEST: usize = 500;

/// Firehose's largest record (1,000 KiB), before base64.
pub const FIREHOSE_MAX_RECORD_BYTES: usize = 1_024_000;
/// Firehose's largest `PutRecordBatch` call: the records' data, before base64 (4 MiB).
pub const FIREHOSE_MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// Kinesis Data Streams' largest record: data plus partition key (1 MiB).
pub const KINESIS_MAX_RECORD_BYTES: usize = 1024 * 1024;
/// Kinesis Data Streams' largest `PutRecords` call: every record's data plus partition key
/// (5 MiB).
pub const KINESIS_MAX_REQUEST_BYTES: usize = 5 * 1024 * 1024;
/// Kinesis Data Streams' longest partition key, in Unicode characters (at least 1).
pub const KINESIS_MAX_PARTITION_KEY_CHARS: usize = 256;

/// The agent's parser buffer for a Firehose flow (spec §3.1): one request's worth of bytes,
/// so a record that does not end within it can never be sent whole (a runaway, §3.7).
pub const FIREHOSE_READ_BUFFER_BYTES: usize = FIREHOSE_MAX_REQUEST_BYTES;
/// The agent's parser buffer for a Kinesis flow (spec §3.1).
pub const KINESIS_READ_BUFFER_BYTES: usize = KINESIS_MAX_REQUEST_BYTES;

/// Events in one CloudWatch Logs `PutLogEvents` call.
pub const LOGS_MAX_EVENTS_PER_REQUEST: usize = 10_000;
/// CloudWatch Logs' largest `PutLogEvents` call: every event's UTF-8 message plus
/// [`LOGS_EVENT_OVERHEAD_BYTES`] each (1 MiB).
pub const LOGS_MAX_REQUEST_BYTES: usize = 1_048_576;
/// What CloudWatch Logs adds to each event's message when it counts a call's size.
pub const LOGS_EVENT_OVERHEAD_BYTES: usize = 26;
/// CloudWatch Logs' largest event message. The API reference says 1 MB per event since
/// 2025 (256 KB before); an event must also fit a call with its overhead, so the largest
/// message that can ever be accepted is the call limit less the overhead.
pub const LOGS_MAX_EVENT_BYTES: usize = LOGS_MAX_REQUEST_BYTES - LOGS_EVENT_OVERHEAD_BYTES;
/// The longest time between the oldest and the newest event of one `PutLogEvents` call.
pub const LOGS_MAX_BATCH_SPAN_MILLIS: u64 = 24 * 60 * 60 * 1000;

/// What a destination's API allows and how it counts, as data: the configuration's
/// ranges and defaults, the framer's cut and the sink's batches all read a destination's
/// limits from one of these ([`FIREHOSE`], [`KINESIS`], [`CLOUDWATCH_LOGS`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestinationLimits {
    /// The service's name, for messages (`Firehose`, `Kinesis`, `CloudWatch Logs`).
    pub name: &'static str,
    /// Records (events) in one call.
    pub max_records_per_request: usize,
    /// Bytes of one call, counted as the service counts them (see
    /// [`DestinationLimits::record_bytes`]).
    pub max_request_bytes: usize,
    /// The largest record, counted the same way (its key included, its overhead not).
    pub max_record_bytes: usize,
    /// The parser buffer: a record that does not end within it is a runaway.
    pub read_buffer_bytes: usize,
    /// Bytes the service adds to each record when it counts a call.
    pub record_overhead_bytes: usize,
    /// Whether a record's partition key travels with it and counts against the limits.
    pub partition_keys: bool,
    /// The longest span of record timestamps one call may hold, in milliseconds.
    pub max_batch_span_millis: Option<u64>,
}

impl DestinationLimits {
    /// What a record of `data_len` bytes with a partition key of `key_len` bytes adds to
    /// a call (the key counts only where [`DestinationLimits::partition_keys`]).
    pub fn record_bytes(&self, data_len: usize, key_len: usize) -> usize {
        data_len + self.record_overhead_bytes + if self.partition_keys { key_len } else { 0 }
    }
}

/// Kinesis Data Firehose, `PutRecordBatch`.
pub const FIREHOSE: DestinationLimits = DestinationLimits {
    name: "Firehose",
    max_records_per_request: MAX_RECORDS_PER_REQUEST,
    max_request_bytes: FIREHOSE_MAX_REQUEST_BYTES,
    max_record_bytes: FIREHOSE_MAX_RECORD_BYTES,
    read_buffer_bytes: FIREHOSE_READ_BUFFER_BYTES,
    record_overhead_bytes: 0,
    partition_keys: false,
    max_batch_span_millis: None,
};

/// Kinesis Data Streams, `PutRecords`.
pub const KINESIS: DestinationLimits = DestinationLimits {
    name: "Kinesis",
    max_records_per_request: MAX_RECORDS_PER_REQUEST,
    max_request_bytes: KINESIS_MAX_REQUEST_BYTES,
    max_record_bytes: KINESIS_MAX_RECORD_BYTES,
    read_buffer_bytes: KINESIS_READ_BUFFER_BYTES,
    record_overhead_bytes: 0,
    partition_keys: true,
    max_batch_span_millis: None,
};

/// CloudWatch Logs, `PutLogEvents`. The parser buffer is the Kinesis Agent's (4 MiB), as
/// for Firehose: a line longer than an event is cut, not a runaway.
pub const CLOUDWATCH_LOGS: DestinationLimits = DestinationLimits {
    name: "CloudWatch Logs",
    max_records_per_request: LOGS_MAX_EVENTS_PER_REQUEST,
    max_request_bytes: LOGS_MAX_REQUEST_BYTES,
    max_record_bytes: LOGS_MAX_EVENT_BYTES,
    read_buffer_bytes: FIREHOSE_READ_BUFFER_BYTES,
    record_overhead_bytes: LOGS_EVENT_OVERHEAD_BYTES,
    partition_keys: false,
    max_batch_span_millis: Some(LOGS_MAX_BATCH_SPAN_MILLIS),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_are_the_documented_numbers() {
        assert_eq!(FIREHOSE_MAX_REQUEST_BYTES, 4_194_304);
        assert_eq!(KINESIS_MAX_REQUEST_BYTES, 5_242_880);
        assert_eq!(KINESIS_MAX_RECORD_BYTES, 1_048_576);
        assert_eq!(LOGS_MAX_REQUEST_BYTES, 1_048_576);
        assert_eq!(CLOUDWATCH_LOGS.record_bytes(100, 7), 126);
        assert_eq!(KINESIS.record_bytes(100, 7), 107);
        assert_eq!(FIREHOSE.record_bytes(100, 7), 100);
    }
}
