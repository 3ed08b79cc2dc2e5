//! The typed settings handed to the other stages, and their construction from resolved
//! key values.
//!
//! Invariant: every field holds a validated value with its default resolved; durations are
//! `std::time::Duration`; an optional setting that is unset (or an empty endpoint string) is
//! `None`. Each field's doc names its agent.json key.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use firetail_agent::coerce;
use firetail_agent::limits::DestinationLimits;
pub use firetail_agent::partition::PartitionKeyOption;
use serde_json::{Map, Value};

use crate::error::{ConfigError, ConfigWarning, Location, Section};
use crate::keys::{self, Scope};
use crate::reader::{read_section, Diagnostics, FlowDestination, Resolved};

/// A secret string whose `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl Secret {
    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// `initialPosition`: where to start reading the newest file when there is no checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialPosition {
    /// `START_OF_FILE`
    StartOfFile,
    /// `END_OF_FILE` (default)
    EndOfFile,
}

/// A generator's `format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeneratorFormat {
    /// `combined` (default): Apache combined log format.
    Combined,
    /// `common`: Apache common log format.
    Common,
}

/// A generator's `rotateMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotateMode {
    /// `none` (default): never rotate.
    None,
    /// `rename`: `access.log` → `access.log.1`, … then a new `access.log`.
    Rename,
    /// `copytruncate`: copy to `access.log.1`, then truncate in place.
    CopyTruncate,
    /// `dated`: rename to a dated name, then a new file.
    Dated,
}

macro_rules! agent_names {
    ($ty:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// The name used in agent.json.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),+ }
            }

            /// Parses an agent.json name (case-sensitive).
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($name => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}

agent_names!(InitialPosition { StartOfFile => "START_OF_FILE", EndOfFile => "END_OF_FILE" });
agent_names!(GeneratorFormat { Combined => "combined", Common => "common" });
agent_names!(RotateMode { None => "none", Rename => "rename", CopyTruncate => "copytruncate", Dated => "dated" });

/// Where a flow sends its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `deliveryStream`: Kinesis Data Firehose (PutRecordBatch).
    Firehose {
        /// The delivery stream name.
        delivery_stream: String,
    },
    /// `kinesisStream`: Kinesis Data Streams (PutRecords).
    Kinesis {
        /// The stream name.
        stream: String,
        /// `partitionKeyOption`.
        partition_key: PartitionKeyOption,
    },
    /// `firetail.logGroup`: CloudWatch Logs (PutLogEvents), a firetail extension.
    CloudWatchLogs {
        /// The log group.
        log_group: String,
        /// `firetail.logStream`.
        log_stream: String,
        /// `firetail.logs.createMissing`.
        create_missing: bool,
    },
}

impl Destination {
    /// The agent's name for the destination in its metrics and status lines:
    /// `DeliveryStream:<name>` or `KinesisStream:<name>` (the CloudWatch `Destination`
    /// dimension, the status line's destination column); `LogGroup:<group>/<stream>` for
    /// CloudWatch Logs.
    pub fn label(&self) -> String {
        match self {
            Destination::Firehose { delivery_stream } => {
                format!("DeliveryStream:{delivery_stream}")
            }
            Destination::Kinesis { stream, .. } => format!("KinesisStream:{stream}"),
            Destination::CloudWatchLogs {
                log_group,
                log_stream,
                ..
            } => format!("LogGroup:{log_group}/{log_stream}"),
        }
    }

    /// The destination's entry in the key table: its key and its API's limits.
    pub fn spec(&self) -> &'static keys::DestinationSpec {
        let key = match self {
            Destination::Firehose { .. } => "deliveryStream",
            Destination::Kinesis { .. } => "kinesisStream",
            Destination::CloudWatchLogs { .. } => "firetail.logGroup",
        };
        keys::DESTINATIONS
            .iter()
            .find(|d| d.key == key)
            .unwrap_or_else(keys::default_destination)
    }

    /// What its API allows per call and per record.
    pub fn limits(&self) -> &'static DestinationLimits {
        self.spec().limits
    }

    /// The target as the sink names it in logs: the stream, or `group/stream`.
    pub fn target(&self) -> String {
        match self {
            Destination::Firehose { delivery_stream } => delivery_stream.clone(),
            Destination::Kinesis { stream, .. } => stream.clone(),
            Destination::CloudWatchLogs {
                log_group,
                log_stream,
                ..
            } => format!("{log_group}/{log_stream}"),
        }
    }
}

