//! A flow never dies in silence: each stage task (tail, process, sink) is aborted by
//! fault injection (`FIRETAIL_TEST_FAULT=abort-stage-on-sigusr2:<stage>`, debug builds
//! only) while the daemon runs, and at once there is an ERROR naming the flow and the
//! stage, `/health/ready` answers 503 naming the flow, and `firetail_flow_up{flow}` is 0.
//! After a restart without the fault every line written arrives: the bytes the dead
//! stage held were never acknowledged, so they are read again.
//!
//! Also here: `retryInitialBackoffMillis` above `retryMaxBackoffMillis`, which the
//! Kinesis Agent accepts (every retry then waits the maximum) and which once made the
//! sink exit at start, unreported.

use std::time::{Duration, Instant};

use firetail_local_firehose::{Faults, Options};
use serde_json::json;

use crate::support::daemon::{eventually, http_get, Daemon, LocalRig};

const STREAM: &str = "e2e-supervised";

async fn abort_stage_and_check_it_is_reported(stage: &str) {
    let started = Instant::now();
    let rig = LocalRig::auto_create().await;
    let mut writer = rig.writer(stage);
    writer.write_lines(100);
    let mut cfg = rig.config(vec![rig.flow(STREAM)]);
    cfg["firetail.metrics.listen"] = json!("127.0.0.1:0");
    let fault = format!("abort-stage-on-sigusr2:{stage}");
    let mut daemon = Daemon::start_with_env(rig.dir(), &cfg, &[("FIRETAIL_TEST_FAULT", &fault)]);
    let metrics = daemon.metrics_addr(Duration::from_secs(10)).await;
    let first = eventually(Duration::from_secs(20), || {
        rig.tally(&writer, STREAM).missing == 0
    })
    .await;
    assert!(first, "first lines not delivered\n{}", daemon.log_tail(30));
    let flow_id = format!("fh:{STREAM}:{}", rig.logs.join("access.log*").display());
    let mut before = (0, String::new());
    let ready = eventually(Duration::from_secs(10), || {
        before = http_get(metrics, "/health/ready").unwrap();
        before.0 == 200
    })
    .await;
    assert!(ready, "not ready before the fault: {before:?}");

    let pid = daemon.pid().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-USR2", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let signalled = Instant::now();
    let error = daemon
        .wait_for_log(Duration::from_secs(5), |l| {
            l.contains("ERROR") && l.contains(&flow_id) && l.contains(&format!("{stage} stage"))
        })
        .await;
    let reported_in = signalled.elapsed();
    assert!(
        error.is_some(),
        "no ERROR naming the flow and the {stage} stage\n{}",
        daemon.log_tail(30)
    );
    assert!(
        reported_in < Duration::from_secs(2),
        "reported after {reported_in:?}"
    );
    let (code, body) = http_get(metrics, "/health/ready").unwrap();
    assert_eq!(code, 503, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    let verdict = &body["flows"][&flow_id];
    assert_eq!(verdict["ready"], json!(false), "{body}");
    let reason = verdict["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&flow_id) && reason.contains(stage),
        "{reason}"
    );
    let (_, text) = http_get(metrics, "/metrics").unwrap();
    let up = format!("firetail_flow_up{{flow=\"{flow_id}\"}} 0");
    assert!(text.contains(&up), "no `{up}` in\n{text}");

    // Lines written after the stage died wait in the file; nothing was acknowledged for
    // them, so a restart delivers them all.
    writer.write_lines(100);
    let _ = daemon.stop(Duration::from_secs(10)).await;
    daemon.set_env(&[]);
    daemon.restart();
    let all = eventually(Duration::from_secs(20), || {
        rig.tally(&writer, STREAM).missing == 0
    })
    .await;
    let t = rig.tally(&writer, STREAM);
    let (status, _) = daemon.stop(Duration::from_secs(10)).await;
    assert!(
        all,
        "{} of {} lines missing after the restart\n{}",
        t.missing,
        t.written,
        daemon.log_tail(30)
    );
    assert!(status.success());
    eprintln!(
        "daemon_supervision ({stage}): reported {} ms after the abort; {} lines, {} duplicates; {:.1} s",
        reported_in.as_millis(),
        t.written,
        t.duplicates,
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_tail_stage_is_reported_at_once() {
    abort_stage_and_check_it_is_reported("tail").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_process_stage_is_reported_at_once() {
    abort_stage_and_check_it_is_reported("process").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_sink_stage_is_reported_at_once() {
    abort_stage_and_check_it_is_reported("sink").await;
}

/// The agent takes `min(max, initial x 2^n)`: an initial backoff above the maximum
/// means every retry waits the maximum. Throttles force retries; every line arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_initial_backoff_above_the_maximum_is_clamped_as_the_agent_does() {
    let rig = LocalRig::start(Options {
        auto_create: true,
        faults: Faults {
            throttle_rate: 0.3,
            ..Faults::default()
        },
        seed: 7,
        ..Default::default()
    })
    .await;
    let mut writer = rig.writer("b");
    writer.write_lines(300);
    let mut flow = rig.flow(STREAM);
    flow["retryInitialBackoffMillis"] = json!(20000);
    flow["retryMaxBackoffMillis"] = json!(200);
    flow["maxBufferSizeRecords"] = json!(50);
    let mut daemon = Daemon::start(rig.dir(), &rig.config(vec![flow]));
    rig.finish_run(&writer, STREAM, &mut daemon, Duration::from_secs(30))
        .await
        .assert_complete(&daemon);
    let log = daemon.log();
    let sink_errors: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains("ERROR") && (l.contains("stage ended") || l.contains("sink stopped"))
        })
        .collect();
    assert!(sink_errors.is_empty(), "{sink_errors:#?}");
    assert!(
        rig.server
            .stats()
            .faults
            .get("throttle")
            .copied()
            .unwrap_or(0)
            > 0,
        "no throttle happened, so no retry was tested"
    );
}
