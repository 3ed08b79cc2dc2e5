//! Parsing and validating `PutRecord` / `PutRecordBatch` bodies: the hot path.
//!
//! The body is parsed with borrowed strings (base64 never needs JSON escapes), and every
//! record is decoded into one caller-owned scratch buffer that is reused across requests, so a
//! request costs one small `Vec` of ranges and no per-record allocation.
//!
//! Invariant: a request either passes every check (and then every record is decoded into
//! `scratch`) or is refused whole, as the service refuses a batch with one bad record.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;

use base64::Engine as _;
use serde::de::{Deserializer, Visitor};
use serde::Deserialize;

use crate::api::{check_record_count, validate_stream_name, ApiError};
use crate::faults::RecordFault;

/// Reusable per-thread buffers of the put paths, Firehose's and Kinesis's: the decoded
/// records' bytes and each record's injected fault. No `.await` happens while they are
/// borrowed, and neither path calls the other while holding them.
#[derive(Default)]
pub(crate) struct PutScratch {
    pub(crate) data: Vec<u8>,
    pub(crate) faults: Vec<Option<RecordFault>>,
}

thread_local! {
    pub(crate) static PUT_SCRATCH: RefCell<PutScratch> = RefCell::default();
}

/// Largest decoded record, in bytes (1,000 KiB).
pub use firetail_agent::limits::FIREHOSE_MAX_RECORD_BYTES as MAX_RECORD_BYTES;
/// Largest total of decoded data in one `PutRecordBatch` (4 MiB).
pub use firetail_agent::limits::FIREHOSE_MAX_REQUEST_BYTES as MAX_BATCH_BYTES;
/// Most records in one `PutRecordBatch`.
pub use firetail_agent::limits::MAX_RECORDS_PER_REQUEST as MAX_RECORDS_PER_BATCH;

/// A validated put request: the stream and where each decoded record sits in the scratch buffer.
#[derive(Debug)]
pub struct DecodedPut<'a> {
    /// The delivery stream name.
    pub stream: Cow<'a, str>,
    /// Each record's bytes within the scratch buffer, in request order.
    pub records: Vec<Range<usize>>,
}

/// A JSON string that borrows from the body when it has no escapes.
pub(crate) struct JsonStr<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for JsonStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct StrVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for StrVisitor<'a> {
            type Value = JsonStr<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(JsonStr(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JsonStr(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(StrVisitor(PhantomData))
    }
}

/// A JSON string's raw bytes (escapes resolved, UTF-8 not checked: base64 is ASCII and the
/// decoder rejects anything else), borrowed from the body when it has no escapes.
pub(crate) struct JsonBytes<'a>(pub(crate) Cow<'a, [u8]>);

impl<'de: 'a, 'a> Deserialize<'de> for JsonBytes<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct BytesVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for BytesVisitor<'a> {
            type Value = JsonBytes<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a base64 string")
            }
            fn visit_borrowed_bytes<E: serde::de::Error>(
                self,
                v: &'de [u8],
            ) -> Result<Self::Value, E> {
                no_control_characters(v)?;
                Ok(JsonBytes(Cow::Borrowed(v)))
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
                no_control_characters(v)?;
                Ok(JsonBytes(Cow::Owned(v.to_vec())))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(JsonBytes(Cow::Borrowed(v.as_bytes())))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JsonBytes(Cow::Owned(v.as_bytes().to_vec())))
            }
        }
        d.deserialize_bytes(BytesVisitor(PhantomData))
    }
}

/// serde_json does not check raw strings for control characters, which JSON forbids. Base64
/// has none either (escaped ones included), so refusing them here only makes such a body the
/// SerializationException it is, before any validation.
fn no_control_characters<E: serde::de::Error>(v: &[u8]) -> Result<(), E> {
    match v.iter().find(|b| **b < 0x20) {
        Some(b) => Err(E::custom(format_args!(
            "control character 0x{b:02x} in a base64 string"
        ))),
        None => Ok(()),
    }
}

#[derive(Deserialize)]
struct RecordIn<'a> {
    #[serde(rename = "Data", borrow, default)]
    data: Option<JsonBytes<'a>>,
}

#[derive(Deserialize)]
struct PutRecordBatchIn<'a> {
    #[serde(rename = "DeliveryStreamName", borrow, default)]
    stream: Option<JsonStr<'a>>,
    #[serde(rename = "Records", borrow, default)]
    records: Option<Vec<RecordIn<'a>>>,
}

