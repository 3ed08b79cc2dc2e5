//! The daemon: one pipeline per flow, wired from the configuration, and an ordered
//! shutdown.
//!
//! Per flow: `tail` ──Vec<Record>──> `process` ──Vec<OutRecord>──> `sink`, with an ack
//! channel from process (skips) and sink (accepted records) back to the tailer. All
//! channels are bounded by [`RECORD_CHANNEL_CHUNKS`] chunks, and a tailer never has
//! more than `firetail.maxInFlightBytes` unacknowledged, so memory is set by
//! configuration whatever the input.
//!
//! # Shutdown, in order
//! 1. The caller's `shutdown` fires: tailers stop reading and close their record
//!    channels (they keep applying acks).
//! 2. Process stages finish what they hold; sinks flush partial batches and finish
//!    retries, for up to `shutdownTimeoutMillis`.
//! 3. At that deadline, sinks abandon what is still in flight, unacknowledged.
//! 4. Each sink returning drops its `Acker`; when the last one of a flow is gone its
//!    tailer records its final watermark and returns.
//! 5. The checkpoint store writes the file one last time.

pub mod counters;
mod flow;
pub mod process_stage;
pub mod status;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use firetail_config::Settings;
use tokio_util::sync::CancellationToken;

use crate::daemon::counters::FlowCounters;
pub use crate::daemon::flow::framing_config;
use crate::daemon::flow::FlowPipeline;

/// Chunks (one read's worth of records each) buffered between two stages. Small: the
/// in-flight byte budget, not channel depth, is what bounds memory; depth only smooths
/// hand-offs between tasks.
pub const RECORD_CHANNEL_CHUNKS: usize = 16;

/// Called once every flow is running, with each flow's counters.
pub type ReadyHook = Box<dyn FnOnce(Vec<Arc<FlowCounters>>) + Send>;

/// Hooks the daemon calls as it comes up; `firetail run` uses them for sd_notify.
#[derive(Default)]
pub struct Hooks {
    /// Called once every flow's pipeline is running, with each flow's counters.
    pub ready: Option<ReadyHook>,
}

/// What a finished run reports.
#[derive(Debug, Default)]
pub struct RunReport {
    pub records_sent: u64,
    pub records_parsed: u64,
    /// Records still unsettled when the shutdown deadline passed (read again on restart).
    pub abandoned: u64,
}

/// Runs every flow of `settings` until `shutdown` fires, then shuts down in order.
pub async fn run(
    settings: Settings,
    shutdown: CancellationToken,
    hooks: Hooks,
) -> anyhow::Result<RunReport> {
    let started = Instant::now();
    tracing::info!("Agent: Starting up...");
    let store = firetail_tail::CheckpointStore::open(
        &settings.checkpoint_file,
        settings.checkpoint_interval,
    )
    .with_context(|| {
        format!(
            "opening checkpoint file {}",
            settings.checkpoint_file.display()
        )
    })?;
    let clients = flow::Clients::build(&settings).await?;

    let stop_reading = shutdown.child_token();
    let abandon = CancellationToken::new();
    let mut flows = Vec::new();
    for flow in &settings.flows {
        tracing::info!("Agent: Starting tailer for file {}", flow.id);
        let pipeline = FlowPipeline::spawn(
            flow,
            &clients,
            store.flow(&flow.id),
            stop_reading.clone(),
            abandon.clone(),
        )
        .with_context(|| format!("starting flow {}", flow.id))?;
        flows.push(pipeline);
    }
    let writer_stop = CancellationToken::new();
    let writer = {
        let store = store.clone();
        let stop = writer_stop.clone();
        tokio::spawn(async move { store.run_writer(stop).await })
    };
    let generators = crate::daemon::flow::start_generators(&settings)?;
    tracing::info!(
        "Agent: Startup completed in {} ms.",
        started.elapsed().as_millis()
    );
    let counters: Vec<Arc<FlowCounters>> = flows.iter().map(|f| f.counters.clone()).collect();
    let views = flows
        .iter()
        .map(|f| crate::telemetry::FlowView {
            counters: f.counters.clone(),
            status: f.status.clone(),
        })
        .collect();
    let observability = crate::telemetry::Observability::new(crate::telemetry::install(), views);
    let metrics_stop = CancellationToken::new();
    if let Some(addr) = settings.metrics_listen {
        let bound = crate::telemetry::serve(addr, observability.clone(), metrics_stop.clone())
            .await
            .with_context(|| {
                format!("binding the metrics endpoint {addr} (firetail.metrics.listen)")
            })?;
        tracing::info!("metrics and health on http://{bound}/metrics");
    }
    if let Some(ready) = hooks.ready {
        ready(counters.clone());
    }
    let reporter = tokio::spawn(report_status(
        counters.clone(),
        settings.log_status_reporting_period,
        started,
        shutdown.clone(),
    ));

    shutdown.cancelled().await;
    tracing::info!("Agent: shutting down: stop reading, drain in-flight batches");
    generators.stop();
    let deadline = tokio::time::Instant::now() + settings.shutdown_timeout;
    let mut report = RunReport::default();
    for f in &mut flows {
        f.drain_until(deadline, &abandon).await;
    }
    for f in flows {
        f.join().await;
    }
    writer_stop.cancel();
    match writer.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!("final checkpoint write failed: {e}"),
        Err(e) => tracing::error!("checkpoint writer task failed: {e}"),
    }
    metrics_stop.cancel();
    let _ = reporter.await; // it only logs; a panic there has already been reported
    for c in &counters {
        tracing::info!("{}", status::tailer_progress(c));
        report.records_sent += c.records_sent.load(std::sync::atomic::Ordering::Relaxed);
        report.records_parsed += c.records_parsed.load(std::sync::atomic::Ordering::Relaxed);
        report.abandoned += c.abandoned.load(std::sync::atomic::Ordering::Relaxed);
    }
    Ok(report)
}

/// Logs the Kinesis Agent's status lines every `period` until shutdown.
async fn report_status(
    flows: Vec<Arc<FlowCounters>>,
    period: Duration,
    started: Instant,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(period.max(Duration::from_secs(1)));
    tick.tick().await; // the first tick is immediate; the agent's first line comes a period in
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let (mut parsed, mut bytes, mut sent) = (0, 0, 0);
        for c in &flows {
            tracing::info!(target: "firetail::FileTailer", "{}", status::tailer_progress(c));
            parsed += c.records_parsed.load(std::sync::atomic::Ordering::Relaxed);
            bytes += c.bytes_parsed.load(std::sync::atomic::Ordering::Relaxed);
            sent += c.records_sent.load(std::sync::atomic::Ordering::Relaxed);
        }
        tracing::info!(
            target: "firetail::Agent",
            "{}",
            status::agent_progress(parsed, bytes, sent, started.elapsed().as_millis())
        );
    }
}
