//! A minimal Kinesis Data Streams data plane: `Kinesis_20131202.PutRecords` only.
//!
//! It exists so that `firetail run` flows with `kinesisStream` can be tested and benchmarked
//! against the same endpoint as Firehose flows (`kinesis.endpoint` pointed here). Streams live in
//! their own namespace (a Kinesis stream and a delivery stream may share a name), are created
//! on first use with `--auto-create` (4 shards), and there is no control plane.
//!
//! What is modelled, because a client's behaviour depends on it:
//! - The limits and the errors the service gives for them: 1-500 records, a partition key of
//!   1-256 characters, data of at most 1 MiB (ValidationException: modelled constraints); a
//!   record whose data and partition key together exceed 1 MiB, or a call whose data and keys
//!   exceed 5 MiB (InvalidArgumentException); an unknown stream (ResourceNotFoundException).
//! - The answer's shape: `FailedRecordCount`, one `Records` entry per record in request order
//!   (`SequenceNumber` and `ShardId`, or `ErrorCode` and `ErrorMessage`), `EncryptionType`.
//! - Shard choice: the MD5 of the partition key (or `ExplicitHashKey`) as a 128-bit number,
//!   shards splitting the hash space evenly; sequence numbers grow per shard.
//!
//! Faults apply as for PutRecordBatch: a throttled call is Kinesis's own
//! `ProvisionedThroughputExceededException` (400), errors and resets as for Firehose, and
//! `--partial-failure-rate` fails single records with `ProvisionedThroughputExceededException`
//! or `InternalFailure`. Accepted records are counted in the shared [`crate::Stats`] and,
//! unless discarding, logged like Firehose records (no objects are written for them).
//!
//! Invariant (as in [`crate::batch`]): a call either passes every check, and then every
//! record's data is decoded into the scratch buffer, or it is refused whole.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use md5::{Digest, Md5};
use serde::Deserialize;

use crate::api::{check_record_count, validate_name, ApiError, ACCOUNT_ID, REGION};
use crate::batch::{parse_json, JsonBytes, JsonStr, PutScratch, PUT_SCRATCH};
use crate::faults::{CallFault, FaultInjector, RecordFault};
use crate::record_log::{Outcome, RecordLog};
use crate::stats::{Stats, StatsCell};

/// The `X-Amz-Target` prefix of Kinesis Data Streams operations.
pub const TARGET_PREFIX: &str = "Kinesis_20131202.";
/// Longest partition key, in Unicode characters.
pub use firetail_agent::limits::KINESIS_MAX_PARTITION_KEY_CHARS as MAX_PARTITION_KEY_CHARS;
/// Largest record: data plus partition key, in bytes (1 MiB).
pub use firetail_agent::limits::KINESIS_MAX_RECORD_BYTES as MAX_RECORD_BYTES;
/// Largest call: every record's data plus partition key, in bytes (5 MiB).
pub use firetail_agent::limits::KINESIS_MAX_REQUEST_BYTES as MAX_CALL_BYTES;
/// Most records in one PutRecords call.
pub use firetail_agent::limits::MAX_RECORDS_PER_REQUEST as MAX_RECORDS_PER_CALL;
/// Shards of an auto-created stream: more than one, so partition keys matter.
pub const AUTO_CREATE_SHARDS: usize = 4;

/// The error code of a throttled call or record.
const THROUGHPUT_EXCEEDED: &str = "ProvisionedThroughputExceededException";

#[derive(Deserialize)]
struct EntryIn<'a> {
    #[serde(rename = "Data", borrow, default)]
    data: Option<JsonBytes<'a>>,
    #[serde(rename = "PartitionKey", borrow, default)]
    partition_key: Option<JsonStr<'a>>,
    #[serde(rename = "ExplicitHashKey", borrow, default)]
    explicit_hash_key: Option<JsonStr<'a>>,
}

