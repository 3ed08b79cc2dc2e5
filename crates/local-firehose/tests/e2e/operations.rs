//! Each API operation through the SDK.

use aws_sdk_firehose::error::ProvideErrorMetadata;
use aws_sdk_firehose::types::{
    BufferingHints, CompressionFormat, DeliveryStreamStatus, S3DestinationConfiguration,
};
use firetail_local_firehose::Options;

use crate::common::*;

// S3DestinationConfiguration is deprecated in the SDK but still accepted by the service.
#[allow(deprecated)]
#[tokio::test]
async fn control_plane_round_trip() {
    let h = harness(Options::default()).await;
    create_stream(&h.client, "web", "logs/", 2, 60, CompressionFormat::Gzip).await;
    let plain = S3DestinationConfiguration::builder()
        .role_arn("arn:aws:iam::000000000000:role/firehose")
        .bucket_arn("arn:aws:s3:::other")
        .buffering_hints(BufferingHints::builder().size_in_mbs(1).build())
        .build()
        .unwrap();
    h.client
        .create_delivery_stream()
        .delivery_stream_name("api")
        .s3_destination_configuration(plain)
        .send()
        .await
        .unwrap();

    let d = h
        .client
        .describe_delivery_stream()
        .delivery_stream_name("web")
        .send()
        .await
        .unwrap();
    let desc = d.delivery_stream_description().unwrap();
    assert_eq!(desc.delivery_stream_name(), "web");
    assert_eq!(desc.delivery_stream_status(), &DeliveryStreamStatus::Active);
    assert!(desc.delivery_stream_arn().ends_with(":deliverystream/web"));
    let dest = &desc.destinations()[0];
    let ext = dest.extended_s3_destination_description().unwrap();
    assert_eq!(ext.bucket_arn(), "arn:aws:s3:::test-bucket");
    assert_eq!(ext.prefix(), Some("logs/"));
    assert_eq!(ext.compression_format(), &CompressionFormat::Gzip);
    let hints = ext.buffering_hints().unwrap();
    assert_eq!(
        (hints.size_in_mbs(), hints.interval_in_seconds()),
        (Some(2), Some(60))
    );
    assert!(dest.s3_destination_description().is_some());

    let list = h.client.list_delivery_streams().send().await.unwrap();
    assert_eq!(list.delivery_stream_names(), ["api", "web"]);
    assert!(!list.has_more_delivery_streams());

    let dup = h
        .client
        .create_delivery_stream()
        .delivery_stream_name("api")
        .s3_destination_configuration(
            S3DestinationConfiguration::builder()
                .role_arn("r")
                .bucket_arn("arn:aws:s3:::other")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert!(dup
        .as_service_error()
        .unwrap()
        .is_resource_in_use_exception());

    h.client
        .delete_delivery_stream()
        .delivery_stream_name("api")
        .send()
        .await
        .unwrap();
    let gone = h
        .client
        .describe_delivery_stream()
        .delivery_stream_name("api")
        .send()
        .await
        .unwrap_err();
    let gone = gone.into_service_error();
    assert!(gone.is_resource_not_found_exception(), "{gone:?}");
    assert!(gone.message().unwrap().contains("api"));
    let list = h.client.list_delivery_streams().send().await.unwrap();
    assert_eq!(list.delivery_stream_names(), ["web"]);
    h.server.shutdown().await;
}

#[tokio::test]
async fn put_record_and_batch_are_delivered_in_order() {
    let h = harness(Options::default()).await;
    create_stream(&h.client, "s", "", 5, 300, CompressionFormat::Uncompressed).await;
    let one = h
        .client
        .put_record()
        .delivery_stream_name("s")
        .record(record("first\n"))
        .send()
        .await
        .unwrap();
    assert!(!one.record_id().is_empty());
    let batch = h.put_batch("s", records(500, line)).await.unwrap();
    assert_eq!(batch.failed_put_count(), 0);
    assert_eq!(batch.request_responses().len(), 500);
    let ids: std::collections::HashSet<_> = batch
        .request_responses()
        .iter()
        .map(|r| r.record_id().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 500, "record ids are unique");

    let mut expected = vec![b"first\n".to_vec()];
    expected.extend((0..500).map(line));
    let delivered: Vec<Vec<u8>> = h.server.delivered("s").iter().map(|b| b.to_vec()).collect();
    assert_eq!(delivered, expected);
    let stats = h.server.stats();
    assert_eq!(stats.records_accepted, 501);
    assert_eq!(stats.requests["PutRecordBatch"], 1);
    assert_eq!(stats.requests["PutRecord"], 1);
    h.server.shutdown().await;
}

#[tokio::test]
async fn auto_create_uses_the_demo_bucket() {
    let h = harness(Options {
        auto_create: true,
        ..Options::default()
    })
    .await;
    h.put_batch("demo", records(3, line)).await.unwrap();
    h.server.flush().await;
    let found = objects(h.dir.path());
    assert_eq!(found.len(), 1);
    let rel = found[0].strip_prefix(h.dir.path()).unwrap();
    assert!(rel.starts_with("local-firehose"), "{}", rel.display());
    let d = h
        .client
        .describe_delivery_stream()
        .delivery_stream_name("demo")
        .send()
        .await
        .unwrap();
    let hints = d.delivery_stream_description().unwrap().destinations()[0]
        .extended_s3_destination_description()
        .unwrap()
        .buffering_hints()
        .unwrap()
        .clone();
    assert_eq!(
        (hints.size_in_mbs(), hints.interval_in_seconds()),
        (Some(1), Some(1))
    );
    h.server.shutdown().await;
}

#[tokio::test]
async fn discard_counts_without_keeping() {
    let h = harness(Options {
        auto_create: true,
        discard: true,
        ..Options::default()
    })
    .await;
    h.put_batch("bench", records(10, line)).await.unwrap();
    h.server.flush().await;
    assert!(h.server.delivered("bench").is_empty());
    assert!(objects(h.dir.path()).is_empty());
    let stats = h.server.stats();
    assert_eq!(stats.records_accepted, 10);
    assert_eq!(
        stats.bytes_accepted,
        (0..10).map(|i| line(i).len() as u64).sum::<u64>()
    );
    h.server.shutdown().await;
}
