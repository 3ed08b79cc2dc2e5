//! The table of every configuration key firetail knows: its agent.json name, where it may
//! appear, its type, default, legal range and whether firetail acts on it.
//!
//! This table is the single source of truth: the reader validates against it, the unknown-key
//! warnings suggest names from it, the table-driven tests are generated from it and
//! `docs/configuration.md` is checked against it. Invariant: every `(scope, name)` pair is
//! unique, and every default lies inside its own range.

/// Largest Java `int`; the agent reads "int" keys into one.
pub const JAVA_INT_MAX: i64 = i32::MAX as i64;
/// Largest Java `long`.
pub const JAVA_LONG_MAX: i64 = i64::MAX;

/// Where a key may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Top level of the main agent.json.
    Global,
    /// An element of `flows`.
    Flow,
    /// An element of `firetail.generators`.
    Generator,
}

/// Which flows a flow key means something for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppliesTo {
    /// Every flow (and every global or generator key).
    All,
    /// Flows of the destination selected by this key ([`DestinationSpec::key`]) only.
    Only(&'static str),
}

/// One destination a flow can send to, as the configuration sees it: the key that
/// selects it and names its target, and the limits of its API. The sink's client for it
/// reports the same limits (`firetail_sink::PutClient::limits`).
#[derive(Debug, PartialEq, Eq)]
pub struct DestinationSpec {
    /// The flow key that selects this destination and names its target.
    pub key: &'static str,
    /// The prefix of the flow's id (the agent's `fh:` and `kinesis:`).
    pub id_prefix: &'static str,
    /// What it can hold per call and per record.
    pub limits: &'static limits::DestinationLimits,
}

impl DestinationSpec {
    /// How messages name it: `Firehose (deliveryStream)`.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.limits.name, self.key)
    }
}

/// Every destination, in the order a flow's keys are checked: `deliveryStream` wins over
/// `kinesisStream`, as in the Kinesis Agent's `FileFlowFactory`. A new destination's keys
/// are one entry here, its keys below, and its arm where `settings` builds a
/// `Destination`; the daemon's `destinations` registry connects it.
pub static DESTINATIONS: &[DestinationSpec] = &[
    DestinationSpec {
        key: "deliveryStream",
        id_prefix: "fh",
        limits: &limits::FIREHOSE,
    },
    DestinationSpec {
        key: "kinesisStream",
        id_prefix: "kinesis",
        limits: &limits::KINESIS,
    },
    DestinationSpec {
        key: "firetail.logGroup",
        id_prefix: "logs",
        limits: &limits::CLOUDWATCH_LOGS,
    },
];

/// The destination a section without flows is read for (global and generator keys do
/// not depend on it); also a flow's when it names none (an error reported on its own).
pub fn default_destination() -> &'static DestinationSpec {
    &DESTINATIONS[0]
}

/// Legal interval of an integer key, inclusive at both ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bounds {
    /// The same range for every flow.
    Range(i64, i64),
    /// 1 to the flow's destination's request size limit.
    UpToRequestBytes,
    /// 1 to the most records the flow's destination takes in one call.
    UpToRequestRecords,
    /// `0` (off) or a value in the range.
    ZeroOr(i64, i64),
}

impl Bounds {
    /// The (min, max) of these bounds on a flow to `destination` (for `ZeroOr`, the
    /// non-zero part).
    pub fn range_for(self, destination: &DestinationSpec) -> (i64, i64) {
        let limit = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        match self {
            Bounds::Range(min, max) | Bounds::ZeroOr(min, max) => (min, max),
            Bounds::UpToRequestBytes => (1, limit(destination.limits.max_request_bytes)),
            Bounds::UpToRequestRecords => (1, limit(destination.limits.max_records_per_request)),
        }
    }
}

