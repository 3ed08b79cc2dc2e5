//! The daemon: one pipeline per flow, wired from the configuration, and an ordered
//! shutdown.
//!
//! Per flow: `tail` ──`Vec<Record>`──> `process` ──`Vec<OutRecord>`──> `sink`, with an ack
//! channel from process (skips) and sink (accepted records) back to the tailer. The two
//! record channels are bounded by [`RECORD_CHANNEL_CHUNKS`] chunks. The ack channel is
//! not, by design: an ack must never block a sender that holds in-flight budget, and its
//! length is bounded anyway, since a tailer never has more than
//! `firetail.maxInFlightBytes` unacknowledged. So memory is set by configuration whatever
//! the input.
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
mod destinations;
mod flow;
pub mod process_stage;
pub mod status;
pub mod supervise;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use firetail_config::{FlowSettings, Settings};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::telemetry::snapshot::StatusSnapshot;
use crate::telemetry::{FlowView, Observability};

use crate::daemon::counters::FlowCounters;
pub use crate::daemon::flow::framing_config;
use crate::daemon::flow::FlowPipeline;

/// Chunks (one read's worth of records each) buffered between two stages. Small: the
/// in-flight byte budget, not channel depth, is what bounds memory; depth only smooths
/// hand-offs between tasks.
pub const RECORD_CHANNEL_CHUNKS: usize = 16;

/// How often histogram samples are folded into buckets when nobody scrapes `/metrics`
/// (unfolded samples cost memory per request).
const TELEMETRY_UPKEEP: Duration = Duration::from_secs(5);

/// Called once every flow is running, with each flow's counters.
pub type ReadyHook = Box<dyn FnOnce(Vec<Arc<FlowCounters>>) + Send>;

/// Called with the daemon's status once it is ready, then every status period.
pub type StatusHook = Box<dyn Fn(&StatusSnapshot) + Send + Sync>;

/// Hooks into a running daemon.
#[derive(Default)]
pub struct Hooks {
    /// Called once every flow's pipeline is running (`firetail run` sends READY=1).
    pub ready: Option<ReadyHook>,
    /// New configurations to apply (SIGHUP): flows added, removed or changed are
    /// started or stopped; unchanged flows keep running untouched.
    pub reload: Option<tokio::sync::mpsc::Receiver<Settings>>,
    /// Called at ready, then every `log.statusReportingPeriodSeconds` with the status
    /// snapshot (`firetail run` sends its one-line form to systemd as `STATUS=`).
    pub status: Option<StatusHook>,
}

/// What a finished run reports.
#[derive(Debug, Default)]
pub struct RunReport {
    pub records_sent: u64,
    pub records_parsed: u64,
    /// Records still unsettled when the shutdown deadline passed (read again on restart).
    pub abandoned: u64,
}

/// The flows running now, by flow id, published to the status reporter and the metrics
/// endpoint whenever the set changes.
struct RunningFlows {
    by_id: BTreeMap<String, (FlowSettings, FlowPipeline)>,
    views: watch::Sender<Vec<FlowView>>,
    /// Flows that have stopped (removed on reload), kept for the final report.
    retired: Vec<FlowView>,
}

impl RunningFlows {
    fn publish(&self) {
        let views = self.by_id.values().map(|(_, p)| p.view()).collect();
        self.views.send_replace(views);
    }

    /// Stops one flow in order (stop reading, drain until `timeout`, abandon) and waits
    /// for its final checkpoint.
    async fn stop(&mut self, id: &str, timeout: Duration) {
        if let Some((_, mut p)) = self.by_id.remove(id) {
            p.stop_reading();
            p.drain_until(tokio::time::Instant::now() + timeout).await;
            self.retired.push(p.view());
            p.join().await;
        }
    }
}

/// Runs every flow of `settings` until `shutdown` fires, then shuts down in order:
/// `start` brings every part up, `Daemon::serve` applies reloads, and
/// `Daemon::shut_down` stops the parts in the order the module docs give.
pub async fn run(
    settings: Settings,
    shutdown: CancellationToken,
    mut hooks: Hooks,
) -> anyhow::Result<RunReport> {
    let mut daemon = start(&settings, &shutdown, &mut hooks).await?;
    let current = daemon.serve(settings, &shutdown, &mut hooks).await;
    Ok(daemon.shut_down(&current).await)
}