/// The whole configuration: global keys, flows (main file then agent.d) and generators.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `awsAccessKeyId`
    pub aws_access_key_id: Option<String>,
    /// `awsSecretAccessKey`
    pub aws_secret_access_key: Option<Secret>,
    /// `assumeRoleARN`
    pub assume_role_arn: Option<String>,
    /// `assumeRoleExternalId`
    pub assume_role_external_id: Option<String>,
    /// `sts.endpoint` (empty = unset)
    pub sts_endpoint: Option<String>,
    /// `userDefinedCredentialsProvider.classname` (accepted, no effect)
    pub user_defined_credentials_provider_classname: Option<String>,
    /// `userDefinedCredentialsProvider.location` (accepted, no effect)
    pub user_defined_credentials_provider_location: Option<String>,
    /// `kinesis.endpoint` (empty = unset)
    pub kinesis_endpoint: Option<String>,
    /// `kinesis.region`
    pub kinesis_region: Option<String>,
    /// `firehose.endpoint` (empty = unset)
    pub firehose_endpoint: Option<String>,
    /// `cloudwatch.endpoint` (empty = unset)
    pub cloudwatch_endpoint: Option<String>,
    /// `logs.endpoint` (empty = unset): CloudWatch Logs
    pub logs_endpoint: Option<String>,
    /// `cloudwatch.emitMetrics`
    pub cloudwatch_emit_metrics: bool,
    /// `cloudwatch.tagInstance`: add the `Instance` dimension
    pub cloudwatch_tag_instance: bool,
    /// `cloudwatch.namespace`
    pub cloudwatch_namespace: String,
    /// `cloudwatch.metricsBufferTimeMillis`
    pub cloudwatch_metrics_buffer_time: Duration,
    /// `cloudwatch.metricsQueueSize`: distinct datums held between flushes
    pub cloudwatch_metrics_queue_size: u32,
    /// `log.emitMetrics` (accepted, no effect)
    pub log_emit_metrics: bool,
    /// `log.emitInternalMetrics` (global): "behind" status lines at INFO
    pub log_emit_internal_metrics: bool,
    /// `log.statusReportingPeriodSeconds`
    pub log_status_reporting_period: Duration,
    /// `checkpointFile` (firetail default `/var/lib/firetail/checkpoints.json`)
    pub checkpoint_file: PathBuf,
    /// `checkpointTimeToLiveDays`
    pub checkpoint_time_to_live_days: u32,
    /// `checkpoints.queryTimeoutSeconds` (accepted, no effect)
    pub checkpoints_query_timeout: Duration,
    /// `checkpoints.connectionTimeoutSeconds` (accepted, no effect)
    pub checkpoints_connection_timeout: Duration,
    /// `maxSendingThreads`, resolved: default `max(2, maxSendingThreadsPerCore × CPUs)`
    /// (firetail: the default of each flow's `firetail.maxRequestsInFlight`)
    pub max_sending_threads: u32,
    /// `maxSendingThreadsPerCore` (its default)
    pub max_sending_threads_per_core: u32,
    /// `sendingThreadsKeepAliveMillis` (accepted, no effect)
    pub sending_threads_keep_alive: Duration,
    /// `sendingThreadsMaxQueueSize` (accepted, no effect)
    pub sending_threads_max_queue_size: u32,
    /// `maxConnections`, resolved: default `max(50, maxSendingThreads)` (accepted, no effect)
    pub max_connections: u32,
    /// `connectionTimeoutMillis` (zero = no timeout)
    pub connection_timeout: Duration,
    /// `socketTimeoutMillis` (zero = no timeout)
    pub socket_timeout: Duration,
    /// `connectionTTLMillis`; `None` = unlimited (-1) (accepted, no effect)
    pub connection_ttl: Option<Duration>,
    /// `useTcpKeepAlive` (accepted, no effect)
    pub use_tcp_keep_alive: bool,
    /// `useHttpGzip` (accepted, no effect)
    pub use_http_gzip: bool,
    /// `userAgent`, trimmed (accepted, no effect)
    pub user_agent: Option<String>,
    /// `userAgentOverride` (accepted, no effect)
    pub user_agent_override: Option<String>,
    /// `shutdownTimeoutMillis`
    pub shutdown_timeout: Duration,
    /// `firetail.metrics.listen`; `None` when set to `""`
    pub metrics_listen: Option<SocketAddr>,
    /// `firetail.checkpointIntervalMillis`
    pub checkpoint_interval: Duration,
    /// `firetail.workerThreads`: threads of the daemon's async runtime
    pub worker_threads: u32,
    /// `firetail.region`: fallback region for every client
    pub region: Option<String>,
    /// `firetail.firehose.region`
    pub firehose_region: Option<String>,
    /// `firetail.cloudwatch.region`
    pub cloudwatch_region: Option<String>,
    /// `firetail.logs.region`
    pub logs_region: Option<String>,
    /// `firetail.generators`
    pub generators: Vec<GeneratorSettings>,
    /// `flows`: the main file's, then each agent.d file's in name order
    pub flows: Vec<FlowSettings>,
}

impl Settings {
    /// `checkpointTimeToLiveDays` as a duration: how long the checkpoint of a file that
    /// is gone is kept (the agent deletes rows not updated for that long).
    pub fn checkpoint_time_to_live(&self) -> Duration {
        Duration::from_secs(u64::from(self.checkpoint_time_to_live_days) * 86_400)
    }

