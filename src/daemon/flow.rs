//! One flow's pipeline: its tasks, the channels between them, and how it stops.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use firetail_config::{Destination, FlowSettings, Settings};
use firetail_process::Chain;
use firetail_record::Acker;
use firetail_sink::SinkConfig;
use firetail_tail::frame::FramingConfig;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::aws::{self, AwsSettings};
use crate::daemon::counters::FlowCounters;
use crate::daemon::destinations::Destinations;
use crate::daemon::process_stage::{self, ProcessSettings};
use crate::daemon::supervise::{spawn_stage, Stage, StageEnd};
use crate::daemon::RECORD_CHANNEL_CHUNKS;

/// The AWS clients the flows share.
pub struct Clients {
    /// Each destination's SDK client, connected for the first flow that sends there.
    pub destinations: Destinations,
    /// The shared SDK configuration (credentials, region chain, timeouts).
    pub base: aws_config::SdkConfig,
    /// CloudWatch metrics, when `cloudwatch.emitMetrics` is on.
    pub cloudwatch: Option<Arc<crate::cloudwatch::CloudWatchEvents>>,
    /// Instance metadata for ADDEC2METADATA, when some flow uses it.
    pub metadata: Option<Arc<dyn firetail_process::InstanceMetadataSource>>,
}

impl Clients {
    pub async fn build(settings: &Settings) -> anyhow::Result<Clients> {
        let base = aws::load_base(&AwsSettings::from_settings(settings)).await;
        warn_of_agent_region_default(settings, &base);
        Ok(Clients {
            destinations: Destinations::connect_all(base.clone(), settings)?,
            base,
            cloudwatch: None,
            metadata: None,
        })
    }
}

/// The Kinesis Agent sends to Firehose, and publishes CloudWatch metrics, in us-east-1
/// whenever `firehose.endpoint` / `cloudwatch.endpoint` is unset, whatever the host's
/// region; firetail uses the host's region instead. A fleet that relied on the old default
/// would see "stream not found", or dashboards and alarms in us-east-1 going quiet, so
/// say so once at start.
fn warn_of_agent_region_default(settings: &Settings, base: &aws_config::SdkConfig) {
    let firehose = AgentDefault {
        what: "Firehose region",
        consequence: "sent to us-east-1",
        where_: "the delivery streams are there",
        key: "firetail.firehose.region",
    };
    let cloudwatch = AgentDefault {
        what: "CloudWatch metrics region",
        consequence: "published its metrics to us-east-1",
        where_: "dashboards and alarms read them",
        key: "firetail.cloudwatch.region",
    };
    let wants_firehose = settings
        .flows
        .iter()
        .any(|f| matches!(f.destination, Destination::Firehose { .. }));
    let configured_firehose =
        settings.firehose_region().is_some() || settings.firehose_endpoint.is_some();
    let configured_cloudwatch =
        settings.cloudwatch_region().is_some() || settings.cloudwatch_endpoint.is_some();
    let warnings = [
        (wants_firehose, configured_firehose, firehose),
        (
            settings.cloudwatch_emit_metrics,
            configured_cloudwatch,
            cloudwatch,
        ),
    ];
    for (used, configured, default) in warnings {
        if let Some(warning) = used
            .then(|| agent_region_default_warning(&default, configured, base))
            .flatten()
        {
            tracing::warn!("{warning}");
        }
    }
}

/// One client the agent pinned to us-east-1 when its endpoint key was unset.
struct AgentDefault {
    what: &'static str,
    consequence: &'static str,
    where_: &'static str,
    key: &'static str,
}

fn agent_region_default_warning(
    default: &AgentDefault,
    configured: bool,
    base: &aws_config::SdkConfig,
) -> Option<String> {
    if configured {
        return None;
    }
    let region = base.region().filter(|r| r.as_ref() != "us-east-1")?;
    Some(format!(
        "{} is {region}, from the AWS SDK's region chain. The Kinesis Agent would have \
         {} (its default while the endpoint key is unset); if {}, set {} to \
         us-east-1.",
        default.what, default.consequence, default.where_, default.key
    ))
}

/// A running flow.
pub struct FlowPipeline {
    pub counters: Arc<FlowCounters>,
    pub status: watch::Receiver<firetail_tail::FlowTailStatus>,
    /// Stops this flow's tailer reading (a child of the daemon's shutdown token).
    stop_reading: CancellationToken,
    /// Makes the sink give up in-flight work unacknowledged (the drain deadline).
    abandon: CancellationToken,
    tail: Option<JoinHandle<StageEnd<Result<(), firetail_tail::TailError>>>>,
    process: Option<JoinHandle<StageEnd<()>>>,
    sink: Option<JoinHandle<StageEnd<SinkOutcome>>>,
    /// The sink's result when it finished within the drain deadline.
    sink_done: Option<Result<StageEnd<SinkOutcome>, tokio::task::JoinError>>,
}

