//! The destination seam: one trait for "put these records, tell me each one's fate", the
//! per-record result, and the classification of whole-call failures.
//!
//! Everything the sink does differently per destination comes through [`PutClient`]: its
//! limits and how it counts a record ([`DestinationLimits`], data the batcher and the
//! configuration read), how a batch is framed into a request and how the answer maps to
//! per-record outcomes (`put_batch`), and which error codes throttle or will not heal
//! (`classify`). The sink never asks which destination it talks to.
//!
//! Classification is by AWS error code; by default through one table,
//! [`firetail_agent::codes`] (re-exported here as [`classify_code`] and [`CodeClass`]),
//! which the SDK implementations and the fakes in tests share; an unknown code is
//! transient there, as calling it permanent would stall a flow for
//! `permanent_retry_interval`.

use std::future::Future;
use std::pin::Pin;

pub use firetail_agent::codes::{classify_code, CodeClass};
pub use firetail_agent::limits::DestinationLimits;

use crate::OutRecord;

/// The fate of one record in a response that the service did answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordResult {
    /// Accepted (the entry has a RecordId / SequenceNumber and no ErrorCode).
    Ok,
    /// Rejected; to be sent again.
    Failed { code: String, message: String },
    /// Refused for good (CloudWatch Logs: too old, too new, expired): sending it again
    /// would be refused the same way, so the sink counts and reports it, then
    /// acknowledges it, and the checkpoint moves past it.
    Rejected { code: String, message: String },
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
    /// Frames `records` into one request to `stream`, sends it, and maps the answer to
    /// one outcome per record. The sink never hands it more than [`PutClient::limits`]
    /// allow (records, bytes counted by [`DestinationLimits::record_bytes`], time span).
    fn put_batch<'a>(&'a self, stream: &'a str, records: &'a [OutRecord]) -> PutFuture<'a>;

    /// What one request may hold and how a record is counted against it.
    fn limits(&self) -> &'static DestinationLimits;

    /// What an error code (per record, or of a whole call) asks of the sender.
    fn classify(&self, code: &str) -> CodeClass {
        classify_code(code)
    }
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
    /// Builds the error for a service error `code` (HTTP `status` when known),
    /// classified by the shared table.
    pub fn from_code(code: &str, message: impl Into<String>, status: Option<u16>) -> Self {
        Self::classified(classify_code(code), code, message, status)
    }

    /// Builds the error for a service error `code` that `class` describes.
    pub fn classified(
        class: CodeClass,
        code: &str,
        message: impl Into<String>,
        status: Option<u16>,
    ) -> Self {
        let (code, message) = (code.to_owned(), message.into());
        match class {
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
