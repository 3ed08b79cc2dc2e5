//! CloudWatch metrics as the Kinesis Agent publishes them (`cloudwatch.emitMetrics`,
//! spec §6.1), so dashboards and alarms built on the agent's namespace keep working.
//!
//! # What is published
//! Per API call to the destination, five values, each a StatisticSet (SampleCount, Sum,
//! Minimum, Maximum) accumulated per (metric, dimensions) and sent without a timestamp:
//! `RecordSendAttempts` (records in the request, also when the call failed),
//! `RecordsSent`, `RecordSendErrors`, `BytesSent` (only when the service answered) and
//! `ServiceErrors` (0 when it answered, 1 when the call failed). The dimension is
//! `Destination` = `DeliveryStream:<name>` / `KinesisStream:<name>`, plus `Instance` when
//! `cloudwatch.tagInstance` is set. Flows sending to the same stream share datums, as in
//! the agent.
//!
//! # How
//! The sink calls [`CloudWatchEvents`] (a [`SinkEvents`]) on its own task; each call is
//! one `try_send` of a small message to a bounded queue, never a wait: when the queue
//! is full the event is counted as dropped and the publisher warns about it. The
//! publisher task reassembles each request from the events (they arrive in order per
//! flow), accumulates, and flushes every `cloudwatch.metricsBufferTimeMillis` or as soon
//! as [`FLUSH_AT_DATUMS`] distinct datums are queued, in `PutMetricData` calls of
//! [`PUT_BATCH_DATUMS`], from a task of its own so that events keep being taken while a
//! call is slow. A failed call is logged and its datums dropped, like the agent
//! (which has no retry beyond the SDK's; firetail's CloudWatch client keeps the SDK's
//! standard retries for the same reason). At shutdown it drains the queue and flushes
//! once more.
//!
//! # Requests from events
//! The sink reports a request as `batch_sent(n)` followed by `records_acked` and one
//! `records_failed` per error code, summing to `n`; a call that failed as a whole is a
//! single `call_failed(code, n)`. Which of the two happened is the sink's word, never
//! guessed from the code: a 503 `ServiceUnavailableException` is a per-record code in an
//! answer and a whole-call throttle as an error status.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::config::retry::RetryConfig;
use aws_sdk_cloudwatch::error::DisplayErrorContext;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit, StatisticSet};
use firetail_config::Settings;
use firetail_sink::SinkEvents;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::aws::{AwsError, ServiceEndpoint};

/// A flush starts as soon as this many distinct datums are queued (the agent's figure).
pub const FLUSH_AT_DATUMS: usize = 200;
/// Datums per `PutMetricData` call (the agent's figure).
pub const PUT_BATCH_DATUMS: usize = 20;
/// Sink events buffered between the sinks and the publisher. A request is 2-4 events and
/// the publisher handles each in well under a microsecond, so this only fills when the
/// publisher is stuck in a slow `PutMetricData`.
pub const EVENT_QUEUE: usize = 16_384;
/// The shutdown flush gives up after this long, so a CloudWatch outage cannot hold the
/// daemon's exit.
pub const FINAL_FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// The agent's metric names and units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    RecordSendAttempts,
    RecordsSent,
    RecordSendErrors,
    BytesSent,
    ServiceErrors,
}

impl Metric {
    pub const ALL: [Metric; 5] = [
        Metric::RecordSendAttempts,
        Metric::RecordsSent,
        Metric::RecordSendErrors,
        Metric::BytesSent,
        Metric::ServiceErrors,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::RecordSendAttempts => "RecordSendAttempts",
            Metric::RecordsSent => "RecordsSent",
            Metric::RecordSendErrors => "RecordSendErrors",
            Metric::BytesSent => "BytesSent",
            Metric::ServiceErrors => "ServiceErrors",
        }
    }

    pub fn unit(self) -> StandardUnit {
        match self {
            Metric::BytesSent => StandardUnit::Bytes,
            _ => StandardUnit::Count,
        }
    }
}

/// A StatisticSet being accumulated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    pub sample_count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    fn of(value: f64) -> Stats {
        Stats {
            sample_count: 1.0,
            sum: value,
            min: value,
            max: value,
        }
    }

    fn add(&mut self, value: f64) {
        self.sample_count += 1.0;
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }
}

