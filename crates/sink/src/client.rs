//! The destination seam: one trait for "put these records, tell me each one's fate", the
//! per-record result, and the classification of whole-call failures.
//!
//! Classification is by AWS error code, so that the SDK implementations and the fakes in
//! tests share one table, [`firetail_agent::codes`] (re-exported here as
//! [`classify_code`] and [`CodeClass`]); an unknown code is transient there, as calling it
//! permanent would stall a flow for `permanent_retry_interval`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

pub use firetail_agent::codes::{classify_code, CodeClass};
use firetail_agent::limits;

use crate::OutRecord;

/// Which API a client speaks; decides request limits and whether partition keys count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DestinationKind {
    /// Kinesis Data Firehose, PutRecordBatch.
    Firehose,
    /// Kinesis Data Streams, PutRecords.
    Kinesis,
}

impl DestinationKind {
    /// The service's request size limit (data, plus partition keys for Kinesis).
    pub fn max_request_bytes(self) -> usize {
        match self {
            DestinationKind::Firehose => limits::FIREHOSE_MAX_REQUEST_BYTES,
            DestinationKind::Kinesis => limits::KINESIS_MAX_REQUEST_BYTES,
        }
    }
}

impl fmt::Display for DestinationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DestinationKind::Firehose => "Firehose",
            DestinationKind::Kinesis => "Kinesis",
        })
    }
}

/// The fate of one record in a response that the service did answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordResult {
    /// Accepted (the entry has a RecordId / SequenceNumber and no ErrorCode).
    Ok,
    /// Rejected; to be sent again.
    Failed { code: String, message: String },
}

/// The boxed future [`PutClient::put_batch`] returns; boxed so the trait stays
/// object-safe and the sink can hold an `Arc<dyn PutClient>`.
pub type PutFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<RecordResult>, PutError>> + Send + 'a>>;

/// A destination that accepts batches of records.
///
/// Implementations must not retry on their own (the sink retries per record; a retry
/// below it would re-send records that were already accepted), and must return exactly
/// one [`RecordResult`] per input record, in input order, when the call got an answer.
pub trait PutClient: Send + Sync + 'static {
    /// Sends `records` to `stream` in one request.
    fn put_batch<'a>(&'a self, stream: &'a str, records: &'a [OutRecord]) -> PutFuture<'a>;

    /// Which API this client speaks.
    fn kind(&self) -> DestinationKind;
}

/// How a whole call failed. None of these acknowledge anything: the records of the call
/// may or may not have been accepted (timeouts), and are sent again.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PutError {
    /// The service asked us to slow down: back off and lower concurrency.
    #[error("throttled: {code}: {message}")]
    Throttled { code: String, message: String },
    /// Worth retrying soon: 5xx, connection failures, timeouts, unknown errors.
    #[error("transient error: {code}: {message}")]
    Transient {
        code: String,
        message: String,
        /// The call timed out: the records may have been accepted anyway.
        timeout: bool,
    },
    /// Will fail the same way until someone fixes configuration or permissions.
    #[error("permanent error: {code}: {message}")]
    Permanent { code: String, message: String },
}

impl PutError {
    /// Builds the error for a service error `code` (HTTP `status` when known).
    pub fn from_code(code: &str, message: impl Into<String>, status: Option<u16>) -> Self {
        let (code, message) = (code.to_owned(), message.into());
        match classify_code(code.as_str()) {
            CodeClass::Throttle => PutError::Throttled { code, message },
            CodeClass::Permanent => PutError::Permanent { code, message },
            CodeClass::Transient if status == Some(429) => PutError::Throttled { code, message },
            CodeClass::Transient => PutError::Transient {
                code,
                message,
                timeout: false,
            },
        }
    }

    /// The AWS error code, or a firetail code such as `RequestTimeout` / `DispatchFailure`.
    pub fn code(&self) -> &str {
        match self {
            PutError::Throttled { code, .. }
            | PutError::Transient { code, .. }
            | PutError::Permanent { code, .. } => code,
        }
    }

    /// The human-readable message that came with the error.
    pub fn message(&self) -> &str {
        match self {
            PutError::Throttled { message, .. }
            | PutError::Transient { message, .. }
            | PutError::Permanent { message, .. } => message,
        }
    }

    /// False only for permanent errors (which the sink still retries, slowly).
    pub fn is_retryable(&self) -> bool {
        !matches!(self, PutError::Permanent { .. })
    }

    /// True for a call that timed out (its records may have been accepted).
    pub fn is_timeout(&self) -> bool {
        matches!(self, PutError::Transient { timeout: true, .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified_by_the_table() {
        for code in [
            "ServiceUnavailableException",
            "ProvisionedThroughputExceededException",
        ] {
            assert!(matches!(
                PutError::from_code(code, "m", Some(400)),
                PutError::Throttled { .. }
            ));
        }
        for code in [
            "ResourceNotFoundException",
            "AccessDeniedException",
            "KMSDisabledException",
        ] {
            let e = PutError::from_code(code, "m", Some(400));
            assert!(!e.is_retryable(), "{code}");
            assert_eq!(e.code(), code);
        }
        assert!(matches!(
            PutError::from_code("InternalFailure", "m", Some(500)),
            PutError::Transient { timeout: false, .. }
        ));
        assert!(matches!(
            PutError::from_code("SomethingNew", "m", Some(429)),
            PutError::Throttled { .. }
        ));
        assert!(PutError::from_code("SomethingNew", "m", None).is_retryable());
    }
}
