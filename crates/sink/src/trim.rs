//! The data-plane answers, trimmed of the per-record ids firetail never reads.
//!
//! A PutRecordBatch answer carries a `RecordId` of about 220 characters per record, a
//! PutRecords answer a `SequenceNumber` and a `ShardId`: 100-120 KB per 500-record call,
//! which the SDK decodes into one `String` each. That decoding was 15 % of the daemon's
//! CPU. The sink only needs each entry's position and error code, so [`TrimIds`], an SDK
//! interceptor on the data-plane clients, drops those members from successful answers
//! before the SDK decodes them; the SDK still decodes the rest (error codes, counts,
//! entry order), just without the ids.
//!
//! The trim is a small JSON re-emitter ([`trim_ids`]). Anything it does not understand
//! (malformed JSON, nesting deeper than any answer has) leaves the body untouched, so
//! the SDK decides exactly as it would have without it.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame};

/// Members removed wherever they appear (only data-plane answers are trimmed).
const DROPPED_KEYS: [&[u8]; 3] = [b"\"RecordId\"", b"\"SequenceNumber\"", b"\"ShardId\""];

/// Deeper than any data-plane answer (3 levels); deeper input is left alone.
const MAX_DEPTH: usize = 16;

/// The operations whose successful answers are trimmed.
const TRIMMED_OPERATIONS: [&str; 2] = ["PutRecordBatch", "PutRecords"];

/// An SDK interceptor that trims PutRecordBatch and PutRecords answers (see the module
/// docs) and leaves every other operation alone.
#[derive(Debug, Default)]
pub struct TrimIds;

impl Intercept for TrimIds {
    fn name(&self) -> &'static str {
        "firetail::TrimIds"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let data_plane = cfg
            .load::<Metadata>()
            .is_some_and(|m| TRIMMED_OPERATIONS.contains(&m.name()));
        let response = context.response_mut();
        if data_plane && response.status().is_success() {
            let body = std::mem::replace(response.body_mut(), SdkBody::taken());
            *response.body_mut() = SdkBody::from_body_1_x(TrimmedBody {
                inner: body,
                read: BytesMut::new(),
                done: false,
            });
        }
        Ok(())
    }
}

/// The answer's body, read whole and handed on trimmed, in one frame.
struct TrimmedBody {
    inner: SdkBody,
    read: BytesMut,
    done: bool,
}

impl Body for TrimmedBody {
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
                    let body = trim_ids(&read).map_or(read, Bytes::from);
                    return Poll::Ready(Some(Ok(Frame::data(body))));
                }
            }
        }
    }
}

/// `body` without the members named in [`DROPPED_KEYS`] and without insignificant
/// whitespace; `None` if it is not JSON this re-emitter understands.
pub fn trim_ids(body: &[u8]) -> Option<Vec<u8>> {
    let mut trim = Trim {
        src: body,
        pos: 0,
        out: Vec::with_capacity(body.len() / 8 + 64),
    };
    trim.value(0, true)?;
    trim.skip_ws();
    (trim.pos == body.len()).then_some(trim.out)
}

struct Trim<'a> {
    src: &'a [u8],
    pos: usize,
    out: Vec<u8>,
}

