//! CPU cost of watching many quiet files: `run_flow` over 1,000 files that never change,
//! for `FIRETAIL_BENCH_SECS` seconds (default 30). Prints the process's CPU time from
//! /proc/self/stat. Not a criterion benchmark: the number is CPU per wall-clock second.
//!
//! `cargo bench -p firetail-tail --bench quiet_files`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use firetail_tail::{
    run_flow, Acker, CheckpointStore, FlowTailStatus, FramingConfig, InitialPosition, TailConfig,
};
use tokio_util::sync::CancellationToken;

/// User + system CPU seconds of this process.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after ")".
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 (1-based), i.e. 11 and 12 after ")".
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` probes; nothing to list or test
    }
    let secs: u64 = std::env::var("FIRETAIL_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let dir = tempfile::tempdir().unwrap();
    for i in 0..1000 {
        std::fs::write(
            dir.path().join(format!("quiet{i:04}.log")),
            format!("one line in file {i}\n"),
        )
        .unwrap();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = CheckpointStore::open(&dir.path().join("cp"), Duration::from_secs(1)).unwrap();
        let pattern = format!("{}/*.log", dir.path().display());
        let mut cfg = TailConfig::new("quiet", &pattern, FramingConfig::firehose());
        cfg.initial_position = InitialPosition::StartOfFile;
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let (acker, acks) = Acker::channel();
        let (status_tx, status) = tokio::sync::watch::channel(FlowTailStatus::default());
        let shutdown = CancellationToken::new();
        let tailer = tokio::spawn(run_flow(cfg, store.flow("quiet"), tx, acks, status_tx, shutdown.clone()));
        let consumer = tokio::spawn(async move {
            while let Some(batch) = rx.recv().await {
                batch.iter().for_each(|r| acker.ack(r.span));
            }
        });
        // Let the initial read of the 1,000 files finish before measuring.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (cpu0, t0) = (cpu_seconds(), Instant::now());
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let (cpu, wall) = (cpu_seconds() - cpu0, t0.elapsed().as_secs_f64());
        let open = status.borrow().files.iter().filter(|f| f.open).count();
        println!(
            "quiet_files: 1000 files, {wall:.1} s: {cpu:.2} CPU-s = {:.2}% of one core; {open} descriptors open at the end",
            100.0 * cpu / wall
        );
        shutdown.cancel();
        consumer.await.unwrap();
        tailer.await.unwrap().unwrap();
    });
}
