//! [`PutClient`] over `aws_sdk_kinesis::Client`: one PutRecords per batch.
//!
//! As for Firehose, the body is encoded and the usual answer read here (`wire`), and SDK
//! retries are disabled. A
//! stream given as an ARN is sent as `StreamARN`, a name as `StreamName`.

use std::borrow::Cow;

use aws_sdk_kinesis::config::retry::RetryConfig;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;

use crate::client::{DestinationLimits, PutClient, PutError, PutFuture, RecordResult};
use crate::sdk::{construction_failure, map_sdk_error};
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
        let config = client
            .config()
            .to_builder()
            .retry_config(RetryConfig::disabled())
            .build();
        KinesisClient {
            client: aws_sdk_kinesis::Client::from_conf(config),
        }
    }

    /// The underlying SDK client (retries disabled).
    pub fn sdk(&self) -> &aws_sdk_kinesis::Client {
        &self.client
    }

    async fn put(
        &self,
        stream: &str,
        records: &[OutRecord],
    ) -> Result<Vec<RecordResult>, PutError> {
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
        let output = request
            .customize()
            .interceptor(call)
            .send()
            .await
            .map_err(map_sdk_error)?;
        Ok(verdict.outcomes(output.records()))
    }
}

fn placeholder() -> Result<PutRecordsRequestEntry, PutError> {
    PutRecordsRequestEntry::builder()
        .data(Blob::new(Vec::new()))
        .partition_key("placeholder")
        .build()
        .map_err(construction_failure)
}

impl PutClient for KinesisClient {
    fn put_batch<'a>(&'a self, stream: &'a str, records: &'a [OutRecord]) -> PutFuture<'a> {
        Box::pin(self.put(stream, records))
    }

    fn limits(&self) -> &'static DestinationLimits {
        &firetail_agent::limits::KINESIS
    }
}