impl<'a> Trim<'a> {
    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_ws();
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    /// One JSON value, copied to `out` when `emit`.
    fn value(&mut self, depth: usize, emit: bool) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip_ws();
        match self.peek()? {
            b'{' => self.object(depth, emit),
            b'[' => self.array(depth, emit),
            b'"' => self.string(emit).map(|_| ()),
            _ => self.scalar(emit),
        }
    }

    fn object(&mut self, depth: usize, emit: bool) -> Option<()> {
        self.pos += 1;
        if emit {
            self.out.push(b'{');
        }
        self.skip_ws();
        if self.peek()? == b'}' {
            self.pos += 1;
            if emit {
                self.out.push(b'}');
            }
            return Some(());
        }
        let mut first = true;
        loop {
            self.skip_ws();
            let key = self.string(false)?;
            let keep = !DROPPED_KEYS.contains(&key);
            self.expect(b':')?;
            if emit && keep {
                if !first {
                    self.out.push(b',');
                }
                self.out.extend_from_slice(key);
                self.out.push(b':');
                first = false;
            }
            self.value(depth + 1, emit && keep)?;
            self.skip_ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    if emit {
                        self.out.push(b'}');
                    }
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self, depth: usize, emit: bool) -> Option<()> {
        self.pos += 1;
        if emit {
            self.out.push(b'[');
        }
        self.skip_ws();
        if self.peek()? == b']' {
            self.pos += 1;
            if emit {
                self.out.push(b']');
            }
            return Some(());
        }
        loop {
            self.value(depth + 1, emit)?;
            self.skip_ws();
            match self.peek()? {
                b',' => {
                    self.pos += 1;
                    if emit {
                        self.out.push(b',');
                    }
                }
                b']' => {
                    self.pos += 1;
                    if emit {
                        self.out.push(b']');
                    }
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A string, quotes included; returns its source bytes (escapes untouched).
    fn string(&mut self, emit: bool) -> Option<&'a [u8]> {
        let start = self.pos;
        if self.peek()? != b'"' {
            return None;
        }
        let mut i = start + 1;
        loop {
            i += memchr::memchr2(b'"', b'\\', self.src.get(i..)?)?;
            if self.src[i] == b'\\' {
                i += 2; // the escaped byte cannot end the string
                continue;
            }
            break;
        }
        self.pos = i + 1;
        let src: &'a [u8] = self.src;
        let raw = src.get(start..self.pos)?;
        if emit {
            self.out.extend_from_slice(raw);
        }
        Some(raw)
    }

    /// A number, `true`, `false` or `null`: bytes up to the next delimiter, checked only
    /// for being one of those shapes (the SDK parses them).
    fn scalar(&mut self, emit: bool) -> Option<()> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            self.pos += 1;
        }
        let raw = &self.src[start..self.pos];
        let number = raw
            .iter()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
        let literal = matches!(raw, b"true" | b"false" | b"null");
        if raw.is_empty() || !(number || literal) {
            return None;
        }
        if emit {
            self.out.extend_from_slice(raw);
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trimmed(s: &str) -> Option<String> {
        trim_ids(s.as_bytes()).map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn firehose_answers_lose_their_record_ids_only() {
        let body = r#"{"Encoding":"None","FailedPutCount":1,"RequestResponses":[{"RecordId":"abc\"def"},{"ErrorCode":"ServiceUnavailableException","ErrorMessage":"Slow down."},{"RecordId":"x"}]}"#;
        assert_eq!(
            trimmed(body).unwrap(),
            r#"{"Encoding":"None","FailedPutCount":1,"RequestResponses":[{},{"ErrorCode":"ServiceUnavailableException","ErrorMessage":"Slow down."},{}]}"#
        );
    }

    #[test]
    fn kinesis_answers_lose_sequence_numbers_and_shards_whatever_the_order_and_spacing() {
        let body = "{ \"FailedRecordCount\": 1,\n \"Records\": [ {\"SequenceNumber\": \"4959\", \"ShardId\": \"shardId-0\"},\n {\"ErrorCode\": \"ProvisionedThroughputExceededException\", \"ShardId\": \"s\", \"ErrorMessage\": \"m\"} ], \"EncryptionType\": \"NONE\" }";
        assert_eq!(
            trimmed(body).unwrap(),
            r#"{"FailedRecordCount":1,"Records":[{},{"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"m"}],"EncryptionType":"NONE"}"#
        );
    }

    #[test]
    fn scalars_and_empty_containers_survive() {
        assert_eq!(
            trimmed(r#"{"a":[],"b":{},"c":-1.5e3,"d":true,"e":null,"f":[1,2]}"#).unwrap(),
            r#"{"a":[],"b":{},"c":-1.5e3,"d":true,"e":null,"f":[1,2]}"#
        );
    }

    #[test]
    fn what_it_does_not_understand_is_left_alone() {
        for bad in [
            "",
            "{",
            r#"{"RecordId":"unterminated}"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{"a":nope}"#,
            r#"{"a":1} trailing"#,
            r#"[1 2]"#,
            "\"\\",
        ] {
            assert_eq!(trimmed(bad), None, "{bad:?}");
        }
        let deep = "[".repeat(MAX_DEPTH + 2) + &"]".repeat(MAX_DEPTH + 2);
        assert_eq!(trimmed(&deep), None);
    }

    /// Random valid JSON, with the dropped keys among the member names.
    fn random_json(state: &mut u64, depth: usize) -> serde_json::Value {
        use serde_json::Value;
        fn next(state: &mut u64) -> u64 {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            *state
        }
        let keys = [
            "RecordId",
            "SequenceNumber",
            "ShardId",
            "ErrorCode",
            "a",
            "b\\\"q",
        ];
        match next(state) % if depth > 3 { 4 } else { 6 } {
            0 => Value::from(next(state) % 1000),
            1 => Value::from(format!("s{}\\\"", next(state) % 7)),
            2 => Value::Bool(next(state) % 2 == 0),
            3 => Value::Null,
            4 => Value::Array(
                (0..next(state) % 4)
                    .map(|_| random_json(state, depth + 1))
                    .collect(),
            ),
            _ => {
                let n = next(state) % 4;
                let mut map = serde_json::Map::new();
                for _ in 0..n {
                    let key = keys[(next(state) % keys.len() as u64) as usize].to_owned();
                    map.insert(key, random_json(state, depth + 1));
                }
                Value::Object(map)
            }
        }
    }

    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                map.retain(|k, _| !["RecordId", "SequenceNumber", "ShardId"].contains(&k.as_str()));
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }

    #[test]
    fn valid_json_comes_out_as_the_same_json_without_the_ids() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..5_000 {
            let value = random_json(&mut state, 0);
            let text = if i % 2 == 0 {
                serde_json::to_vec(&value).unwrap()
            } else {
                serde_json::to_vec_pretty(&value).unwrap()
            };
            let out = trim_ids(&text).unwrap_or_else(|| panic!("{value}"));
            let mut expected = value.clone();
            strip(&mut expected);
            let got: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let alphabet = b"{}[]\",:\\ 0123456789truefalsenullRecordIdShardId";
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 40) as usize;
            let input: Vec<u8> = (0..len)
                .map(|i| alphabet[((state >> (i % 50)) as usize + i * 7) % alphabet.len()])
                .collect();
            let _ = trim_ids(&input);
        }
    }
}