    /// Region for the Firehose client: `firetail.firehose.region`, else `firetail.region`,
    /// else the region in a standard `firehose.endpoint` host name. `None` means "use the
    /// AWS SDK's default region chain" (never a silent us-east-1).
    pub fn firehose_region(&self) -> Option<String> {
        self.firehose_region
            .clone()
            .or_else(|| self.region.clone())
            .or_else(|| {
                self.firehose_endpoint
                    .as_deref()
                    .and_then(region_from_endpoint)
            })
    }

    /// Region for the Kinesis client: `kinesis.region`, else `firetail.region`, else the
    /// region in a standard `kinesis.endpoint` host name; `None` = SDK default chain.
    pub fn kinesis_region(&self) -> Option<String> {
        self.kinesis_region
            .clone()
            .or_else(|| self.region.clone())
            .or_else(|| {
                self.kinesis_endpoint
                    .as_deref()
                    .and_then(region_from_endpoint)
            })
    }

    /// Region for the CloudWatch client: `firetail.cloudwatch.region`, else `firetail.region`,
    /// else from a standard `cloudwatch.endpoint`; `None` = SDK default chain.
    pub fn cloudwatch_region(&self) -> Option<String> {
        self.cloudwatch_region
            .clone()
            .or_else(|| self.region.clone())
            .or_else(|| {
                self.cloudwatch_endpoint
                    .as_deref()
                    .and_then(region_from_endpoint)
            })
    }
}

impl Settings {
    /// Region for the CloudWatch Logs client: `firetail.logs.region`, else
    /// `firetail.region`, else from a standard `logs.endpoint`; `None` = SDK default chain.
    pub fn logs_region(&self) -> Option<String> {
        self.logs_region
            .clone()
            .or_else(|| self.region.clone())
            .or_else(|| self.logs_endpoint.as_deref().and_then(region_from_endpoint))
    }
}

/// The region in an AWS endpoint such as `https://firehose.us-west-2.amazonaws.com`
/// (`<service>.<region>.amazonaws.com[.cn]`), as the AWS SDK v1 guesses it.
pub fn region_from_endpoint(endpoint: &str) -> Option<String> {
    let host = endpoint.split("://").last()?.split(['/', ':']).next()?;
    if !host.ends_with(".amazonaws.com") && !host.ends_with(".amazonaws.com.cn") {
        return None;
    }
    // Regional, FIPS (`firehose-fips.us-gov-west-1…`) and VPC endpoint
    // (`vpce-0a1b-c2d3.firehose.eu-west-1.vpce.amazonaws.com`) host names all carry the
    // region as one label shaped like `<area>-<direction>-<digits>`.
    host.split('.')
        .find(|label| {
            let parts: Vec<&str> = label.split('-').collect();
            let Some((number, words)) = parts.split_last() else {
                return false;
            };
            words.len() >= 2
                && words
                    .iter()
                    .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
                && !number.is_empty()
                && number.bytes().all(|b| b.is_ascii_digit())
        })
        .map(str::to_owned)
}

