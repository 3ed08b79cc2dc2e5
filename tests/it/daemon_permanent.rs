//! A permanent error (the delivery stream does not exist): reported clearly and at once,
//! nothing checkpointed past it, readiness says why, and delivery resumes once the
//! stream exists: after a restart, and (slowly, on the sink's permanent-retry interval)
//! without one.

use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_firehose::config::{BehaviorVersion, Region};
use firetail_local_firehose::Options;
use serde_json::json;

use crate::support::daemon::{eventually, http_get, Daemon, LocalRig};

/// `firetail.permanentRetryMillis` for the no-restart test: short, so the test does not
/// wait out the 30 s default, yet long enough that a retry lands after the fix.
const PERMANENT_RETRY: Duration = Duration::from_secs(3);

async fn create_stream(endpoint: &str, name: &str) {
    let conf = aws_sdk_firehose::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("e2e", "e2e", None, None, "e2e"))
        .build();
    let dest = aws_sdk_firehose::types::ExtendedS3DestinationConfiguration::builder()
        .role_arn("arn:aws:iam::123456789012:role/firehose-delivery")
        .bucket_arn("arn:aws:s3:::e2e-bucket")
        .build()
        .unwrap();
    aws_sdk_firehose::Client::from_conf(conf)
        .create_delivery_stream()
        .delivery_stream_name(name)
        .extended_s3_destination_configuration(dest)
        .send()
        .await
        .expect("CreateDeliveryStream");
}

fn is_not_found_error(line: &str, stream: &str) -> bool {
    line.contains("ERROR") && line.contains(stream) && line.contains("ResourceNotFoundException")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_stream_is_reported_nothing_is_checkpointed_and_a_restart_after_the_fix_delivers() {
    const STREAM: &str = "e2e-missing";
    let started = Instant::now();
    let rig = LocalRig::start(Options {
        auto_create: false,
        ..Default::default()
    })
    .await;
    let mut writer = rig.writer("p");
    writer.write_lines(200);
    let mut cfg = rig.config(vec![rig.flow(STREAM)]);
    cfg["firetail.metrics.listen"] = json!("127.0.0.1:0");
    let mut daemon = Daemon::start(rig.dir(), &cfg);
    let metrics = daemon.metrics_addr(Duration::from_secs(10)).await;

    let error = daemon
        .wait_for_log(Duration::from_secs(10), |l| is_not_found_error(l, STREAM))
        .await;
    let reported_after = started.elapsed();
    assert!(
        error.is_some(),
        "no ERROR line naming {STREAM} and ResourceNotFoundException\n{}",
        daemon.log_tail(40)
    );

    let (live, _) = http_get(metrics, "/health/live").unwrap();
    assert_eq!(live, 200);
    let mut ready = (0, String::new());
    let not_ready = eventually(Duration::from_secs(5), || {
        ready = http_get(metrics, "/health/ready").unwrap();
        ready.0 == 503
    })
    .await;
    assert!(not_ready, "/health/ready answered {ready:?}");
    let reason: serde_json::Value = serde_json::from_str(&ready.1).expect("JSON body");
    assert!(
        ready.1.contains("ResourceNotFoundException"),
        "readiness gives no reason: {reason}"
    );

    // Ten checkpoint intervals: nothing may move past offset 0.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let entries = daemon.checkpoints();
    assert!(
        entries.iter().all(|e| e.offset == 0),
        "checkpointed past a permanent error: {entries:?}"
    );
    let (status, took) = daemon.stop(Duration::from_secs(3 + 2)).await;
    assert!(status.success(), "exit {status}\n{}", daemon.log_tail(40));
    let entries = daemon.checkpoints();
    assert!(
        entries.iter().all(|e| e.offset == 0),
        "final checkpoint past a permanent error: {entries:?}"
    );
    assert!(rig.server.delivered(STREAM).is_empty());

    create_stream(&rig.server.endpoint_url(), STREAM).await;
    writer.write_lines(100);
    daemon.restart();
    let end = rig
        .finish_run(&writer, STREAM, &mut daemon, Duration::from_secs(20))
        .await;
    let t = &end.tally;
    eprintln!(
        "daemon_permanent (restart): error reported {} ms after start, stop while failing took \
         {} ms, {} lines, {} duplicates; {:.1} s",
        reported_after.as_millis(),
        took.as_millis(),
        t.written,
        t.duplicates,
        started.elapsed().as_secs_f64()
    );
    end.assert_complete(&daemon);
    assert_eq!(t.duplicates, 0, "nothing was accepted before the fix");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_resumes_without_a_restart_once_the_stream_exists() {
    const STREAM: &str = "e2e-late-stream";
    let started = Instant::now();
    let rig = LocalRig::start(Options {
        auto_create: false,
        ..Default::default()
    })
    .await;
    let mut writer = rig.writer("r");
    writer.write_lines(100);
    let mut flow = rig.flow(STREAM);
    flow["firetail.permanentRetryMillis"] = json!(PERMANENT_RETRY.as_millis() as u64);
    let mut daemon = Daemon::start(rig.dir(), &rig.config(vec![flow]));
    let error = daemon
        .wait_for_log(Duration::from_secs(10), |l| is_not_found_error(l, STREAM))
        .await;
    assert!(error.is_some(), "{}", daemon.log_tail(40));

    create_stream(&rig.server.endpoint_url(), STREAM).await;
    let fixed_at = Instant::now();
    writer.write_lines(100);
    let all_delivered = eventually(PERMANENT_RETRY + Duration::from_secs(15), || {
        rig.tally(&writer, STREAM).missing == 0
    })
    .await;
    let resumed_after = fixed_at.elapsed();
    let (status, _) = daemon.stop(Duration::from_secs(10)).await;
    eprintln!(
        "daemon_permanent (no restart): delivered {} ms after the stream was created; {:.1} s",
        resumed_after.as_millis(),
        started.elapsed().as_secs_f64()
    );
    assert!(all_delivered, "{}", daemon.log_tail(40));
    assert!(status.success());
    let entries = daemon.checkpoints();
    assert!(
        entries
            .iter()
            .any(|e| e.offset == 200 * crate::support::daemon::LINE_LEN as u64),
        "{entries:?}"
    );
}
