//! [`PutClient`] over `aws_sdk_kinesis::Client`: one PutRecords per batch.
//!
//! As for Firehose, data is passed without copying and SDK retries are disabled. A
//! stream given as an ARN is sent as `StreamARN`, a name as `StreamName`.

use aws_sdk_kinesis::config::retry::RetryConfig;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;

use crate::client::{DestinationKind, PutClient, PutError, PutFuture, RecordResult};
use crate::partition::PartitionKeyPolicy;
use crate::sdk::map_sdk_error;
use crate::trim::TrimIds;
use crate::OutRecord;

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
            .interceptor(TrimIds)
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
        let entries = records
            .iter()
            .map(|record| {
                // The sink always sets a key; a record without one still must not fail
                // the whole request.
                let key = record
                    .partition_key
                    .clone()
                    .unwrap_or_else(|| PartitionKeyPolicy::Random.key_for(&record.data));
                PutRecordsRequestEntry::builder()
                    .data(Blob::from_maybe_shared(record.data.clone()))
                    .partition_key(key)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| PutError::Permanent {
                code: "ConstructionFailure".into(),
                message: err.to_string(),
            })?;
        let request = self.client.put_records().set_records(Some(entries));
        let request = if stream.starts_with("arn:") {
            request.stream_arn(stream)
        } else {
            request.stream_name(stream)
        };
        let output = request.send().await.map_err(map_sdk_error)?;
        Ok(output
            .records()
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

impl PutClient for KinesisClient {
    fn put_batch<'a>(&'a self, stream: &'a str, records: &'a [OutRecord]) -> PutFuture<'a> {
        Box::pin(self.put(stream, records))
    }

    fn kind(&self) -> DestinationKind {
        DestinationKind::Kinesis
    }
}
