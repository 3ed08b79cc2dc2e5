//! local-firehose: a sequence of requests (target header, `Authorization`, body) through
//! `firetail_local_firehose::fuzzing::Endpoint`, the production routing and parsers.
//!
//! Input: byte 0 bit 0 = `--auto-create`; then requests, each a control byte followed by
//! the body up to `\0\0\0` (or the end). Control byte: low 3 bits pick the operation
//! (0–5), no `X-Amz-Target` (6), or a raw target taken from the body's first line (7);
//! bit 3 = send `Authorization`.
//!
//! Properties: no panic; every error is an AWS JSON error (known `__type`, 4xx status, body
//! `{"__type","message"}` that parses back); no target / no auth give the right error; a
//! body that is not JSON is a SerializationException; an accepted put respects the service
//! limits and its records are exactly the base64-decoded `Data` values of the body; the
//! stream table behaves like a set (create refuses duplicates, describe/delete find exactly
//! the created or auto-created streams, list pages are sorted and existing).

use std::collections::BTreeSet;

use base64::Engine as _;
use firetail_local_firehose::api::{validate_stream_name, ApiError, TARGET_PREFIX};
use firetail_local_firehose::batch::{MAX_BATCH_BYTES, MAX_RECORDS_PER_BATCH, MAX_RECORD_BYTES};
use firetail_local_firehose::fuzzing::{Answer, Endpoint};
use firetail_local_firehose::kinesis;
use serde_json::Value;

const OPS: [&str; 6] = [
    "CreateDeliveryStream",
    "DescribeDeliveryStream",
    "ListDeliveryStreams",
    "DeleteDeliveryStream",
    "PutRecord",
    "PutRecordBatch",
];

const ERROR_CODES: [&str; 7] = [
    "ValidationException",
    "InvalidArgumentException",
    "SerializationException",
    "ResourceNotFoundException",
    "ResourceInUseException",
    "UnknownOperationException",
    "MissingAuthenticationTokenException",
];

/// The one Kinesis Data Streams operation the endpoint answers (reached by a raw target).
const KINESIS_PUT_RECORDS: &str = "Kinesis_20131202.PutRecords";

/// PutRecords: errors are AWS JSON errors, and an accepted call respects Kinesis's limits.
fn check_kinesis(authorized: bool, result: &Result<Answer, ApiError>) {
    match result {
        Err(e) => {
            check_error(e);
            if !authorized {
                assert_eq!(e.code, "MissingAuthenticationTokenException");
            }
        }
        Ok(Answer::Put { records, .. }) => {
            assert!(authorized, "PutRecords accepted without Authorization");
            assert!((1..=kinesis::MAX_RECORDS_PER_CALL).contains(&records.len()));
            assert!(records.iter().all(|r| r.len() < kinesis::MAX_RECORD_BYTES));
            let total: usize = records.iter().map(Vec::len).sum();
            assert!(total < kinesis::MAX_CALL_BYTES, "{total} bytes accepted");
        }
        Ok(answer) => panic!("PutRecords answered like a control call: {answer:?}"),
    }
}

fn check_error(e: &ApiError) {
    assert!(ERROR_CODES.contains(&e.code), "unexpected error type {e:?}");
    assert!((400..500).contains(&e.status), "{e:?}");
    assert!(!e.message.is_empty(), "{e:?}");
    let body: Value = serde_json::from_slice(&e.body()).expect("error body is JSON");
    assert_eq!(body["__type"], e.code);
    assert_eq!(body["message"], e.message.as_str());
}

/// The body's JSON, when it is UTF-8 JSON (`Err(())` when it is UTF-8 but not JSON).
fn reference_json(body: &[u8]) -> Option<Result<Value, ()>> {
    let text = std::str::from_utf8(body).ok()?;
    Some(serde_json::from_str(text).map_err(|_| ()))
}

fn name_of(v: &Value) -> Option<&str> {
    v.get("DeliveryStreamName")?.as_str()
}