/// One request, as reassembled from the sink's events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Request {
    records: u64,
    acked: u64,
    acked_bytes: u64,
    failed: u64,
    /// The call failed as a whole (no answer to count records from).
    whole_call_failed: bool,
}

impl Request {
    fn is_complete(&self) -> bool {
        self.acked + self.failed >= self.records
    }

    fn call_failed(&self) -> bool {
        self.whole_call_failed
    }
}

/// What the sinks tell the publisher; flows are indices into the publisher's table.
#[derive(Debug)]
enum Message {
    BatchSent {
        flow: usize,
        records: u64,
    },
    Acked {
        flow: usize,
        records: u64,
        bytes: u64,
    },
    Failed {
        flow: usize,
        records: u64,
        whole_call: bool,
    },
    /// A flow started after the publisher (configuration reload), or re-pointed.
    Register {
        flow: usize,
        destination: String,
    },
    Flush(oneshot::Sender<FlushReport>),
}

/// Accumulated statistic sets per (metric, destination) and the request each flow has
/// open. Pure logic: no I/O, no clock.
#[derive(Debug)]
struct Aggregator {
    /// Per flow: index of its destination in `destinations`.
    flow_destination: Vec<usize>,
    /// Distinct destination dimension values.
    destinations: Vec<String>,
    open: Vec<Option<Request>>,
    datums: BTreeMap<(usize, Metric), Stats>,
    /// `cloudwatch.metricsQueueSize`: distinct datums kept before new ones are dropped.
    max_datums: usize,
    dropped_datums: u64,
}

impl Aggregator {
    fn new(flow_destinations: &[String], max_datums: usize) -> Aggregator {
        let mut aggregator = Aggregator {
            flow_destination: Vec::new(),
            destinations: Vec::new(),
            open: Vec::new(),
            datums: BTreeMap::new(),
            max_datums: max_datums.max(1),
            dropped_datums: 0,
        };
        for (flow, destination) in flow_destinations.iter().enumerate() {
            aggregator.register(flow, destination);
        }
        aggregator
    }

    fn register(&mut self, flow: usize, destination: &str) {
        let dest = match self.destinations.iter().position(|d| d == destination) {
            Some(i) => i,
            None => {
                self.destinations.push(destination.to_string());
                self.destinations.len() - 1
            }
        };
        if flow >= self.flow_destination.len() {
            self.flow_destination.resize(flow + 1, dest);
            self.open.resize(flow + 1, None);
        }
        self.close(flow);
        self.flow_destination[flow] = dest;
    }

    fn apply(&mut self, message: Message) {
        match message {
            Message::Register { flow, destination } => self.register(flow, &destination),
            Message::BatchSent { flow, records } => {
                // A request still open here lost some of its events to a full queue:
                // publish what is known of it rather than mix two requests.
                self.close(flow);
                if let Some(slot) = self.open.get_mut(flow) {
                    *slot = Some(Request {
                        records,
                        ..Request::default()
                    });
                }
            }
            Message::Acked {
                flow,
                records,
                bytes,
            } => self.update(flow, |r| {
                r.acked += records;
                r.acked_bytes += bytes;
            }),
            Message::Failed {
                flow,
                records,
                whole_call,
            } => self.update(flow, |r| {
                r.failed += records;
                r.whole_call_failed |= whole_call;
            }),
            Message::Flush(_) => {}
        }
    }

    fn update(&mut self, flow: usize, change: impl FnOnce(&mut Request)) {
        let Some(Some(request)) = self.open.get_mut(flow) else {
            return; // its batch_sent was dropped: nothing to attribute this to
        };
        change(request);
        if request.is_complete() {
            self.close(flow);
        }
    }

    /// Turns the flow's open request, if any, into datum values.
    fn close(&mut self, flow: usize) {
        let Some(request) = self.open.get_mut(flow).and_then(Option::take) else {
            return;
        };
        let Some(&dest) = self.flow_destination.get(flow) else {
            return;
        };
        self.record(dest, Metric::RecordSendAttempts, request.records);
        if request.call_failed() {
            self.record(dest, Metric::ServiceErrors, 1);
        } else {
            self.record(dest, Metric::RecordsSent, request.acked);
            self.record(dest, Metric::RecordSendErrors, request.failed);
            self.record(dest, Metric::BytesSent, request.acked_bytes);
            self.record(dest, Metric::ServiceErrors, 0);
        }
    }

