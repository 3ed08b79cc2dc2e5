//! AWS error codes and what they mean to a sender: which ask it to slow down, which will
//! not heal on their own, and which the data-plane APIs (`PutRecordBatch`, `PutRecords`)
//! put on single records of an answered call.
//!
//! Whatever is not known to be throttling or permanent is transient: retrying an unknown
//! error costs a little time, while calling it permanent would stall a flow.

/// What an AWS error code asks of a sender, whole-call or per-record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeClass {
    /// Slow down: back off and send less at once.
    Throttle,
    /// Worth retrying soon (5xx, unknown codes).
    Transient,
    /// Fails the same way until configuration, permissions or the resource change.
    Permanent,
}

/// Codes that mean "slow down". `ServiceUnavailableException` is Firehose's throttle
/// (whole-call and per record); `ProvisionedThroughputExceededException` is Kinesis's
/// per-shard one; the rest are the generic AWS throttling codes.
const THROTTLE_CODES: &[&str] = &[
    "ServiceUnavailableException",
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
    "KMSThrottlingException",
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestThrottledException",
    "RequestThrottled",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "PriorRequestNotComplete",
    "BandwidthLimitExceeded",
    "EC2ThrottledException",
];

/// Codes that will not heal without a change outside the sink.
const PERMANENT_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "AccessDeniedException",
    "AccessDenied",
    "InvalidArgumentException",
    "ValidationException",
    "SerializationException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "MissingAuthenticationTokenException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "NotAuthorized",
    "OptInRequired",
    "InvalidKmsResourceException",
    "InvalidSourceException",
    "KMSAccessDeniedException",
    "KMSDisabledException",
    "KMSInvalidStateException",
    "KMSNotFoundException",
    "KMSOptInRequired",
    "CredentialsNotLoaded",
];

/// Classifies an AWS error code; unknown codes are transient.
pub fn classify_code(code: &str) -> CodeClass {
    if THROTTLE_CODES.contains(&code) {
        CodeClass::Throttle
    } else if PERMANENT_CODES.contains(&code) {
        CodeClass::Permanent
    } else {
        CodeClass::Transient
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_permanent_and_unknown_codes() {
        for code in [
            "ServiceUnavailableException",
            "ProvisionedThroughputExceededException",
        ] {
            assert_eq!(classify_code(code), CodeClass::Throttle, "{code}");
        }
        assert_eq!(classify_code("AccessDeniedException"), CodeClass::Permanent);
        assert_eq!(classify_code("SomethingNew"), CodeClass::Transient);
    }
}
