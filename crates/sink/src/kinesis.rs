//! Kinesis Data Streams over `aws_sdk_kinesis::Client`: one PutRecords per batch.
//!
//! As for Firehose, the body is encoded and the usual answer read here (`wire`), and the
//! SDK's retries are off. A stream given as an ARN is sent as `StreamARN`, a name as
//! `StreamName`.

use std::borrow::Cow;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;

use crate::client::{DestinationLimits, PutError};
use crate::sdk::{construction_failure, map_sdk_error, without_sdk_retries};
use crate::sdk::{PutResult, SdkDestination};
use crate::trim::Answer;
use crate::wire::{self, HandEncoded};
use crate::OutRecord;
use firetail_agent::partition::PartitionKeyOption;

/// Sends to Kinesis Data Streams.
#[derive(Clone, Debug)]
pub struct KinesisClient {
    client: aws_sdk_kinesis::Client,
}

impl KinesisClient {
    /// Wraps a client, keeping its configuration but with the SDK's retries disabled.
    pub fn new(client: &aws_sdk_kinesis::Client) -> Self {
        let client = without_sdk_retries!(aws_sdk_kinesis, client);
        KinesisClient { client }
    }
}

impl SdkDestination for KinesisClient {
    const LIMITS: &'static DestinationLimits = &firetail_agent::limits::KINESIS;

    async fn put(&self, stream: &str, records: &[OutRecord]) -> PutResult {
        let body = wire::put_records_body(stream, records, |record| {
            // The process stage always sets a key; a record without one still must not
            // fail the whole request.
            match &record.partition_key {
                Some(key) => Cow::Borrowed(key.as_str()),
                None => Cow::Owned(PartitionKeyOption::Random.key_for(&record.data).into()),
            }
        });
        let (call, verdict) = HandEncoded::new(body, Answer::Kinesis);
        // A placeholder input: `call` puts the real records in before the request is
        // signed. The stream is named in both, so the SDK resolves the same endpoint.
        let request = self.client.put_records().records(placeholder()?);
        let request = if stream.starts_with("arn:") {
            request.stream_arn(stream)
        } else {
            request.stream_name(stream)
        };
        let answer = request.customize().interceptor(call).send().await;
        Ok(verdict.outcomes(answer.map_err(map_sdk_error)?.records()))
    }
}

fn placeholder() -> Result<PutRecordsRequestEntry, PutError> {
    let empty = PutRecordsRequestEntry::builder().data(Blob::new(Vec::new()));
    empty
        .partition_key("placeholder")
        .build()
        .map_err(construction_failure)
}