/// The parts [`start`] leaves running. Each background task has a stop token of its own
/// (the caller's `shutdown` only stops reading), so [`Daemon::shut_down`] can stop them
/// one at a time, in order.
struct Daemon {
    started: Instant,
    running: RunningFlows,
    clients: flow::Clients,
    store: firetail_tail::CheckpointStore,
    generators: flow::Generators,
    /// The checkpoint writer; stopped after every flow has joined, so the acks that
    /// arrive during the drain are saved by its final write.
    writer: JoinHandle<Result<(), firetail_tail::TailError>>,
    writer_stop: CancellationToken,
    /// The CloudWatch publisher; stopped after the flows, so their last calls count.
    cloudwatch_stop: CancellationToken,
    /// The instance-metadata refresher (ADDEC2METADATA); stopped once nothing converts.
    imds_stop: CancellationToken,
    /// Telemetry upkeep and the metrics endpoint; stopped last, so `/health` and
    /// `/metrics` answer during the drain.
    metrics_stop: CancellationToken,
    /// The periodic status lines; ends on the caller's `shutdown`.
    reporter: JoinHandle<()>,
    internal_metrics: bool,
}

/// Opens the checkpoint store (importing the Kinesis Agent's checkpoints on a first
/// start), builds the clients, starts every flow, the generators, telemetry and the
/// status reporter, then calls the ready hook.
async fn start(
    settings: &Settings,
    shutdown: &CancellationToken,
    hooks: &mut Hooks,
) -> anyhow::Result<Daemon> {
    let started = Instant::now();
    tracing::info!("Agent: Starting up...");
    let store = open_store(settings)?;
    let mut clients = flow::Clients::build(settings).await?;
    let cloudwatch_stop = CancellationToken::new();
    clients.cloudwatch =
        crate::cloudwatch::start(settings, &clients.base, cloudwatch_stop.clone()).await?;
    let imds_stop = CancellationToken::new();
    clients.metadata = crate::imds::start_for(settings, imds_stop.clone()).await;

    let (views_tx, views_rx) = watch::channel(Vec::new());
    let mut running = RunningFlows {
        by_id: BTreeMap::new(),
        views: views_tx,
        retired: Vec::new(),
    };
    for flow in &settings.flows {
        start_flow(&mut running, flow, &clients, &store, shutdown)?;
    }
    running.publish();
    let writer_stop = CancellationToken::new();
    let writer = {
        let store = store.clone();
        let stop = writer_stop.clone();
        tokio::spawn(async move { store.run_writer(stop).await })
    };
    let generators = crate::daemon::flow::start_generators(settings)?;
    let metrics_stop = CancellationToken::new();
    let observability =
        start_telemetry(settings, views_rx.clone(), &store, metrics_stop.clone()).await?;
    tracing::info!(
        "Agent: Startup completed in {} ms.",
        started.elapsed().as_millis()
    );
    if let Some(ready) = hooks.ready.take() {
        ready(
            running
                .by_id
                .values()
                .map(|(_, p)| p.counters.clone())
                .collect(),
        );
    }
    let internal_metrics = settings.log_emit_internal_metrics;
    let reporter = tokio::spawn(report_status(
        StatusReporting {
            flows: views_rx,
            period: settings.log_status_reporting_period,
            started,
            internal_metrics,
            observability,
            hook: hooks.status.take(),
        },
        shutdown.clone(),
    ));
    Ok(Daemon {
        started,
        running,
        clients,
        store,
        generators,
        writer,
        writer_stop,
        cloudwatch_stop,
        imds_stop,
        metrics_stop,
        reporter,
        internal_metrics,
    })
}

/// The checkpoint store. A drop-in upgrade may point `checkpointFile` at the Kinesis
/// Agent's SQLite file: that is imported from (before any flow reads, and only when
/// firetail has no store yet), and firetail keeps its own store beside its default path.
fn open_store(settings: &Settings) -> anyhow::Result<firetail_tail::CheckpointStore> {
    let checkpoint_paths = crate::migrate::checkpoint_paths(settings);
    let store = firetail_tail::CheckpointStore::open_with_ttl(
        &checkpoint_paths.store,
        settings.checkpoint_interval,
        settings.checkpoint_time_to_live(),
    )
    .with_context(|| {
        format!(
            "opening checkpoint file {}",
            checkpoint_paths.store.display()
        )
    })?;
    crate::migrate::import_on_first_start(settings, &store);
    Ok(store)
}

