//! The data-plane answers, read without decoding what firetail never uses.
//!
//! A PutRecordBatch answer carries a `RecordId` of about 220 characters per record, a
//! PutRecords answer a `SequenceNumber` and a `ShardId`: 100-120 KB per 500-record call,
//! which the SDK decodes into one `String` each (15 % of the daemon's CPU). The sink only
//! needs each entry's position and error code. [`all_accepted`] recognises the usual
//! answer, every record accepted, by a few searches; any other answer goes through a
//! small JSON re-emitter ([`trim_ids`]) that drops the ids and keeps the rest for the
//! SDK to decode. Anything the re-emitter does not understand (malformed JSON, nesting
//! deeper than any answer has) is left untouched, so the SDK decides exactly as it would
//! have without it. `wire::HandEncoded` applies both to each data-plane answer.

/// Members removed wherever they appear (only data-plane answers are trimmed).
const DROPPED_KEYS: [&[u8]; 3] = [b"\"RecordId\"", b"\"SequenceNumber\"", b"\"ShardId\""];

/// Deeper than any data-plane answer (3 levels); deeper input is left alone.
const MAX_DEPTH: usize = 16;

/// Which data-plane answer a body is: the caller knows the operation it called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// PutRecordBatch: `FailedPutCount`, `RequestResponses`, a `RecordId` per entry.
    Firehose,
    /// PutRecords: `FailedRecordCount`, `Records`, a `SequenceNumber` per entry.
    Kinesis,
}

impl Answer {
    /// (failed count, list of entries, id every accepted entry carries): member names
    /// with their quotes.
    fn keys(self) -> (&'static [u8], &'static [u8], &'static [u8]) {
        match self {
            Answer::Firehose => (
                b"\"FailedPutCount\"",
                b"\"RequestResponses\"",
                b"\"RecordId\"",
            ),
            Answer::Kinesis => (
                b"\"FailedRecordCount\"",
                b"\"Records\"",
                b"\"SequenceNumber\"",
            ),
        }
    }
}

/// The usual answer, every record accepted: its entry count and the same answer with
/// an empty list of entries. `None` unless the failed count is 0, no entry carries an
/// error code, and the entries counted two ways (objects in the answer, id keys) agree.
/// A few searches over the body instead of tokenizing it: the common case costs almost
/// nothing, and anything unexpected takes the careful path ([`trim_ids`]).
///
/// `shape` is the operation called: guessing it by searching for each operation's
/// failed-count key scanned a whole Kinesis answer for Firehose's key first.
pub fn all_accepted(body: &[u8], shape: Answer) -> Option<(usize, Vec<u8>)> {
    use memchr::memmem;
    let (failed_key, list_key, id_key) = shape.keys();
    let at = memmem::find(body, failed_key)? + failed_key.len();
    // `:0`, whitespace allowed around the colon, and no digit after the 0 (`:05`, `:01`
    // are not zero); without collecting the bytes (an allocation per call).
    let mut after = body[at..].iter().filter(|b| !b.is_ascii_whitespace());
    if after.next() != Some(&b':') || after.next() != Some(&b'0') {
        return None;
    }
    if after.next().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    if memmem::find(body, b"\"ErrorCode\"").is_some() || memmem::find(body, list_key).is_none() {
        return None;
    }
    let entries = memmem::find_iter(body, id_key).count();
    let objects = memchr::memchr_iter(b'{', body).count();
    if objects != entries + 1 || body.iter().rev().find(|b| !b.is_ascii_whitespace()) != Some(&b'}')
    {
        return None;
    }
    let mut out = Vec::with_capacity(failed_key.len() + list_key.len() + 8);
    out.push(b'{');
    out.extend_from_slice(failed_key);
    out.extend_from_slice(b":0,");
    out.extend_from_slice(list_key);
    out.extend_from_slice(b":[]}");
    Some((entries, out))
}

