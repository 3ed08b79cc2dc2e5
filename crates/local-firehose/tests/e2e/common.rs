//! Shared helpers: start a server in a temp dir, build an SDK client with retries disabled.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_firehose::config::retry::RetryConfig;
use aws_sdk_firehose::config::timeout::TimeoutConfig;
use aws_sdk_firehose::config::{BehaviorVersion, Region};
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::{
    BufferingHints, CompressionFormat, ExtendedS3DestinationConfiguration, Record,
};
use aws_sdk_firehose::Client;
use firetail_local_firehose::{start, Options, Server};
use tempfile::TempDir;

pub struct Harness {
    pub server: Server,
    pub client: Client,
    pub dir: TempDir,
}

impl Harness {
    /// One PutRecordBatch of `records` to `stream`, as the SDK sends it.
    pub async fn put_batch(
        &self,
        stream: &str,
        records: Vec<Record>,
    ) -> Result<
        aws_sdk_firehose::operation::put_record_batch::PutRecordBatchOutput,
        aws_sdk_firehose::error::SdkError<
            aws_sdk_firehose::operation::put_record_batch::PutRecordBatchError,
            aws_sdk_firehose::config::http::HttpResponse,
        >,
    > {
        self.client
            .put_record_batch()
            .delivery_stream_name(stream)
            .set_records(Some(records))
            .send()
            .await
    }
}

pub async fn harness(opts: Options) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options {
        dir: dir.path().to_path_buf(),
        ..opts
    })
    .await
    .unwrap();
    let client = client(&server.endpoint_url());
    Harness {
        server,
        client,
        dir,
    }
}

pub fn client(endpoint: &str) -> Client {
    let config = aws_sdk_firehose::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("AKIDLOCAL", "secret", None, None, "test"))
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(20))
                .build(),
        )
        .build();
    Client::from_conf(config)
}

/// Creates an ExtendedS3 stream with the given buffering and compression.
pub async fn create_stream(
    client: &Client,
    name: &str,
    prefix: &str,
    size_mib: i32,
    interval_s: i32,
    compression: CompressionFormat,
) {
    let dest = ExtendedS3DestinationConfiguration::builder()
        .role_arn("arn:aws:iam::000000000000:role/firehose")
        .bucket_arn("arn:aws:s3:::test-bucket")
        .prefix(prefix)
        .buffering_hints(
            BufferingHints::builder()
                .size_in_mbs(size_mib)
                .interval_in_seconds(interval_s)
                .build(),
        )
        .compression_format(compression)
        .build()
        .unwrap();
    client
        .create_delivery_stream()
        .delivery_stream_name(name)
        .extended_s3_destination_configuration(dest)
        .send()
        .await
        .unwrap();
}

pub fn record(data: impl Into<Vec<u8>>) -> Record {
    Record::builder().data(Blob::new(data)).build().unwrap()
}

pub fn records(n: usize, f: impl Fn(usize) -> Vec<u8>) -> Vec<Record> {
    (0..n).map(|i| record(f(i))).collect()
}

pub fn line(i: usize) -> Vec<u8> {
    format!("line {i}\n").into_bytes()
}

/// Every object file under `dir` (temporary files excluded), sorted.
pub fn objects(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if !path.file_name().unwrap().to_string_lossy().starts_with('.') {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Polls until at least `n` objects exist (the flusher runs in the background).
pub async fn wait_for_objects(dir: &Path, n: usize) -> Vec<PathBuf> {
    for _ in 0..200 {
        let found = objects(dir);
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} objects appeared under {}", dir.display());
}