/// One flow: a file pattern tailed to one stream.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowSettings {
    /// The flow id, `fh:<deliveryStream>:<filePattern>` or `kinesis:<kinesisStream>:<filePattern>`;
    /// it names the flow in logs and keys its checkpoints.
    pub id: String,
    /// Position in its file's `flows` array (0-based).
    pub index: usize,
    /// The file this flow was defined in.
    pub origin: PathBuf,
    /// `filePattern`, normalized as Java's `Path` does (duplicate `/` collapsed).
    pub file_pattern: String,
    /// `deliveryStream` or `kinesisStream` (+ `partitionKeyOption`)
    pub destination: Destination,
    /// `initialPosition`
    pub initial_position: InitialPosition,
    /// `maxBufferAgeMillis`
    pub max_buffer_age: Duration,
    /// `maxBufferSizeRecords`
    pub max_buffer_size_records: u32,
    /// `maxBufferSizeBytes`
    pub max_buffer_size_bytes: u32,
    /// `publishQueueCapacity` (accepted, no effect)
    pub publish_queue_capacity: u32,
    /// `retryInitialBackoffMillis`
    pub retry_initial_backoff: Duration,
    /// `retryMaxBackoffMillis`
    pub retry_max_backoff: Duration,
    /// `waitOnFullPublishQueueMillis` (accepted, no effect)
    pub wait_on_full_publish_queue: Duration,
    /// `waitOnEmptyPublishQueueMillis` (accepted, no effect)
    pub wait_on_empty_publish_queue: Duration,
    /// `minTimeBetweenFilePollsMillis`: the polling period when inotify is unavailable
    pub min_time_between_file_polls: Duration,
    /// `maxTimeBetweenFileTrackerRefreshMillis`: the full rescan while inotify works
    pub max_time_between_file_tracker_refresh: Duration,
    /// `multiLineStartPattern` (Java regex text; empty = unset)
    pub multi_line_start_pattern: Option<String>,
    /// `skipHeaderLines`
    pub skip_header_lines: u32,
    /// `truncatedRecordTerminator`
    pub truncated_record_terminator: String,
    /// `aggregatedRecordSizeBytes` (Firehose only; 0 = off)
    pub aggregated_record_size_bytes: u32,
    /// `dataProcessingOptions`: a non-empty JSON array of objects, validated by firetail-process
    pub data_processing_options: Option<Value>,
    /// `fileFooterPattern` (Java regex text; empty = unset)
    pub file_footer_pattern: Option<String>,
    /// `log.emitInternalMetrics` (per flow; accepted, no effect)
    pub log_emit_internal_metrics: bool,
    /// `firetail.maxOpenFiles`
    pub max_open_files: u32,
    /// `firetail.maxInFlightBytes`
    pub max_in_flight_bytes: u64,
    /// `firetail.reconcileIntervalMillis`
    pub reconcile_interval: Duration,
    /// `firetail.idleFlushMillis`; `None` = never (0)
    pub idle_flush: Option<Duration>,
    /// `firetail.fingerprintBytes`
    pub fingerprint_bytes: u32,
    /// `firetail.maxRequestsInFlight`: the ceiling of the flow's adaptive concurrency;
    /// default `maxSendingThreads` (the agent's bound on requests in flight), filled in by
    /// the loader once the global keys are known.
    pub max_requests_in_flight: u32,
    /// `firetail.permanentRetryMillis`
    pub permanent_retry_interval: Duration,
    /// `firetail.requestTimeoutMillis`
    pub request_timeout: Duration,
    /// `firetail.pacing.recordsPerSecond`
    pub pacing_records_per_second: Option<u64>,
    /// `firetail.pacing.bytesPerSecond`
    pub pacing_bytes_per_second: Option<u64>,
    /// `firetail.lingerMillis`; `None` = off (0)
    pub linger: Option<Duration>,
    /// `firetail.rateCeiling`
    pub rate_ceiling: bool,
}

impl FlowSettings {
    /// The destination's maximum record size in bytes: 1 024 000 for Firehose, 1 048 576
    /// (including the partition key) for Kinesis, 1 048 550 for CloudWatch Logs. Not
    /// configurable, as in the agent.
    pub fn max_record_size_bytes(&self) -> usize {
        self.destination.limits().max_record_bytes
    }
}

/// One in-daemon access-log generator (`firetail.generators[i]`).
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorSettings {
    /// `path`: absolute path of the file written
    pub path: PathBuf,
    /// `rate`: lines per second
    pub rate: u32,
    /// `format`
    pub format: GeneratorFormat,
    /// `rotateMode`
    pub rotate_mode: RotateMode,
    /// `rotateSizeBytes`
    pub rotate_size_bytes: Option<u64>,
    /// `rotateIntervalSeconds`
    pub rotate_interval: Option<Duration>,
    /// `keep`: rotated files kept
    pub keep: u32,
    /// `seed`
    pub seed: Option<u64>,
    /// `botShare`: 0.0–1.0
    pub bot_share: f64,
}

