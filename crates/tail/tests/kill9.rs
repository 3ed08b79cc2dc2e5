//! A tailer process killed with SIGKILL mid-stream and restarted: every line is read, and
//! the only repeats are the records after the last persisted checkpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

fn child_binary() -> PathBuf {
    // target/<profile>/deps/kill9-<hash> -> target/<profile>/examples/tail_child
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let bin = profile_dir.join("examples").join("tail_child");
    if !bin.exists() {
        // `cargo test` builds examples, `cargo test --test kill9` does not.
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "-p",
                "firetail-tail",
                "--example",
                "tail_child",
                "--target-dir",
            ])
            .arg(profile_dir.parent().unwrap())
            .status()
            .unwrap();
        assert!(status.success(), "building the tail_child example failed");
    }
    bin
}

fn spawn(pattern: &Path, checkpoint: &Path, output: &Path) -> Child {
    Command::new(child_binary())
        .arg(pattern)
        .arg(checkpoint)
        .arg(output)
        .spawn()
        .expect("the tail_child example is built by `cargo test`")
}

/// Complete lines of `path` (a torn last write was never acknowledged).
fn complete_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(str::to_owned)
        .collect()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn sigkill_mid_stream_then_restart_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let checkpoint = dir.path().join("checkpoints");
    let (out1, out2) = (dir.path().join("out1"), dir.path().join("out2"));
    let total = 40_000;
    let written: Vec<String> = (0..total)
        .map(|i| format!("line {i:06} {}\n", "y".repeat(i % 50)))
        .collect();

    let writer = {
        let log = log.clone();
        let written = written.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .unwrap();
            for chunk in written.chunks(200) {
                f.write_all(chunk.concat().as_bytes()).unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };

    let mut first = spawn(&log, &checkpoint, &out1);
    wait_until("the first run to make progress and checkpoint", || {
        complete_lines(&out1).len() >= 8_000 && checkpoint.exists()
    });
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let run1 = complete_lines(&out1);

    let mut second = spawn(&log, &checkpoint, &out2);
    writer.join().unwrap();
    wait_until("the second run to finish the file", || {
        complete_lines(&out2).last() == written.last()
    });
    second.kill().unwrap();
    second.wait().unwrap();
    let run2 = complete_lines(&out2);

    assert_eq!(
        run1[..],
        written[..run1.len()],
        "run 1 reads the file in order"
    );
    let resumed_at = written.iter().position(|l| *l == run2[0]).unwrap();
    assert!(
        resumed_at <= run1.len(),
        "run 2 must not skip past what run 1 delivered"
    );
    assert_eq!(
        run2[..],
        written[resumed_at..],
        "run 2 continues in order to the end"
    );
    eprintln!(
        "run 1 delivered {} lines; run 2 resumed at line {resumed_at} ({} re-read after the kill)",
        run1.len(),
        run1.len() - resumed_at
    );
}