/// The Prometheus registry, its upkeep task and (with `firetail.metrics.listen`) the
/// metrics and health endpoint, all stopped by `stop`.
async fn start_telemetry(
    settings: &Settings,
    views: watch::Receiver<Vec<FlowView>>,
    store: &firetail_tail::CheckpointStore,
    stop: CancellationToken,
) -> anyhow::Result<Observability> {
    let observability =
        Observability::new(crate::telemetry::install(), views).with_checkpoints(store.clone());
    tokio::spawn({
        let obs = observability.clone();
        let stop = stop.clone();
        async move {
            let mut tick = tokio::time::interval(TELEMETRY_UPKEEP);
            loop {
                tokio::select! {
                    _ = tick.tick() => obs.run_upkeep(),
                    _ = stop.cancelled() => return,
                }
            }
        }
    });
    if let Some(addr) = settings.metrics_listen {
        let bound = crate::telemetry::serve(addr, observability.clone(), stop)
            .await
            .with_context(|| {
                format!("binding the metrics endpoint {addr} (firetail.metrics.listen)")
            })?;
        tracing::info!("metrics and health on http://{bound}/metrics");
    }
    Ok(observability)
}

impl Daemon {
    /// Applies each configuration `hooks.reload` delivers until `shutdown` fires, and
    /// returns the one in force then (its `shutdownTimeoutMillis` bounds the drain).
    async fn serve(
        &mut self,
        settings: Settings,
        shutdown: &CancellationToken,
        hooks: &mut Hooks,
    ) -> Settings {
        let mut current = settings;
        loop {
            let next = match hooks.reload.as_mut() {
                Some(rx) => tokio::select! {
                    _ = shutdown.cancelled() => break,
                    next = rx.recv() => next,
                },
                None => {
                    shutdown.cancelled().await;
                    break;
                }
            };
            match next {
                Some(new) => {
                    let (running, clients, store) = (&mut self.running, &self.clients, &self.store);
                    reload(running, &current, &new, clients, store, shutdown).await;
                    current = new;
                }
                // The reload source is gone; keep running until shutdown.
                None => hooks.reload = None,
            }
        }
        current
    }

    /// Stops everything, in this order:
    /// 1. the generators, and every flow's reading;
    /// 2. every flow drains (partial batches, retries) until `shutdownTimeoutMillis`,
    ///    then abandons what is still in flight, unacknowledged;
    /// 3. every flow joins: its tailer records its final watermark once its last
    ///    `Acker` is gone;
    /// 4. the CloudWatch publisher flushes, then the IMDS refresher stops;
    /// 5. the checkpoint writer writes the file one last time;
    /// 6. telemetry stops and the status reporter ends; the final status line.
    async fn shut_down(mut self, current: &Settings) -> RunReport {
        tracing::info!("Agent: shutting down: stop reading, drain in-flight batches");
        let shutdown_began = Instant::now();
        self.generators.stop();
        let deadline = tokio::time::Instant::now() + current.shutdown_timeout;
        for (_, p) in self.running.by_id.values_mut() {
            p.stop_reading();
        }
        for (_, p) in self.running.by_id.values_mut() {
            p.drain_until(deadline).await;
        }
        let mut all: Vec<FlowView> = self.running.retired.clone();
        for (_, (_, p)) in std::mem::take(&mut self.running.by_id) {
            all.push(p.view());
            p.join().await;
        }
        self.cloudwatch_stop.cancel();
        if let Some(cw) = &self.clients.cloudwatch {
            cw.finished().await;
        }
        self.imds_stop.cancel();
        self.writer_stop.cancel();
        match self.writer.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!("final checkpoint write failed: {e}"),
            Err(e) => tracing::error!("checkpoint writer task failed: {e}"),
        }
        self.metrics_stop.cancel();
        let _ = self.reporter.await; // it only logs; a panic there has already been reported

        // The agent logs its status once more at shutdown, then how long shutting down took.
        emit_status(&all, self.started, self.internal_metrics);
        tracing::info!(
            "Agent: Shut down completed in {} ms. Uptime: {} ms",
            shutdown_began.elapsed().as_millis(),
            self.started.elapsed().as_millis()
        );
        run_report(&all)
    }
}

/// Totals over every flow that ran, retired ones included.
fn run_report(flows: &[FlowView]) -> RunReport {
    let mut report = RunReport::default();
    for v in flows {
        let c = &v.counters;
        report.records_sent += c.records_sent.load(Relaxed);
        report.records_parsed += c.records_parsed.load(Relaxed);
        report.abandoned += c.abandoned.load(Relaxed);
    }
    report
}

fn start_flow(
    running: &mut RunningFlows,
    flow: &FlowSettings,
    clients: &flow::Clients,
    store: &firetail_tail::CheckpointStore,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    tracing::info!("Agent: Starting tailer for file {}", flow.id);
    let pipeline = FlowPipeline::spawn(flow, clients, store.flow(&flow.id), shutdown)
        .with_context(|| format!("starting flow {}", flow.id))?;
    running
        .by_id
        .insert(flow.id.clone(), (flow.clone(), pipeline));
    Ok(())
}