type SinkOutcome = Result<firetail_sink::SinkSummary, firetail_sink::SinkError>;

impl FlowPipeline {
    /// What the metrics and status lines read of this flow.
    pub fn view(&self) -> crate::telemetry::FlowView {
        crate::telemetry::FlowView {
            counters: self.counters.clone(),
            status: self.status.clone(),
        }
    }
    pub fn spawn(
        flow: &FlowSettings,
        clients: &Clients,
        checkpoints: firetail_tail::FlowCheckpoints,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<FlowPipeline> {
        let stop_reading = shutdown.child_token();
        let abandon = CancellationToken::new();
        let chain = processing_chain(flow, clients)?;
        let client = clients.destinations.put_client(&flow.destination)?;
        let counters = Arc::new(FlowCounters::new(flow.id.clone(), flow.destination.label()));

        let (records_tx, records_rx) = mpsc::channel(RECORD_CHANNEL_CHUNKS);
        let (out_tx, out_rx) = mpsc::channel(RECORD_CHANNEL_CHUNKS);
        let (acker, acks_rx) = Acker::channel();
        let (status_tx, status_rx) = watch::channel(firetail_tail::FlowTailStatus::default());

        let tail_cfg = tail_config(flow, !chain.is_empty())?;
        let tail = spawn_stage(
            Stage::Tail,
            counters.clone(),
            stop_reading.clone(),
            firetail_tail::run_flow(
                tail_cfg,
                checkpoints,
                records_tx,
                acks_rx,
                status_tx,
                stop_reading.clone(),
            ),
            |r| r.as_ref().err().map(ToString::to_string),
        );
        let process = spawn_stage(
            Stage::Process,
            counters.clone(),
            stop_reading.clone(),
            process_stage::run(
                Arc::new(chain),
                ProcessSettings::for_flow(flow),
                records_rx,
                out_tx,
                acker.clone(),
                counters.clone(),
            ),
            |_| None,
        );
        let events = sink_events(clients, &counters);
        let sink = spawn_stage(
            Stage::Sink,
            counters.clone(),
            stop_reading.clone(),
            firetail_sink::run_sink(
                sink_config(flow),
                client,
                out_rx,
                acker,
                events,
                abandon.clone(),
            ),
            |r| r.as_ref().err().map(ToString::to_string),
        );
        Ok(FlowPipeline {
            counters,
            status: status_rx,
            stop_reading,
            abandon,
            tail: Some(tail),
            process: Some(process),
            sink: Some(sink),
            sink_done: None,
        })
    }

    /// Stops the tailer reading; the rest of the pipeline drains what it holds.
    pub fn stop_reading(&self) {
        self.stop_reading.cancel();
    }

    /// Waits for the sink to drain until `deadline`, then abandons what is left.
    pub async fn drain_until(&mut self, deadline: tokio::time::Instant) {
        let abandon = &self.abandon;
        if let Some(error) = self.counters.permanent_error_active() {
            // Nothing can be delivered before the deadline; waiting it out only delays
            // the stop. The records are read again from the checkpoint on restart.
            tracing::warn!(
                flow = %self.counters.flow_id,
                "stopping while the destination fails permanently ({error}); in-flight records will be read again"
            );
            abandon.cancel();
        }
        if let Some(sink) = self.sink.as_mut() {
            match tokio::time::timeout_at(deadline, &mut *sink).await {
                Ok(done) => {
                    self.sink = None;
                    self.sink_done = Some(done);
                }
                Err(_) => {
                    tracing::warn!(
                        flow = %self.counters.flow_id,
                        "shutdown deadline reached: abandoning in-flight records (they will be read again)"
                    );
                    abandon.cancel();
                }
            }
        }
    }

    /// Waits for every task of the flow to end, logging how each ended.
    pub async fn join(mut self) {
        let flow = self.counters.flow_id.clone();
        let sink_done = match self.sink.take() {
            Some(sink) => Some(sink.await),
            None => self.sink_done.take(),
        };
        // A stage that ended early was reported when it did (daemon::supervise); these
        // lines are what a stop itself ran into.
        if let Some(done) = sink_done {
            match done.and_then(|end| end) {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(%flow, "sink stopped with an error: {e}"),
                Err(e) => tracing::error!(%flow, "sink task failed: {e}"),
            }
        }
        if let Some(p) = self.process.take() {
            if let Err(e) = p.await.and_then(|end| end) {
                tracing::error!(%flow, "process task failed: {e}");
            }
        }
        if let Some(t) = self.tail.take() {
            match t.await.and_then(|end| end) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(%flow, "tailer stopped with an error: {e}"),
                Err(e) => tracing::error!(%flow, "tailer task failed: {e}"),
            }
        }
    }
}