    fn record(&mut self, dest: usize, metric: Metric, value: u64) {
        let value = value as f64;
        if let Some(stats) = self.datums.get_mut(&(dest, metric)) {
            stats.add(value);
        } else if self.datums.len() < self.max_datums {
            self.datums.insert((dest, metric), Stats::of(value));
        } else {
            self.dropped_datums += 1;
        }
    }

    fn close_all(&mut self) {
        for flow in 0..self.open.len() {
            self.close(flow);
        }
    }

    fn len(&self) -> usize {
        self.datums.len()
    }

    /// Everything accumulated since the last call, as (destination, metric, stats).
    fn take(&mut self) -> Vec<(&str, Metric, Stats)> {
        let datums = std::mem::take(&mut self.datums);
        datums
            .into_iter()
            .filter_map(|((dest, metric), stats)| {
                Some((self.destinations.get(dest)?.as_str(), metric, stats))
            })
            .collect()
    }
}

/// What one flush did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlushReport {
    pub published: usize,
    pub failed: usize,
}

/// How the publisher runs, from `agent.json`.
#[derive(Clone, Debug)]
pub struct PublisherConfig {
    /// `cloudwatch.namespace`
    pub namespace: String,
    /// `cloudwatch.metricsBufferTimeMillis`
    pub buffer_time: Duration,
    /// `cloudwatch.metricsQueueSize`
    pub max_datums: usize,
    /// The `Instance` dimension value (`cloudwatch.tagInstance`).
    pub instance: Option<String>,
}

impl PublisherConfig {
    pub fn from_settings(settings: &Settings, instance: Option<String>) -> PublisherConfig {
        PublisherConfig {
            namespace: settings.cloudwatch_namespace.clone(),
            buffer_time: settings.cloudwatch_metrics_buffer_time,
            max_datums: usize::try_from(settings.cloudwatch_metrics_queue_size)
                .unwrap_or(usize::MAX),
            instance,
        }
    }
}

/// The sink-facing half: cheap, never waits. Shared as `Arc<CloudWatchEvents>`.
pub struct CloudWatchEvents {
    /// Flow id to its index in the publisher's tables.
    flows: RwLock<HashMap<String, usize>>,
    tx: mpsc::Sender<Message>,
    dropped: Arc<AtomicU64>,
    publisher: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for CloudWatchEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudWatchEvents")
            .field("flows", &self.flows.read().map(|f| f.len()).unwrap_or(0))
            .field("dropped", &self.dropped.load(Relaxed))
            .finish_non_exhaustive()
    }
}

impl CloudWatchEvents {
    fn send(&self, flow: &str, message: impl FnOnce(usize) -> Message) {
        let index = self.flows.read().ok().and_then(|f| f.get(flow).copied());
        let Some(index) = index else {
            return; // not a registered flow (tests, previews): nothing to publish
        };
        if self.tx.try_send(message(index)).is_err() {
            self.dropped.fetch_add(1, Relaxed);
        }
    }

    /// Adds a flow started after [`start`] (a configuration reload), or changes the
    /// `Destination` of a known one. Call it before the flow's sink starts.
    pub async fn register_flow(&self, flow_id: &str, destination: &str) {
        let index = {
            let Ok(mut flows) = self.flows.write() else {
                return;
            };
            let next = flows.len();
            *flows.entry(flow_id.to_string()).or_insert(next)
        };
        let message = Message::Register {
            flow: index,
            destination: destination.to_string(),
        };
        if self.tx.send(message).await.is_err() {
            tracing::debug!("CloudWatch publisher gone; flow {flow_id} not registered");
        }
    }

    /// Publishes what is accumulated now (tests; an operator's signal).
    pub async fn flush(&self) -> FlushReport {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Message::Flush(tx)).await.is_err() {
            return FlushReport::default();
        }
        rx.await.unwrap_or_default()
    }

    /// Sink events dropped because the publisher's queue was full.
    pub fn dropped_events(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    /// Waits for the publisher to finish its final flush, once its shutdown token fired.
    pub async fn finished(&self) {
        let handle = self.publisher.lock().ok().and_then(|mut h| h.take());
        if let Some(handle) = handle {
            if let Err(e) = handle.await {
                tracing::error!("the CloudWatch publisher task failed: {e}");
            }
        }
    }
}