/// The type of a key's value, after the agent's coercion rules (§1.2 of the spec).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Java `int`: a JSON integer, or a string Java's `Integer.decode` accepts.
    Int(Bounds),
    /// Java `long`: like `Int` with 64-bit limits.
    Long(Bounds),
    /// Unsigned 64-bit integer (firetail's own `seed`).
    U64,
    /// Floating point number in an inclusive range.
    Float(f64, f64),
    /// `true`/`false`, or a case-insensitive string `true,yes,t,y,1` / `false,no,f,n,0`.
    Bool,
    /// A string; numbers and booleans are accepted and converted to their text, as the agent does.
    Str,
    /// A string that must be one of these names, case-sensitive.
    Enum(&'static [&'static str]),
    /// A filesystem path (string).
    Path,
    /// An absolute path glob (`filePattern`).
    FilePattern,
    /// A socket address such as `127.0.0.1:9898`; the empty string means disabled.
    SocketAddrOrEmpty,
    /// A JSON array handled by its own code (`flows`, `dataProcessingOptions`, generators).
    List,
    /// Any value; the key is accepted but never read.
    Ignored,
}

/// What a key is when it is absent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DefaultValue {
    /// The key must be present.
    Required,
    /// No value (an optional setting).
    Unset,
    /// An integer.
    Int(i64),
    /// The flow's destination's request size limit.
    RequestBytes,
    /// The most records the flow's destination takes in one call.
    RequestRecords,
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A string (also the default of enums and paths).
    Str(&'static str),
    /// Computed from other settings; the text says how.
    Computed(&'static str),
}

/// What firetail does with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Validated and acted on.
    Used,
    /// Validated and shown in the effective config, but has no effect in firetail.
    Accepted,
    /// Accepted with a warning: the Kinesis Agent itself ignores it.
    Ignored,
}

/// One configuration key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeySpec {
    /// The exact agent.json key (flat, may contain dots).
    pub name: &'static str,
    /// Where the key may appear.
    pub scope: Scope,
    /// Value type and legal range.
    pub kind: Kind,
    /// Value when absent.
    pub default: DefaultValue,
    /// Which flow types the key affects.
    pub applies_to: AppliesTo,
    /// What firetail does with it.
    pub support: Support,
    /// One-line description for the docs.
    pub doc: &'static str,
}

impl KeySpec {
    /// True for firetail's own keys (prefix `firetail.`, and every generator key).
    pub fn is_extension(&self) -> bool {
        self.name.starts_with("firetail.") || self.scope == Scope::Generator
    }
}

const fn key(
    name: &'static str,
    scope: Scope,
    kind: Kind,
    default: DefaultValue,
    support: Support,
    doc: &'static str,
) -> KeySpec {
    KeySpec {
        name,
        scope,
        kind,
        default,
        applies_to: AppliesTo::All,
        support,
        doc,
    }
}

const fn only(spec: KeySpec, applies_to: AppliesTo) -> KeySpec {
    KeySpec { applies_to, ..spec }
}

use firetail_agent::limits;

use DefaultValue as D;
use Kind::{
    Bool, Enum, FilePattern, Float, Ignored, Int, List, Long, Path, SocketAddrOrEmpty, Str, U64,
};
use Scope::{Flow, Generator, Global};
use Support::{Accepted, Used};

const fn r(min: i64, max: i64) -> Bounds {
    Bounds::Range(min, max)
}

/// Legal values of `initialPosition`.
pub const INITIAL_POSITIONS: &[&str] = &["START_OF_FILE", "END_OF_FILE"];
/// Legal values of `partitionKeyOption`.
pub const PARTITION_KEY_OPTIONS: &[&str] = &["RANDOM", "DETERMINISTIC"];
/// Legal values of a generator's `format`.
pub const GENERATOR_FORMATS: &[&str] = &["combined", "common"];
/// Legal values of a generator's `rotateMode`.
pub const ROTATE_MODES: &[&str] = &["none", "rename", "copytruncate", "dated"];

// The service limits some ranges and defaults are made of, as table integers.
const FIREHOSE_MAX_RECORD_BYTES: i64 = limits::FIREHOSE_MAX_RECORD_BYTES as i64;

