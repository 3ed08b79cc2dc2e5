//! The daemon against a misbehaving Firehose (the local stand-in with throttles, partial
//! failures, 500s, connection resets and latency), with rename rotations: every line
//! arrives, and the only duplicates are records the endpoint accepted but whose answer it
//! dropped (the client cannot know those succeeded).
//!
//! Rotation is by rename only here: copytruncate has its own test (daemon_rotation),
//! because a copy read twice would be a duplicate no lost response explains.
//!
//! Backoffs are short (20–100 ms): with 20% per-record failures almost no batch is clean,
//! the sink's retry budget runs dry, and every retry then waits the full
//! `retryMaxBackoffMillis` (see the report on throughput under partial failures).

use std::time::{Duration, Instant};

use firetail_local_firehose::{Faults, Latency, Options, Outcome};
use serde_json::json;

use crate::support::daemon::{Daemon, LocalRig, Rotation};

const STREAM: &str = "e2e-faults";

pub fn faulty() -> Faults {
    Faults {
        throttle_rate: 0.10,
        partial_failure_rate: 0.20,
        error_rate: 0.05,
        reset_rate: 0.05,
        latency: Latency::Uniform(Duration::from_millis(1), Duration::from_millis(20)),
        outages: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_arrives_through_faults_and_duplicates_only_follow_lost_responses() {
    let started = Instant::now();
    let rig = LocalRig::start(Options {
        auto_create: true,
        faults: faulty(),
        seed: 42,
        ..Default::default()
    })
    .await;
    let mut writer = rig.writer("f");
    let mut flow = rig.flow(STREAM);
    // Small batches: more calls, so every kind of fault actually happens.
    flow["maxBufferSizeRecords"] = json!(100);
    flow["retryInitialBackoffMillis"] = json!(20);
    flow["retryMaxBackoffMillis"] = json!(100);
    let mut daemon = Daemon::start(rig.dir(), &rig.config(vec![flow]));

    for round in 0..40 {
        writer.write_lines(75);
        if round % 10 == 9 {
            writer.rotate(Rotation::Rename);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let end = rig
        .finish_run(&writer, STREAM, &mut daemon, Duration::from_secs(60))
        .await;
    let t = &end.tally;
    let accepted = rig.server.accepted();
    let lost_responses = accepted
        .iter()
        .filter(|r| r.outcome == Outcome::ResetAfterDelivery)
        .count() as u64;
    let stats = rig.server.stats();
    eprintln!(
        "daemon_faults: {} lines in {} files, {} delivered, {} duplicates, {} records accepted \
         with a lost response; faults {:?}; {:.1} s",
        t.written,
        writer.rotations() + 1,
        t.delivered,
        t.duplicates,
        lost_responses,
        stats.faults,
        started.elapsed().as_secs_f64()
    );
    assert!(!rig.server.log_truncated());
    end.assert_complete(&daemon);
    assert!(
        t.duplicates <= lost_responses,
        "{} duplicates, but only {lost_responses} records were accepted with a lost response: \
         the daemon re-sent records the endpoint had answered\n{t:?}",
        t.duplicates
    );
    assert!(
        stats.fault_count("throttle") > 0 && stats.fault_count("partial_failure") > 0,
        "the fault plan did not bite: {:?}",
        stats.faults
    );
}