#[derive(Deserialize)]
struct PutRecordIn<'a> {
    #[serde(rename = "DeliveryStreamName", borrow, default)]
    stream: Option<JsonStr<'a>>,
    #[serde(rename = "Record", borrow, default)]
    record: Option<RecordIn<'a>>,
}

/// Parses and validates a `PutRecordBatch` body, decoding every record into `scratch`
/// (cleared first).
pub fn decode_put_record_batch<'a>(
    body: &'a [u8],
    scratch: &mut Vec<u8>,
) -> Result<DecodedPut<'a>, ApiError> {
    let input: PutRecordBatchIn<'a> = parse_json(body)?;
    let stream = required_stream(input.stream)?;
    let records = input
        .records
        .ok_or_else(|| ApiError::constraint("null", "records", "Member must not be null"))?;
    check_record_count(records.len(), MAX_RECORDS_PER_BATCH)?;
    let ranges = decode_records(&records, "records.{}.member.data", scratch)?;
    if scratch.len() > MAX_BATCH_BYTES {
        return Err(ApiError::invalid_argument(format!(
            "Records size {} bytes exceeds the {MAX_BATCH_BYTES} bytes (4 MiB) limit per PutRecordBatch call",
            scratch.len()
        )));
    }
    Ok(DecodedPut {
        stream,
        records: ranges,
    })
}

/// Parses and validates a `PutRecord` body, decoding its record into `scratch` (cleared first).
pub fn decode_put_record<'a>(
    body: &'a [u8],
    scratch: &mut Vec<u8>,
) -> Result<DecodedPut<'a>, ApiError> {
    let input: PutRecordIn<'a> = parse_json(body)?;
    let stream = required_stream(input.stream)?;
    let record = input
        .record
        .ok_or_else(|| ApiError::constraint("null", "record", "Member must not be null"))?;
    let ranges = decode_records(std::slice::from_ref(&record), "record.data", scratch)?;
    Ok(DecodedPut {
        stream,
        records: ranges,
    })
}

/// Parses a JSON body into an operation's input shape, mapping failures to SerializationException.
/// The body must be UTF-8 (JSON is): serde_json does not check the strings it skips or reads
/// as bytes.
pub fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    if let Err(e) = std::str::from_utf8(body) {
        return Err(ApiError::serialization(format!("Body is not UTF-8: {e}")));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::serialization(e.to_string()))
}

