//! [`PutClient`] over `aws_sdk_firehose::Client`: one PutRecordBatch per batch.
//!
//! Record data is handed to the SDK without copying (`Blob::from_maybe_shared` keeps the
//! `Bytes`); the SDK then base64-encodes it into the JSON body, which is the one copy a
//! request costs.
//!
//! SDK retries are switched off here whatever the caller configured: the SDK would
//! re-send a whole batch after a timeout or a throttle, duplicating records the service
//! had accepted; the sink retries exactly the failed records itself.

use aws_sdk_firehose::config::retry::RetryConfig;
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;

use crate::client::{DestinationKind, PutClient, PutError, PutFuture, RecordResult};
use crate::sdk::map_sdk_error;
use crate::trim::TrimIds;
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
            .interceptor(TrimIds)
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
        let entries = records
            .iter()
            .map(|record| {
                Record::builder()
                    .data(Blob::from_maybe_shared(record.data.clone()))
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| PutError::Permanent {
                code: "ConstructionFailure".into(),
                message: err.to_string(),
            })?;
        let output = self
            .client
            .put_record_batch()
            .delivery_stream_name(stream)
            .set_records(Some(entries))
            .send()
            .await
            .map_err(map_sdk_error)?;
        Ok(output
            .request_responses()
            .iter()
            .map(|entry| match entry.error_code() {
                None => RecordResult::Ok,
                Some(code) => RecordResult::Failed {
                    code: code.to_owned(),
                    message: entry.error_message().unwrap_or_default().to_owned(),
                },
            })
            .collect())
    }
}

impl PutClient for FirehoseClient {
    fn put_batch<'a>(&'a self, stream: &'a str, records: &'a [OutRecord]) -> PutFuture<'a> {
        Box::pin(self.put(stream, records))
    }

    fn kind(&self) -> DestinationKind {
        DestinationKind::Firehose
    }
}