/// A flow key of one destination only.
const FIREHOSE_ONLY: AppliesTo = AppliesTo::Only("deliveryStream");
const KINESIS_ONLY: AppliesTo = AppliesTo::Only("kinesisStream");
const LOGS_ONLY: AppliesTo = AppliesTo::Only("firetail.logGroup");

/// Every key firetail knows, in documentation order.
pub static KEYS: &[KeySpec] = &[
    // ---- global: the Kinesis Agent's keys ----
    key("flows", Global, List, D::Required, Used, "Flow definitions (at least one after merging agent.d)."),
    key("awsAccessKeyId", Global, Str, D::Unset, Used, "Static access key id; needs awsSecretAccessKey."),
    key("awsSecretAccessKey", Global, Str, D::Unset, Used, "Static secret key (shown redacted in the effective config)."),
    key("assumeRoleARN", Global, Str, D::Unset, Used, "Role assumed with STS on top of the credential chain."),
    key("assumeRoleExternalId", Global, Str, D::Unset, Used, "ExternalId for AssumeRole."),
    key("sts.endpoint", Global, Str, D::Unset, Used, "STS endpoint for AssumeRole."),
    key("userDefinedCredentialsProvider.classname", Global, Str, D::Unset, Accepted, "Java credentials provider class; firetail cannot load Java classes."),
    key("userDefinedCredentialsProvider.location", Global, Str, D::Unset, Accepted, "Jar holding that class."),
    key("kinesis.endpoint", Global, Str, D::Unset, Used, "Kinesis endpoint URL; empty = unset."),
    key("kinesis.region", Global, Str, D::Unset, Used, "Kinesis signing region."),
    key("firehose.endpoint", Global, Str, D::Unset, Used, "Firehose endpoint URL; empty = unset."),
    key("cloudwatch.endpoint", Global, Str, D::Unset, Used, "CloudWatch endpoint URL; empty = unset."),
    key("logs.endpoint", Global, Str, D::Unset, Used, "CloudWatch Logs endpoint URL, for flows with firetail.logGroup (a firetail extension: the agent has no such flows); empty = unset."),
    key("cloudwatch.emitMetrics", Global, Bool, D::Bool(true), Used, "Publish CloudWatch metrics."),
    key("cloudwatch.tagInstance", Global, Bool, D::Bool(false), Used, "Add an `Instance` dimension to metrics: the EC2 instance id, or the host name off EC2."),
    key("cloudwatch.namespace", Global, Str, D::Str("AWSKinesisAgent"), Used, "CloudWatch metric namespace."),
    key("cloudwatch.metricsBufferTimeMillis", Global, Long(r(1, JAVA_LONG_MAX)), D::Int(30_000), Used, "Flush interval of the CloudWatch publisher, ms."),
    key("cloudwatch.metricsQueueSize", Global, Int(r(1, JAVA_INT_MAX)), D::Int(10_000), Used, "Max distinct metric datums held between CloudWatch flushes; more are dropped with a WARN."),
    key("log.emitMetrics", Global, Bool, D::Bool(false), Accepted, "Also log every metric scope."),
    key("log.emitInternalMetrics", Global, Bool, D::Bool(false), Used, "Log the status round's `Tailing is … behind` lines at INFO even when little or nothing is behind (the agent also logs an `Agent: Status:` JSON line, which firetail does not)."),
    key("log.statusReportingPeriodSeconds", Global, Int(r(1, JAVA_INT_MAX)), D::Int(30), Used, "Period of the status log lines, s."),
    key("checkpointFile", Global, Path, D::Str("/var/lib/firetail/checkpoints.json"), Used, "Checkpoint file (the agent's default is /var/run/aws-kinesis-agent/checkpoints)."),
    key("checkpointTimeToLiveDays", Global, Int(r(0, JAVA_INT_MAX)), D::Int(7), Used, "At startup, the checkpoints of files gone (deleted or rotated out of the pattern) for more than this many days are forgotten; the agent drops rows not updated for that long."),
    key("checkpoints.queryTimeoutSeconds", Global, Int(r(0, JAVA_INT_MAX)), D::Int(30), Accepted, "SQLite query timeout in the agent."),
    key("checkpoints.connectionTimeoutSeconds", Global, Int(r(0, JAVA_INT_MAX)), D::Int(5), Accepted, "Read but never used by the agent."),
    key("maxSendingThreads", Global, Int(r(1, JAVA_INT_MAX)), D::Computed("max(2, maxSendingThreadsPerCore × CPUs)"), Used, "The agent's sender thread pool size; firetail's default for each flow's firetail.maxRequestsInFlight."),
    key("maxSendingThreadsPerCore", Global, Int(r(1, JAVA_INT_MAX)), D::Int(12), Used, "Multiplier for the maxSendingThreads default."),
    key("sendingThreadsKeepAliveMillis", Global, Long(r(0, JAVA_LONG_MAX)), D::Int(60_000), Accepted, "Idle sender thread timeout, ms."),
    key("sendingThreadsMaxQueueSize", Global, Int(r(1, JAVA_INT_MAX)), D::Int(100), Accepted, "Queue in front of the sender pool."),
    key("maxConnections", Global, Int(r(1, JAVA_INT_MAX)), D::Computed("max(50, maxSendingThreads)"), Accepted, "HTTP connection pool size per AWS client."),
    key("connectionTimeoutMillis", Global, Int(r(0, JAVA_INT_MAX)), D::Int(10_000), Used, "TCP connect timeout, ms (0 = none)."),
    key("socketTimeoutMillis", Global, Int(r(0, JAVA_INT_MAX)), D::Int(50_000), Used, "HTTP read timeout, ms (0 = none)."),
    key("connectionTTLMillis", Global, Long(r(-1, JAVA_LONG_MAX)), D::Int(-1), Accepted, "Pooled connection time to live, ms (-1 = unlimited)."),
    key("useTcpKeepAlive", Global, Bool, D::Bool(false), Accepted, "TCP keep-alive on AWS connections."),
    key("useHttpGzip", Global, Bool, D::Bool(false), Accepted, "SDK HTTP gzip."),
    key("userAgent", Global, Str, D::Unset, Accepted, "User-agent prefix (trimmed)."),
    key("userAgentOverride", Global, Str, D::Unset, Accepted, "Replaces the whole user agent."),
    key("shutdownTimeoutMillis", Global, Long(r(0, JAVA_LONG_MAX)), D::Int(10_000), Used, "Graceful shutdown budget, ms."),
    key("log.level", Global, Ignored, D::Unset, Support::Ignored, "Ignored by the Kinesis Agent since 2018."),
    key("log.file", Global, Ignored, D::Unset, Support::Ignored, "Ignored by the Kinesis Agent since 2018."),
    key("log.maxBackupIndex", Global, Ignored, D::Unset, Support::Ignored, "Ignored by the Kinesis Agent since 2018."),
    key("log.maxFileSize", Global, Ignored, D::Unset, Support::Ignored, "Ignored by the Kinesis Agent since 2018."),
    // ---- global: firetail extensions ----
    key("firetail.metrics.listen", Global, SocketAddrOrEmpty, D::Str("127.0.0.1:9898"), Used, "Prometheus /metrics listen address; empty string = disabled."),
    key("firetail.checkpointIntervalMillis", Global, Long(r(100, 60_000)), D::Int(1000), Used, "How often checkpoints are persisted, ms."),
    key("firetail.workerThreads", Global, Int(r(1, 64)), D::Int(1), Used, "Threads of the async runtime every flow runs on. One keeps the daemon to one core and costs the least CPU per GiB (no hand-offs between threads); raise it for several busy flows that need more than one core."),
    key("firetail.region", Global, Str, D::Unset, Used, "Fallback region for every AWS client."),
    key("firetail.firehose.region", Global, Str, D::Unset, Used, "Firehose region."),
    key("firetail.cloudwatch.region", Global, Str, D::Unset, Used, "CloudWatch region."),
    key("firetail.logs.region", Global, Str, D::Unset, Used, "CloudWatch Logs region (flows with firetail.logGroup)."),
    key("firetail.generators", Global, List, D::Unset, Used, "In-daemon access-log generators (see the generator keys)."),
    // ---- flow: the Kinesis Agent's keys ----
    key("filePattern", Flow, FilePattern, D::Required, Used, "Absolute glob of the files to tail."),
    key("deliveryStream", Flow, Str, D::Unset, Used, "Firehose delivery stream; wins over kinesisStream."),
    key("kinesisStream", Flow, Str, D::Unset, Used, "Kinesis data stream."),
    only(key("partitionKeyOption", Flow, Enum(PARTITION_KEY_OPTIONS), D::Str("RANDOM"), Used, "Partition key per record."), KINESIS_ONLY),
    key("initialPosition", Flow, Enum(INITIAL_POSITIONS), D::Str("END_OF_FILE"), Used, "Where to start in the newest file without a checkpoint."),
    key("maxBufferAgeMillis", Flow, Long(r(1000, 900_000)), D::Int(60_000), Used, "Flush a partial batch when its first record is this old, ms."),
    key("maxBufferSizeRecords", Flow, Int(Bounds::UpToRequestRecords), D::RequestRecords, Used, "Max records per API call."),
    key("maxBufferSizeBytes", Flow, Int(Bounds::UpToRequestBytes), D::RequestBytes, Used, "Max bytes per API call (as the service counts them: CloudWatch Logs adds 26 bytes per event)."),
    key("publishQueueCapacity", Flow, Int(r(1, JAVA_INT_MAX)), D::Int(100), Accepted, "Agent's queue of unsent buffers (firetail bounds memory with firetail.maxInFlightBytes)."),
    key("retryInitialBackoffMillis", Flow, Long(r(0, JAVA_LONG_MAX)), D::Int(100), Used, "Backoff base, ms; above retryMaxBackoffMillis it is that maximum (as in the agent, with a warning)."),
    key("retryMaxBackoffMillis", Flow, Long(r(0, JAVA_LONG_MAX)), D::Int(10_000), Used, "Backoff cap before jitter, ms."),
    key("waitOnFullPublishQueueMillis", Flow, Long(r(1000, 900_000)), D::Int(60_000), Accepted, "Validated but unused by the agent."),
    key("waitOnEmptyPublishQueueMillis", Flow, Long(r(1000, 900_000)), D::Int(60_000), Accepted, "Agent publisher's longest wait for a buffer, ms."),
    key("waitOnFullRetryQueueMillis", Flow, Ignored, D::Unset, Support::Ignored, "Defined but never read by the agent."),
    key("minTimeBetweenFilePollsMillis", Flow, Long(r(0, JAVA_LONG_MAX)), D::Int(100), Used, "Polling period of the flow's files when inotify is unavailable, ms (at least 10)."),
    key("maxTimeBetweenFileTrackerRefreshMillis", Flow, Long(r(0, JAVA_LONG_MAX)), D::Int(10_000), Used, "Full rescan of the pattern while inotify works, ms (a safety net: file events trigger reads and scans at once; at least firetail.reconcileIntervalMillis)."),
    key("multiLineStartPattern", Flow, Str, D::Unset, Used, "Java regex that starts a record; empty = unset."),
    key("skipHeaderLines", Flow, Int(r(0, JAVA_INT_MAX)), D::Int(0), Used, "Lines skipped at the start of every file read from offset 0."),
    key("truncatedRecordTerminator", Flow, Str, D::Str("\n"), Used, "Written over the end of truncated records."),
    only(key("aggregatedRecordSizeBytes", Flow, Int(r(0, FIREHOSE_MAX_RECORD_BYTES)), D::Int(0), Used, "Pack whole lines into Firehose records of at most this size (0 = off)."), FIREHOSE_ONLY),
    key("dataProcessingOptions", Flow, List, D::Unset, Used, "Converter chain (validated by firetail-process)."),
    key("fileFooterPattern", Flow, Str, D::Unset, Used, "Java regex; a record fully matching it stops reading the file; empty = unset."),
    key("log.emitInternalMetrics", Flow, Bool, D::Bool(false), Accepted, "Per-flow `File Tailer Status:` JSON line."),
    // ---- flow: firetail extensions ----
    key("firetail.logGroup", Flow, Str, D::Unset, Used, "CloudWatch Logs log group: the flow sends its records as log events (PutLogEvents), each stamped with the time it was read. deliveryStream and kinesisStream win over it."),
    only(key("firetail.logStream", Flow, Str, D::Unset, Used, "The log stream in firetail.logGroup; required with it."), LOGS_ONLY),
    only(key("firetail.logs.createMissing", Flow, Bool, D::Bool(false), Used, "Create the log group and stream when CloudWatch Logs says one is missing; false: a missing one is a permanent error, reported and retried every firetail.permanentRetryMillis, as a missing delivery stream is."), LOGS_ONLY),
    key("firetail.maxOpenFiles", Flow, Int(r(1, 65_536)), D::Int(1024), Used, "Max files of this flow open at once."),
    key("firetail.maxInFlightBytes", Flow, Long(r(1_048_576, 1_073_741_824)), D::Int(2_097_152), Used, "Bytes read but not yet acknowledged; tailing pauses above it (bounds memory and duplicates after a crash)."),
    key("firetail.reconcileIntervalMillis", Flow, Long(r(10, 60_000)), D::Int(1000), Used, "Rescan of the pattern when inotify is unavailable, and how long a rotated file stays quiet before it is finished, ms."),
    key("firetail.idleFlushMillis", Flow, Long(Bounds::ZeroOr(100, 3_600_000)), D::Int(0), Used, "Emit an unterminated last line after the file is idle this long, ms (0 = never, as the agent)."),
    key("firetail.fingerprintBytes", Flow, Int(r(16, 4096)), D::Int(256), Used, "Leading bytes hashed into a file's identity."),
    key("firetail.maxRequestsInFlight", Flow, Int(r(1, 1024)), D::Computed("maxSendingThreads"), Used, "Most PutRecordBatch/PutRecords calls in flight per flow: the ceiling of its adaptive concurrency, which starts at 1, doubles per round trip while requests wait for a slot, and halves on throttles and timeouts."),
    key("firetail.permanentRetryMillis", Flow, Long(r(100, 3_600_000)), D::Int(30_000), Used, "While the destination fails permanently (missing stream, access denied), probe it this often, ms."),
    key("firetail.requestTimeoutMillis", Flow, Long(r(1000, 900_000)), D::Int(60_000), Used, "A request unanswered this long is retried (its records may be duplicated), ms."),
    key("firetail.pacing.recordsPerSecond", Flow, Long(r(1, JAVA_LONG_MAX)), D::Unset, Used, "Send at most this many records/s (unset = unpaced)."),
    key("firetail.pacing.bytesPerSecond", Flow, Long(r(1, JAVA_LONG_MAX)), D::Unset, Used, "Send at most this many bytes/s (unset = unpaced)."),
    key("firetail.lingerMillis", Flow, Long(Bounds::ZeroOr(1, 900_000)), D::Int(0), Used, "Low-latency mode: a partial batch leaves once its first record is this old and a request can leave at once (a slot free, no backoff, pacing or ceiling wait), so a quiet server's lines arrive in tens of ms while a busy one still fills its batches; doubles on each throttled call up to maxBufferAgeMillis and halves back on clean answers, so a fleet under throttling does not multiply its calls, ms (0 = off: maxBufferAgeMillis alone)."),
    key("firetail.rateCeiling", Flow, Bool, D::Bool(false), Used, "Off by default: under throttles that do not answer to its rate (injected faults, a service blip) a lone daemon is still cut to a quarter of its goodput and cannot keep up (docs/scaling.md). Learn a ceiling on the request rate from whole-call throttles, so a fleet shares a stream's quota fairly instead of spending its calls on throttles (docs/scaling.md). A request counts max(1, bytes / 2,621) units (a stream's byte quota over its request quota). Engaged once over 5% of the recent calls (weighted by age, fading by e a minute or every 20 calls) were throttled; while engaged a request carries 1.2 units (3.1 KB; filled from the queue while a backlog waits), so a daemon's throttles come in proportion to its rate; each throttle of a request sent after the last cut, with a call accepted since, multiplies it by 0.92 (the first cut: 0.92 x what got through); it grows 2%/s (of its logarithm) between cuts, the same for every daemon, quickening by 2%/s more every 10 s without a cut; after 20 accepted calls in a row over >= 10 s it probes, doubling each second until a throttle, which cuts from the units accepted in the probe's last second (from where it began if that was more, or if the throttle came within 3 s); a congestion episode never cuts below a quarter of the goodput (over ~30 s) it began with; a run of >= 8 throttled calls over >= 10 s (an outage) is forgotten when it ends and the ceiling then doubles each second until the next cut; requests leave units/ceiling apart with +-25% jitter; never below 1 unit/s, dropped above 100,000/s. false = backoff and concurrency alone."),
    // ---- firetail.generators[i] ----
    key("path", Generator, Path, D::Required, Used, "Absolute path of the log file to write."),
    key("rate", Generator, Int(r(1, 10_000_000)), D::Int(100), Used, "Lines per second."),
    key("format", Generator, Enum(GENERATOR_FORMATS), D::Str("combined"), Used, "Apache log format."),
    key("rotateMode", Generator, Enum(ROTATE_MODES), D::Str("none"), Used, "How the file is rotated."),
    key("rotateSizeBytes", Generator, Long(r(1, JAVA_LONG_MAX)), D::Unset, Used, "Rotate when the file reaches this size."),
    key("rotateIntervalSeconds", Generator, Long(r(1, JAVA_LONG_MAX)), D::Unset, Used, "Rotate this often."),
    key("keep", Generator, Int(r(0, 10_000)), D::Int(5), Used, "Rotated files kept."),
    key("seed", Generator, U64, D::Unset, Used, "Random seed (unset = random)."),
    key("botShare", Generator, Float(0.0, 1.0), D::Float(0.05), Used, "Share of bot/crawler/scanner traffic."),
];

