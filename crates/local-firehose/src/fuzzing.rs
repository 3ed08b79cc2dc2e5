//! Entry point for `fuzz/` (not part of the API): one `POST /` request through the same
//! routing and parsing as `server::handle_api` and `server::dispatch` (`X-Amz-Target`,
//! `Authorization`, then the operation's body parser and the stream table), on an in-memory
//! stream table (and Kinesis data stream table), without the network, faults or delivery.

use hyper::header::HeaderValue;

use crate::api::{ApiError, Operation};
use crate::batch::{decode_put_record, decode_put_record_batch};
use crate::kinesis::{decode_put_records, KinesisStreams};
use crate::streams::Streams;

/// What a request that succeeded produced.
#[derive(Debug)]
pub enum Answer {
    /// A control-plane answer (the JSON body sent).
    Json(Vec<u8>),
    /// A put that passed every check: the stream and the decoded records.
    Put {
        stream: String,
        records: Vec<Vec<u8>>,
    },
}

/// A stream table plus the put path's reusable scratch buffer.
#[derive(Default)]
pub struct Endpoint {
    streams: Streams,
    kinesis: KinesisStreams,
    scratch: Vec<u8>,
    auto_create: bool,
}

impl Endpoint {
    /// An empty endpoint; `auto_create` as `--auto-create`.
    pub fn new(auto_create: bool) -> Self {
        Endpoint {
            auto_create,
            ..Endpoint::default()
        }
    }

    /// Handles one request: `target` is the raw `X-Amz-Target` header value (if sent),
    /// `authorization` whether an `Authorization` header was sent.
    pub fn request(
        &mut self,
        target: Option<&[u8]>,
        authorization: bool,
        body: &[u8],
    ) -> Result<Answer, ApiError> {
        let header = target.and_then(|t| HeaderValue::from_bytes(t).ok());
        let target = header.as_ref().and_then(|v| v.to_str().ok());
        let Some(op) = target.and_then(Operation::from_target) else {
            return Err(ApiError::unknown_operation(target));
        };
        if !authorization {
            return Err(ApiError::missing_authentication());
        }
        let value = match op {
            Operation::CreateDeliveryStream => self.streams.create(body)?,
            Operation::DescribeDeliveryStream => self.streams.describe(body)?,
            Operation::ListDeliveryStreams => self.streams.list(body)?,
            Operation::DeleteDeliveryStream => {
                self.streams.delete(body)?;
                serde_json::json!({})
            }
            Operation::PutRecord | Operation::PutRecordBatch => {
                let decoded = if op == Operation::PutRecord {
                    decode_put_record(body, &mut self.scratch)?
                } else {
                    decode_put_record_batch(body, &mut self.scratch)?
                };
                self.streams
                    .get_or_auto_create(&decoded.stream, self.auto_create)?;
                return Ok(put_answer(
                    decoded.stream.into_owned(),
                    &decoded.records,
                    &self.scratch,
                ));
            }
            Operation::PutRecords => {
                let decoded = decode_put_records(body, &mut self.scratch)?;
                self.kinesis
                    .get_or_auto_create(&decoded.stream, self.auto_create)?;
                return Ok(put_answer(
                    decoded.stream.into_owned(),
                    &decoded.records,
                    &self.scratch,
                ));
            }
        };
        Ok(Answer::Json(value.to_string().into_bytes()))
    }
}

/// A put's answer: the stream and each record's bytes (`records`: ranges of `scratch`).
fn put_answer(stream: String, records: &[std::ops::Range<usize>], scratch: &[u8]) -> Answer {
    Answer::Put {
        stream,
        records: records
            .iter()
            .map(|r| scratch[r.clone()].to_vec())
            .collect(),
    }
}
