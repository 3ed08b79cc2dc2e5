//! `firetail setup` against moto: the raw delivery stream is created from agent.json's
//! flows, a record sent to it lands in the bucket, and a second run changes nothing.

use std::io::Read;
use std::time::Duration;

use firetail::setup::{self, SetupError, SetupOptions, StreamOutcome, TEST_RECORD};

use crate::support::moto::{moto, Moto};

const BUCKET: &str = "firetail-raw-test";
const ROLE: &str = "arn:aws:iam::123456789012:role/firehose-delivery";

fn settings(moto: &Moto, streams: &[&str]) -> firetail_config::Settings {
    let flows: Vec<String> = streams
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(r#"{{"filePattern": "/var/log/site{i}/*.log", "deliveryStream": "{s}"}}"#)
        })
        .collect();
    let agent_json = format!(
        r#"{{"awsAccessKeyId": "testing", "awsSecretAccessKey": "testing",
            "firehose.endpoint": "{}", "firetail.region": "us-east-1",
            "flows": [{}]}}"#,
        moto.endpoint,
        flows.join(",")
    );
    firetail_config::parse_str(&agent_json, "agent.json")
        .expect("agent.json")
        .settings
}

fn options(bucket: &str) -> SetupOptions {
    let mut opts = SetupOptions::new(bucket, ROLE);
    opts.poll_interval = Duration::from_millis(100);
    opts.wait_timeout = Duration::from_secs(20);
    opts
}

/// Object bodies, gunzipped when Firehose compressed them.
async fn bucket_contents(moto: &Moto) -> Vec<u8> {
    let mut all = Vec::new();
    for (_, body) in moto.objects(BUCKET).await {
        if body.starts_with(&[0x1f, 0x8b]) {
            flate2::read::MultiGzDecoder::new(&body[..])
                .read_to_end(&mut all)
                .unwrap();
        } else {
            all.extend_from_slice(&body);
        }
    }
    all
}

async fn create_bucket(moto: &Moto) {
    moto.s3()
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("bucket");
}

#[tokio::test]
async fn creates_the_raw_stream_and_a_test_record_lands_in_s3() {
    let moto = moto().await;
    create_bucket(&moto).await;
    let settings = settings(&moto, &["web-raw"]);

    let reports = setup::setup_streams_for(&settings, &options(BUCKET))
        .await
        .unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].name, "web-raw");
    assert_eq!(reports[0].outcome, StreamOutcome::Created);
    assert!(reports[0].test_record_id.is_some());

    let described = moto
        .firehose()
        .describe_delivery_stream()
        .delivery_stream_name("web-raw")
        .send()
        .await
        .unwrap();
    let d = described.delivery_stream_description().unwrap();
    let s3 = d.destinations()[0]
        .extended_s3_destination_description()
        .unwrap();
    assert_eq!(s3.bucket_arn(), format!("arn:aws:s3:::{BUCKET}"));
    assert_eq!(s3.prefix(), Some("raw/!{timestamp:yyyy/MM/dd/HH}/"));
    assert_eq!(bucket_contents(&moto).await, TEST_RECORD);
}

#[tokio::test]
async fn running_twice_changes_nothing() {
    let moto = moto().await;
    create_bucket(&moto).await;
    let settings = settings(&moto, &["web-raw", "api-raw", "web-raw"]);

    let first = setup::setup_streams_for(&settings, &options(BUCKET))
        .await
        .unwrap();
    assert!(
        first.iter().all(|r| r.outcome == StreamOutcome::Created),
        "{first:?}"
    );
    let objects_before = moto.objects(BUCKET).await;

    let second = setup::setup_streams_for(&settings, &options(BUCKET))
        .await
        .unwrap();
    let names: Vec<&str> = second.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["web-raw", "api-raw"]);
    assert!(
        second.iter().all(|r| r.outcome == StreamOutcome::Exists),
        "{second:?}"
    );
    assert!(second.iter().all(|r| r.test_record_id.is_none()));
    assert_eq!(moto.objects(BUCKET).await, objects_before);
    let listed = moto
        .firehose()
        .list_delivery_streams()
        .send()
        .await
        .unwrap();
    assert_eq!(listed.delivery_stream_names().len(), 2);
}

#[tokio::test]
async fn an_existing_stream_with_another_bucket_is_left_alone() {
    let moto = moto().await;
    create_bucket(&moto).await;
    // Made here rather than with the harness's create_s3_stream: moto echoes only the
    // fields it was given, and the SDK needs a CompressionFormat in the description
    // (which AWS always returns).
    let dest = aws_sdk_firehose::types::ExtendedS3DestinationConfiguration::builder()
        .role_arn(ROLE)
        .bucket_arn("arn:aws:s3:::someone-elses-bucket")
        .compression_format(aws_sdk_firehose::types::CompressionFormat::Uncompressed)
        .build()
        .unwrap();
    moto.firehose()
        .create_delivery_stream()
        .delivery_stream_name("web-raw")
        .extended_s3_destination_configuration(dest)
        .send()
        .await
        .unwrap();
    let settings = settings(&moto, &["web-raw"]);

    let err = setup::setup_streams_for(&settings, &options(BUCKET))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SetupError::DifferentDestination { stream, .. } if stream == "web-raw"),
        "{err}"
    );
    assert!(err.to_string().contains("someone-elses-bucket"), "{err}");
}

#[tokio::test]
async fn dry_run_creates_nothing() {
    let moto = moto().await;
    create_bucket(&moto).await;
    let settings = settings(&moto, &["web-raw"]);
    let mut opts = options(BUCKET);
    opts.dry_run = true;

    let reports = setup::setup_streams_for(&settings, &opts).await.unwrap();
    assert_eq!(reports[0].outcome, StreamOutcome::WouldCreate);
    let listed = moto
        .firehose()
        .list_delivery_streams()
        .send()
        .await
        .unwrap();
    assert!(listed.delivery_stream_names().is_empty());
    assert!(moto.objects(BUCKET).await.is_empty());
}
