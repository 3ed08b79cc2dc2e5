//! Deterministic reductions of failures found by the model test (`tests/model.rs`).

use std::sync::Arc;

use firetail_tail::checkpoint::hash_hex;
use firetail_tail::{identity, FileCheckpoint};

use crate::support::*;

fn entries(cp: &std::path::Path) -> Vec<FileCheckpoint> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(cp).unwrap()).unwrap();
    serde_json::from_value(v["checkpoints"].clone()).unwrap()
}

fn marker_hex(bytes: &[u8]) -> Option<String> {
    let start = bytes.len().saturating_sub(identity::MARKER_BYTES as usize);
    Some(hash_hex(identity::hash(&bytes[start..])))
}

/// Starts a flow with gated acks, waits for `n` lines, then cancels its shutdown token
/// and waits for the tailer to leave its loop: from then on it neither reads nor scans,
/// but still applies acks and writes the final checkpoint once the acker is dropped.
async fn stop_reading_with_acks_pending(
    pattern: &std::path::Path,
    cp: &std::path::Path,
    n: usize,
) -> (Flow, Arc<tokio::sync::Semaphore>) {
    let (flow, gate) = Flow::start_gated(config(pattern), cp);
    flow.wait_for("every line", |l| l.len() == n).await;
    flow.shutdown.cancel();
    flow.wait_reading_stopped().await;
    (flow, gate)
}

/// Model: copytruncate, then a graceful restart, before the tailer saw the truncation.
/// The final checkpoint's marker was taken from the truncated file (none), so after the
/// restart the copy did not match the checkpoint of its own, acknowledged bytes and was
/// read again from 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_applied_after_an_unseen_copytruncate_keep_the_marker_of_what_was_read() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let cp = dir.path().join("cp");
    let pattern = dir.path().join("app.log*");
    let mut w = Writer::new(&log);
    for i in 0..10 {
        w.line(&format!("before the rotation {i:02} {}", "x".repeat(30)));
    }
    let acked = std::fs::read(&log).unwrap();
    let (flow, gate) = stop_reading_with_acks_pending(&pattern, &cp, 10).await;
    std::fs::copy(&log, dir.path().join("app.log.1")).unwrap();
    truncate(&log);
    gate.add_permits(1_000);
    flow.stop().await;
    let at_end: Vec<_> = entries(&cp)
        .into_iter()
        .filter(|e| e.offset == acked.len() as u64)
        .collect();
    assert_eq!(at_end.len(), 1, "{:#?}", entries(&cp));
    assert_eq!(at_end[0].marker, marker_hex(&acked));

    w.line("after the restart");
    let flow = Flow::start(config(&pattern), &cp, AckPolicy::Immediately);
    flow.wait_for("the new line", |l| !l.is_empty()).await;
    // The copy is tracked: once it is acknowledged to its end, a re-read would show.
    flow.wait_acked_to_the_end(&[&log, &dir.path().join("app.log.1")])
        .await;
    assert_eq!(flow.stop().await, ["after the restart\n"]);
}

/// The same root cause, worse: a short file (no fingerprint, so known by inode alone)
/// truncated and refilled in place. The checkpoint got the old offset with the marker of
/// the new bytes there, so the restart trusted it, skipped the new file's first bytes and
/// started inside a line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_applied_after_an_unseen_truncate_and_refill_do_not_skip_the_new_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let cp = dir.path().join("cp");
    std::fs::write(&log, "old 1\nold 2\n").unwrap();
    let (flow, gate) = stop_reading_with_acks_pending(&log, &cp, 2).await;
    // In place, longer than the old offset, shorter than the 256-byte fingerprint.
    std::fs::write(&log, "new line one\nnew line two\n").unwrap();
    gate.add_permits(1_000);
    flow.stop().await;

    let flow = Flow::start(config(&log), &cp, AckPolicy::Immediately);
    flow.wait_for("the new lines", |l| l.len() >= 2).await;
    flow.wait_acked_to_the_end(&[&log]).await;
    assert_eq!(flow.stop().await, ["new line one\n", "new line two\n"]);
}

