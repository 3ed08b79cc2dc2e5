//! Chaos, short profile, in the normal suite: every rotation mode, every fault kind, an
//! outage and SIGKILLs at random (seeded) moments at once, and nothing is lost.
//!
//! Three `firetail generate --sequence --keep 0` processes (rename, copytruncate, dated)
//! write at a fixed rate into sibling directories of one glob; the real daemon ships them
//! to the in-process Firehose stand-in, which throttles, fails records, answers 500, resets
//! connections (before and after delivering), adds latency and goes down for a few seconds;
//! the daemon is killed with SIGKILL and restarted every 1-3.5 s. At the end every line in
//! every file (rotated ones included; nothing is deleted) must have been delivered.
//!
//! Duplicates are allowed and bounded by measurement, as in `daemon_kill`: after each kill,
//! the lines the endpoint had accepted but the saved checkpoint did not cover may be sent
//! again; so may the records whose request was reset after delivery. The same accounting
//! checks, at every kill, that no checkpoint covers a line the endpoint had not accepted.
//!
//! Why a Rust test and not `scripts/chaos --short` behind an environment variable: this
//! runs in every `cargo test` (about 40 s in debug), needs no release build and reads the
//! endpoint's acceptance log directly; `scripts/chaos` is the same experiment with every
//! component a separate process, for longer runs (`--short` 5 min, `--long` 1 h).

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use firetail_local_firehose::{Faults, Latency, Options, Outage, Server};
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::support::daemon::{
    accepted_lines, agent_config, audit_checkpoints, endpoint_quiet, eventually, firehose_flow,
    tally, Daemon,
};

const STREAM: &str = "chaos";
const MODES: [&str; 3] = ["rename", "copytruncate", "dated"];
const WRITE_SECS: u64 = 24;
/// Lines per second per generator.
const RATE: u32 = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_every_rotation_mode_every_fault_and_sigkill_lose_nothing() {
    let started = Instant::now();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xC4A0_5EED);
    let tmp = tempfile::tempdir().unwrap();
    let server = firetail_local_firehose::start(Options {
        dir: tmp.path().join("s3"),
        auto_create: true,
        faults: Faults {
            throttle_rate: 0.05,
            partial_failure_rate: 0.05,
            error_rate: 0.03,
            reset_rate: 0.03,
            latency: Latency::Uniform(Duration::from_millis(1), Duration::from_millis(20)),
            outages: vec![Outage {
                start: Duration::from_secs(8),
                end: Duration::from_secs(12),
            }],
        },
        seed: 11,
        ..Default::default()
    })
    .await
    .unwrap();

    let logs = tmp.path().join("logs");
    let mut cfg = agent_config(tmp.path());
    cfg["firehose.endpoint"] = json!(server.endpoint_url());
    let mut flow = firehose_flow(&logs.join("*/access.log*"), STREAM);
    flow["maxBufferSizeRecords"] = json!(100);
    cfg["flows"] = json!([flow]);
    // The daemon first: on a flow's first start, files already rotated count as read.
    let mut daemon = Daemon::start(tmp.path(), &cfg);
    let generators: Vec<Child> = MODES
        .iter()
        .enumerate()
        .map(|(i, mode)| spawn_generator(&logs, mode, i as u64, tmp.path()))
        .collect();

    let mut resendable = Vec::new();
    let mut violations = Vec::new();
    let mut generators = generators;
    while generators
        .iter_mut()
        .any(|g| g.try_wait().unwrap().is_none())
    {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(1000..3500))).await;
        daemon.kill9();
        // Requests the endpoint received in full before the kill still complete.
        endpoint_quiet(&server).await;
        resendable.push(account(&daemon, &server, &logs, &mut violations));
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..800))).await;
        daemon.restart();
    }
    for (g, mode) in generators.iter_mut().zip(MODES) {
        let status = g.wait().unwrap();
        assert!(
            status.success(),
            "generate --rotate-mode {mode} failed: {status}"
        );
    }

    let (written, files) = read_all_lines(&logs);
    let caught_up = eventually(Duration::from_secs(90), || {
        let delivered = server.delivered(STREAM);
        tally(
            written.iter().cloned(),
            delivered.iter().map(|b| b.as_ref()),
        )
        .missing
            == 0
    })
    .await;
    let (status, _) = daemon.stop(Duration::from_secs(15)).await;

    let delivered = server.delivered(STREAM);
    let t = tally(
        written.iter().cloned(),
        delivered.iter().map(|b| b.as_ref()),
    );
    let reset_after_delivery = server
        .accepted()
        .iter()
        .filter(|r| r.outcome == firetail_local_firehose::Outcome::ResetAfterDelivery)
        .count();
    let bound = resendable.iter().sum::<usize>() + reset_after_delivery;
    let stats = server.stats();
    eprintln!(
        "chaos: {} kills, {} files, {} lines written, {} delivered, {} missing, {} duplicates \
         (bound {bound}: per kill {resendable:?} + {reset_after_delivery} reset after delivery), \
         faults {:?}, {:.1} s",
        resendable.len(),
        files,
        t.written,
        t.delivered,
        t.missing,
        t.duplicates,
        stats.faults,
        started.elapsed().as_secs_f64()
    );
    assert!(
        violations.is_empty(),
        "checkpoints passed unacknowledged bytes:\n{}",
        violations.join("\n")
    );
    assert!(
        caught_up && t.is_complete(),
        "{t:?}\n{}",
        daemon.log_tail(60)
    );
    assert!(status.success(), "exit {status}\n{}", daemon.log_tail(40));
    assert!(
        !daemon.log().contains("panicked"),
        "{}",
        daemon.log_tail(60)
    );
    assert!(
        t.duplicates as usize <= bound,
        "{} duplicates, more than the bound {bound}",
        t.duplicates
    );
    assert!(
        files >= 9,
        "too few rotations to mean anything: {files} files"
    );
}