pub fn check(data: &[u8]) {
    let Some((flags, mut rest)) = data.split_first() else {
        return;
    };
    let auto_create = flags & 1 != 0;
    let mut endpoint = Endpoint::new(auto_create);
    // The streams that exist, while the model can follow (UTF-8 JSON bodies only).
    let mut model: Option<BTreeSet<String>> = Some(BTreeSet::new());
    for _ in 0..8 {
        let Some((control, tail)) = rest.split_first() else {
            break;
        };
        let (mut body, next) = match memchr::memmem::find(tail, b"\0\0\0") {
            Some(i) => (&tail[..i], &tail[i + 3..]),
            None => (tail, &[][..]),
        };
        rest = next;
        let op = usize::from(control & 7);
        let named;
        let target: Option<&[u8]> = match op {
            0..=5 => {
                named = format!("{TARGET_PREFIX}{}", OPS[op]);
                Some(named.as_bytes())
            }
            6 => None,
            _ => {
                let (line, after) = match memchr::memchr(b'\n', body) {
                    Some(i) => (&body[..i], &body[i + 1..]),
                    None => (body, &[][..]),
                };
                body = after;
                Some(line)
            }
        };
        let authorized = control & 8 != 0;
        let routed = target
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(|t| t.strip_prefix(TARGET_PREFIX))
            .and_then(|name| OPS.iter().position(|o| *o == name));
        let result = endpoint.request(target, authorized, body);
        let reference = reference_json(body);

        if target == Some(KINESIS_PUT_RECORDS.as_bytes()) {
            check_kinesis(authorized, &result);
            continue;
        }
        let Some(op) = routed else {
            // Valid header text that is not one of our targets, or no usable header.
            match &result {
                Err(e) => assert_eq!(e.code, "UnknownOperationException", "{e:?}"),
                Ok(a) => panic!("unroutable request answered: {a:?}"),
            }
            check_error(result.as_ref().unwrap_err());
            continue;
        };
        if !authorized {
            let e = result.expect_err("no Authorization is refused");
            assert_eq!(e.code, "MissingAuthenticationTokenException");
            check_error(&e);
            continue;
        }
        if let Err(e) = &result {
            check_error(e);
            if matches!(reference, Some(Err(()))) {
                assert_eq!(e.code, "SerializationException", "non-JSON body: {e:?}");
            }
        } else if matches!(reference, Some(Err(()))) {
            panic!(
                "a body that is not JSON was accepted: {:?}",
                String::from_utf8_lossy(body)
            );
        }
        let value = match reference {
            Some(Ok(v)) => v,
            _ => {
                if result.is_ok() {
                    // Accepted, but the model cannot tell what it changed.
                    model = None;
                }
                continue;
            }
        };
        match (OPS[op], result) {
            ("CreateDeliveryStream", Ok(Answer::Json(answer))) => {
                let name = name_of(&value)
                    .expect("created streams are named")
                    .to_owned();
                let answer: Value = serde_json::from_slice(&answer).unwrap();
                let arn = answer["DeliveryStreamARN"].as_str().unwrap();
                assert!(arn.ends_with(&format!(":deliverystream/{name}")), "{arn}");
                if let Some(m) = &mut model {
                    assert!(m.insert(name), "create of an existing stream succeeded");
                }
            }
            ("CreateDeliveryStream", Err(e)) if e.code == "ResourceInUseException" => {
                if let (Some(m), Some(name)) = (&model, name_of(&value)) {
                    assert!(m.contains(name), "in use but never created: {name}");
                }
            }
            ("DescribeDeliveryStream", Ok(Answer::Json(answer))) => {
                let answer: Value = serde_json::from_slice(&answer).unwrap();
                let name = name_of(&value).unwrap();
                assert_eq!(
                    answer["DeliveryStreamDescription"]["DeliveryStreamName"],
                    name
                );
                if let Some(m) = &model {
                    assert!(m.contains(name), "described a stream never created: {name}");
                }
            }
            ("DescribeDeliveryStream" | "DeleteDeliveryStream", Err(e))
                if e.code == "ResourceNotFoundException" =>
            {
                if let (Some(m), Some(name)) = (&model, name_of(&value)) {
                    assert!(!m.contains(name), "existing stream not found: {name}");
                }
            }
            ("DeleteDeliveryStream", Ok(Answer::Json(_))) => {
                let name = name_of(&value).unwrap();
                if let Some(m) = &mut model {
                    assert!(m.remove(name), "deleted a stream never created: {name}");
                }
            }
            ("ListDeliveryStreams", Ok(Answer::Json(answer))) => {
                let answer: Value = serde_json::from_slice(&answer).unwrap();
                let names: Vec<&str> = answer["DeliveryStreamNames"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n.as_str().unwrap())
                    .collect();
                assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted: {names:?}");
                assert!(answer["HasMoreDeliveryStreams"].is_boolean());
                if let Some(m) = &model {
                    assert!(names.iter().all(|n| m.contains(*n)), "{names:?} vs {m:?}");
                }
            }
            (put @ ("PutRecord" | "PutRecordBatch"), Ok(Answer::Put { stream, records })) => {
                check_put(put == "PutRecordBatch", &value, &stream, &records);
                if let Some(m) = &mut model {
                    if !m.contains(&stream) {
                        assert!(auto_create, "put to a missing stream without --auto-create");
                        m.insert(stream);
                    }
                }
            }
            ("PutRecord" | "PutRecordBatch", Err(e)) if e.code == "ResourceNotFoundException" => {
                assert!(!auto_create, "auto-create never answers not found");
                if let (Some(m), Some(name)) = (&model, name_of(&value)) {
                    assert!(
                        !m.contains(name),
                        "put to an existing stream not found: {name}"
                    );
                }
            }
            (_, Ok(answer)) if !OPS[op].starts_with("Put") => {
                assert!(matches!(answer, Answer::Json(_)), "{answer:?}");
            }
            (_, Ok(answer)) => panic!("put answered like a control call: {answer:?}"),
            (_, Err(_)) => {}
        }
    }
}

/// An accepted put: limits, and the records are the body's `Data`, base64-decoded.
fn check_put(batch: bool, body: &Value, stream: &str, records: &[Vec<u8>]) {
    assert!(
        validate_stream_name(stream).is_ok(),
        "accepted a bad name {stream:?}"
    );
    assert_eq!(name_of(body), Some(stream));
    let inputs: Vec<&Value> = if batch {
        body["Records"]
            .as_array()
            .expect("accepted batch has Records")
            .iter()
            .collect()
    } else {
        vec![&body["Record"]]
    };
    assert_eq!(inputs.len(), records.len());
    assert!((1..=MAX_RECORDS_PER_BATCH).contains(&records.len()));
    let mut total = 0;
    for (input, got) in inputs.iter().zip(records) {
        let data = input["Data"].as_str().expect("accepted Data is a string");
        let want = base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("accepted Data is base64");
        assert_eq!(&want, got);
        assert!(got.len() <= MAX_RECORD_BYTES);
        total += got.len();
    }
    if batch {
        assert!(total <= MAX_BATCH_BYTES);
    }
}
