//! Whole-file tailing: `run_flow` reads a file to EOF with a consumer that acknowledges
//! every batch at once. File size in MiB from `FIRETAIL_BENCH_FILE_MB` (default 256).
//!
//! `FIRETAIL_BENCH_FILE_MB=1024 cargo bench -p firetail-tail --bench tail_file`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use firetail_tail::{
    run_flow, Acker, CheckpointStore, FlowTailStatus, FramingConfig, InitialPosition, TailConfig,
};
use tokio_util::sync::CancellationToken;

fn write_file(path: &std::path::Path, bytes: u64) -> u64 {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut line = Vec::new();
    let mut written = 0u64;
    let mut i = 0u64;
    while written < bytes {
        line.clear();
        write!(
            line,
            "10.0.{}.{} - - [25/Nov/2026:10:00:00 +0000] \"GET /item/{i} HTTP/1.1\" 200 {} ",
            i % 256,
            i % 200,
            i * 7 % 90_000
        )
        .unwrap();
        line.resize(199, b'a');
        line.push(b'\n');
        f.write_all(&line).unwrap();
        written += line.len() as u64;
        i += 1;
    }
    f.flush().unwrap();
    written
}

async fn tail_to_end(pattern: String, checkpoint: std::path::PathBuf, size: u64) {
    let store = CheckpointStore::open(&checkpoint, Duration::from_secs(1)).unwrap();
    let mut cfg = TailConfig::new("bench", &pattern, FramingConfig::firehose());
    cfg.initial_position = InitialPosition::StartOfFile;
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let (acker, acks) = Acker::channel();
    let (status_tx, _status) = tokio::sync::watch::channel(FlowTailStatus::default());
    let shutdown = CancellationToken::new();
    let tailer = tokio::spawn(run_flow(
        cfg,
        store.flow("bench"),
        tx,
        acks,
        status_tx,
        shutdown.clone(),
    ));
    let mut seen = 0u64;
    while seen < size {
        let Some(batch) = rx.recv().await else { break };
        for r in &batch {
            seen += r.span.len();
            acker.ack(r.span);
        }
    }
    shutdown.cancel();
    drop(rx);
    drop(acker);
    tailer.await.unwrap().unwrap();
}

fn bench_tail_file(c: &mut Criterion) {
    let mb: u64 = std::env::var("FIRETAIL_BENCH_FILE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let size = write_file(&path, mb << 20);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("tail");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(size));
    let mut run = 0;
    group.bench_function(format!("file_to_eof_{mb}MiB"), |b| {
        b.iter(|| {
            run += 1;
            let cp = dir.path().join(format!("cp{run}"));
            rt.block_on(tail_to_end(path.to_string_lossy().into_owned(), cp, size));
        });
    });
    group.finish();
}

criterion_group!(benches, bench_tail_file);
criterion_main!(benches);