/// `body` without the members named in `DROPPED_KEYS` and without insignificant
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
    fn a_clean_answer_is_counted_and_emptied() {
        let firehose = r#"{"Encoding":"None","FailedPutCount": 0,"RequestResponses":[{"RecordId":"a"},{"RecordId":"b"}]}"#;
        let (n, body) = all_accepted(firehose.as_bytes(), Answer::Firehose).unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"FailedPutCount":0,"RequestResponses":[]}"#
        );
        for kinesis in [
            r#"{"FailedRecordCount":0,"Records":[{"SequenceNumber":"1","ShardId":"s"}],"EncryptionType":"NONE"}"#,
            r#"{"EncryptionType":"NONE","FailedRecordCount":0,"Records":[{"SequenceNumber":"1","ShardId":"s"}]}"#,
            "{ \"FailedRecordCount\" :\n 0 , \"Records\": [ {\"SequenceNumber\": \"1\"} ] }\n",
        ] {
            let (n, body) = all_accepted(kinesis.as_bytes(), Answer::Kinesis).unwrap();
            assert_eq!(n, 1);
            assert_eq!(
                String::from_utf8(body).unwrap(),
                r#"{"FailedRecordCount":0,"Records":[]}"#
            );
        }
        // Anything else goes the careful way.
        for other in [
            r#"{"FailedPutCount":1,"RequestResponses":[{"RecordId":"a"},{"ErrorCode":"X","ErrorMessage":"m"}]}"#,
            r#"{"FailedPutCount":0,"RequestResponses":[{"RecordId":"a"},{"ErrorCode":"X"}]}"#,
            r#"{"FailedPutCount":0,"RequestResponses":[{"RecordId":"a"},{}]}"#,
            r#"{"FailedPutCount":0,"RequestResponses":[{"RecordId":{"x":1}}]}"#,
            r#"{"FailedPutCount":05,"RequestResponses":[{"RecordId":"a"}]}"#,
            r#"{"FailedPutCount":0,"RequestResponses":[{"RecordId":"a"}]"#,
            r#"{"FailedPutCount":0}"#,
            r#"{"Something":0}"#,
            // The other operation's answer.
            r#"{"FailedRecordCount":0,"Records":[{"SequenceNumber":"1","ShardId":"s"}]}"#,
        ] {
            assert_eq!(
                all_accepted(other.as_bytes(), Answer::Firehose),
                None,
                "{other}"
            );
        }
    }

    #[test]
    fn a_kinesis_answer_with_failures_is_never_taken_for_all_accepted() {
        for failed in [
            // What the service sends for a partial failure.
            r#"{"FailedRecordCount":1,"Records":[{"SequenceNumber":"1","ShardId":"s"},{"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded"}],"EncryptionType":"NONE"}"#,
            r#"{"EncryptionType":"NONE","FailedRecordCount":2,"Records":[{"ErrorCode":"InternalFailure","ErrorMessage":"m"},{"ErrorCode":"InternalFailure","ErrorMessage":"m"}]}"#,
            // A count that only starts with 0 or is not 0, however spaced.
            r#"{"FailedRecordCount":10,"Records":[{"SequenceNumber":"1"}]}"#,
            r#"{"FailedRecordCount":01,"Records":[{"SequenceNumber":"1"}]}"#,
            "{\"FailedRecordCount\": 1 ,\"Records\":[{\"SequenceNumber\":\"1\"}]}",
            r#"{"FailedRecordCount":-0,"Records":[{"SequenceNumber":"1"}]}"#,
            r#"{"FailedRecordCount":null,"Records":[{"SequenceNumber":"1"}]}"#,
            // A count of 0 that the entries contradict.
            r#"{"FailedRecordCount":0,"Records":[{"SequenceNumber":"1"},{"ErrorCode":"InternalFailure","ErrorMessage":"m"}]}"#,
            r#"{"FailedRecordCount":0,"Records":[{"SequenceNumber":"1"},{}]}"#,
            // No count, no entries, or Firehose's shape.
            r#"{"Records":[{"SequenceNumber":"1"}]}"#,
            r#"{"FailedRecordCount":0}"#,
            r#"{"FailedPutCount":0,"RequestResponses":[{"RecordId":"a"}]}"#,
        ] {
            assert_eq!(
                all_accepted(failed.as_bytes(), Answer::Kinesis),
                None,
                "{failed}"
            );
        }
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