/// Builds the global settings (without flows) from the top-level object.
pub(crate) fn build_global(
    obj: &Map<String, Value>,
    origin: &str,
    diag: &mut Diagnostics,
) -> Settings {
    let at = Location::top(origin);
    let r = read_section(obj, Scope::Global, keys::default_destination(), &at, diag);
    let cpus = std::thread::available_parallelism()
        .map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX));
    let per_core = r.u32("maxSendingThreadsPerCore");
    let max_sending_threads = r.opt_int("maxSendingThreads").map_or_else(
        || per_core.saturating_mul(cpus).max(2),
        |n| u32::try_from(n).unwrap_or(u32::MAX),
    );
    let max_connections = r.opt_int("maxConnections").map_or_else(
        || max_sending_threads.max(50),
        |n| u32::try_from(n).unwrap_or(u32::MAX),
    );
    let generators = build_generators(r.raw("firetail.generators"), origin, diag);
    let (aws_access_key_id, aws_secret_access_key) = static_credentials(&r, &at, diag);
    Settings {
        aws_access_key_id,
        aws_secret_access_key,
        assume_role_arn: r.non_empty_str("assumeRoleARN"),
        assume_role_external_id: r.non_empty_str("assumeRoleExternalId"),
        sts_endpoint: r.non_empty_str("sts.endpoint"),
        user_defined_credentials_provider_classname: r
            .non_empty_str("userDefinedCredentialsProvider.classname"),
        user_defined_credentials_provider_location: r
            .non_empty_str("userDefinedCredentialsProvider.location"),
        kinesis_endpoint: r.non_empty_str("kinesis.endpoint"),
        kinesis_region: r.non_empty_str("kinesis.region"),
        firehose_endpoint: r.non_empty_str("firehose.endpoint"),
        logs_endpoint: r.non_empty_str("logs.endpoint"),
        cloudwatch_endpoint: r.non_empty_str("cloudwatch.endpoint"),
        cloudwatch_emit_metrics: r.bool("cloudwatch.emitMetrics"),
        cloudwatch_tag_instance: r.bool("cloudwatch.tagInstance"),
        cloudwatch_namespace: r
            .str("cloudwatch.namespace")
            .unwrap_or("AWSKinesisAgent")
            .to_owned(),
        cloudwatch_metrics_buffer_time: r.millis("cloudwatch.metricsBufferTimeMillis"),
        cloudwatch_metrics_queue_size: r.u32("cloudwatch.metricsQueueSize"),
        log_emit_metrics: r.bool("log.emitMetrics"),
        log_emit_internal_metrics: r.bool("log.emitInternalMetrics"),
        log_status_reporting_period: r.seconds("log.statusReportingPeriodSeconds"),
        checkpoint_file: PathBuf::from(r.str("checkpointFile").unwrap_or_default()),
        checkpoint_time_to_live_days: r.u32("checkpointTimeToLiveDays"),
        checkpoints_query_timeout: r.seconds("checkpoints.queryTimeoutSeconds"),
        checkpoints_connection_timeout: r.seconds("checkpoints.connectionTimeoutSeconds"),
        max_sending_threads,
        max_sending_threads_per_core: per_core,
        sending_threads_keep_alive: r.millis("sendingThreadsKeepAliveMillis"),
        sending_threads_max_queue_size: r.u32("sendingThreadsMaxQueueSize"),
        max_connections,
        connection_timeout: r.millis("connectionTimeoutMillis"),
        socket_timeout: r.millis("socketTimeoutMillis"),
        connection_ttl: u64::try_from(r.int("connectionTTLMillis"))
            .ok()
            .map(Duration::from_millis),
        use_tcp_keep_alive: r.bool("useTcpKeepAlive"),
        use_http_gzip: r.bool("useHttpGzip"),
        user_agent: r.non_empty_str("userAgent").map(|s| s.trim().to_owned()),
        user_agent_override: r.non_empty_str("userAgentOverride"),
        shutdown_timeout: r.millis("shutdownTimeoutMillis"),
        metrics_listen: r
            .str("firetail.metrics.listen")
            .and_then(|s| s.parse().ok()),
        checkpoint_interval: r.millis("firetail.checkpointIntervalMillis"),
        worker_threads: r.u32("firetail.workerThreads"),
        region: r.non_empty_str("firetail.region"),
        firehose_region: r.non_empty_str("firetail.firehose.region"),
        cloudwatch_region: r.non_empty_str("firetail.cloudwatch.region"),
        logs_region: r.non_empty_str("firetail.logs.region"),
        generators,
        flows: Vec::new(),
    }
}

/// The agent's static credentials provider yields nothing unless both keys are set, and the
/// chain moves on; firetail does the same, with a warning.
fn static_credentials(
    r: &Resolved,
    at: &Location,
    diag: &mut Diagnostics,
) -> (Option<String>, Option<Secret>) {
    match (
        r.non_empty_str("awsAccessKeyId"),
        r.non_empty_str("awsSecretAccessKey"),
    ) {
        (Some(id), Some(secret)) => (Some(id), Some(Secret(secret))),
        (None, None) => (None, None),
        (id, _) => {
            let (set, missing) = if id.is_some() {
                ("awsAccessKeyId", "awsSecretAccessKey")
            } else {
                ("awsSecretAccessKey", "awsAccessKeyId")
            };
            diag.warnings.push(ConfigWarning::NoEffect {
                at: at.clone(),
                key: set.to_owned(),
                reason: format!("{missing} is not set; static credentials need both (the standard credential chain is used)"),
            });
            (None, None)
        }
    }
}

