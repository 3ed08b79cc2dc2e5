//! The data plane's bodies on the wire: PutRecordBatch and PutRecords requests encoded
//! by hand, and their usual answer read by hand. Everything else (credentials, endpoint,
//! signing, HTTP, timeouts, error answers, partial failures) stays with the SDK.
//!
//! Why: these two calls carry every byte firetail ships, and the SDK's generic JSON
//! serializer base64-encodes each record into a `String` of its own, then copies it into
//! a body that grows by doubling; decoding the answer builds an entry per record. Encoded
//! here, a request is one allocation of its exact size with base64 written in place, and
//! an answer that accepted every record is recognised by a few searches. Together they
//! were about 12 % of the daemon's CPU per GiB.
//!
//! How: the operation is sent through the SDK with a placeholder input, and
//! [`HandEncoded`], an interceptor on that one call, swaps in the real body before the
//! request is signed (so the signature covers it) and, on the way back, reads the
//! answer ([`all_accepted`]): when every record was accepted it records the count for
//! the caller and hands the SDK an empty list instead of one entry per record; any other
//! answer reaches the SDK with only the per-record ids dropped ([`trim_ids`]).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame};

use crate::client::RecordResult;
use crate::trim::{all_accepted, trim_ids, Answer};
use crate::OutRecord;

/// A PutRecordBatch body: `{"DeliveryStreamName":…,"Records":[{"Data":"<base64>"},…]}`.
pub fn put_record_batch_body(stream: &str, records: &[OutRecord]) -> Bytes {
    let data: usize = records.iter().map(|r| base64_len(r.data.len()) + 12).sum();
    let mut out = Vec::with_capacity(data + stream.len() + 64);
    out.extend_from_slice(b"{\"DeliveryStreamName\":");
    push_json_string(&mut out, stream);
    out.extend_from_slice(b",\"Records\":[");
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"Data\":\"");
        base64_simd::STANDARD.encode_append(&record.data, &mut out);
        out.extend_from_slice(b"\"}");
    }
    out.extend_from_slice(b"]}");
    Bytes::from(out)
}

/// A PutRecords body: `{"Records":[{"Data":…,"PartitionKey":…},…],"StreamName":…}` (or
/// `StreamARN` for a stream given by ARN). `key` gives each record's partition key.
pub fn put_records_body<'a>(
    stream: &str,
    records: &'a [OutRecord],
    key: impl Fn(&'a OutRecord) -> std::borrow::Cow<'a, str>,
) -> Bytes {
    let data: usize = records
        .iter()
        .map(|r| base64_len(r.data.len()) + 32 + r.partition_key.as_ref().map_or(40, |k| k.len()))
        .sum();
    let mut out = Vec::with_capacity(data + stream.len() + 64);
    out.extend_from_slice(b"{\"Records\":[");
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"Data\":\"");
        base64_simd::STANDARD.encode_append(&record.data, &mut out);
        out.extend_from_slice(b"\",\"PartitionKey\":");
        push_json_string(&mut out, &key(record));
        out.push(b'}');
    }
    out.extend_from_slice(if stream.starts_with("arn:") {
        b"],\"StreamARN\":"
    } else {
        b"],\"StreamName\":"
    });
    push_json_string(&mut out, stream);
    out.push(b'}');
    Bytes::from(out)
}

fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// `s` as a JSON string literal.
#[inline]
fn push_json_string(out: &mut Vec<u8>, s: &str) {
    // Partition keys and stream names almost never need escaping: copy them whole. The
    // test folds over every byte rather than stopping at the first hit, which leaves the
    // compiler free to test several bytes at once: the early-exit test, a byte at a time,
    // was most of this function's 2-3 % of a RANDOM-keyed Kinesis flow (a key per
    // record). The gain was within perf's noise on one run (54 -> 32 samples).
    let plain = !s.bytes().fold(false, |escape, b| {
        escape | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if plain {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    push_escaped_json_string(out, s);
}

/// [`push_json_string`]'s slow path, for a string that needs escapes.
#[cold]
fn push_escaped_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// The most an answer's announced length reserves up front (a real answer to 500
/// records is about 120 KB; a larger claim grows as it arrives).
const MAX_PRESIZED_ANSWER: usize = 1 << 20;

/// The interceptor of one data-plane call: the real request body in, the verdict on
/// the answer out (see the module docs).
#[derive(Debug)]
pub struct HandEncoded {
    body: Bytes,
    answer: Answer,
    verdict: Verdict,
}

/// How many records an answer accepted, when it accepted every one of them; filled in
/// while the SDK reads the answer.
#[derive(Clone, Debug, Default)]
pub struct Verdict(Arc<Mutex<Option<usize>>>);

impl Verdict {
    /// `Some(n)`: the answer accepted all of its `n` records (and the SDK was given an
    /// empty list of entries). `None`: read the SDK's output entry by entry.
    pub fn all_accepted(&self) -> Option<usize> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, n: usize) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(n);
    }

    /// Each record's outcome: all accepted when the answer said so (the SDK then parsed
    /// no entries), else one per entry of the SDK's output, from its error code and
    /// message (Firehose's `RequestResponses`, Kinesis' `Records`: the same shape).
    pub fn outcomes<E: AnswerEntry>(&self, entries: &[E]) -> Vec<RecordResult> {
        if let Some(accepted) = self.all_accepted() {
            return vec![RecordResult::Ok; accepted];
        }
        entries
            .iter()
            .map(|entry| match entry.error_code() {
                None => RecordResult::Ok,
                Some(code) => RecordResult::Failed {
                    code: code.to_owned(),
                    message: entry.error_message().unwrap_or_default().to_owned(),
                },
            })
            .collect()
    }
}

/// One entry of a data-plane answer, as the SDK parsed it.
pub trait AnswerEntry {
    fn error_code(&self) -> Option<&str>;
    fn error_message(&self) -> Option<&str>;
}

impl AnswerEntry for aws_sdk_firehose::types::PutRecordBatchResponseEntry {
    fn error_code(&self) -> Option<&str> {
        self.error_code()
    }
    fn error_message(&self) -> Option<&str> {
        self.error_message()
    }
}

impl AnswerEntry for aws_sdk_kinesis::types::PutRecordsResultEntry {
    fn error_code(&self) -> Option<&str> {
        self.error_code()
    }
    fn error_message(&self) -> Option<&str> {
        self.error_message()
    }
}

impl HandEncoded {
    /// The interceptor for a call sending `body`, whose answer is shaped as `answer`.
    pub fn new(body: Bytes, answer: Answer) -> (HandEncoded, Verdict) {
        let verdict = Verdict::default();
        (
            HandEncoded {
                body,
                answer,
                verdict: verdict.clone(),
            },
            verdict,
        )
    }
}

impl Intercept for HandEncoded {
    fn name(&self) -> &'static str {
        "firetail::HandEncoded"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        *request.body_mut() = SdkBody::from(self.body.clone());
        request
            .headers_mut()
            .insert("content-length", self.body.len().to_string());
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response_mut();
        if response.status().is_success() {
            // Sized once from the answer's length (100-120 KB for 500 records), not grown
            // by doubling as the frames come.
            let length = response
                .headers()
                .get("content-length")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0)
                .min(MAX_PRESIZED_ANSWER);
            let body = std::mem::replace(response.body_mut(), SdkBody::taken());
            *response.body_mut() = SdkBody::from_body_1_x(ReadAnswer {
                inner: body,
                answer: self.answer,
                read: BytesMut::with_capacity(length),
                verdict: self.verdict.clone(),
                done: false,
            });
        }
        Ok(())
    }
}

