//! The wire protocol as this endpoint speaks it (Firehose, plus Kinesis' PutRecords): operation names, AWS JSON 1.1 error
//! bodies and the shared validation of stream names.
//!
//! Error codes and HTTP statuses follow what the real service returns, because the SDK picks the
//! error variant from `__type` and its retry classifier looks at both.

use std::fmt::Write as _;

/// The `X-Amz-Target` prefix of every Firehose operation.
pub const TARGET_PREFIX: &str = "Firehose_20150804.";
/// The content type of AWS JSON 1.1 requests and responses.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// The account id reported in ARNs and messages.
pub const ACCOUNT_ID: &str = "000000000000";
/// The region reported in ARNs.
pub const REGION: &str = "us-east-1";

/// The operations this endpoint implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    /// `CreateDeliveryStream`.
    CreateDeliveryStream,
    /// `DescribeDeliveryStream`.
    DescribeDeliveryStream,
    /// `ListDeliveryStreams`.
    ListDeliveryStreams,
    /// `DeleteDeliveryStream`.
    DeleteDeliveryStream,
    /// `PutRecord`.
    PutRecord,
    /// `PutRecordBatch`.
    PutRecordBatch,
    /// Kinesis Data Streams' `PutRecords` (target prefix [`crate::kinesis::TARGET_PREFIX`]).
    PutRecords,
}

impl Operation {
    /// Finds the operation named by an `X-Amz-Target` header value.
    pub fn from_target(target: &str) -> Option<Operation> {
        if target.strip_prefix(crate::kinesis::TARGET_PREFIX) == Some("PutRecords") {
            return Some(Operation::PutRecords);
        }
        let name = target.strip_prefix(TARGET_PREFIX)?;
        Some(match name {
            "CreateDeliveryStream" => Operation::CreateDeliveryStream,
            "DescribeDeliveryStream" => Operation::DescribeDeliveryStream,
            "ListDeliveryStreams" => Operation::ListDeliveryStreams,
            "DeleteDeliveryStream" => Operation::DeleteDeliveryStream,
            "PutRecord" => Operation::PutRecord,
            "PutRecordBatch" => Operation::PutRecordBatch,
            _ => return None,
        })
    }

    /// The operation's API name.
    pub fn name(self) -> &'static str {
        match self {
            Operation::CreateDeliveryStream => "CreateDeliveryStream",
            Operation::DescribeDeliveryStream => "DescribeDeliveryStream",
            Operation::ListDeliveryStreams => "ListDeliveryStreams",
            Operation::DeleteDeliveryStream => "DeleteDeliveryStream",
            Operation::PutRecord => "PutRecord",
            Operation::PutRecordBatch => "PutRecordBatch",
            Operation::PutRecords => "PutRecords",
        }
    }

    /// Whether the operation carries records (and so is subject to data-plane faults).
    pub fn is_data_plane(self) -> bool {
        matches!(
            self,
            Operation::PutRecord | Operation::PutRecordBatch | Operation::PutRecords
        )
    }
}

/// An error answered to the client as `{"__type": code, "message": message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// The AWS error code (`__type`).
    pub code: &'static str,
    /// Human-readable detail.
    pub message: String,
}