impl SinkEvents for CloudWatchEvents {
    fn batch_sent(&self, flow: &str, records: usize, _bytes: usize, _latency: Duration) {
        self.send(flow, |flow| Message::BatchSent {
            flow,
            records: records as u64,
        });
    }

    fn records_acked(&self, flow: &str, records: usize, bytes: usize) {
        self.send(flow, |flow| Message::Acked {
            flow,
            records: records as u64,
            bytes: bytes as u64,
        });
    }

    fn records_failed(&self, flow: &str, _code: &str, records: usize) {
        self.send(flow, |flow| Message::Failed {
            flow,
            records: records as u64,
            whole_call: false,
        });
    }

    fn call_failed(&self, flow: &str, _code: &str, records: usize) {
        self.send(flow, |flow| Message::Failed {
            flow,
            records: records as u64,
            whole_call: true,
        });
    }
}

/// Several [`SinkEvents`] as one, called in order (the daemon's counters, then
/// CloudWatch).
pub struct FanOut(pub Vec<Arc<dyn SinkEvents>>);

impl SinkEvents for FanOut {
    fn batch_sent(&self, flow: &str, records: usize, bytes: usize, latency: Duration) {
        self.0
            .iter()
            .for_each(|e| e.batch_sent(flow, records, bytes, latency));
    }
    fn records_acked(&self, flow: &str, records: usize, bytes: usize) {
        self.0
            .iter()
            .for_each(|e| e.records_acked(flow, records, bytes));
    }
    fn records_failed(&self, flow: &str, code: &str, records: usize) {
        self.0
            .iter()
            .for_each(|e| e.records_failed(flow, code, records));
    }
    fn call_failed(&self, flow: &str, code: &str, records: usize) {
        self.0
            .iter()
            .for_each(|e| e.call_failed(flow, code, records));
    }
    fn records_rejected(&self, flow: &str, code: &str, records: usize) {
        self.0
            .iter()
            .for_each(|e| e.records_rejected(flow, code, records));
    }
    fn records_retried(&self, flow: &str, records: usize) {
        self.0.iter().for_each(|e| e.records_retried(flow, records));
    }
    fn throttled(&self, flow: &str, code: &str) {
        self.0.iter().for_each(|e| e.throttled(flow, code));
    }
    fn permanent_error(&self, flow: &str, code: &str, message: &str) {
        self.0
            .iter()
            .for_each(|e| e.permanent_error(flow, code, message));
    }
    fn concurrency_changed(&self, flow: &str, limit: usize) {
        self.0
            .iter()
            .for_each(|e| e.concurrency_changed(flow, limit));
    }
    fn backoff(&self, flow: &str, delay: Duration) {
        self.0.iter().for_each(|e| e.backoff(flow, delay));
    }
    fn records_abandoned(&self, flow: &str, records: usize) {
        self.0
            .iter()
            .for_each(|e| e.records_abandoned(flow, records));
    }
}

/// The CloudWatch client: `cloudwatch.endpoint`, and the region by [`crate::aws::resolve_region`]
/// (`firetail.cloudwatch.region`, `firetail.region`, the SDK chain, the endpoint's host).
pub fn client(
    settings: &Settings,
    base: &SdkConfig,
) -> Result<aws_sdk_cloudwatch::Client, AwsError> {
    let sdk = ServiceEndpoint::cloudwatch(settings).sdk_config(base)?;
    let conf =
        aws_sdk_cloudwatch::config::Builder::from(&sdk).retry_config(RetryConfig::standard());
    Ok(aws_sdk_cloudwatch::Client::from_conf(conf.build()))
}

