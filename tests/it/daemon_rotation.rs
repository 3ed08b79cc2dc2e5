//! copytruncate rotation, as logrotate does it (copy, then truncate at once), with no
//! fault and no restart: every line arrives exactly once. The tailer must recognise the
//! copy as the file it was reading and carry on in it, not read it again from 0.

use std::time::{Duration, Instant};

use firetail_local_firehose::Options;
use serde_json::json;

use crate::support::daemon::{Daemon, LocalRig, Rotation};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copytruncate_rotations_deliver_every_line_exactly_once() {
    const STREAM: &str = "e2e-copytruncate";
    const ROTATIONS: u64 = 20;
    let started = Instant::now();
    let rig = LocalRig::start(Options {
        auto_create: true,
        ..Default::default()
    })
    .await;
    let mut writer = rig.writer("c");
    let mut flow = rig.flow(STREAM);
    // A slow destination, so the tailer lags behind the writer when the file rotates
    // (the reader is paused by backpressure), as under real load.
    flow["firetail.pacing.recordsPerSecond"] = json!(10000);
    flow["maxBufferSizeRecords"] = json!(100);
    let mut daemon = Daemon::start(rig.dir(), &rig.config(vec![flow]));

    for _ in 0..ROTATIONS {
        for _ in 0..5 {
            writer.write_lines(400);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        writer.rotate(Rotation::CopyTruncate);
    }
    writer.write_lines(40);
    let end = rig
        .finish_run(&writer, STREAM, &mut daemon, Duration::from_secs(30))
        .await;
    let t = &end.tally;
    let reread = daemon
        .log()
        .lines()
        .filter(|l| l.contains("reading it again from 0"))
        .count();
    eprintln!(
        "daemon_rotation: {ROTATIONS} copytruncates, {} lines, {} delivered, {} duplicates, \
         {reread} copies read again from 0; {:.1} s",
        t.written,
        t.delivered,
        t.duplicates,
        started.elapsed().as_secs_f64()
    );
    end.assert_complete(&daemon);
    assert_eq!(
        t.duplicates,
        0,
        "copytruncate duplicated lines with no fault and no restart\n{}",
        daemon.log_tail(60)
    );
}