/// Applies a new configuration: stops flows that are gone or changed (each drains and
/// writes its checkpoint first, so nothing is lost or re-sent), starts new and changed
/// ones (they resume from those checkpoints). Global keys take effect at restart.
async fn reload(
    running: &mut RunningFlows,
    old: &Settings,
    new: &Settings,
    clients: &flow::Clients,
    store: &firetail_tail::CheckpointStore,
    shutdown: &CancellationToken,
) {
    let wanted: BTreeMap<&str, &FlowSettings> =
        new.flows.iter().map(|f| (f.id.as_str(), f)).collect();
    let stale: Vec<String> = running
        .by_id
        .iter()
        .filter(|(id, (cfg, _))| wanted.get(id.as_str()).is_none_or(|w| !same_flow(w, cfg)))
        .map(|(id, _)| id.clone())
        .collect();
    for id in &stale {
        tracing::info!("reload: stopping flow {id}");
        running.stop(id, new.shutdown_timeout).await;
    }
    for flow in &new.flows {
        if !running.by_id.contains_key(&flow.id) {
            if let Some(cw) = &clients.cloudwatch {
                let dimension = flow.destination.label();
                cw.register_flow(&flow.id, &dimension).await;
            }
            if let Err(e) = start_flow(running, flow, clients, store, shutdown) {
                tracing::error!("reload: cannot start flow {}: {e:#}", flow.id);
            }
        }
    }
    running.publish();
    let mut old_globals = old.clone();
    let mut new_globals = new.clone();
    old_globals.flows.clear();
    new_globals.flows.clear();
    if old_globals != new_globals {
        tracing::warn!("reload: global settings changed; they take effect at the next restart");
    }
    tracing::info!("reload: {} flow(s) running", running.by_id.len());
}

/// Flows are compared without `index` and `origin`, which move when files are edited.
fn same_flow(a: &FlowSettings, b: &FlowSettings) -> bool {
    let mut a = a.clone();
    a.index = b.index;
    a.origin = b.origin.clone();
    a == *b
}

/// What [`report_status`] reports from, and to.
struct StatusReporting {
    flows: watch::Receiver<Vec<FlowView>>,
    period: Duration,
    started: Instant,
    internal_metrics: bool,
    observability: Observability,
    hook: Option<StatusHook>,
}

/// Logs the Kinesis Agent's status lines every `period` until shutdown (the final report
/// is logged by [`run`] once the flows have drained), and hands the status snapshot to
/// the hook at once and then at the same pace.
async fn report_status(r: StatusReporting, shutdown: CancellationToken) {
    if let Some(hook) = &r.hook {
        hook(&r.observability.snapshot());
    }
    let mut tick = tokio::time::interval(r.period.max(Duration::from_secs(1)));
    tick.tick().await; // the first tick is immediate; the agent's first line comes a period in
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let views = r.flows.borrow().clone();
        emit_status(&views, r.started, r.internal_metrics);
        if let Some(hook) = &r.hook {
            hook(&r.observability.snapshot());
        }
    }
}

/// One round of status lines: per flow, progress and how far behind; then the agent's.
/// "Behind" here is the agent's: bytes not read yet (the Prometheus gauge counts bytes
/// not acknowledged yet, which a restart would read again).
fn emit_status(views: &[FlowView], started: Instant, internal_metrics: bool) {
    let (mut parsed, mut bytes, mut sent, mut behind, mut files_behind) = (0, 0, 0, 0, 0);
    for v in views {
        let c = &v.counters;
        let tail = v.status.borrow().clone();
        let unread = status::Unread::of(&tail);
        tracing::info!(
            target: "firetail::FileTailer",
            "{}",
            status::tailer_progress(c, tail.bytes_read)
        );
        let subject = format!("FileTailer[{}]: Tailer", c.flow_id);
        log_behind(&subject, unread, internal_metrics);
        parsed += c.records_parsed.load(Relaxed);
        bytes += tail.bytes_read;
        sent += c.records_sent.load(Relaxed);
        behind += unread.bytes;
        files_behind += unread.files;
    }
    tracing::info!(
        target: "firetail::Agent",
        "{}",
        status::agent_progress(parsed, bytes, sent, started.elapsed().as_millis())
    );
    let total = status::Unread {
        bytes: behind,
        files: files_behind,
    };
    log_behind("Agent: Tailing", total, internal_metrics);
}

fn log_behind(subject: &str, unread: status::Unread, internal_metrics: bool) {
    let Some(level) = status::behind_level(unread.bytes, internal_metrics) else {
        return;
    };
    let line = status::behind(subject, unread.bytes, unread.files);
    match level {
        tracing::Level::WARN => tracing::warn!("{line}"),
        tracing::Level::INFO => tracing::info!("{line}"),
        _ => tracing::debug!("{line}"),
    }
}