/// Builds the flows of one file's `flows` value. Returns the flows that could be built; every
/// problem is recorded in `diag`.
pub(crate) fn build_flows(
    flows: Option<&Value>,
    origin: &str,
    diag: &mut Diagnostics,
) -> Vec<FlowSettings> {
    let Some(flows) = flows else {
        return Vec::new();
    };
    let Some(items) = flows.as_array() else {
        diag.errors.push(ConfigError::BadValue {
            at: Location::top(origin),
            key: "flows".to_owned(),
            value: crate::reader::show(flows),
            expected: "an array of flow objects".to_owned(),
        });
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .filter_map(|(index, item)| build_flow(item, index, origin, diag))
        .collect()
}

fn build_flow(
    item: &Value,
    index: usize,
    origin: &str,
    diag: &mut Diagnostics,
) -> Option<FlowSettings> {
    let mut at = Location {
        file: origin.to_owned(),
        section: Section::Flow { index, id: None },
    };
    let Some(obj) = item.as_object() else {
        diag.errors.push(ConfigError::NotAnObject {
            at,
            what: "a flow".to_owned(),
            found: json_type(item),
        });
        return None;
    };
    let flow_type = detect_flow_type(obj);
    let pattern = obj
        .get("filePattern")
        .and_then(coerce::scalar_text)
        .map(|p| normalize_pattern(&p));
    let stream = flow_type
        .and_then(|t| obj.get(stream_key(t)))
        .and_then(coerce::scalar_text);
    if let (Some(t), Some(pattern), Some(stream)) = (flow_type, &pattern, &stream) {
        at.section = Section::Flow {
            index,
            id: Some(flow_id(t, stream, pattern)),
        };
    }
    let errors_before = diag.errors.len();
    let r = read_section(
        obj,
        Scope::Flow,
        flow_type.unwrap_or_else(keys::default_destination),
        &at,
        diag,
    );
    let Some(flow_type) = flow_type else {
        diag.errors.push(ConfigError::UnknownFlowType { at });
        return None;
    };
    for other in keys::DESTINATIONS
        .iter()
        .filter(|d| d.key != flow_type.key && obj.contains_key(d.key))
    {
        diag.warnings.push(ConfigWarning::NoEffect {
            at: at.clone(),
            key: other.key.to_owned(),
            reason: format!(
                "{} is also set and wins (the flow is a {} flow)",
                flow_type.key, flow_type.limits.name
            ),
        });
    }
    let stream = validate_stream(&r, flow_type, &at, diag);
    validate_log_stream(&r, flow_type, &at, diag);
    let pattern = r
        .str("filePattern")
        .map(normalize_pattern)
        .and_then(|p| validate_pattern(p, &at, diag));
    validate_terminator(&r, flow_type, &at, diag);
    warn_backoff_clamp(&r, &at, diag);
    if diag.errors.len() > errors_before {
        return None;
    }
    let (stream, file_pattern) = (stream?, pattern?);
    Some(flow_from(
        &r,
        flow_type,
        stream,
        file_pattern,
        index,
        origin,
    ))
}

fn flow_from(
    r: &Resolved,
    flow_type: FlowDestination,
    stream: String,
    file_pattern: String,
    index: usize,
    origin: &str,
) -> FlowSettings {
    let id = flow_id(flow_type, &stream, &file_pattern);
    // Where destinations are chosen: one arm each.
    let destination = match flow_type.key {
        "kinesisStream" => Destination::Kinesis {
            stream,
            partition_key: r
                .str("partitionKeyOption")
                .and_then(PartitionKeyOption::from_name)
                .unwrap_or(PartitionKeyOption::Random),
        },
        "firetail.logGroup" => Destination::CloudWatchLogs {
            log_group: stream,
            log_stream: r.non_empty_str("firetail.logStream").unwrap_or_default(),
            create_missing: r.bool("firetail.logs.createMissing"),
        },
        _ => Destination::Firehose {
            delivery_stream: stream,
        },
    };
    FlowSettings {
        id,
        index,
        origin: PathBuf::from(origin),
        file_pattern,
        destination,
        initial_position: r
            .str("initialPosition")
            .and_then(InitialPosition::from_name)
            .unwrap_or(InitialPosition::EndOfFile),
        max_buffer_age: r.millis("maxBufferAgeMillis"),
        max_buffer_size_records: r.u32("maxBufferSizeRecords"),
        max_buffer_size_bytes: r.u32("maxBufferSizeBytes"),
        publish_queue_capacity: r.u32("publishQueueCapacity"),
        retry_initial_backoff: r.millis("retryInitialBackoffMillis"),
        retry_max_backoff: r.millis("retryMaxBackoffMillis"),
        wait_on_full_publish_queue: r.millis("waitOnFullPublishQueueMillis"),
        wait_on_empty_publish_queue: r.millis("waitOnEmptyPublishQueueMillis"),
        min_time_between_file_polls: r.millis("minTimeBetweenFilePollsMillis"),
        max_time_between_file_tracker_refresh: r.millis("maxTimeBetweenFileTrackerRefreshMillis"),
        multi_line_start_pattern: r.non_empty_str("multiLineStartPattern"),
        skip_header_lines: r.u32("skipHeaderLines"),
        truncated_record_terminator: r
            .str("truncatedRecordTerminator")
            .unwrap_or("\n")
            .to_owned(),
        aggregated_record_size_bytes: r.u32("aggregatedRecordSizeBytes"),
        data_processing_options: r.raw("dataProcessingOptions").cloned(),
        file_footer_pattern: r.non_empty_str("fileFooterPattern"),
        log_emit_internal_metrics: r.bool("log.emitInternalMetrics"),
        max_open_files: r.u32("firetail.maxOpenFiles"),
        max_in_flight_bytes: r.u64("firetail.maxInFlightBytes"),
        reconcile_interval: r.millis("firetail.reconcileIntervalMillis"),
        idle_flush: Some(r.millis("firetail.idleFlushMillis")).filter(|d| !d.is_zero()),
        fingerprint_bytes: r.u32("firetail.fingerprintBytes"),
        // 0 (never a valid value) until the loader fills in maxSendingThreads.
        max_requests_in_flight: r
            .opt_int("firetail.maxRequestsInFlight")
            .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        permanent_retry_interval: r.millis("firetail.permanentRetryMillis"),
        request_timeout: r.millis("firetail.requestTimeoutMillis"),
        pacing_records_per_second: r.opt_u64("firetail.pacing.recordsPerSecond"),
        pacing_bytes_per_second: r.opt_u64("firetail.pacing.bytesPerSecond"),
        linger: Some(r.millis("firetail.lingerMillis")).filter(|d| !d.is_zero()),
        rate_ceiling: r.bool("firetail.rateCeiling"),
    }
}

/// The first destination whose key the flow sets ([`keys::DESTINATIONS`] is in order:
/// `deliveryStream` wins, as in the agent's `FileFlowFactory`).
fn detect_flow_type(obj: &Map<String, Value>) -> Option<FlowDestination> {
    keys::DESTINATIONS.iter().find(|d| obj.contains_key(d.key))
}

fn stream_key(flow_type: FlowDestination) -> &'static str {
    flow_type.key
}

