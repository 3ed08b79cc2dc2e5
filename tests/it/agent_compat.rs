//! Drop-in details, end to end through the real binary: settings the Kinesis Agent
//! accepts must work the way they work there.

use std::time::Duration;

use firetail_local_firehose::{Faults, Latency, Options};
use serde_json::json;

use crate::support::daemon::{eventually, Daemon, LocalRig};

const STREAM: &str = "e2e-compat";

/// `socketTimeoutMillis: 0` and `connectionTimeoutMillis: 0` mean "no timeout" in the
/// agent's Java SDK. Answers that take 300 ms must arrive, not time out at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_timeouts_mean_no_timeout() {
    let rig = LocalRig::start(Options {
        auto_create: true,
        faults: Faults {
            latency: Latency::Uniform(Duration::from_millis(300), Duration::from_millis(300)),
            ..Faults::default()
        },
        ..Default::default()
    })
    .await;
    let mut writer = rig.writer("z");
    writer.write_lines(200);
    let mut cfg = rig.config(vec![rig.flow(STREAM)]);
    cfg["socketTimeoutMillis"] = json!(0);
    cfg["connectionTimeoutMillis"] = json!("0");
    let mut daemon = Daemon::start(rig.dir(), &cfg);
    let all = eventually(Duration::from_secs(20), || {
        rig.tally(&writer, STREAM).missing == 0
    })
    .await;
    let (status, _) = daemon.stop(Duration::from_secs(10)).await;
    assert!(all, "not delivered\n{}", daemon.log_tail(30));
    assert!(status.success());
    let log = daemon.log();
    assert!(!log.contains("TimeoutError"), "{log}");
}