/// Model: a file truncated and refilled under an unterminated line it had read, then
/// renamed out of the pattern before the next scan. Finishing it emitted the pending
/// bytes as a record: a torn line (a writer completes its line before the rotation; the
/// tailer only read it half-written).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_partial_line_of_a_file_rewritten_under_it_is_not_emitted() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "complete line\npartial").unwrap();
    let flow = Flow::start(config(&log), &dir.path().join("cp"), AckPolicy::Immediately);
    flow.wait_for("the complete line", |l| l.len() == 1).await;
    let read_all = "complete line\npartial".len() as u64;
    flow.wait_status("the partial line read", |s| {
        s.files.iter().any(|f| f.read_offset == read_all)
    })
    .await;
    // Back to back, so that the next scan finds the file gone, not truncated.
    let mut f = std::fs::OpenOptions::new().write(true).open(&log).unwrap();
    f.set_len(0).unwrap();
    std::io::Write::write_all(&mut f, b"rewritten, longer than before\n").unwrap();
    std::fs::rename(&log, dir.path().join("elsewhere")).unwrap();
    // Retired once finished and acknowledged: whatever finishing emitted was received.
    flow.wait_status("the renamed file retired", |s| s.files.is_empty())
        .await;
    assert_eq!(flow.stop().await, ["complete line\n"]);
}

/// Model (its status, at the end): the incarnation a truncation in place leaves behind
/// was never finished, so it stayed in the tailer (and its status) for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_incarnation_before_a_truncation_is_retired() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "old 1\nold 2\n").unwrap();
    let flow = Flow::start(config(&log), &dir.path().join("cp"), AckPolicy::Immediately);
    flow.wait_for("the old lines", |l| l.len() == 2).await;
    std::fs::write(&log, "new\n").unwrap();
    flow.wait_for("the new line", |l| l.len() == 3).await;
    flow.wait_status("the old incarnation retired", |s| {
        s.files.len() == 1 && s.files[0].acked_offset == 4 && !s.files[0].rotated_away
    })
    .await;
    assert_eq!(flow.stop().await, ["old 1\n", "old 2\n", "new\n"]);
}

/// Model (as a repeat after a restart; this is the loss it can turn into): a file the
/// tailer had found but not read yet (read position 0, here held back by the in-flight
/// budget) was copytruncated. At position 0 a truncation cannot show in the offset
/// marker, so the tailer took the truncated file for the one it had fingerprinted, kept
/// the old content's fingerprint, and the copy, judged "a copy of a live file" while it
/// was being made, was never read: its lines were lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_copytruncated_before_it_was_read_is_read_from_its_copy() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&dir.path().join("*.log*"));
    cfg.max_in_flight_bytes = 1024;
    let (flow, gate) = Flow::start_gated(cfg, &dir.path().join("cp"));
    // Fills the budget: nothing is acknowledged, so reading pauses.
    let mut a = Writer::new(&dir.path().join("a.log"));
    for i in 0..100 {
        a.line(&format!("a line {i:03} {}", "x".repeat(40)));
    }
    flow.wait_for("the first lines of a", |l| !l.is_empty())
        .await;
    let b_log = dir.path().join("b.log");
    let mut b = Writer::new(&b_log);
    for i in 0..10 {
        b.line(&format!("b before the rotation {i:02} {}", "y".repeat(40)));
    }
    // Found (and fingerprinted) by a scan, not read: the budget is spent.
    flow.wait_status("b.log found", |s| {
        s.files
            .iter()
            .any(|f| f.path == b_log && f.read_offset == 0)
    })
    .await;
    std::fs::copy(&b_log, dir.path().join("b.log.1")).unwrap();
    // The scan sees the copy while b.log still holds the same bytes. A copy is not
    // tracked, so a file made after it shows when a scan has seen it.
    let c_log = dir.path().join("c.log");
    let mut c = Writer::new(&c_log);
    c.line("c, made after the copy");
    flow.wait_status("c.log found", |s| s.files.iter().any(|f| f.path == c_log))
        .await;
    truncate(&b_log);
    b.line("b after the rotation");
    let truncated = "b after the rotation\n".len() as u64;
    flow.wait_status("the truncation seen", |s| {
        s.files
            .iter()
            .any(|f| f.path == b_log && f.size == truncated)
    })
    .await;
    gate.add_permits(1_000_000);
    let mut written = a.written.clone();
    written.extend(b.written.iter().cloned());
    written.extend(c.written.iter().cloned());
    let n = written.len();
    flow.wait_for("every line", |l| l.len() >= n).await;
    flow.settle().await;
    assert_exactly_once(&written, &flow.stop().await);
}