/// The agent's flow id: type prefix, stream, then directory + "/" + file-name glob.
pub(crate) fn flow_id(
    flow_type: FlowDestination,
    stream: &str,
    normalized_pattern: &str,
) -> String {
    format!("{}:{stream}:{normalized_pattern}", flow_type.id_prefix)
}

/// Java's `Paths.get` collapses repeated separators; the id is built from that form.
/// A trailing `/` is kept so validation can reject it.
fn normalize_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    out
}

fn validate_stream(
    r: &Resolved,
    flow_type: FlowDestination,
    at: &Location,
    diag: &mut Diagnostics,
) -> Option<String> {
    let key = stream_key(flow_type);
    match r.non_empty_str(key) {
        Some(s) => Some(s),
        None => {
            // An invalid (non-string) value was already reported by the reader.
            if r.str(key).is_some() || diag.errors.iter().all(|e| !is_about(e, key, at)) {
                diag.errors.push(ConfigError::BadValue {
                    at: at.clone(),
                    key: key.to_owned(),
                    value: format!("{:?}", r.str(key).unwrap_or("null")),
                    expected: "a non-empty stream name".to_owned(),
                });
            }
            None
        }
    }
}

/// A CloudWatch Logs flow names its log stream too.
fn validate_log_stream(
    r: &Resolved,
    flow_type: FlowDestination,
    at: &Location,
    diag: &mut Diagnostics,
) {
    let key = "firetail.logStream";
    if flow_type.key != "firetail.logGroup" || r.non_empty_str(key).is_some() {
        return;
    }
    if r.str(key).is_some() || diag.errors.iter().all(|e| !is_about(e, key, at)) {
        diag.errors.push(ConfigError::BadValue {
            at: at.clone(),
            key: key.to_owned(),
            value: format!("{:?}", r.str(key).unwrap_or("null")),
            expected: "a non-empty log stream name (required with firetail.logGroup)".to_owned(),
        });
    }
}

fn is_about(e: &ConfigError, key: &str, at: &Location) -> bool {
    matches!(e, ConfigError::BadValue { key: k, at: a, .. } if k == key && a == at)
}

/// firetail accepts globs in every path component (the agent only in the last) and `**`.
fn validate_pattern(pattern: String, at: &Location, diag: &mut Diagnostics) -> Option<String> {
    let reason = if !pattern.starts_with('/') {
        Some("must be an absolute path".to_owned())
    } else if pattern.ends_with('/') {
        Some("must not end with '/' (it names files, not a directory)".to_owned())
    } else {
        globset::GlobBuilder::new(&pattern)
            .literal_separator(true)
            .build()
            .err()
            .map(|e| format!("is not a valid glob: {}", e.kind()))
    };
    match reason {
        None => Some(pattern),
        Some(reason) => {
            diag.errors.push(ConfigError::BadFilePattern {
                at: at.clone(),
                pattern,
                reason,
            });
            None
        }
    }
}

/// The agent waits `min(retryMaxBackoffMillis, retryInitialBackoffMillis x 2^n)`, so an
/// initial backoff above the maximum is accepted and every retry waits the maximum;
/// firetail clamps it the same way, and says so.
fn warn_backoff_clamp(r: &Resolved, at: &Location, diag: &mut Diagnostics) {
    let (initial, max) = (
        r.int("retryInitialBackoffMillis"),
        r.int("retryMaxBackoffMillis"),
    );
    if initial > max {
        diag.warnings.push(ConfigWarning::NoEffect {
            at: at.clone(),
            key: "retryInitialBackoffMillis".to_owned(),
            reason: format!(
                "{initial} is above retryMaxBackoffMillis ({max}); every retry waits up to {max} ms, as in the Kinesis Agent"
            ),
        });
    }
}

