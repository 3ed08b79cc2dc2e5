//! A full outage while lines keep arriving: the daemon's memory stays flat (bounded by
//! `firetail.maxInFlightBytes`, not by what piles up in the files), and everything is
//! delivered once the destination comes back.
//!
//! The outage lasts `FIRETAIL_OUTAGE_SECS` seconds (default 40, to keep the suite
//! quick; run it with a few minutes by hand).

use std::time::{Duration, Instant};

use firetail_local_firehose::{Faults, Options, Outage};

use crate::support::daemon::{
    agent_config, eventually, firehose_flow, proc_status_bytes, tally, Daemon, LineWriter,
};

/// Resident memory of a process, from /proc.
fn rss_bytes(pid: u32) -> Option<u64> {
    proc_status_bytes(pid, "VmRSS:")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_flat_through_an_outage_and_everything_is_delivered_after() {
    const STREAM: &str = "outage-memory";
    let outage_secs: u64 = std::env::var("FIRETAIL_OUTAGE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let tmp = tempfile::tempdir().unwrap();
    let server = firetail_local_firehose::start(Options {
        dir: tmp.path().join("s3"),
        auto_create: true,
        faults: Faults {
            outages: vec![Outage::indefinite()],
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .unwrap();
    let logs = tmp.path().join("logs");
    let mut writer = LineWriter::new(&logs.join("access.log"), "o");
    writer.write_lines(1000);

    let mut config = agent_config(tmp.path());
    config["firehose.endpoint"] = server.endpoint_url().into();
    let mut flow = firehose_flow(&logs.join("access.log*"), STREAM);
    flow["firetail.maxInFlightBytes"] = (4 * 1024 * 1024).into();
    config["flows"] = serde_json::json!([flow]);
    let mut daemon = Daemon::start(tmp.path(), &config);
    let pid = daemon.pid().expect("daemon running");

    // Lines keep arriving for the whole outage: ~1.3 MB/s of 64-byte lines, far more
    // than the in-flight budget.
    let started = Instant::now();
    let mut samples: Vec<(Duration, u64)> = Vec::new();
    while started.elapsed() < Duration::from_secs(outage_secs) {
        writer.write_lines(2000);
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(rss) = rss_bytes(pid) {
            samples.push((started.elapsed(), rss));
        }
    }
    let written_bytes = writer.written() * 64;
    assert!(
        server.stats().records_accepted == 0,
        "the outage let records through"
    );
    assert!(
        daemon.is_running(),
        "daemon died during the outage:\n{}",
        daemon.log_tail(20)
    );

    // Baseline once the budget has filled (a quarter of the way in), then the peak after.
    let baseline_at = Duration::from_secs(outage_secs / 4);
    let baseline = samples
        .iter()
        .find(|(t, _)| *t >= baseline_at)
        .map(|(_, r)| *r)
        .expect("RSS samples");
    let peak_after = samples
        .iter()
        .filter(|(t, _)| *t >= baseline_at)
        .map(|(_, r)| *r)
        .max()
        .unwrap_or(baseline);
    let growth = peak_after.saturating_sub(baseline);
    eprintln!(
        "outage {outage_secs}s: {} lines ({} MiB) written; RSS baseline {} MiB, peak {} MiB, growth {} KiB",
        writer.written(),
        written_bytes >> 20,
        baseline >> 20,
        peak_after >> 20,
        growth >> 10
    );
    // What was written after the baseline is many times this; a pipeline buffering it in
    // memory would grow by at least as much.
    assert!(
        growth < 8 * 1024 * 1024,
        "RSS grew by {} KiB during the outage (baseline {} MiB)",
        growth >> 10,
        baseline >> 20
    );

    // The destination comes back: everything written is delivered.
    server.set_faults(Faults::default());
    let expected = writer.written();
    let caught_up = eventually(Duration::from_secs(120), || {
        server.delivered(STREAM).len() as u64 >= expected
    })
    .await;
    let delivered = server.delivered(STREAM);
    let t = tally(writer.lines(), delivered.iter().map(|b| &b[..]));
    assert!(caught_up, "not caught up after the outage: {t:?}");
    assert_eq!(t.missing, 0, "{t:?}");
    assert_eq!(t.unexpected, 0, "{t:?}");
    let (status, _) = daemon.stop(Duration::from_secs(10)).await;
    assert!(status.success(), "exit {status:?}");
    server.shutdown().await;
}
