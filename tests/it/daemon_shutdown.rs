//! SIGTERM under load: the daemon exits 0 within `shutdownTimeoutMillis` plus a margin,
//! its final checkpoint covers only lines the endpoint accepted, and a restart delivers
//! the rest.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use firetail_local_firehose::{Faults, Latency, Options};
use serde_json::json;

use crate::support::daemon::{
    agent_config, eventually, find_inode, firehose_flow, lines_before, tally, Daemon, LineWriter,
};

const STREAM: &str = "e2e-shutdown";
const SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(2000);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_exits_cleanly_and_checkpoints_only_what_was_acknowledged() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let server = firetail_local_firehose::start(Options {
        dir: tmp.path().join("s3"),
        auto_create: true,
        faults: Faults {
            latency: Latency::Fixed(Duration::from_millis(200)),
            ..Faults::default()
        },
        ..Default::default()
    })
    .await
    .unwrap();
    let logs = tmp.path().join("logs");
    let mut cfg = agent_config(tmp.path());
    cfg["firehose.endpoint"] = json!(server.endpoint_url());
    cfg["shutdownTimeoutMillis"] = json!(SHUTDOWN_TIMEOUT.as_millis() as u64);
    let mut flow = firehose_flow(&logs.join("access.log*"), STREAM);
    flow["maxBufferSizeRecords"] = json!(200);
    cfg["flows"] = json!([flow]);

    // A writer thread: ~2000 lines/s until told to stop, through the SIGTERM.
    let stop_writing = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop_writing.clone();
        let path = logs.join("access.log");
        std::thread::spawn(move || {
            let mut w = LineWriter::new(&path, "s");
            while !stop.load(Relaxed) {
                w.write_lines(20);
                std::thread::sleep(Duration::from_millis(10));
            }
            w
        })
    };
    let mut daemon = Daemon::start(tmp.path(), &cfg);
    let shipping = eventually(Duration::from_secs(30), || {
        !server.delivered(STREAM).is_empty()
    })
    .await;
    assert!(shipping, "nothing delivered\n{}", daemon.log_tail(40));
    // Under load for a while, so that the stop meets full buffers and requests in flight.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let (status, took) = daemon.stop(SHUTDOWN_TIMEOUT + Duration::from_secs(2)).await;
    stop_writing.store(true, Relaxed);
    let writer = writer.join().unwrap();
    assert!(status.success(), "exit {status}\n{}", daemon.log_tail(40));

    // Every line before a checkpointed offset is in the endpoint's log.
    let delivered_at_stop = server.delivered(STREAM);
    let accepted: std::collections::HashSet<&[u8]> = delivered_at_stop
        .iter()
        .flat_map(|r| r.split_inclusive(|b| *b == b'\n'))
        .collect();
    let entries = daemon.checkpoints();
    let mut checkpointed_lines = 0;
    for entry in &entries {
        let path = find_inode(&logs, entry.inode).expect("checkpointed file exists");
        let lines = lines_before(&path, entry.offset)
            .unwrap_or_else(|size| panic!("offset {} past the end ({size})", entry.offset));
        for line in &lines {
            assert!(
                accepted.contains(line.as_slice()),
                "checkpoint {entry:?} covers {:?}, never accepted",
                String::from_utf8_lossy(line)
            );
        }
        checkpointed_lines += lines.len();
    }
    assert!(
        checkpointed_lines > 0,
        "nothing was checkpointed in 2 s of delivery: {entries:?}\n{}",
        daemon.log_tail(40)
    );
    let after_stop = tally(writer.lines(), delivered_at_stop.iter().map(|b| b.as_ref()));

    daemon.restart();
    let all_delivered = eventually(Duration::from_secs(30), || {
        let delivered = server.delivered(STREAM);
        tally(writer.lines(), delivered.iter().map(|b| b.as_ref())).missing == 0
    })
    .await;
    let (status2, _) = daemon.stop(Duration::from_secs(10)).await;
    let delivered = server.delivered(STREAM);
    let t = tally(writer.lines(), delivered.iter().map(|b| b.as_ref()));
    eprintln!(
        "daemon_shutdown: exit after SIGTERM in {} ms (budget {} ms + 2 s); {} lines written, \
         {} checkpointed, {} delivered before the restart, {} after; {} duplicates; {:.1} s",
        took.as_millis(),
        SHUTDOWN_TIMEOUT.as_millis(),
        t.written,
        checkpointed_lines,
        after_stop.written - after_stop.missing,
        t.delivered,
        t.duplicates,
        started.elapsed().as_secs_f64()
    );
    assert!(
        all_delivered && t.is_complete(),
        "{t:?}\n{}",
        daemon.log_tail(40)
    );
    assert!(status2.success(), "exit {status2}\n{}", daemon.log_tail(40));
}