#[derive(Deserialize)]
struct PutRecordsIn<'a> {
    #[serde(rename = "StreamName", borrow, default)]
    stream_name: Option<JsonStr<'a>>,
    #[serde(rename = "StreamARN", borrow, default)]
    stream_arn: Option<JsonStr<'a>>,
    #[serde(rename = "Records", borrow, default)]
    records: Option<Vec<EntryIn<'a>>>,
}

/// A validated PutRecords call.
#[derive(Debug)]
pub struct DecodedPutRecords<'a> {
    /// The stream name (taken from `StreamARN` when only that was given).
    pub stream: Cow<'a, str>,
    /// Each record's data within the scratch buffer, in request order.
    pub records: Vec<Range<usize>>,
    /// Each record's 128-bit hash key (MD5 of the partition key, or `ExplicitHashKey`).
    pub hash_keys: Vec<u128>,
}

/// Parses and validates a PutRecords body, decoding every record's data into `scratch`
/// (cleared first).
pub fn decode_put_records<'a>(
    body: &'a [u8],
    scratch: &mut Vec<u8>,
) -> Result<DecodedPutRecords<'a>, ApiError> {
    let input: PutRecordsIn<'a> = parse_json(body)?;
    let stream = stream_name(input.stream_name, input.stream_arn)?;
    let records = input
        .records
        .ok_or_else(|| ApiError::constraint("null", "records", "Member must not be null"))?;
    check_record_count(records.len(), MAX_RECORDS_PER_CALL)?;
    scratch.clear();
    let mut ranges = Vec::with_capacity(records.len());
    let mut hash_keys = Vec::with_capacity(records.len());
    let mut call_bytes = 0usize;
    for (i, record) in records.iter().enumerate() {
        let (range, key_len, hash_key) = decode_entry(record, i + 1, scratch)?;
        let record_bytes = range.len() + key_len;
        if record_bytes > MAX_RECORD_BYTES {
            return Err(ApiError::invalid_argument(format!(
                "Record {} has {record_bytes} bytes of data and partition key, more than the \
                 {MAX_RECORD_BYTES} bytes (1 MiB) allowed per record",
                i + 1
            )));
        }
        call_bytes += record_bytes;
        ranges.push(range);
        hash_keys.push(hash_key);
    }
    if call_bytes > MAX_CALL_BYTES {
        return Err(ApiError::invalid_argument(format!(
            "Records total {call_bytes} bytes of data and partition keys, more than the \
             {MAX_CALL_BYTES} bytes (5 MiB) allowed per PutRecords call"
        )));
    }
    Ok(DecodedPutRecords {
        stream,
        records: ranges,
        hash_keys,
    })
}

/// The stream named by `StreamName`, or by the last segment of a `StreamARN`.
fn stream_name<'a>(
    name: Option<JsonStr<'a>>,
    arn: Option<JsonStr<'a>>,
) -> Result<Cow<'a, str>, ApiError> {
    let name = match (name, arn) {
        (Some(name), _) => name.0,
        (None, Some(arn)) => {
            let from_arn = match arn.0 {
                Cow::Borrowed(arn) => arn.rsplit_once(":stream/").map(|(_, n)| Cow::Borrowed(n)),
                Cow::Owned(arn) => arn
                    .rsplit_once(":stream/")
                    .map(|(_, n)| Cow::Owned(n.to_owned())),
            };
            from_arn.ok_or_else(|| {
                ApiError::invalid_argument("StreamARN is not the ARN of a Kinesis data stream")
            })?
        }
        (None, None) => {
            return Err(ApiError::invalid_argument(
                "Either StreamName or StreamARN must be provided",
            ))
        }
    };
    validate_stream_name(&name)?;
    Ok(name)
}

/// Kinesis stream names: 1-128 of `[a-zA-Z0-9_.-]`.
fn validate_stream_name(name: &str) -> Result<(), ApiError> {
    validate_name(name, "streamName", 128)
}