/// A successful answer's body, read whole and handed to the SDK in one frame: an empty
/// list of entries when every record was accepted, else trimmed of the ids.
struct ReadAnswer {
    inner: SdkBody,
    answer: Answer,
    read: BytesMut,
    verdict: Verdict,
    done: bool,
}

impl Body for ReadAnswer {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        loop {
            match ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    // Trailers carry nothing the SDK reads for these operations.
                    if let Ok(data) = frame.into_data() {
                        self.read.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => {
                    self.done = true;
                    let read = std::mem::take(&mut self.read).freeze();
                    let body = match all_accepted(&read, self.answer) {
                        Some((count, empty)) => {
                            self.verdict.set(count);
                            Bytes::from(empty)
                        }
                        None => trim_ids(&read).map_or(read, Bytes::from),
                    };
                    return Poll::Ready(Some(Ok(Frame::data(body))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use firetail_record::{FileId, Span};
    use serde_json::Value;

    fn record(data: &'static [u8], key: Option<&str>) -> OutRecord {
        OutRecord {
            data: Bytes::from_static(data),
            span: Span {
                file: FileId(1),
                start: 0,
                end: 1,
            },
            partition_key: key.map(crate::PartitionKey::from),
            read_at_millis: 0,
        }
    }

    fn decode(v: &Value) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    }

    #[test]
    fn put_record_batch_bodies_are_the_json_the_sdk_would_send() {
        let records = [record(b"line 1\n", None), record(b"\x00\xff\"\\", None)];
        let body = put_record_batch_body("my-stream", &records);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["DeliveryStreamName"], "my-stream");
        let sent: Vec<Vec<u8>> = v["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| decode(&r["Data"]))
            .collect();
        assert_eq!(sent, [b"line 1\n".to_vec(), b"\x00\xff\"\\".to_vec()]);
        assert_eq!(
            body.len(),
            serde_json::to_vec(&v).unwrap().len(),
            "compact, as the SDK sends it"
        );
    }

    #[test]
    fn put_records_bodies_carry_keys_and_the_stream_by_name_or_arn() {
        let records = [
            record(b"a", Some("key \"one\"\n")),
            record(b"bb", None),
            record(b"", Some("\u{1}\u{e9}")),
        ];
        let body = put_records_body("logs", &records, |r| {
            r.partition_key.as_deref().unwrap_or("fallback").into()
        });
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["StreamName"], "logs");
        assert!(v.get("StreamARN").is_none());
        let entries = v["Records"].as_array().unwrap();
        assert_eq!(entries[0]["PartitionKey"], "key \"one\"\n");
        assert_eq!(entries[1]["PartitionKey"], "fallback");
        assert_eq!(entries[2]["PartitionKey"], "\u{1}\u{e9}");
        assert_eq!(decode(&entries[1]["Data"]), b"bb");
        assert_eq!(decode(&entries[2]["Data"]), b"");

        let arn = "arn:aws:kinesis:eu-west-1:123456789012:stream/logs";
        let v: Value =
            serde_json::from_slice(&put_records_body(arn, &records, |_| "k".into())).unwrap();
        assert_eq!(v["StreamARN"], arn);
        assert!(v.get("StreamName").is_none());
    }

    #[test]
    fn bodies_are_allocated_once_at_their_size() {
        let line = [b'x'; 186];
        let records: Vec<OutRecord> = (0..500)
            .map(|_| OutRecord {
                data: Bytes::copy_from_slice(&line),
                ..record(b"", None)
            })
            .collect();
        let body = put_record_batch_body("s", &records);
        let estimate = records.len() * (base64_len(186) + 12) + 1 + 64;
        assert!(body.len() <= estimate, "{} > {estimate}", body.len());
    }
}
