//! The service limits, each answered with the error AWS gives.

use aws_sdk_firehose::error::ProvideErrorMetadata;
use aws_sdk_firehose::types::CompressionFormat;
use firetail_local_firehose::Options;

use crate::common::*;

async fn started() -> Harness {
    let h = harness(Options::default()).await;
    create_stream(&h.client, "s", "", 5, 300, CompressionFormat::Uncompressed).await;
    h
}

#[tokio::test]
async fn more_than_500_records_is_a_validation_error() {
    let h = started().await;
    let err = h
        .put_batch("s", records(501, line))
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
    assert!(err.message().unwrap().contains("less than or equal to 500"));
    assert!(h.server.delivered("s").is_empty());
    h.server.shutdown().await;
}

#[tokio::test]
async fn a_batch_over_4_mib_is_an_invalid_argument() {
    let h = started().await;
    // 5 records of exactly 1,000 KiB: each is allowed, together they exceed 4 MiB.
    let err = h
        .put_batch("s", records(5, |_| vec![b'a'; 1_024_000]))
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_argument_exception(), "{err:?}");
    // Four fit.
    let ok = h
        .put_batch("s", records(4, |_| vec![b'a'; 1_024_000]))
        .await
        .unwrap();
    assert_eq!(ok.failed_put_count(), 0);
    h.server.shutdown().await;
}

#[tokio::test]
async fn a_record_over_1000_kib_is_a_validation_error() {
    let h = started().await;
    let err = h
        .client
        .put_record()
        .delivery_stream_name("s")
        .record(record(vec![b'a'; 1_024_001]))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
    assert!(err.message().unwrap().contains("1024000"));
    let err = h
        .put_batch("s", vec![record("ok"), record(vec![b'a'; 1_024_001])])
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        err.message().unwrap().contains("records.2.member.data"),
        "{err:?}"
    );
    assert!(
        h.server.delivered("s").is_empty(),
        "one bad record refuses the whole batch"
    );
    h.server.shutdown().await;
}

#[tokio::test]
async fn bad_and_unknown_stream_names() {
    let h = started().await;
    for bad in ["has space", "", &"x".repeat(65), "slash/name"] {
        let err = h
            .put_batch(bad, records(1, line))
            .await
            .unwrap_err()
            .into_service_error();
        assert_eq!(err.code(), Some("ValidationException"), "{bad:?}: {err:?}");
    }
    let err = h
        .put_batch("nope", records(1, line))
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    let stats = h.server.stats();
    assert_eq!(stats.requests_rejected["ValidationException"], 4);
    assert_eq!(stats.requests_rejected["ResourceNotFoundException"], 1);
    h.server.shutdown().await;
}