/// Decodes one entry (1-based `number`): its data range in `scratch`, its partition key's
/// length in bytes, and its hash key.
fn decode_entry(
    entry: &EntryIn<'_>,
    number: usize,
    scratch: &mut Vec<u8>,
) -> Result<(Range<usize>, usize, u128), ApiError> {
    let member = |field: &str| format!("records.{number}.member.{field}");
    let key = entry.partition_key.as_ref().ok_or_else(|| {
        ApiError::constraint("null", &member("partitionKey"), "Member must not be null")
    })?;
    let chars = key.0.chars().count();
    if chars == 0 || chars > MAX_PARTITION_KEY_CHARS {
        let bound = if chars == 0 {
            "Member must have length greater than or equal to 1"
        } else {
            "Member must have length less than or equal to 256"
        };
        return Err(ApiError::constraint(
            &format!("'{}'", key.0),
            &member("partitionKey"),
            bound,
        ));
    }
    let hash_key = match &entry.explicit_hash_key {
        Some(explicit) => parse_hash_key(&explicit.0).ok_or_else(|| {
            ApiError::constraint(
                &format!("'{}'", explicit.0),
                &member("explicitHashKey"),
                "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})",
            )
        })?,
        None => md5_hash_key(key.0.as_bytes()),
    };
    let data = entry
        .data
        .as_ref()
        .ok_or_else(|| ApiError::constraint("null", &member("data"), "Member must not be null"))?;
    let start = scratch.len();
    base64::engine::general_purpose::STANDARD
        .decode_vec(&data.0, scratch)
        .map_err(|e| {
            ApiError::serialization(format!("Invalid base64 in '{}': {e}", member("data")))
        })?;
    let len = scratch.len() - start;
    if len > MAX_RECORD_BYTES {
        return Err(ApiError::constraint(
            &format!("'java.nio.HeapByteBuffer[pos=0 lim={len} cap={len}]'"),
            &member("data"),
            "Member must have length less than or equal to 1048576",
        ));
    }
    Ok((start..scratch.len(), key.0.len(), hash_key))
}

/// An `ExplicitHashKey`: a decimal number in the 128-bit hash space, without leading zeros.
fn parse_hash_key(text: &str) -> Option<u128> {
    let well_formed = !text.is_empty()
        && text.len() <= 39
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if well_formed {
        text.parse().ok()
    } else {
        None
    }
}

/// The partition key's MD5 digest read as a big-endian 128-bit number, as Kinesis maps keys.
fn md5_hash_key(key: &[u8]) -> u128 {
    u128::from_be_bytes(Md5::digest(key).into())
}

/// One data stream: its shards' next sequence numbers.
pub(crate) struct KinesisStream {
    name: Arc<str>,
    next_sequence: Vec<AtomicU64>,
}