/// Keys that may appear in `scope`.
pub fn keys_in(scope: Scope) -> impl Iterator<Item = &'static KeySpec> {
    KEYS.iter().filter(move |k| k.scope == scope)
}

/// The spec of `name` in `scope`, if firetail knows it.
pub fn lookup(scope: Scope, name: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.scope == scope && k.name == name)
}

/// The known key of `scope` closest to `name`, if within edit distance 2.
pub fn suggest(scope: Scope, name: &str) -> Option<&'static str> {
    keys_in(scope)
        .map(|k| (edit_distance(name, k.name), k.name))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Levenshtein distance over chars; inputs are short key names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitution.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_per_scope() {
        for (i, a) in KEYS.iter().enumerate() {
            for b in &KEYS[i + 1..] {
                assert!(
                    !(a.scope == b.scope && a.name == b.name),
                    "duplicate {}",
                    a.name
                );
            }
        }
    }

    #[test]
    fn suggestion_within_two_edits() {
        assert_eq!(
            suggest(Scope::Flow, "maxBufferAgeMilis"),
            Some("maxBufferAgeMillis")
        );
        assert_eq!(suggest(Scope::Flow, "filepattern"), Some("filePattern"));
        assert_eq!(suggest(Scope::Global, "somethingElse"), None);
    }

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