/// The framing rules of `flow`. With converters, records are cut after conversion
/// (as the agent does), so the framer itself must not cut them.
pub fn framing_config(flow: &FlowSettings, converts: bool) -> FramingConfig {
    let mut framing = FramingConfig::for_destination(flow.destination.limits());
    framing.max_record_size = if converts {
        usize::MAX
    } else {
        flow.max_record_size_bytes()
    };
    framing.multi_line_start_pattern = flow.multi_line_start_pattern.clone();
    framing.skip_header_lines = flow.skip_header_lines as usize;
    framing.truncated_record_terminator = flow.truncated_record_terminator.as_bytes().to_vec();
    framing.aggregated_record_size_bytes = flow.aggregated_record_size_bytes as usize;
    framing.file_footer_pattern = flow.file_footer_pattern.clone();
    framing
}
/// The flow's `dataProcessingOptions`, with the instance metadata ADDEC2METADATA reads.
fn processing_chain(flow: &FlowSettings, clients: &Clients) -> anyhow::Result<Chain> {
    let chain = match &flow.data_processing_options {
        Some(opts) => Chain::from_options(opts).context("dataProcessingOptions")?,
        None => Chain::empty(),
    };
    Ok(match &clients.metadata {
        Some(m) => chain.with_metadata_source(m.clone()),
        None => chain,
    })
}

/// The sink reports to the flow's counters, and to CloudWatch when it is on.
fn sink_events(
    clients: &Clients,
    counters: &Arc<FlowCounters>,
) -> Arc<dyn firetail_sink::SinkEvents> {
    match &clients.cloudwatch {
        Some(cw) => Arc::new(crate::cloudwatch::FanOut(vec![
            counters.clone(),
            cw.clone(),
        ])),
        None => counters.clone(),
    }
}

fn tail_config(flow: &FlowSettings, converts: bool) -> anyhow::Result<firetail_tail::TailConfig> {
    let framing = framing_config(flow, converts);
    Ok(firetail_tail::TailConfig {
        flow_id: flow.id.clone(),
        file_pattern: flow.file_pattern.clone(),
        framing,
        initial_position: match flow.initial_position {
            firetail_config::InitialPosition::StartOfFile => {
                firetail_tail::InitialPosition::StartOfFile
            }
            firetail_config::InitialPosition::EndOfFile => {
                firetail_tail::InitialPosition::EndOfFile
            }
        },
        max_open_files: flow.max_open_files as usize,
        max_in_flight_bytes: flow.max_in_flight_bytes,
        reconcile_interval: flow.reconcile_interval,
        full_scan_interval: flow.max_time_between_file_tracker_refresh,
        idle_flush: flow.idle_flush,
        fingerprint_bytes: flow.fingerprint_bytes as usize,
        poll_interval: flow
            .min_time_between_file_polls
            .max(Duration::from_millis(10)),
    })
}

fn sink_config(flow: &FlowSettings) -> SinkConfig {
    let limits = flow.destination.limits();
    let mut cfg = SinkConfig::agent_defaults(flow.id.clone(), flow.destination.target(), limits);
    cfg.max_records = flow.max_buffer_size_records as usize;
    cfg.max_bytes = flow.max_buffer_size_bytes as usize;
    cfg.max_age = flow.max_buffer_age;
    // The agent computes min(max, initial x 2^n): an initial backoff above the maximum
    // means every retry waits the maximum. The sink refuses initial > max, so clamp.
    cfg.retry_initial_backoff = flow.retry_initial_backoff.min(flow.retry_max_backoff);
    cfg.retry_max_backoff = flow.retry_max_backoff;
    cfg.max_in_flight = flow.max_requests_in_flight as usize;
    cfg.permanent_retry_interval = flow.permanent_retry_interval;
    cfg.request_timeout = flow.request_timeout;
    cfg.linger = flow.linger;
    if let Destination::Kinesis { partition_key, .. } = &flow.destination {
        // The process stage picks every key; were one missing or invalid, the sink's
        // replacement follows the flow's option (never RANDOM for a DETERMINISTIC flow).
        cfg.partition_keys = *partition_key;
    }
    cfg.rate_ceiling = flow
        .rate_ceiling
        .then(firetail_sink::CeilingConfig::default);
    if flow.pacing_records_per_second.is_some() || flow.pacing_bytes_per_second.is_some() {
        cfg.pacing = Some(firetail_sink::Pacing {
            records_per_sec: flow.pacing_records_per_second.map(|v| v as f64),
            bytes_per_sec: flow.pacing_bytes_per_second.map(|v| v as f64),
        });
    }
    cfg
}

