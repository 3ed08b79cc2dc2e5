//! Each injected fault, as the SDK sees it, and the log of what was really delivered.

use aws_sdk_firehose::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_firehose::types::CompressionFormat;
use firetail_local_firehose::{Faults, Latency, Options, Outage, Outcome};

use crate::common::*;

async fn with_faults(faults: Faults, seed: u64) -> Harness {
    let h = harness(Options {
        faults,
        seed,
        ..Options::default()
    })
    .await;
    create_stream(&h.client, "s", "", 5, 300, CompressionFormat::Uncompressed).await;
    h
}

#[tokio::test]
async fn partial_failures_fail_records_independently() {
    let h = with_faults(
        Faults {
            partial_failure_rate: 0.3,
            ..Faults::default()
        },
        42,
    )
    .await;
    let out = h.put_batch("s", records(500, line)).await.unwrap();
    let responses = out.request_responses();
    let failed: Vec<usize> = (0..500)
        .filter(|&i| responses[i].error_code().is_some())
        .collect();
    assert_eq!(out.failed_put_count() as usize, failed.len());
    assert!(!failed.is_empty() && failed.len() < 500, "{}", failed.len());
    for &i in &failed {
        let code = responses[i].error_code().unwrap();
        assert!(code == "ServiceUnavailableException" || code == "InternalFailure");
        assert!(responses[i].record_id().is_none());
        assert!(responses[i].error_message().is_some());
    }
    let expected: Vec<Vec<u8>> = (0..500).filter(|i| !failed.contains(i)).map(line).collect();
    let delivered: Vec<Vec<u8>> = h.server.delivered("s").iter().map(|b| b.to_vec()).collect();
    assert_eq!(
        delivered, expected,
        "exactly the succeeded records are delivered"
    );
    let stats = h.server.stats();
    assert_eq!(stats.fault_count("partial_failure"), failed.len() as u64);
    assert_eq!(
        stats.records_rejected.values().sum::<u64>(),
        failed.len() as u64
    );
    h.server.shutdown().await;
}

#[tokio::test]
async fn throttling_is_service_unavailable() {
    let h = with_faults(
        Faults {
            throttle_rate: 1.0,
            ..Faults::default()
        },
        1,
    )
    .await;
    let err = h.put_batch("s", records(3, line)).await.unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 503);
    let err = err.into_service_error();
    assert!(err.is_service_unavailable_exception(), "{err:?}");
    let err = h
        .client
        .put_record()
        .delivery_stream_name("s")
        .record(record("x"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_service_unavailable_exception(), "{err:?}");
    assert!(h.server.delivered("s").is_empty());
    assert_eq!(h.server.stats().fault_count("throttle"), 2);
    h.server.shutdown().await;
}

#[tokio::test]
async fn errors_are_500_internal_failure() {
    let h = with_faults(
        Faults {
            error_rate: 1.0,
            ..Faults::default()
        },
        1,
    )
    .await;
    let err = h.put_batch("s", records(3, line)).await.unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 500);
    assert_eq!(err.code(), Some("InternalFailure"));
    assert!(h.server.delivered("s").is_empty());
    h.server.shutdown().await;
}

#[tokio::test]
async fn resets_surface_as_dispatch_failures_and_are_recorded() {
    let h = with_faults(
        Faults {
            reset_rate: 1.0,
            ..Faults::default()
        },
        7,
    )
    .await;
    for call in 0..8 {
        let err = h
            .put_batch("s", records(2, |i| line(call * 10 + i)))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
            ),
            "{err:?}"
        );
    }
    let stats = h.server.stats();
    let (delivered, dropped) = (
        stats.fault_count("reset_delivered"),
        stats.fault_count("reset_dropped"),
    );
    assert_eq!(delivered + dropped, 8);
    assert!(delivered > 0 && dropped > 0, "seed 7 gives both kinds");
    let accepted = h.server.accepted();
    assert_eq!(accepted.len() as u64, delivered * 2);
    assert!(accepted
        .iter()
        .all(|r| r.outcome == Outcome::ResetAfterDelivery));
    // Faults can be switched off at run time; the server keeps serving.
    h.server.set_faults(Faults::default());
    h.client
        .put_record()
        .delivery_stream_name("s")
        .record(record("after\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        h.server.accepted().last().unwrap().outcome,
        Outcome::Answered
    );
    h.server.shutdown().await;
}

