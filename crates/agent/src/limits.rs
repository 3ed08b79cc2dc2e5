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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_are_the_documented_numbers() {
        assert_eq!(FIREHOSE_MAX_REQUEST_BYTES, 4_194_304);
        assert_eq!(KINESIS_MAX_REQUEST_BYTES, 5_242_880);
        assert_eq!(KINESIS_MAX_RECORD_BYTES, 1_048_576);
    }
}