/// Starts the publisher when `cloudwatch.emitMetrics` is true; `None` when it is off, or
/// when no region can be found for CloudWatch (logged: metrics are not worth refusing to
/// ship logs). Cancel `shutdown` after the sinks have returned, then await
/// [`CloudWatchEvents::finished`] for the final flush.
pub async fn start(
    settings: &Settings,
    base: &SdkConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<Option<Arc<CloudWatchEvents>>> {
    if !settings.cloudwatch_emit_metrics {
        return Ok(None);
    }
    let client = match client(settings, base) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("CloudWatch metrics are off (cloudwatch.emitMetrics): {e}");
            return Ok(None);
        }
    };
    let instance = if settings.cloudwatch_tag_instance {
        Some(crate::imds::instance_id_or_hostname().await)
    } else {
        None
    };
    let flows: Vec<(String, String)> = settings
        .flows
        .iter()
        .map(|f| (f.id.clone(), f.destination.label()))
        .collect();
    let config = PublisherConfig::from_settings(settings, instance);
    Ok(Some(spawn(client, config, &flows, shutdown)))
}

/// Spawns the publisher for `flows` (flow id, `Destination` value) and returns the sink
/// side.
pub fn spawn(
    client: aws_sdk_cloudwatch::Client,
    config: PublisherConfig,
    flows: &[(String, String)],
    shutdown: CancellationToken,
) -> Arc<CloudWatchEvents> {
    let (tx, rx) = mpsc::channel(EVENT_QUEUE);
    let dropped = Arc::new(AtomicU64::new(0));
    let destinations: Vec<String> = flows.iter().map(|(_, d)| d.clone()).collect();
    let publisher = Publisher {
        putter: Putter {
            client,
            namespace: config.namespace.clone(),
        },
        aggregator: Aggregator::new(&destinations, config.max_datums),
        config,
        rx,
        dropped: dropped.clone(),
        dropped_reported: 0,
        in_flight: None,
    };
    let handle = tokio::spawn(publisher.run(shutdown));
    Arc::new(CloudWatchEvents {
        flows: RwLock::new(
            flows
                .iter()
                .enumerate()
                .map(|(i, (id, _))| (id.clone(), i))
                .collect(),
        ),
        tx,
        dropped,
        publisher: Mutex::new(Some(handle)),
    })
}

struct Publisher {
    putter: Putter,
    config: PublisherConfig,
    aggregator: Aggregator,
    rx: mpsc::Receiver<Message>,
    dropped: Arc<AtomicU64>,
    dropped_reported: u64,
    /// The publication started by the last timed or size-triggered flush. The
    /// publisher keeps taking events while it runs, so a slow CloudWatch only delays
    /// metrics instead of filling the event queue.
    in_flight: Option<JoinHandle<FlushReport>>,
}

impl Publisher {
    async fn run(mut self, shutdown: CancellationToken) {
        let period = self.config.buffer_time.max(Duration::from_millis(100));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // immediate; the first flush is one period in
        loop {
            // The tick comes before the queue: a queue that is never empty under load
            // must not starve the timed flush.
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => self.flush_in_background(),
                message = self.rx.recv() => match message {
                    Some(Message::Flush(reply)) => {
                        let _ = reply.send(self.flush_and_wait().await);
                        tick.reset();
                    }
                    Some(m) => {
                        self.aggregator.apply(m);
                        if self.aggregator.len() >= FLUSH_AT_DATUMS {
                            self.flush_in_background();
                        }
                    }
                    None => break,
                },
            }
        }
        let mut waiting = Vec::new();
        while let Ok(m) = self.rx.try_recv() {
            match m {
                Message::Flush(reply) => waiting.push(reply),
                m => self.aggregator.apply(m),
            }
        }
        self.aggregator.close_all();
        let report = match tokio::time::timeout(FINAL_FLUSH_TIMEOUT, self.flush_and_wait()).await {
            Ok(r) => r,
            Err(_) => {
                tracing::warn!(
                    "CloudWatch: the final flush did not finish within {FINAL_FLUSH_TIMEOUT:?}; its datums are dropped"
                );
                FlushReport::default()
            }
        };
        for reply in waiting {
            let _ = reply.send(report);
        }
    }

    /// Starts publishing what is accumulated, unless the previous publication is still
    /// running: then values keep accumulating into the same statistic sets until the
    /// next flush.
    fn flush_in_background(&mut self) {
        if self.in_flight.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        let datums = self.take_datums();
        if !datums.is_empty() {
            self.in_flight = Some(tokio::spawn(self.putter.clone().publish(datums)));
        }
    }

    /// Waits for a running publication, then publishes what is accumulated and waits
    /// for that too; the report covers both.
    async fn flush_and_wait(&mut self) -> FlushReport {
        let mut report = match self.in_flight.take() {
            Some(handle) => handle.await.unwrap_or_default(),
            None => FlushReport::default(),
        };
        let datums = self.take_datums();
        let now = self.putter.clone().publish(datums).await;
        report.published += now.published;
        report.failed += now.failed;
        report
    }

    fn take_datums(&mut self) -> Vec<MetricDatum> {
        self.report_drops();
        let instance = self.config.instance.clone();
        self.aggregator
            .take()
            .into_iter()
            .map(|(dest, metric, stats)| datum(dest, instance.as_deref(), metric, stats))
            .collect()
    }

    fn report_drops(&mut self) {
        let dropped = self.dropped.load(Relaxed);
        if dropped > self.dropped_reported {
            tracing::warn!(
                "CloudWatch: {} sink events dropped because the publisher queue was full; those requests are missing from the metrics",
                dropped - self.dropped_reported
            );
            self.dropped_reported = dropped;
        }
        if self.aggregator.dropped_datums > 0 {
            tracing::warn!(
                "Metrics queue full - dropping metric: {} values over cloudwatch.metricsQueueSize = {}",
                self.aggregator.dropped_datums,
                self.config.max_datums
            );
            self.aggregator.dropped_datums = 0;
        }
    }
}

