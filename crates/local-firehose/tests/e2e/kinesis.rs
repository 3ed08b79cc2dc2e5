//! Kinesis Data Streams' PutRecords, driven by the official aws-sdk-kinesis client.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_kinesis::config::retry::RetryConfig;
use aws_sdk_kinesis::config::timeout::TimeoutConfig;
use aws_sdk_kinesis::config::{BehaviorVersion, Region};
use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::operation::put_records::{PutRecordsError, PutRecordsOutput};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use aws_sdk_kinesis::Client;
use firetail_local_firehose::{start, Faults, Options, Server};

struct Kinesis {
    server: Server,
    client: Client,
    _dir: tempfile::TempDir,
}

async fn kinesis(opts: Options) -> Kinesis {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options {
        dir: dir.path().to_path_buf(),
        ..opts
    })
    .await
    .unwrap();
    let config = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(server.endpoint_url())
        .credentials_provider(Credentials::new("AKIDLOCAL", "secret", None, None, "test"))
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(20))
                .build(),
        )
        .build();
    Kinesis {
        server,
        client: Client::from_conf(config),
        _dir: dir,
    }
}

fn entry(data: impl Into<Vec<u8>>, key: &str) -> PutRecordsRequestEntry {
    PutRecordsRequestEntry::builder()
        .data(Blob::new(data))
        .partition_key(key)
        .build()
        .unwrap()
}

impl Kinesis {
    async fn put(
        &self,
        stream: &str,
        entries: Vec<PutRecordsRequestEntry>,
    ) -> Result<PutRecordsOutput, PutRecordsError> {
        self.client
            .put_records()
            .stream_name(stream)
            .set_records(Some(entries))
            .send()
            .await
            .map_err(|e| e.into_service_error())
    }
}

#[tokio::test]
async fn put_records_delivers_and_answers_like_the_service() {
    let k = kinesis(Options {
        auto_create: true,
        ..Options::default()
    })
    .await;
    let entries = (0..100)
        .map(|i| entry(format!("line {i}\n"), &format!("key-{}", i % 7)))
        .collect();
    let out = k.put("web", entries).await.unwrap();
    assert_eq!(out.failed_record_count(), Some(0));
    assert_eq!(
        out.encryption_type(),
        Some(&aws_sdk_kinesis::types::EncryptionType::None)
    );
    assert_eq!(out.records().len(), 100);
    let mut shards = std::collections::BTreeSet::new();
    for (i, r) in out.records().iter().enumerate() {
        assert!(r.error_code().is_none(), "{r:?}");
        let shard = r.shard_id().unwrap();
        assert!(shard.starts_with("shardId-"), "{shard}");
        assert_eq!(r.sequence_number().unwrap().len(), 56);
        // One key always lands on one shard.
        let same_key = &out.records()[i % 7];
        assert_eq!(same_key.shard_id(), Some(shard));
        shards.insert(shard.to_string());
    }
    assert!(shards.len() > 1, "7 keys over 4 shards: {shards:?}");
    let delivered = k.server.delivered("web");
    assert_eq!(delivered.len(), 100);
    assert_eq!(&delivered[42][..], b"line 42\n");
    let stats = k.server.stats();
    assert_eq!(stats.records_accepted, 100);
    assert_eq!(stats.requests["PutRecords"], 1);
    // A stream given by ARN is the same stream.
    let by_arn = k
        .client
        .put_records()
        .stream_arn("arn:aws:kinesis:us-east-1:000000000000:stream/web")
        .records(entry("by arn\n", "k"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_arn.failed_record_count(), Some(0));
    assert_eq!(k.server.delivered("web").len(), 101);
    k.server.shutdown().await;
}

#[tokio::test]
async fn a_missing_stream_is_not_found_without_auto_create() {
    let k = kinesis(Options::default()).await;
    let err = k.put("nope", vec![entry("x", "k")]).await.unwrap_err();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    assert!(err.message().unwrap().contains("Stream nope under account"));
    assert_eq!(k.server.stats().records_accepted, 0);
    k.server.shutdown().await;
}

#[tokio::test]
async fn limits_are_answered_as_kinesis_does() {
    let k = kinesis(Options {
        auto_create: true,
        ..Options::default()
    })
    .await;
    let many = (0..501).map(|_| entry("x", "k")).collect();
    let err = k.put("s", many).await.unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");

    let err = k
        .put("s", vec![entry("x", &"k".repeat(257))])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
    assert!(err.message().unwrap().contains("partitionKey"), "{err:?}");

    // 1 MiB of data is allowed, but not with its partition key on top.
    let err = k
        .put("s", vec![entry(vec![b'a'; 1 << 20], "k")])
        .await
        .unwrap_err();
    assert!(err.is_invalid_argument_exception(), "{err:?}");

    // Five records of 1 MiB less their key fit in 5 MiB; one more byte does not. (Six such
    // records would be a body over 8 MiB, which the endpoint refuses unread with 413.)
    let under = || entry(vec![b'a'; (1 << 20) - 1], "k");
    let mut over: Vec<_> = (0..5).map(|_| under()).collect();
    over.push(entry("b", "k"));
    let err = k.put("s", over).await.unwrap_err();
    assert!(err.is_invalid_argument_exception(), "{err:?}");
    assert!(err.message().unwrap().contains("5 MiB"), "{err:?}");
    let ok = k.put("s", (0..5).map(|_| under()).collect()).await.unwrap();
    assert_eq!(ok.failed_record_count(), Some(0));
    assert_eq!(k.server.stats().records_accepted, 5);
    k.server.shutdown().await;
}

#[tokio::test]
async fn faults_apply_to_put_records() {
    let k = kinesis(Options {
        auto_create: true,
        faults: Faults {
            partial_failure_rate: 1.0,
            ..Faults::default()
        },
        ..Options::default()
    })
    .await;
    let out = k
        .put("s", vec![entry("a", "k"), entry("b", "k")])
        .await
        .unwrap();
    assert_eq!(out.failed_record_count(), Some(2));
    for r in out.records() {
        let code = r.error_code().unwrap();
        assert!(
            ["ProvisionedThroughputExceededException", "InternalFailure"].contains(&code),
            "{code}"
        );
        assert!(r.sequence_number().is_none());
    }
    assert!(k.server.delivered("s").is_empty());

    k.server.set_faults(Faults {
        throttle_rate: 1.0,
        ..Faults::default()
    });
    let err = k.put("s", vec![entry("a", "k")]).await.unwrap_err();
    assert!(
        err.is_provisioned_throughput_exceeded_exception(),
        "{err:?}"
    );
    let stats = k.server.stats();
    assert_eq!(stats.fault_count("throttle"), 1);
    assert_eq!(stats.fault_count("partial_failure"), 2);
    assert_eq!(stats.records_accepted, 0);
    k.server.shutdown().await;
}

#[tokio::test]
async fn discard_counts_without_keeping() {
    let k = kinesis(Options {
        auto_create: true,
        discard: true,
        ..Options::default()
    })
    .await;
    let out = k
        .put("s", (0..10).map(|i| entry(vec![b'x'; i], "k")).collect())
        .await
        .unwrap();
    assert_eq!(out.failed_record_count(), Some(0));
    let stats = k.server.stats();
    assert_eq!(stats.records_accepted, 10);
    assert_eq!(stats.bytes_accepted, 45);
    assert!(k.server.delivered("s").is_empty());
    k.server.shutdown().await;
}