fn spawn_generator(logs: &Path, mode: &str, seed: u64, dir: &Path) -> Child {
    let out = logs.join(mode);
    std::fs::create_dir_all(&out).unwrap();
    Command::new(env!("CARGO_BIN_EXE_firetail"))
        .args([
            "generate",
            "--sequence",
            "--keep",
            "0",
            "--rotate-size",
            "48K",
        ])
        .args(["--rotate-mode", mode])
        .arg("--rate")
        .arg(RATE.to_string())
        .arg("--duration")
        .arg(format!("{WRITE_SECS}s"))
        .arg("--seed")
        .arg(seed.to_string())
        .arg("-o")
        .arg(out.join("access.log"))
        .stdout(Stdio::null())
        .stderr(File::create(dir.join(format!("generate-{mode}.stderr"))).unwrap())
        .spawn()
        .unwrap()
}

/// Every line of every file under `logs` (one level of subdirectories), and the file count.
fn read_all_lines(logs: &Path) -> (Vec<String>, usize) {
    let mut lines = Vec::new();
    let mut files = 0;
    for mode in MODES {
        for entry in std::fs::read_dir(logs.join(mode)).unwrap() {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            files += 1;
            assert!(data.is_empty() || data.ends_with(b"\n"), "a torn line");
            for line in data.split_inclusive(|b| *b == b'\n') {
                lines.push(String::from_utf8(line.to_vec()).unwrap());
            }
        }
    }
    (lines, files)
}

/// Right after a kill: how many lines the endpoint holds that the saved checkpoint does not
/// cover (a restart may send them again); violations where it covers unaccepted lines.
fn account(daemon: &Daemon, server: &Server, logs: &Path, violations: &mut Vec<String>) -> usize {
    let accepted = accepted_lines(server, STREAM);
    // The copytruncate live file changes in place: its checkpointed bytes are gone.
    let truncated_inode = std::fs::metadata(logs.join("copytruncate/access.log"))
        .map(|m| m.ino())
        .ok();
    let covered = audit_checkpoints(
        daemon.starts(),
        &daemon.checkpoints(),
        logs,
        &accepted,
        |inode| Some(inode) == truncated_inode,
        violations,
    );
    accepted.difference(&covered).count()
}