/// The `PutMetricData` side, cloned into each publication task.
#[derive(Clone)]
struct Putter {
    client: aws_sdk_cloudwatch::Client,
    namespace: String,
}

impl Putter {
    /// Sends `datums` in calls of [`PUT_BATCH_DATUMS`], logging per [`FLUSH_AT_DATUMS`]
    /// like the agent. Failed calls are logged and their datums dropped.
    async fn publish(self, datums: Vec<MetricDatum>) -> FlushReport {
        let mut report = FlushReport::default();
        for chunk in datums.chunks(FLUSH_AT_DATUMS) {
            let mut published = 0;
            for batch in chunk.chunks(PUT_BATCH_DATUMS) {
                match self.put(batch).await {
                    Ok(()) => published += batch.len(),
                    Err(e) => {
                        report.failed += batch.len();
                        tracing::warn!(
                            target: "firetail::CWPublisherRunnable",
                            "Could not publish {} datums to CloudWatch: {e}",
                            batch.len()
                        );
                    }
                }
            }
            if published > 0 {
                tracing::info!(
                    target: "firetail::CWPublisherRunnable",
                    "Successfully published {published} datums."
                );
            }
            report.published += published;
        }
        report
    }

    async fn put(&self, batch: &[MetricDatum]) -> Result<(), String> {
        self.client
            .put_metric_data()
            .namespace(&self.namespace)
            .set_metric_data(Some(batch.to_vec()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| DisplayErrorContext(e).to_string())
    }
}

fn datum(destination: &str, instance: Option<&str>, metric: Metric, stats: Stats) -> MetricDatum {
    let mut dimensions = vec![dimension("Destination", destination)];
    if let Some(instance) = instance {
        dimensions.push(dimension("Instance", instance));
    }
    MetricDatum::builder()
        .metric_name(metric.name())
        .unit(metric.unit())
        .set_dimensions(Some(dimensions))
        .statistic_values(
            StatisticSet::builder()
                .sample_count(stats.sample_count)
                .sum(stats.sum)
                .minimum(stats.min)
                .maximum(stats.max)
                .build(),
        )
        .build()
}

fn dimension(name: &str, value: &str) -> Dimension {
    Dimension::builder().name(name).value(value).build()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use firetail_config::Destination;

    fn agg(dests: &[&str]) -> Aggregator {
        let dests: Vec<String> = dests.iter().map(|s| s.to_string()).collect();
        Aggregator::new(&dests, 10_000)
    }

    fn stats(a: &mut Aggregator) -> BTreeMap<(String, &'static str), (f64, f64, f64, f64)> {
        a.take()
            .into_iter()
            .map(|(d, m, s)| {
                (
                    (d.to_string(), m.name()),
                    (s.sample_count, s.sum, s.min, s.max),
                )
            })
            .collect()
    }

    fn sent(flow: usize, records: u64) -> Message {
        Message::BatchSent { flow, records }
    }
    fn acked(flow: usize, records: u64, bytes: u64) -> Message {
        Message::Acked {
            flow,
            records,
            bytes,
        }
    }
    /// Records of an answered request that failed.
    fn failed(flow: usize, records: u64) -> Message {
        Message::Failed {
            flow,
            records,
            whole_call: false,
        }
    }
    /// A request that failed as a whole.
    fn call_failed(flow: usize, records: u64) -> Message {
        Message::Failed {
            flow,
            records,
            whole_call: true,
        }
    }

    #[test]
    fn an_answered_request_counts_sent_errors_bytes_and_zero_service_errors() {
        let mut a = agg(&["DeliveryStream:s"]);
        a.apply(sent(0, 10));
        a.apply(acked(0, 8, 800));
        a.apply(failed(0, 2));
        let s = stats(&mut a);
        let d = |m: &'static str| s[&("DeliveryStream:s".to_string(), m)];
        assert_eq!(d("RecordSendAttempts"), (1.0, 10.0, 10.0, 10.0));
        assert_eq!(d("RecordsSent"), (1.0, 8.0, 8.0, 8.0));
        assert_eq!(d("RecordSendErrors"), (1.0, 2.0, 2.0, 2.0));
        assert_eq!(d("BytesSent"), (1.0, 800.0, 800.0, 800.0));
        assert_eq!(d("ServiceErrors"), (1.0, 0.0, 0.0, 0.0));
        assert!(a.take().is_empty(), "take empties the accumulator");
    }

    #[test]
    fn a_failed_call_counts_attempts_and_one_service_error_only() {
        let mut a = agg(&["KinesisStream:k"]);
        a.apply(sent(0, 5));
        a.apply(call_failed(0, 5));
        let s = stats(&mut a);
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!(
            s[&("KinesisStream:k".to_string(), "RecordSendAttempts")].1,
            5.0
        );
        assert_eq!(s[&("KinesisStream:k".to_string(), "ServiceErrors")].1, 1.0);
    }

    #[test]
    fn a_one_record_call_that_failed_whole_is_a_service_error_not_a_record_error() {
        // One record, failed whole: the shape is the same as an answer whose only record
        // failed, so only the sink's word tells them apart.
        let mut a = agg(&["DeliveryStream:s"]);
        a.apply(sent(0, 1));
        a.apply(call_failed(0, 1));
        let s = stats(&mut a);
        let d = |m: &'static str| s.get(&("DeliveryStream:s".to_string(), m)).map(|v| v.1);
        assert_eq!(d("ServiceErrors"), Some(1.0));
        assert_eq!(d("RecordSendErrors"), None);
        a.apply(sent(0, 1));
        a.apply(failed(0, 1));
        let s = stats(&mut a);
        let d = |m: &'static str| s.get(&("DeliveryStream:s".to_string(), m)).map(|v| v.1);
        assert_eq!(d("ServiceErrors"), Some(0.0));
        assert_eq!(d("RecordSendErrors"), Some(1.0));
    }

    #[test]
    fn an_answer_whose_records_all_failed_is_an_answer() {
        let mut a = agg(&["KinesisStream:k"]);
        a.apply(sent(0, 4));
        a.apply(failed(0, 4));
        let s = stats(&mut a);
        assert_eq!(
            s[&("KinesisStream:k".to_string(), "RecordSendErrors")].1,
            4.0
        );
        assert_eq!(s[&("KinesisStream:k".to_string(), "ServiceErrors")].1, 0.0);
        a.apply(sent(0, 4));
        a.apply(failed(0, 3));
        a.apply(failed(0, 1));
        let s = stats(&mut a);
        assert_eq!(s[&("KinesisStream:k".to_string(), "ServiceErrors")].1, 0.0);
    }

    #[test]
    fn requests_accumulate_into_statistic_sets_and_flows_share_a_destination() {
        let mut a = agg(&["DeliveryStream:s", "DeliveryStream:s", "KinesisStream:k"]);
        a.apply(sent(0, 10));
        a.apply(sent(1, 3));
        a.apply(acked(1, 3, 30));
        a.apply(acked(0, 10, 100));
        a.apply(sent(2, 1));
        a.apply(acked(2, 1, 7));
        let s = stats(&mut a);
        assert_eq!(
            s[&("DeliveryStream:s".to_string(), "RecordSendAttempts")],
            (2.0, 13.0, 3.0, 10.0)
        );
        assert_eq!(
            s[&("DeliveryStream:s".to_string(), "BytesSent")],
            (2.0, 130.0, 30.0, 100.0)
        );
        assert_eq!(
            s[&("KinesisStream:k".to_string(), "RecordsSent")],
            (1.0, 1.0, 1.0, 1.0)
        );
        assert_eq!(s.len(), 10);
    }

    #[test]
    fn lost_events_never_mix_requests() {
        let mut a = agg(&["DeliveryStream:s"]);
        // batch_sent lost: the ack has nothing to attach to.
        a.apply(acked(0, 5, 50));
        assert_eq!(a.len(), 0);
        // the ack lost: the next batch closes the first request with what is known.
        a.apply(sent(0, 5));
        a.apply(sent(0, 2));
        a.apply(acked(0, 2, 20));
        let s = stats(&mut a);
        assert_eq!(
            s[&("DeliveryStream:s".to_string(), "RecordSendAttempts")],
            (2.0, 7.0, 2.0, 5.0)
        );
        assert_eq!(
            s[&("DeliveryStream:s".to_string(), "RecordsSent")],
            (2.0, 2.0, 0.0, 2.0)
        );
    }

    #[test]
    fn close_all_publishes_requests_still_open() {
        let mut a = agg(&["DeliveryStream:s"]);
        a.apply(sent(0, 5));
        a.apply(acked(0, 3, 30));
        assert_eq!(a.len(), 0);
        a.close_all();
        assert_eq!(
            stats(&mut a)[&("DeliveryStream:s".to_string(), "RecordsSent")].1,
            3.0
        );
    }

    #[test]
    fn flows_registered_later_get_their_destination() {
        let mut a = agg(&["DeliveryStream:s"]);
        a.apply(Message::Register {
            flow: 1,
            destination: "KinesisStream:k".into(),
        });
        a.apply(sent(1, 2));
        a.apply(acked(1, 2, 20));
        let s = stats(&mut a);
        assert_eq!(s[&("KinesisStream:k".to_string(), "BytesSent")].1, 20.0);
        assert_eq!(s.len(), 5);
    }

    #[test]
    fn the_datum_cap_drops_new_keys_only() {
        let mut a = Aggregator::new(&["DeliveryStream:s".to_string()], 2);
        a.apply(sent(0, 5));
        a.apply(acked(0, 5, 50));
        assert_eq!(a.len(), 2);
        assert_eq!(a.dropped_datums, 3);
        a.apply(sent(0, 1));
        a.apply(acked(0, 1, 1));
        let s = stats(&mut a);
        assert_eq!(
            s[&("DeliveryStream:s".to_string(), "RecordSendAttempts")].0,
            2.0
        );
    }

    #[test]
    fn destination_dimensions_use_the_agents_prefixes() {
        assert_eq!(
            (Destination::Firehose {
                delivery_stream: "web".into()
            })
            .label(),
            "DeliveryStream:web"
        );
        assert_eq!(
            (Destination::Kinesis {
                stream: "k".into(),
                partition_key: firetail_config::PartitionKeyOption::Random,
            })
            .label(),
            "KinesisStream:k"
        );
        assert_eq!(
            (Destination::CloudWatchLogs {
                log_group: "app".into(),
                log_stream: "web-1".into(),
                create_missing: false,
            })
            .label(),
            "LogGroup:app/web-1"
        );
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let (tx, _rx) = mpsc::channel(1);
        let events = CloudWatchEvents {
            flows: RwLock::new([("f".to_string(), 0)].into_iter().collect()),
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            publisher: Mutex::new(None),
        };
        events.batch_sent("f", 1, 1, Duration::ZERO);
        events.records_acked("f", 1, 1);
        events.records_acked("unknown flow", 1, 1);
        assert_eq!(events.dropped_events(), 1);
    }
}