impl KinesisStream {
    fn new(name: &str, shards: usize) -> Self {
        KinesisStream {
            name: name.into(),
            next_sequence: (0..shards.max(1)).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The shard whose hash key range holds `hash_key` (ranges split the space evenly).
    fn shard_of(&self, hash_key: u128) -> usize {
        let shards = self.next_sequence.len();
        let width = u128::MAX / shards as u128 + 1;
        ((hash_key / width) as usize).min(shards - 1)
    }
}

/// All data streams, by name.
#[derive(Default)]
pub(crate) struct KinesisStreams {
    by_name: RwLock<BTreeMap<String, Arc<KinesisStream>>>,
}

impl KinesisStreams {
    /// Finds a stream, creating it (with [`AUTO_CREATE_SHARDS`] shards) if allowed.
    pub(crate) fn get_or_auto_create(
        &self,
        name: &str,
        auto_create: bool,
    ) -> Result<Arc<KinesisStream>, ApiError> {
        let found = {
            let by_name = self
                .by_name
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            by_name.get(name).cloned()
        };
        if let Some(stream) = found {
            return Ok(stream);
        }
        if !auto_create {
            return Err(stream_not_found(name));
        }
        let mut by_name = self
            .by_name
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let stream = by_name.entry(name.to_string()).or_insert_with(|| {
            tracing::info!(
                stream = name,
                shards = AUTO_CREATE_SHARDS,
                "auto-creating Kinesis data stream"
            );
            Arc::new(KinesisStream::new(name, AUTO_CREATE_SHARDS))
        });
        Ok(Arc::clone(stream))
    }
}

/// Kinesis's answer for an unknown stream.
fn stream_not_found(name: &str) -> ApiError {
    ApiError {
        status: 400,
        code: "ResourceNotFoundException",
        message: format!("Stream {name} under account {ACCOUNT_ID} not found."),
    }
}

/// Kinesis's answer for a throttled call.
fn throughput_exceeded(stream: &str) -> ApiError {
    ApiError {
        status: 400,
        code: THROUGHPUT_EXCEEDED,
        message: format!(
            "Rate exceeded for stream {stream} under account {ACCOUNT_ID} in {REGION}."
        ),
    }
}

/// What a PutRecords call needs from the server.
pub(crate) struct Context<'s> {
    pub(crate) streams: &'s KinesisStreams,
    pub(crate) faults: &'s FaultInjector,
    pub(crate) stats: &'s StatsCell,
    pub(crate) log: &'s RecordLog,
    pub(crate) auto_create: bool,
    pub(crate) discard: bool,
}

/// `PutRecords`: validate, draw faults, count and log. `Ok(None)` means "close the connection
/// without answering" (an injected reset).
pub(crate) fn put_records(
    ctx: &Context<'_>,
    body: &[u8],
    request_id: &Arc<str>,
) -> Result<Option<Vec<u8>>, ApiError> {
    PUT_SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let PutScratch { data, faults } = &mut *scratch;
        let decoded = decode_put_records(body, data)?;
        let stream = ctx
            .streams
            .get_or_auto_create(&decoded.stream, ctx.auto_create)?;
        let outcome = match ctx.faults.call_fault() {
            CallFault::None => Outcome::Answered,
            CallFault::Throttle => {
                bump_fault(ctx, "throttle", 1);
                return Err(throughput_exceeded(&stream.name));
            }
            CallFault::Error => {
                bump_fault(ctx, "error", 1);
                return Err(ApiError::internal_failure());
            }
            CallFault::ResetDropped => {
                bump_fault(ctx, "reset_dropped", 1);
                return Ok(None);
            }
            CallFault::ResetDelivered => {
                bump_fault(ctx, "reset_delivered", 1);
                Outcome::ResetAfterDelivery
            }
        };
        if outcome == Outcome::Answered {
            ctx.faults.record_faults(decoded.records.len(), faults);
        } else {
            faults.clear();
            faults.resize(decoded.records.len(), None);
        }
        deliver(ctx, &stream, request_id, outcome, &decoded, data, faults);
        Ok((outcome == Outcome::Answered).then(|| answer(&stream, &decoded, faults)))
    })
}

fn bump_fault(ctx: &Context<'_>, kind: &str, n: u64) {
    Stats::bump(&mut ctx.stats.lock().faults, kind, n);
}

/// Counts the accepted records and, unless discarding, logs them.
fn deliver(
    ctx: &Context<'_>,
    stream: &KinesisStream,
    request_id: &Arc<str>,
    outcome: Outcome,
    decoded: &DecodedPutRecords<'_>,
    data: &[u8],
    faults: &[Option<RecordFault>],
) {
    let accepted = ctx
        .stats
        .count_put(&decoded.records, data, faults, record_error_code);
    if !ctx.discard && !accepted.is_empty() {
        ctx.log.append(&stream.name, request_id, outcome, &accepted);
    }
}

/// The per-record error code Kinesis uses for each injected record fault.
fn record_error_code(fault: RecordFault) -> &'static str {
    match fault {
        RecordFault::ServiceUnavailable => THROUGHPUT_EXCEEDED,
        RecordFault::InternalFailure => "InternalFailure",
    }
}

