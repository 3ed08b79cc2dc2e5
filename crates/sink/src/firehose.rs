//! Kinesis Data Firehose over `aws_sdk_firehose::Client`: one PutRecordBatch per batch.
//!
//! The request body is encoded here, base64 written straight into one buffer of its
//! size, and the usual answer (every record accepted) read here too (`wire`); the SDK
//! signs, sends, times out and decodes errors and partial failures. The SDK's own
//! retries are off (see `sdk`).

use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;

use crate::client::{DestinationLimits, PutError};
use crate::sdk::{construction_failure, map_sdk_error, without_sdk_retries};
use crate::sdk::{PutResult, SdkDestination};
use crate::trim::Answer;
use crate::wire::{self, HandEncoded};
use crate::OutRecord;

/// Sends to Kinesis Data Firehose.
#[derive(Clone, Debug)]
pub struct FirehoseClient {
    client: aws_sdk_firehose::Client,
}

impl FirehoseClient {
    /// Wraps a client, keeping its credentials, region, endpoint, HTTP client and
    /// timeouts, but with the SDK's own retries disabled.
    pub fn new(client: &aws_sdk_firehose::Client) -> Self {
        let client = without_sdk_retries!(aws_sdk_firehose, client);
        FirehoseClient { client }
    }
}

impl SdkDestination for FirehoseClient {
    const LIMITS: &'static DestinationLimits = &firetail_agent::limits::FIREHOSE;

    async fn put(&self, stream: &str, records: &[OutRecord]) -> PutResult {
        let body = wire::put_record_batch_body(stream, records);
        let (call, verdict) = HandEncoded::new(body, Answer::Firehose);
        let request = self.client.put_record_batch().delivery_stream_name(stream);
        // A placeholder: `call` puts the real records in before the request is signed.
        let request = request.records(placeholder()?);
        let answer = request.customize().interceptor(call).send().await;
        Ok(verdict.outcomes(answer.map_err(map_sdk_error)?.request_responses()))
    }
}

fn placeholder() -> Result<Record, PutError> {
    let empty = Record::builder().data(Blob::new(Vec::new()));
    empty.build().map_err(construction_failure)
}