impl ApiError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// A request that violates a modelled constraint.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(400, "ValidationException", message)
    }

    /// The AWS phrasing of a single constraint violation.
    pub fn constraint(value: &str, member: &str, constraint: &str) -> Self {
        Self::validation(format!(
            "1 validation error detected: Value {value} at '{member}' failed to satisfy constraint: {constraint}"
        ))
    }

    /// A request the service understood but refuses.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidArgumentException", message)
    }

    /// A body that is not the JSON the operation expects.
    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new(400, "SerializationException", message)
    }

    /// An unknown delivery stream.
    pub fn stream_not_found(name: &str) -> Self {
        Self::new(
            400,
            "ResourceNotFoundException",
            format!("Firehose {name} under account {ACCOUNT_ID} not found."),
        )
    }

    /// A delivery stream that already exists.
    pub fn stream_in_use(name: &str) -> Self {
        Self::new(
            400,
            "ResourceInUseException",
            format!("Firehose {name} under accountId {ACCOUNT_ID} already exists"),
        )
    }

    /// A missing or unknown `X-Amz-Target`.
    pub fn unknown_operation(target: Option<&str>) -> Self {
        let message = match target {
            Some(t) => format!("Operation {t} is not supported by this endpoint"),
            None => "Missing X-Amz-Target header".to_string(),
        };
        Self::new(400, "UnknownOperationException", message)
    }

    /// No `Authorization` header.
    pub fn missing_authentication() -> Self {
        Self::new(
            400,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        )
    }

    /// Throttling or outage: back off and retry.
    pub fn service_unavailable() -> Self {
        Self::new(503, "ServiceUnavailableException", "Slow down.")
    }

    /// An injected internal error.
    pub fn internal_failure() -> Self {
        Self::new(
            500,
            "InternalFailure",
            "We encountered an internal error. Please try again.",
        )
    }

    /// A body larger than the endpoint reads.
    pub fn body_too_large(len: u64, cap: usize) -> Self {
        Self::new(
            413,
            "RequestEntityTooLargeException",
            format!("Request body of {len} bytes exceeds the limit of {cap} bytes"),
        )
    }

    /// A path or method that is not the Firehose API.
    pub fn not_found(method: &str, path: &str) -> Self {
        Self::new(
            404,
            "UnknownOperationException",
            format!("No route for {method} {path}"),
        )
    }

    /// The JSON body of the error.
    pub fn body(&self) -> Vec<u8> {
        let body = serde_json::json!({ "__type": self.code, "message": self.message });
        body.to_string().into_bytes()
    }
}

/// Checks a delivery stream name against the service's rules (1–64 of `[a-zA-Z0-9_.-]`).
pub fn validate_stream_name(name: &str) -> Result<(), ApiError> {
    validate_name(name, "deliveryStreamName", 64)
}

/// Checks a stream name (Firehose's or Kinesis's, which differ only in length):
/// 1 to `max_len` of `[a-zA-Z0-9_.-]`. `member` names the field in the error.
pub(crate) fn validate_name(name: &str, member: &str, max_len: usize) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > max_len {
        let bound = if name.is_empty() {
            "Member must have length greater than or equal to 1".to_string()
        } else {
            format!("Member must have length less than or equal to {max_len}")
        };
        return Err(ApiError::constraint(&format!("'{name}'"), member, &bound));
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
    if !name.bytes().all(allowed) {
        return Err(ApiError::constraint(
            &format!("'{name}'"),
            member,
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        ));
    }
    Ok(())
}

/// Checks the number of records in a batch put: 1 to `max`.
pub(crate) fn check_record_count(count: usize, max: usize) -> Result<(), ApiError> {
    let bound = if count == 0 {
        "Member must have length greater than or equal to 1".to_string()
    } else if count > max {
        format!("Member must have length less than or equal to {max}")
    } else {
        return Ok(());
    };
    Err(ApiError::constraint(
        &format!("'[{count} records]'"),
        "records",
        &bound,
    ))
}

/// The ARN of a delivery stream.
pub fn stream_arn(name: &str) -> String {
    format!("arn:aws:firehose:{REGION}:{ACCOUNT_ID}:deliverystream/{name}")
}

/// Appends `bytes` as lowercase hex.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_map_to_operations() {
        assert_eq!(
            Operation::from_target("Firehose_20150804.PutRecordBatch"),
            Some(Operation::PutRecordBatch)
        );
        assert_eq!(
            Operation::from_target("Firehose_20150804.TagDeliveryStream"),
            None
        );
        assert_eq!(
            Operation::from_target("Kinesis_20131202.PutRecords"),
            Some(Operation::PutRecords)
        );
        assert_eq!(Operation::from_target("Kinesis_20131202.PutRecord"), None);
        assert_eq!(Operation::from_target("Firehose_20150804.PutRecords"), None);
    }

    #[test]
    fn stream_names_follow_the_service_rules() {
        assert!(validate_stream_name("a").is_ok());
        assert!(validate_stream_name("web-logs_1.prod").is_ok());
        assert!(validate_stream_name(&"x".repeat(64)).is_ok());
        assert!(validate_stream_name(&"x".repeat(65)).is_err());
        assert!(validate_stream_name("").is_err());
        let err = validate_stream_name("bad name").unwrap_err();
        assert_eq!(err.code, "ValidationException");
        assert!(
            err.message.contains("regular expression"),
            "{}",
            err.message
        );
    }

    #[test]
    fn error_bodies_are_aws_json() {
        let body = ApiError::stream_not_found("s").body();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["__type"], "ResourceNotFoundException");
        assert!(v["message"]
            .as_str()
            .unwrap()
            .contains("Firehose s under account"));
    }
}