/// The access-log generators configured under `firetail.generators`, each on its own
/// thread (the generator is synchronous by design: it paces itself with a clock).
pub struct Generators {
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Generators {
    pub fn stop(&self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

pub fn start_generators(settings: &Settings) -> anyhow::Result<Generators> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for g in &settings.generators {
        let cfg = crate::cli::generate::config_from_settings(g)?;
        let handle = firetail_generate::spawn(cfg, stop.clone());
        let path = g.path.clone();
        // The thread reports its own end; a failure is logged, never fatal to shipping.
        std::thread::spawn(move || match handle.join() {
            Ok(Ok(summary)) => {
                tracing::info!(path = %path.display(), lines = summary.lines, "generator stopped")
            }
            Ok(Err(e)) => tracing::error!(path = %path.display(), "generator failed: {e}"),
            Err(_) => tracing::error!(path = %path.display(), "generator thread panicked"),
        });
    }
    Ok(Generators { stop })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aws_config::{Region, SdkConfig};

    fn settings(extra: &str) -> Settings {
        let text = format!(
            r#"{{ {extra} "flows": [{{"filePattern": "/var/log/a*", "deliveryStream": "s"}}] }}"#
        );
        firetail_config::parse_str(&text, "agent.json")
            .unwrap()
            .settings
    }

    #[test]
    fn an_initial_backoff_above_the_maximum_is_clamped_and_the_sink_accepts_it() {
        let s = settings("");
        let mut flow = s.flows[0].clone();
        flow.retry_initial_backoff = Duration::from_secs(20);
        flow.retry_max_backoff = Duration::from_millis(500);
        let cfg = sink_config(&flow);
        assert_eq!(cfg.retry_initial_backoff, Duration::from_millis(500));
        cfg.validate(&firetail_sink::FIREHOSE).unwrap();
    }

    /// The stages' own constructors, which their tests and benches use, start from the key
    /// table's defaults: a flow that sets no key gets the same configuration from them as
    /// from the daemon. (`maxRequestsInFlight`'s default depends on the host's CPUs.)
    #[test]
    fn the_stages_constructors_agree_with_the_key_tables_defaults() {
        for (destination, limits) in [
            (r#""deliveryStream": "s""#, &firetail_sink::FIREHOSE),
            (r#""kinesisStream": "s""#, &firetail_sink::KINESIS),
            (
                r#""firetail.logGroup": "s", "firetail.logStream": "l""#,
                &firetail_sink::CLOUDWATCH_LOGS,
            ),
        ] {
            let kind = limits.name;
            let text =
                format!(r#"{{ "flows": [{{"filePattern": "/var/log/a*", {destination}}}] }}"#);
            let settings = firetail_config::parse_str(&text, "agent.json")
                .unwrap()
                .settings;
            let flow = &settings.flows[0];
            let daemon = sink_config(flow);
            let target = flow.destination.target();
            let mut own = SinkConfig::agent_defaults(flow.id.clone(), target, limits);
            own.max_in_flight = daemon.max_in_flight;
            assert_eq!(format!("{own:?}"), format!("{daemon:?}"), "{kind}");

            let daemon = tail_config(flow, false).unwrap();
            let own = firetail_tail::TailConfig::new(
                &flow.id,
                &flow.file_pattern,
                framing_config(flow, false),
            );
            assert_eq!(format!("{own:?}"), format!("{daemon:?}"), "{kind}");
        }
    }

    #[test]
    fn a_host_region_other_than_the_agents_default_is_pointed_out() {
        let host = |r: &'static str| SdkConfig::builder().region(Region::from_static(r)).build();
        let firehose = |s: &Settings, h: &SdkConfig| {
            let d = AgentDefault {
                what: "Firehose region",
                consequence: "sent to us-east-1",
                where_: "the delivery streams are there",
                key: "firetail.firehose.region",
            };
            let configured = s.firehose_region().is_some() || s.firehose_endpoint.is_some();
            agent_region_default_warning(&d, configured, h)
        };
        let warning = firehose(&settings(""), &host("eu-west-1")).unwrap();
        assert!(warning.contains("eu-west-1") && warning.contains("firetail.firehose.region"));
        assert_eq!(firehose(&settings(""), &host("us-east-1")), None);
        let pinned = settings(r#""firetail.firehose.region": "eu-west-1","#);
        assert_eq!(firehose(&pinned, &host("eu-west-1")), None);
        let endpoint = settings(r#""firehose.endpoint": "firehose.eu-west-1.amazonaws.com","#);
        assert_eq!(firehose(&endpoint, &host("eu-west-1")), None);
    }
}
