//! A minimal tailer process for the kill -9 test (and a usage example of the API).
//!
//! `tail_child <file-pattern> <checkpoint-file> <output-file>`: tails the pattern from the
//! start, appends every record to the output file, fsyncs it, and only then acknowledges
//! the records. So every acknowledged record is durably in the output: after a SIGKILL
//! the restarted process resumes at or before the first record not in the output.

use std::io::Write;
use std::time::Duration;

use firetail_tail::{
    run_flow, Acker, CheckpointStore, FlowTailStatus, FramingConfig, InitialPosition, TailConfig,
};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, pattern, checkpoint, output] = args.as_slice() else {
        return Err("usage: tail_child <file-pattern> <checkpoint-file> <output-file>".into());
    };
    let store = CheckpointStore::open(checkpoint.as_ref(), Duration::from_millis(20))?;
    let mut cfg = TailConfig::new("kill9", pattern, FramingConfig::firehose());
    cfg.initial_position = InitialPosition::StartOfFile;
    cfg.reconcile_interval = Duration::from_millis(100);
    let (records_tx, mut records_rx) = tokio::sync::mpsc::channel(16);
    let (acker, acks) = Acker::channel();
    let (status_tx, _status_rx) = tokio::sync::watch::channel(FlowTailStatus::default());
    let shutdown = CancellationToken::new();
    let writer = tokio::spawn({
        let store = store.clone();
        let token = shutdown.clone();
        async move { store.run_writer(token).await }
    });
    let tailer = tokio::spawn(run_flow(
        cfg,
        store.flow("kill9"),
        records_tx,
        acks,
        status_tx,
        shutdown.clone(),
    ));
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(output)?;
    while let Some(batch) = records_rx.recv().await {
        for record in &batch {
            out.write_all(&record.data)?;
        }
        out.sync_data()?;
        for record in &batch {
            acker.ack(record.span);
        }
    }
    drop(acker);
    tailer.await??;
    shutdown.cancel();
    writer.await??;
    Ok(())
}
