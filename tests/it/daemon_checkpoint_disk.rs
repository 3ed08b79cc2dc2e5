//! The checkpoint file's file system fills up: delivery goes on, the failure is reported
//! (once, in the journal; in `/health/ready`; in `/metrics`), the old checkpoint file stays
//! whole, a kill -9 meanwhile re-sends exactly what was acknowledged since the last good
//! write and loses nothing, and once space returns the checkpoint catches up by itself.
//!
//! Needs root to mount a small tmpfs; elsewhere it says so and passes without running.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::daemon::{
    eventually, http_get, read_checkpoints, scrape, Daemon, LocalRig, LINE_LEN,
};
use crate::support::fs::{fill, SmallTmpfs};

const STREAM: &str = "e2e-ckpt-disk";

/// The checkpointed offset of `logs/access.log` (the only file), in lines.
fn checkpointed_lines(path: &std::path::Path) -> Option<u64> {
    read_checkpoints(path)
        .iter()
        .find(|e| e.path.ends_with("access.log"))
        .map(|e| e.offset / LINE_LEN as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_checkpoint_disk_is_reported_loses_nothing_and_recovers() {
    if !firetail_testkit::is_root()
        && firetail_testkit::unavailable("daemon_checkpoint_disk", "not root: cannot mount a tmpfs")
    {
        return;
    }
    let started = Instant::now();
    let rig = LocalRig::auto_create().await;
    let state = rig.dir().join("state");
    let Some(_tmpfs) = SmallTmpfs::mount(&state, "256k") else {
        if firetail_testkit::unavailable("daemon_checkpoint_disk", "mounting a tmpfs was refused") {
            return;
        }
        unreachable!("unavailable() panics when it does not return true");
    };
    let checkpoint_file = state.join("checkpoints.json");
    let mut writer = rig.writer("d");
    let mut cfg = rig.config(vec![rig.flow(STREAM)]);
    cfg["checkpointFile"] = json!(checkpoint_file);
    cfg["firetail.metrics.listen"] = json!("127.0.0.1:0");
    let mut daemon = Daemon::start(rig.dir(), &cfg);

    // 1. Normal running: 200 lines delivered and checkpointed.
    writer.write_lines(200);
    let saved = eventually(Duration::from_secs(20), || {
        checkpointed_lines(&checkpoint_file) == Some(200)
    })
    .await;
    assert!(saved, "{}", daemon.log_tail(30));

    // 2. The state file system fills up; 300 more lines arrive.
    fill(&state).unwrap();
    writer.write_lines(300);
    let delivered = eventually(Duration::from_secs(20), || {
        rig.tally(&writer, STREAM).missing == 0
    })
    .await;
    assert!(delivered, "delivery must go on: {}", daemon.log_tail(30));
    let error = daemon
        .wait_for_log(Duration::from_secs(10), |l| {
            l.contains("ERROR") && l.contains("cannot save checkpoints")
        })
        .await
        .unwrap_or_else(|| panic!("no ERROR about checkpoints\n{}", daemon.log_tail(30)));
    assert!(
        error.contains("No space left on device") && error.contains("checkpoints.json"),
        "the error names the cause and the file: {error}"
    );
    let addr = daemon.metrics_addr(Duration::from_secs(5)).await;
    let (code, body) = http_get(addr, "/health/ready").unwrap();
    assert_eq!(code, 503, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["checkpoints"]["saved"], json!(false), "{body}");
    assert_eq!(scrape(addr)["firetail_checkpoint_write_failing"], 1.0);
    assert_eq!(
        checkpointed_lines(&checkpoint_file),
        Some(200),
        "the old checkpoint file stays whole"
    );
    // Loud, not noisy: one ERROR while it goes on (the next comes after a minute).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let errors = daemon
        .current_log()
        .lines()
        .filter(|l| l.contains("cannot save checkpoints"))
        .count();
    assert_eq!(errors, 1, "{}", daemon.log_tail(30));

    // 3. kill -9 while checkpoints cannot be saved: the restart reads from the last good
    // checkpoint, so the 300 lines acknowledged since are sent again; nothing is lost.
    daemon.kill9();
    daemon.restart();
    let resent = eventually(Duration::from_secs(20), || {
        rig.tally(&writer, STREAM).duplicates == 300
    })
    .await;
    let t = rig.tally(&writer, STREAM);
    assert!(resent && t.missing == 0, "{t:?}\n{}", daemon.log_tail(30));

    // 4. Space returns: the checkpoint catches up without a restart, and readiness with it.
    std::fs::remove_file(state.join("filler")).unwrap();
    writer.write_lines(100);
    let recovered = eventually(Duration::from_secs(20), || {
        checkpointed_lines(&checkpoint_file) == Some(600)
    })
    .await;
    assert!(recovered, "{}", daemon.log_tail(30));
    let addr = daemon.metrics_addr(Duration::from_secs(5)).await;
    let (code, body) = http_get(addr, "/health/ready").unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(daemon
        .current_log()
        .contains("checkpoint file written again"));
    let (status, _) = daemon.stop(Duration::from_secs(10)).await;
    assert!(status.success());
    let t = rig.tally(&writer, STREAM);
    eprintln!(
        "daemon_checkpoint_disk: {} lines, {} missing, {} duplicates (the lines acknowledged \
         while the disk was full); {:.1} s",
        t.written,
        t.missing,
        t.duplicates,
        started.elapsed().as_secs_f64()
    );
    assert_eq!((t.missing, t.duplicates), (0, 300), "{t:?}");
}