/// The PutRecords answer: one entry per record, in request order. Successful records take the
/// next sequence number of their shard.
fn answer(
    stream: &KinesisStream,
    decoded: &DecodedPutRecords<'_>,
    faults: &[Option<RecordFault>],
) -> Vec<u8> {
    let failed = faults.iter().flatten().count();
    let mut out = String::with_capacity(96 + faults.len() * 110);
    out.push_str("{\"EncryptionType\":\"NONE\",\"FailedRecordCount\":");
    out.push_str(&failed.to_string());
    out.push_str(",\"Records\":[");
    for (index, (hash_key, fault)) in decoded.hash_keys.iter().zip(faults).enumerate() {
        if index > 0 {
            out.push(',');
        }
        match fault {
            None => {
                let shard = stream.shard_of(*hash_key);
                let sequence = stream.next_sequence[shard].fetch_add(1, Ordering::Relaxed);
                // Real sequence numbers are 56 decimal digits that grow within a shard.
                // Writing to a String cannot fail.
                let _ = write!(
                    out,
                    "{{\"SequenceNumber\":\"49{shard:04}{sequence:050}\",\"ShardId\":\"shardId-{shard:012}\"}}"
                );
            }
            // Codes and messages are fixed ASCII without quotes or backslashes.
            Some(fault) => {
                out.push_str("{\"ErrorCode\":\"");
                out.push_str(record_error_code(*fault));
                out.push_str("\",\"ErrorMessage\":\"");
                out.push_str(match fault {
                    RecordFault::ServiceUnavailable => "Rate exceeded for shard.",
                    RecordFault::InternalFailure => "Internal service failure.",
                });
                out.push_str("\"}");
            }
        }
    }
    out.push_str("]}");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;

    fn body(stream: &str, records: &[(&[u8], &str)]) -> Vec<u8> {
        let records: Vec<_> = records
            .iter()
            .map(|(data, key)| json!({ "Data": STANDARD.encode(data), "PartitionKey": key }))
            .collect();
        json!({ "StreamName": stream, "Records": records })
            .to_string()
            .into_bytes()
    }

    #[test]
    fn decodes_records_and_hashes_keys() {
        let mut scratch = Vec::new();
        let body = body("s", &[(b"one\n", "a"), (b"", "b")]);
        let put = decode_put_records(&body, &mut scratch).unwrap();
        assert_eq!(put.stream, "s");
        assert_eq!(&scratch[put.records[0].clone()], b"one\n");
        assert!(put.records[1].is_empty());
        // MD5("a") = 0cc175b9c0f1b6a831c399e269772661.
        assert_eq!(put.hash_keys[0], 0x0cc1_75b9_c0f1_b6a8_31c3_99e2_6977_2661);
    }

    #[test]
    fn stream_arn_names_the_stream() {
        let body = br#"{"StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/web","Records":[{"Data":"aGk=","PartitionKey":"k"}]}"#;
        let mut scratch = Vec::new();
        assert_eq!(
            decode_put_records(body, &mut scratch).unwrap().stream,
            "web"
        );
        let neither = br#"{"Records":[{"Data":"aGk=","PartitionKey":"k"}]}"#;
        let err = decode_put_records(neither, &mut scratch).unwrap_err();
        assert_eq!(err.code, "InvalidArgumentException");
    }

    #[test]
    fn limits_are_the_services() {
        let mut scratch = Vec::new();
        let code =
            |b: Vec<u8>, scratch: &mut Vec<u8>| decode_put_records(&b, scratch).unwrap_err().code;
        let many: Vec<(&[u8], &str)> = vec![(b"x", "k"); 501];
        assert_eq!(code(body("s", &many), &mut scratch), "ValidationException");
        assert_eq!(code(body("s", &[]), &mut scratch), "ValidationException");
        assert_eq!(
            code(body("s", &[(b"x", "")]), &mut scratch),
            "ValidationException"
        );
        let long_key = "k".repeat(257);
        assert_eq!(
            code(body("s", &[(b"x", &long_key)]), &mut scratch),
            "ValidationException"
        );
        // 256 characters of 3 bytes each are still one valid key.
        let wide_key = "€".repeat(256);
        assert!(decode_put_records(&body("s", &[(b"x", &wide_key)]), &mut scratch).is_ok());
        let over = vec![b'a'; MAX_RECORD_BYTES + 1];
        assert_eq!(
            code(body("s", &[(&over, "k")]), &mut scratch),
            "ValidationException"
        );
        // Data of exactly 1 MiB is valid alone, but not with its partition key.
        let exact = vec![b'a'; MAX_RECORD_BYTES];
        assert_eq!(
            code(body("s", &[(&exact, "k")]), &mut scratch),
            "InvalidArgumentException"
        );
        let under = vec![b'a'; MAX_RECORD_BYTES - 1];
        assert!(decode_put_records(&body("s", &[(&under, "k")]), &mut scratch).is_ok());
        let six: Vec<(&[u8], &str)> = vec![(&under, "k"); 6];
        assert_eq!(
            code(body("s", &six), &mut scratch),
            "InvalidArgumentException"
        );
        let five: Vec<(&[u8], &str)> = vec![(&under, "k"); 5];
        assert!(decode_put_records(&body("s", &five), &mut scratch).is_ok());
        assert_eq!(
            code(body("bad name", &[(b"x", "k")]), &mut scratch),
            "ValidationException"
        );
        assert_eq!(code(b"{".to_vec(), &mut scratch), "SerializationException");
    }

    #[test]
    fn explicit_hash_keys_choose_the_shard() {
        assert_eq!(parse_hash_key("0"), Some(0));
        assert_eq!(parse_hash_key(&u128::MAX.to_string()), Some(u128::MAX));
        assert_eq!(parse_hash_key("01"), None);
        assert_eq!(parse_hash_key("-1"), None);
        assert_eq!(
            parse_hash_key("340282366920938463463374607431768211456"),
            None
        );
        let stream = KinesisStream::new("s", 4);
        assert_eq!(stream.shard_of(0), 0);
        assert_eq!(stream.shard_of(u128::MAX / 4), 0);
        assert_eq!(stream.shard_of(u128::MAX / 4 + 1), 1);
        assert_eq!(stream.shard_of(u128::MAX), 3);
        let body = br#"{"StreamName":"s","Records":[{"Data":"","PartitionKey":"k","ExplicitHashKey":"007"}]}"#;
        let err = decode_put_records(body, &mut Vec::new()).unwrap_err();
        assert_eq!(err.code, "ValidationException");
    }

    #[test]
    fn answers_have_the_service_shape() {
        let stream = KinesisStream::new("s", 4);
        let mut scratch = Vec::new();
        let body = body("s", &[(b"a", "a"), (b"b", "b"), (b"c", "a")]);
        let put = decode_put_records(&body, &mut scratch).unwrap();
        let faults = [None, Some(RecordFault::ServiceUnavailable), None];
        let v: serde_json::Value = serde_json::from_slice(&answer(&stream, &put, &faults)).unwrap();
        assert_eq!(v["FailedRecordCount"], 1);
        assert_eq!(v["EncryptionType"], "NONE");
        let records = v["Records"].as_array().unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[1]["ErrorCode"], THROUGHPUT_EXCEEDED);
        // The same key lands on the same shard, with a later sequence number.
        assert_eq!(records[0]["ShardId"], records[2]["ShardId"]);
        let seq = |r: &serde_json::Value| r["SequenceNumber"].as_str().unwrap().to_string();
        assert_eq!(seq(&records[0]).len(), 56);
        assert!(seq(&records[0]) < seq(&records[2]));
    }
}