#[tokio::test]
async fn outages_refuse_everything_until_they_end() {
    let h = with_faults(Faults::default(), 0).await;
    h.server.set_faults(Faults {
        outages: vec![Outage::indefinite()],
        ..Faults::default()
    });
    let err = h
        .client
        .put_record()
        .delivery_stream_name("s")
        .record(record("x"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_service_unavailable_exception(), "{err:?}");
    let err = h.client.list_delivery_streams().send().await.unwrap_err();
    assert_eq!(err.code(), Some("ServiceUnavailableException"));
    h.server.set_faults(Faults::default());
    h.client
        .put_record()
        .delivery_stream_name("s")
        .record(record("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(h.server.stats().fault_count("outage"), 2);
    h.server.shutdown().await;
}

#[tokio::test]
async fn latency_is_added_and_counted() {
    let h = with_faults(
        Faults {
            latency: Latency::parse("uniform:1ms..5ms").unwrap(),
            ..Faults::default()
        },
        0,
    )
    .await;
    h.client
        .put_record()
        .delivery_stream_name("s")
        .record(record("x"))
        .send()
        .await
        .unwrap();
    // CreateDeliveryStream and PutRecord were both delayed.
    assert_eq!(h.server.stats().fault_count("latency"), 2);
    h.server.shutdown().await;
}

#[tokio::test]
async fn same_seed_same_partial_failures() {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let h = with_faults(
            Faults {
                partial_failure_rate: 0.5,
                throttle_rate: 0.2,
                ..Faults::default()
            },
            99,
        )
        .await;
        let mut outcome = Vec::new();
        for _ in 0..5 {
            let r = h.put_batch("s", records(20, line)).await;
            outcome.push(match r {
                Ok(out) => format!(
                    "{:?}",
                    out.request_responses()
                        .iter()
                        .map(|e| e.error_code().is_some())
                        .collect::<Vec<_>>()
                ),
                Err(e) => e.code().unwrap_or("?").to_string(),
            });
        }
        runs.push(outcome);
        h.server.shutdown().await;
    }
    assert_eq!(runs[0], runs[1]);
}

#[tokio::test]
async fn a_used_up_quota_refuses_whole_calls_with_service_unavailable() {
    // 0.01 records/s with a 1000 s window: 10 records of burst, and a refill too slow to
    // matter however long the test takes. Strict: a call must fit in what is left.
    let h = harness(Options {
        quota: firetail_local_firehose::Quota {
            records_per_sec: Some(0.01),
            window: std::time::Duration::from_secs(1000),
            strict: true,
            ..Default::default()
        },
        ..Options::default()
    })
    .await;
    create_stream(&h.client, "s", "", 5, 300, CompressionFormat::Uncompressed).await;
    create_stream(&h.client, "t", "", 5, 300, CompressionFormat::Uncompressed).await;
    let out = h.put_batch("s", records(6, line)).await.unwrap();
    assert_eq!(out.failed_put_count(), 0);
    // 6 more would exceed the 4 left: the whole call is refused, nothing delivered.
    let err = h.put_batch("s", records(6, line)).await.unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 503);
    assert!(err.into_service_error().is_service_unavailable_exception());
    assert_eq!(h.server.delivered("s").len(), 6);
    // The refused call cost nothing: 4 still fit, and the other stream has its own quota.
    h.put_batch("s", records(4, line)).await.unwrap();
    h.put_batch("t", records(10, line)).await.unwrap();
    let stats = h.server.stats();
    assert_eq!(stats.requests_over_quota.get("records"), Some(&1));
    assert_eq!(stats.records_accepted, 20);
    h.server.shutdown().await;
}
