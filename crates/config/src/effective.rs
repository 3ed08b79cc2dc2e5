//! The effective configuration as JSON: every key under its agent.json name with its default
//! resolved, for `firetail check-config`.
//!
//! Keys come out in key-table order. Unset optional keys are `null`; durations are in the
//! key's own unit (`…Millis`, `…Seconds`); `awsSecretAccessKey` is redacted. Feeding the output
//! back through the parser gives the same settings (apart from the redacted secret).

use serde_json::{Map, Value};

use crate::keys::{keys_in, Scope, Support};
use crate::settings::{Destination, FlowSettings, GeneratorSettings, Settings};

/// Shown instead of the secret key.
pub const REDACTED: &str = "***";

impl Settings {
    /// Every setting under its agent.json key, defaults resolved, flows included (each with
    /// its `id` and `origin`).
    pub fn to_effective_json(&self) -> Value {
        let mut out = Map::new();
        for spec in keys_in(Scope::Global) {
            if let Some(v) = global_value(self, spec.name) {
                out.insert(spec.name.to_owned(), v);
            }
        }
        Value::Object(out)
    }
}

fn ms(d: std::time::Duration) -> Value {
    Value::from(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn secs(d: std::time::Duration) -> Value {
    Value::from(d.as_secs())
}

fn opt<T: Into<Value> + Clone>(v: &Option<T>) -> Value {
    v.clone().map_or(Value::Null, Into::into)
}

/// The effective value of a global key; `None` for keys that have no value (ignored keys).
pub(crate) fn global_value(s: &Settings, key: &str) -> Option<Value> {
    Some(match key {
        "flows" => Value::Array(s.flows.iter().map(flow_json).collect()),
        "awsAccessKeyId" => opt(&s.aws_access_key_id),
        "awsSecretAccessKey" => s
            .aws_secret_access_key
            .as_ref()
            .map_or(Value::Null, |_| REDACTED.into()),
        "assumeRoleARN" => opt(&s.assume_role_arn),
        "assumeRoleExternalId" => opt(&s.assume_role_external_id),
        "sts.endpoint" => opt(&s.sts_endpoint),
        "userDefinedCredentialsProvider.classname" => {
            opt(&s.user_defined_credentials_provider_classname)
        }
        "userDefinedCredentialsProvider.location" => {
            opt(&s.user_defined_credentials_provider_location)
        }
        "kinesis.endpoint" => opt(&s.kinesis_endpoint),
        "kinesis.region" => opt(&s.kinesis_region),
        "firehose.endpoint" => opt(&s.firehose_endpoint),
        "logs.endpoint" => opt(&s.logs_endpoint),
        "cloudwatch.endpoint" => opt(&s.cloudwatch_endpoint),
        "cloudwatch.emitMetrics" => s.cloudwatch_emit_metrics.into(),
        "cloudwatch.tagInstance" => s.cloudwatch_tag_instance.into(),
        "cloudwatch.namespace" => s.cloudwatch_namespace.clone().into(),
        "cloudwatch.metricsBufferTimeMillis" => ms(s.cloudwatch_metrics_buffer_time),
        "cloudwatch.metricsQueueSize" => s.cloudwatch_metrics_queue_size.into(),
        "log.emitMetrics" => s.log_emit_metrics.into(),
        "log.emitInternalMetrics" => s.log_emit_internal_metrics.into(),
        "log.statusReportingPeriodSeconds" => secs(s.log_status_reporting_period),
        "checkpointFile" => s.checkpoint_file.display().to_string().into(),
        "checkpointTimeToLiveDays" => s.checkpoint_time_to_live_days.into(),
        "checkpoints.queryTimeoutSeconds" => secs(s.checkpoints_query_timeout),
        "checkpoints.connectionTimeoutSeconds" => secs(s.checkpoints_connection_timeout),
        "maxSendingThreads" => s.max_sending_threads.into(),
        "maxSendingThreadsPerCore" => s.max_sending_threads_per_core.into(),
        "sendingThreadsKeepAliveMillis" => ms(s.sending_threads_keep_alive),
        "sendingThreadsMaxQueueSize" => s.sending_threads_max_queue_size.into(),
        "maxConnections" => s.max_connections.into(),
        "connectionTimeoutMillis" => ms(s.connection_timeout),
        "socketTimeoutMillis" => ms(s.socket_timeout),
        "connectionTTLMillis" => s.connection_ttl.map_or(Value::from(-1), ms),
        "useTcpKeepAlive" => s.use_tcp_keep_alive.into(),
        "useHttpGzip" => s.use_http_gzip.into(),
        "userAgent" => opt(&s.user_agent),
        "userAgentOverride" => opt(&s.user_agent_override),
        "shutdownTimeoutMillis" => ms(s.shutdown_timeout),
        "firetail.metrics.listen" => s
            .metrics_listen
            .map_or(String::new(), |a| a.to_string())
            .into(),
        "firetail.checkpointIntervalMillis" => ms(s.checkpoint_interval),
        "firetail.workerThreads" => s.worker_threads.into(),
        "firetail.region" => opt(&s.region),
        "firetail.firehose.region" => opt(&s.firehose_region),
        "firetail.cloudwatch.region" => opt(&s.cloudwatch_region),
        "firetail.logs.region" => opt(&s.logs_region),
        "firetail.generators" => Value::Array(s.generators.iter().map(generator_json).collect()),
        _ => return None,
    })
}

fn flow_json(f: &FlowSettings) -> Value {
    let mut out = Map::new();
    out.insert("id".to_owned(), f.id.clone().into());
    out.insert("origin".to_owned(), f.origin.display().to_string().into());
    let destination = f.destination.spec();
    for spec in keys_in(Scope::Flow) {
        if !crate::reader::applies(spec.applies_to, destination) || spec.support == Support::Ignored
        {
            continue;
        }
        if let Some(v) = flow_value(f, spec.name) {
            out.insert(spec.name.to_owned(), v);
        }
    }
    Value::Object(out)
}

/// The effective value of a flow key; `None` when the key does not apply to this flow.
pub(crate) fn flow_value(f: &FlowSettings, key: &str) -> Option<Value> {
    Some(match key {
        "filePattern" => f.file_pattern.clone().into(),
        "deliveryStream" => match &f.destination {
            Destination::Firehose { delivery_stream } => delivery_stream.clone().into(),
            _ => return None,
        },
        "kinesisStream" => match &f.destination {
            Destination::Kinesis { stream, .. } => stream.clone().into(),
            _ => return None,
        },
        "partitionKeyOption" => match &f.destination {
            Destination::Kinesis { partition_key, .. } => partition_key.as_str().into(),
            _ => return None,
        },
        "firetail.logGroup" => match &f.destination {
            Destination::CloudWatchLogs { log_group, .. } => log_group.clone().into(),
            _ => return None,
        },
        "firetail.logStream" => match &f.destination {
            Destination::CloudWatchLogs { log_stream, .. } => log_stream.clone().into(),
            _ => return None,
        },
        "firetail.logs.createMissing" => match &f.destination {
            Destination::CloudWatchLogs { create_missing, .. } => (*create_missing).into(),
            _ => return None,
        },
        "initialPosition" => f.initial_position.as_str().into(),
        "maxBufferAgeMillis" => ms(f.max_buffer_age),
        "maxBufferSizeRecords" => f.max_buffer_size_records.into(),
        "maxBufferSizeBytes" => f.max_buffer_size_bytes.into(),
        "publishQueueCapacity" => f.publish_queue_capacity.into(),
        "retryInitialBackoffMillis" => ms(f.retry_initial_backoff),
        "retryMaxBackoffMillis" => ms(f.retry_max_backoff),
        "waitOnFullPublishQueueMillis" => ms(f.wait_on_full_publish_queue),
        "waitOnEmptyPublishQueueMillis" => ms(f.wait_on_empty_publish_queue),
        "minTimeBetweenFilePollsMillis" => ms(f.min_time_between_file_polls),
        "maxTimeBetweenFileTrackerRefreshMillis" => ms(f.max_time_between_file_tracker_refresh),
        "multiLineStartPattern" => opt(&f.multi_line_start_pattern),
        "skipHeaderLines" => f.skip_header_lines.into(),
        "truncatedRecordTerminator" => f.truncated_record_terminator.clone().into(),
        "aggregatedRecordSizeBytes" => f.aggregated_record_size_bytes.into(),
        "dataProcessingOptions" => f.data_processing_options.clone().unwrap_or(Value::Null),
        "fileFooterPattern" => opt(&f.file_footer_pattern),
        "log.emitInternalMetrics" => f.log_emit_internal_metrics.into(),
        "firetail.maxOpenFiles" => f.max_open_files.into(),
        "firetail.maxInFlightBytes" => f.max_in_flight_bytes.into(),
        "firetail.reconcileIntervalMillis" => ms(f.reconcile_interval),
        "firetail.idleFlushMillis" => f.idle_flush.map_or(Value::from(0), ms),
        "firetail.fingerprintBytes" => f.fingerprint_bytes.into(),
        "firetail.maxRequestsInFlight" => f.max_requests_in_flight.into(),
        "firetail.permanentRetryMillis" => ms(f.permanent_retry_interval),
        "firetail.requestTimeoutMillis" => ms(f.request_timeout),
        "firetail.pacing.recordsPerSecond" => opt(&f.pacing_records_per_second),
        "firetail.pacing.bytesPerSecond" => opt(&f.pacing_bytes_per_second),
        "firetail.lingerMillis" => f.linger.map_or(Value::from(0), ms),
        "firetail.rateCeiling" => f.rate_ceiling.into(),
        _ => return None,
    })
}

fn generator_json(g: &GeneratorSettings) -> Value {
    let mut out = Map::new();
    for spec in keys_in(Scope::Generator) {
        if let Some(v) = generator_value(g, spec.name) {
            out.insert(spec.name.to_owned(), v);
        }
    }
    Value::Object(out)
}

/// The effective value of a generator key.
pub(crate) fn generator_value(g: &GeneratorSettings, key: &str) -> Option<Value> {
    Some(match key {
        "path" => g.path.display().to_string().into(),
        "rate" => g.rate.into(),
        "format" => g.format.as_str().into(),
        "rotateMode" => g.rotate_mode.as_str().into(),
        "rotateSizeBytes" => opt(&g.rotate_size_bytes),
        "rotateIntervalSeconds" => g.rotate_interval.map_or(Value::Null, secs),
        "keep" => g.keep.into(),
        "seed" => opt(&g.seed),
        "botShare" => g.bot_share.into(),
        _ => return None,
    })
}