fn validate_terminator(
    r: &Resolved,
    flow_type: FlowDestination,
    at: &Location,
    diag: &mut Diagnostics,
) {
    let max = flow_type.limits.max_record_bytes;
    let Some(terminator) = r.str("truncatedRecordTerminator") else {
        return;
    };
    if terminator.len() >= max {
        diag.errors.push(ConfigError::BadValue {
            at: at.clone(),
            key: "truncatedRecordTerminator".to_owned(),
            value: format!("a string of {} bytes", terminator.len()),
            expected: format!("a string shorter than the maximum record size ({max} bytes)"),
        });
    }
}

fn build_generators(
    list: Option<&Value>,
    origin: &str,
    diag: &mut Diagnostics,
) -> Vec<GeneratorSettings> {
    let Some(items) = list.and_then(Value::as_array) else {
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .filter_map(|(index, item)| build_generator(item, index, origin, diag))
        .collect()
}

fn build_generator(
    item: &Value,
    index: usize,
    origin: &str,
    diag: &mut Diagnostics,
) -> Option<GeneratorSettings> {
    let at = Location {
        file: origin.to_owned(),
        section: Section::Generator { index },
    };
    let Some(obj) = item.as_object() else {
        diag.errors.push(ConfigError::NotAnObject {
            at,
            what: "a generator".to_owned(),
            found: json_type(item),
        });
        return None;
    };
    let errors_before = diag.errors.len();
    let r = read_section(
        obj,
        Scope::Generator,
        keys::default_destination(),
        &at,
        diag,
    );
    let path = r.str("path").map(PathBuf::from);
    if let Some(p) = &path {
        if !p.is_absolute() {
            diag.errors.push(ConfigError::BadValue {
                at: at.clone(),
                key: "path".to_owned(),
                value: format!("{:?}", p.display().to_string()),
                expected: "an absolute path".to_owned(),
            });
        }
    }
    let rotate_mode = r
        .str("rotateMode")
        .and_then(RotateMode::from_name)
        .unwrap_or(RotateMode::None);
    let rotate_size_bytes = r.opt_u64("rotateSizeBytes");
    let rotate_interval = r.opt_u64("rotateIntervalSeconds").map(Duration::from_secs);
    if rotate_mode != RotateMode::None && rotate_size_bytes.is_none() && rotate_interval.is_none() {
        diag.warnings.push(ConfigWarning::Note {
            at: at.clone(),
            message: format!(
                "rotateMode is {} but neither rotateSizeBytes nor rotateIntervalSeconds is set: the file never rotates",
                rotate_mode.as_str()
            ),
        });
    }
    if diag.errors.len() > errors_before {
        return None;
    }
    Some(GeneratorSettings {
        path: path?,
        rate: r.u32("rate"),
        format: r
            .str("format")
            .and_then(GeneratorFormat::from_name)
            .unwrap_or(GeneratorFormat::Combined),
        rotate_mode,
        rotate_size_bytes,
        rotate_interval,
        keep: r.u32("keep"),
        seed: r.opt_u64("seed"),
        bot_share: r.float("botShare"),
    })
}

/// The JSON type of a value, for messages.
pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_normalization_collapses_slashes() {
        assert_eq!(normalize_pattern("/var//log///a*"), "/var/log/a*");
        assert_eq!(normalize_pattern("/var/log/"), "/var/log/");
    }

    #[test]
    fn region_is_read_from_standard_endpoints() {
        assert_eq!(
            region_from_endpoint("https://firehose.us-west-2.amazonaws.com").as_deref(),
            Some("us-west-2")
        );
        assert_eq!(
            region_from_endpoint("monitoring.eu-central-1.amazonaws.com:443/").as_deref(),
            Some("eu-central-1")
        );
        assert_eq!(
            region_from_endpoint("https://kinesis.cn-north-1.amazonaws.com.cn").as_deref(),
            Some("cn-north-1")
        );
        assert_eq!(
            region_from_endpoint("https://firehose-fips.us-gov-west-1.amazonaws.com/").as_deref(),
            Some("us-gov-west-1")
        );
        assert_eq!(
            region_from_endpoint(
                "vpce-0a1b2c3d4e5f-12345678.firehose.eu-west-1.vpce.amazonaws.com"
            )
            .as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region_from_endpoint("http://localhost:4566"), None);
        assert_eq!(region_from_endpoint("http://127.0.0.1:4573"), None);
        assert_eq!(region_from_endpoint("https://kinesis.example.com"), None);
        assert_eq!(region_from_endpoint("https://firehose.amazonaws.com"), None);
    }
}
