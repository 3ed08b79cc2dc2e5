//! Every record size is delivered at the speed of the destination, never at the pace of
//! `maxBufferAgeMillis` (issue 15): with the default in-flight budget (2 MiB), a batch
//! fills to 500 records or 4 MiB only for records under about 4 KB; above that, the
//! tailer stops at the budget before any batch is full, and the flow used to wait for the
//! batch's age (60 s by default) to move 2 MiB.
//!
//! Each case starts the real daemon on an empty file with the default budget and
//! `maxBufferAgeMillis` at its maximum (900 s), then writes `FIRETAIL_RECORD_SIZES_MIB` MiB
//! (default 20) of lines of one size. Every line but the last partial batch must be
//! delivered within [`DEADLINE`], far below the 900 s a timer-paced flow would need for
//! even one batch; then SIGTERM's drain sends that batch and every line must be there
//! (cut as the agent cuts a record over Firehose's 1,000 KiB). Meanwhile peak RSS must
//! stay within [`MemoryBound`] of the idle daemon's (invariant 2).

use std::collections::HashSet;
use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::daemon::{
    eventually, proc_status_bytes, scrape, Daemon, LocalRig, MemoryBound,
};

/// Far below one `maxBufferAgeMillis` (900 s): only a flow that never waits on the
/// batch's age meets it, even on a slow, loaded machine with a debug build.
const DEADLINE: Duration = Duration::from_secs(240);
/// Firehose's record limit; the agent cuts longer records and ends them with `\n`.
const FIREHOSE_MAX_RECORD: usize = 1_024_000;
/// `firetail.maxInFlightBytes`' default.
const DEFAULT_IN_FLIGHT_BUDGET: usize = 2 << 20;