fn required_stream(stream: Option<JsonStr<'_>>) -> Result<Cow<'_, str>, ApiError> {
    let stream = stream
        .ok_or_else(|| {
            ApiError::constraint("null", "deliveryStreamName", "Member must not be null")
        })?
        .0;
    validate_stream_name(&stream)?;
    Ok(stream)
}

/// Decodes each record's base64 data into `scratch`; `member` names the field in errors, with
/// `{}` standing for the 1-based record number.
fn decode_records(
    records: &[RecordIn<'_>],
    member: &str,
    scratch: &mut Vec<u8>,
) -> Result<Vec<Range<usize>>, ApiError> {
    scratch.clear();
    let encoded_total: usize = records
        .iter()
        .map(|r| r.data.as_ref().map_or(0, |d| d.0.len()))
        .sum();
    scratch.reserve(encoded_total / 4 * 3 + 3);
    let mut ranges = Vec::with_capacity(records.len());
    for (i, record) in records.iter().enumerate() {
        let name = || member.replace("{}", &(i + 1).to_string());
        let data = record
            .data
            .as_ref()
            .ok_or_else(|| ApiError::constraint("null", &name(), "Member must not be null"))?;
        let start = scratch.len();
        base64::engine::general_purpose::STANDARD
            .decode_vec(&data.0, scratch)
            .map_err(|e| ApiError::serialization(format!("Invalid base64 in '{}': {e}", name())))?;
        let len = scratch.len() - start;
        if len > MAX_RECORD_BYTES {
            return Err(ApiError::constraint(
                &format!("'java.nio.HeapByteBuffer[pos=0 lim={len} cap={len}]'"),
                &name(),
                "Member must have length less than or equal to 1024000",
            ));
        }
        ranges.push(start..scratch.len());
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn batch_body(stream: &str, records: &[&[u8]]) -> Vec<u8> {
        let records: Vec<_> = records
            .iter()
            .map(|r| serde_json::json!({ "Data": STANDARD.encode(r) }))
            .collect();
        serde_json::json!({ "DeliveryStreamName": stream, "Records": records })
            .to_string()
            .into_bytes()
    }

    #[test]
    fn decodes_records_in_order() {
        let body = batch_body("s", &[b"one\n", b"", b"three\n"]);
        let mut scratch = Vec::new();
        let put = decode_put_record_batch(&body, &mut scratch).unwrap();
        assert_eq!(put.stream, "s");
        let got: Vec<&[u8]> = put.records.iter().map(|r| &scratch[r.clone()]).collect();
        assert_eq!(got, vec![&b"one\n"[..], b"", b"three\n"]);
        assert!(matches!(put.stream, Cow::Borrowed(_)));
    }

    #[test]
    fn escaped_strings_still_parse() {
        let body = br#"{"DeliveryStreamName":"s","Records":[{"Data":"YWI\/"}]}"#;
        let mut scratch = Vec::new();
        let put = decode_put_record_batch(body, &mut scratch).unwrap();
        assert_eq!(&scratch[put.records[0].clone()], b"ab?");
    }

    #[test]
    fn put_record_decodes_one() {
        let body = br#"{"DeliveryStreamName":"s","Record":{"Data":"aGk="}}"#;
        let mut scratch = Vec::new();
        let put = decode_put_record(body, &mut scratch).unwrap();
        assert_eq!(&scratch[put.records[0].clone()], b"hi");
    }

    #[test]
    fn limits_are_enforced() {
        let mut scratch = Vec::new();
        let many: Vec<&[u8]> = vec![b"x"; 501];
        let err = decode_put_record_batch(&batch_body("s", &many), &mut scratch).unwrap_err();
        assert_eq!(err.code, "ValidationException");
        assert!(err.message.contains("less than or equal to 500"));

        let err = decode_put_record_batch(&batch_body("s", &[]), &mut scratch).unwrap_err();
        assert_eq!(err.code, "ValidationException");

        let big = vec![b'a'; MAX_RECORD_BYTES + 1];
        let err = decode_put_record_batch(&batch_body("s", &[&big]), &mut scratch).unwrap_err();
        assert_eq!(err.code, "ValidationException");
        assert!(
            err.message.contains("records.1.member.data"),
            "{}",
            err.message
        );

        let exact = vec![b'a'; MAX_RECORD_BYTES];
        let five: Vec<&[u8]> = vec![&exact; 5];
        let err = decode_put_record_batch(&batch_body("s", &five), &mut scratch).unwrap_err();
        assert_eq!(err.code, "InvalidArgumentException");

        let four: Vec<&[u8]> = vec![&exact; 4];
        assert!(decode_put_record_batch(&batch_body("s", &four), &mut scratch).is_ok());
    }

    #[test]
    fn a_body_with_a_raw_control_character_is_not_json() {
        // Found by fuzz/local_firehose_request: `Data` is read as raw bytes, which serde_json
        // does not check for control characters, so this body (not JSON: a raw NUL in a
        // string) got the ValidationException of its missing stream name.
        let mut scratch = Vec::new();
        for body in [
            &b"{\"Records\":[{\"Data\":\"YQ\0==\"}]}"[..],
            b"{\"Record\":{\"Data\":\"\x01\"}}",
            b"{\"Records\":[{\"Data\":\"YQ==\xff\"}]}",
        ] {
            let batch = decode_put_record_batch(body, &mut scratch).map(|_| ());
            let single = decode_put_record(body, &mut scratch).map(|_| ());
            for err in [batch.unwrap_err(), single.unwrap_err()] {
                assert_eq!(err.code, "SerializationException", "{body:?}: {err:?}");
            }
        }
    }

    #[test]
    fn malformed_bodies_are_serialization_errors() {
        let mut scratch = Vec::new();
        for body in [
            &b"{"[..],
            b"not json",
            br#"{"DeliveryStreamName":"s","Records":"x"}"#,
            br#"{"DeliveryStreamName":5,"Records":[]}"#,
            br#"{"DeliveryStreamName":"s","Records":[{"Data":"!!!!"}]}"#,
            br#"{"DeliveryStreamName":"s","Records":[{"Data":[89,87]}]}"#,
            br#"{"DeliveryStreamName":"s","Records":[{"Data":"\u00e9AAA"}]}"#,
        ] {
            let err = decode_put_record_batch(body, &mut scratch).unwrap_err();
            assert_eq!(err.code, "SerializationException", "{body:?}");
        }
        let err =
            decode_put_record_batch(br#"{"Records":[{"Data":""}]}"#, &mut scratch).unwrap_err();
        assert_eq!(err.code, "ValidationException");
        let err = decode_put_record_batch(
            br#"{"DeliveryStreamName":"s","Records":[{}]}"#,
            &mut scratch,
        )
        .unwrap_err();
        assert!(
            err.message.contains("records.1.member.data"),
            "{}",
            err.message
        );
    }
}
