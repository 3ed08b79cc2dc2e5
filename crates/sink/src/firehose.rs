//! [`PutClient`] over `aws_sdk_firehose::Client`: one PutRecordBatch per batch.
//!
//! The request body is encoded here, base64 written straight into one buffer of its
//! size, and the usual answer (every record accepted) read here too (`wire`); the SDK
//! signs, sends, times out and decodes errors and partial failures.
//!
//! SDK retries are switched off here whatever the caller configured: the SDK would
//! re-send a whole batch after a timeout or a throttle, duplicating records the service
//! had accepted; the sink retries exactly the failed records itself.

use aws_sdk_firehose::config::retry::RetryConfig;
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;

use crate::client::{DestinationLimits, PutClient, PutError, PutFuture, RecordResult};
use crate::sdk::{construction_failure, map_sdk_error};
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
        let config = client
            .config()
            .to_builder()
            .retry_config(RetryConfig::disabled())
            .build();
        FirehoseClient {
            client: aws_sdk_firehose::Client::from_conf(config),
        }
    }

    /// The underlying SDK client (retries disabled).
    pub fn sdk(&self) -> &aws_sdk_firehose::Client {
        &self.client
    }

    async fn put(
        &self,
        stream: &str,
        records: &[OutRecord],
    ) -> Result<Vec<RecordResult>, PutError> {
        let (call, verdict) = HandEncoded::new(
            wire::put_record_batch_body(stream, records),
            Answer::Firehose,
        );
        let output = self
            .client
            .put_record_batch()
            .delivery_stream_name(stream)
            // A placeholder: `call` puts the real records in before the request is signed.
            .records(placeholder()?)
            .customize()
            .interceptor(call)
            .send()
            .await
            .map_err(map_sdk_error)?;
        Ok(verdict.outcomes(output.request_responses()))
    }
}

fn placeholder() -> Result<Record, PutError> {
    Record::builder()
        .data(Blob::new(Vec::new()))
        .build()
        .map_err(construction_failure)
}

impl PutClient for FirehoseClient {
    fn put_batch<'a>(&'a self, stream: &'a str, records: &'a [OutRecord]) -> PutFuture<'a> {
        Box::pin(self.put(stream, records))
    }

    fn limits(&self) -> &'static DestinationLimits {
        &firetail_agent::limits::FIREHOSE
    }
}