fn file_mib() -> usize {
    std::env::var("FIRETAIL_RECORD_SIZES_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// Line `n` of a case: a unique head, padding, `\n`; exactly `len` bytes.
fn line(case: &str, n: usize, len: usize) -> Vec<u8> {
    let mut line = format!("{case}-{n:08} ").into_bytes();
    line.resize(len - 1, b'x');
    line.push(b'\n');
    line
}

/// Writes at least `file_mib()` MiB of `len`-byte lines; returns them.
fn write_file(path: &std::path::Path, case: &str, len: usize) -> Vec<Vec<u8>> {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let count = (file_mib() << 20).div_ceil(len);
    let lines: Vec<Vec<u8>> = (0..count).map(|n| line(case, n, len)).collect();
    for l in &lines {
        file.write_all(l).unwrap();
    }
    file.flush().unwrap();
    lines
}

/// What the destination must hold for `line`: the line, or its first bytes cut to the
/// record limit with the default terminator.
fn as_delivered(line: &[u8]) -> Vec<u8> {
    if line.len() <= FIREHOSE_MAX_RECORD {
        return line.to_vec();
    }
    let mut cut = line[..FIREHOSE_MAX_RECORD - 1].to_vec();
    cut.push(b'\n');
    cut
}

async fn delivers_every_line(case: &str, line_len: usize, aggregate: Option<usize>) {
    let rig = LocalRig::auto_create().await;
    let log = rig.logs.join("access.log");
    std::fs::create_dir_all(&rig.logs).unwrap();
    std::fs::File::create(&log).unwrap();

    let mut flow = rig.flow(case);
    flow["maxBufferAgeMillis"] = json!(900_000);
    // The defaults this issue is about: no override of the in-flight budget or the
    // batch limits.
    for key in [
        "firetail.maxInFlightBytes",
        "maxBufferSizeBytes",
        "maxBufferSizeRecords",
    ] {
        assert!(flow.get(key).is_none());
    }
    if let Some(size) = aggregate {
        flow["aggregatedRecordSizeBytes"] = json!(size);
    }
    let mut config = rig.config(vec![flow]);
    config["firetail.metrics.listen"] = json!("127.0.0.1:0");
    let mut daemon = Daemon::start(rig.dir(), &config);
    let metrics = daemon.metrics_addr(Duration::from_secs(10)).await;
    // Idle, tailing the empty file: what the daemon holds before any record.
    let tailing = eventually(Duration::from_secs(10), || {
        scrape(metrics).get("firetail_files_tailed") == Some(&1.0)
    })
    .await;
    assert!(
        tailing,
        "the empty file is never tailed\n{}",
        daemon.log_tail(30)
    );
    let pid = daemon.pid().unwrap();
    let idle = proc_status_bytes(pid, "VmHWM:").unwrap();
    let lines = write_file(&log, case, line_len);
    let expected: HashSet<Vec<u8>> = lines.iter().map(|l| as_delivered(l)).collect();
    let expected_bytes: usize = expected.iter().map(Vec::len).sum();

    // Everything but the last partial batch must arrive without any timer: that batch
    // holds fewer than 500 records and less than the in-flight budget, and waits for its
    // age by design (a quiet server must not send a request per line); SIGTERM's drain
    // sends it.
    let record_len = aggregate.unwrap_or(line_len.min(FIREHOSE_MAX_RECORD));
    let last_batch = (499 * record_len).min(DEFAULT_IN_FLIGHT_BUDGET) as u64;
    let started = Instant::now();
    let file_bytes: u64 = lines.iter().map(|l| l.len() as u64).sum();
    // Read to the end (so the framer's end-of-data rules have run: a partial aggregate
    // is a record) and delivered but for the last partial batch.
    let done = || {
        let read = scrape(metrics)
            .get("firetail_bytes_read_total")
            .copied()
            .unwrap_or(0.0);
        read as u64 >= file_bytes
            && rig.server.stats().bytes_accepted + last_batch >= expected_bytes as u64
    };
    while !done() {
        assert!(
            started.elapsed() < DEADLINE,
            "{case}: {} of {expected_bytes} bytes delivered after {DEADLINE:?}; the flow waits on a timer\n{}",
            rig.server.stats().bytes_accepted,
            daemon.log_tail(30)
        );
        assert!(
            daemon.is_running(),
            "{case}: daemon exited\n{}",
            daemon.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed();
    // Memory is bounded by configuration, whatever the record size (invariant 2).
    let peak = proc_status_bytes(pid, "VmHWM:").unwrap();
    let bound = MemoryBound {
        in_flight_budget: DEFAULT_IN_FLIGHT_BUDGET as u64,
        files: 1,
    };
    let grew = peak.saturating_sub(idle);
    assert!(
        grew <= bound.bytes(),
        "{case}: peak RSS {peak} is {grew} bytes above idle ({idle}), over the bound {}",
        bound.bytes()
    );
    let (status, _) = daemon.stop(Duration::from_secs(30)).await;
    assert!(
        status.success(),
        "{case}: {status}\n{}",
        daemon.log_tail(30)
    );

    let delivered = rig.server.delivered(case);
    let mut got: HashSet<Vec<u8>> = HashSet::new();
    for record in &delivered {
        if aggregate.is_some() {
            assert!(
                record.len() <= aggregate.unwrap_or(0),
                "{case}: aggregate too big"
            );
            got.extend(record.split_inclusive(|b| *b == b'\n').map(<[u8]>::to_vec));
        } else {
            got.insert(record.to_vec());
        }
    }
    let missing = expected.difference(&got).count();
    let unexpected = got.difference(&expected).count();
    assert_eq!(
        (missing, unexpected),
        (0, 0),
        "{case}: {} lines of {line_len} bytes",
        lines.len()
    );
    eprintln!(
        "{case}: {} lines of {line_len} bytes ({} records) in {took:?}; peak RSS {} KiB, {} KiB above idle (bound {} KiB)",
        lines.len(),
        delivered.len(),
        peak / 1024,
        grew / 1024,
        bound.bytes() / 1024
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_of_100_bytes() {
    delivers_every_line("b100", 100, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_of_1_kib() {
    delivers_every_line("k1", 1024, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_of_5_kib() {
    delivers_every_line("k5", 5 * 1024, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_of_64_kib() {
    delivers_every_line("k64", 64 * 1024, None).await;
}

/// Lines of 1 MiB - 1 bytes, cut to Firehose's 1,000 KiB record limit as the agent cuts
/// them: each record alone is half the in-flight budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_of_1_mib_minus_1() {
    delivers_every_line("m1", (1 << 20) - 1, None).await;
}

/// `aggregatedRecordSizeBytes` at 1 MB: 200-byte lines packed into records of up to
/// 1 MB, two of which fill the budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregated_records_of_1_mb() {
    delivers_every_line("agg", 200, Some(1_000_000)).await;
}
