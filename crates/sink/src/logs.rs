//! CloudWatch Logs over `aws_sdk_cloudwatchlogs::Client`: one PutLogEvents per batch, to
//! one log group and stream.
//!
//! What CloudWatch Logs asks that the other destinations do not, and where it is met:
//! - limits and counting (10,000 events, 1 MiB counting 26 bytes per event, 24 h between
//!   the oldest and newest event of a call): data, [`firetail_agent::limits::CLOUDWATCH_LOGS`],
//!   which the batcher applies;
//! - events in chronological order: a batch is sent sorted by read time, and the answer
//!   mapped back to the batch's own order (records retried after a failure can be older
//!   than those read since);
//! - events refused for good (too old, too new, expired: `rejectedLogEventsInfo`): they
//!   come back as [`RecordResult::Rejected`], which the sink acknowledges and reports,
//!   so the checkpoint moves past them instead of retrying them forever;
//! - a missing group or stream: a permanent error, as a missing Firehose stream is,
//!   unless the flow asks for them to be created ([`LogsTarget::create_missing`]);
//! - `ServiceUnavailableException` is CloudWatch Logs' 5xx (a transient error), not
//!   Firehose's throttle; `ThrottlingException` is its throttle.
//!
//! An event's message is the record's bytes as text, its line terminator included (the
//! bytes every destination receives); bytes that are not UTF-8 are replaced by U+FFFD.
//! The service refuses an empty message, so an empty record is refused here, for good,
//! without a call. The SDK's retries are off, as for Firehose (see `sdk`).

use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
use aws_sdk_cloudwatchlogs::types::{InputLogEvent, RejectedLogEventsInfo};
use tracing::info;

use crate::client::{classify_code, CodeClass, DestinationLimits, PutError, RecordResult};
use crate::sdk::{construction_failure, map_sdk_error_with, without_sdk_retries};
use crate::sdk::{PutResult, SdkDestination};
use crate::OutRecord;
use firetail_agent::limits::CLOUDWATCH_LOGS;

/// The code of an event refused before the call: the service requires a message of at
/// least one character.
pub const EMPTY_MESSAGE_CODE: &str = "EmptyLogEventMessage";
/// The code of events left out of a call because their text, once non-UTF-8 bytes were
/// replaced, no longer fitted it; they are sent again in the next call.
pub const OVERFLOW_CODE: &str = "LogEventsOverflow";

/// Where a flow's events go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogsTarget {
    /// The log group (`firetail.logGroup`).
    pub log_group: String,
    /// The log stream in that group (`firetail.logStream`).
    pub log_stream: String,
    /// Create the group and stream when the service says one is missing
    /// (`firetail.logs.createMissing`); otherwise that is a permanent error.
    pub create_missing: bool,
}

impl std::fmt::Display for LogsTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.log_group, self.log_stream)
    }
}

/// Sends one flow's events to CloudWatch Logs.
#[derive(Debug)]
pub struct LogsClient {
    client: aws_sdk_cloudwatchlogs::Client,
    target: LogsTarget,
    /// The group and stream were created (or found to exist) by this client: a later
    /// "not found" is someone deleting them, reported, not created again and again.
    created: AtomicBool,
}

impl LogsClient {
    /// Wraps a client (shared by every CloudWatch Logs flow) for `target`, keeping its
    /// configuration but with the SDK's retries disabled.
    pub fn new(client: &aws_sdk_cloudwatchlogs::Client, target: LogsTarget) -> Self {
        LogsClient {
            client: without_sdk_retries!(aws_sdk_cloudwatchlogs, client),
            target,
            created: AtomicBool::new(false),
        }
    }

    /// Where this client sends.
    pub fn target(&self) -> &LogsTarget {
        &self.target
    }

    async fn put_events(
        &self,
        events: Vec<InputLogEvent>,
    ) -> Result<Option<RejectedLogEventsInfo>, PutError> {
        let output = self
            .client
            .put_log_events()
            .log_group_name(&self.target.log_group)
            .log_stream_name(&self.target.log_stream)
            .set_log_events(Some(events))
            .send()
            .await
            .map_err(|err| map_sdk_error_with(err, classify_logs_code))?;
        Ok(output.rejected_log_events_info().cloned())
    }

    fn should_create(&self, error: &PutError) -> bool {
        self.target.create_missing
            && error.code() == "ResourceNotFoundException"
            && !self.created.load(Ordering::Relaxed)
    }

    /// Creates the group, then the stream; either existing already is fine.
    async fn create_group_and_stream(&self) -> Result<(), PutError> {
        let (group, stream) = (&self.target.log_group, &self.target.log_stream);
        match self
            .client
            .create_log_group()
            .log_group_name(group)
            .send()
            .await
        {
            Ok(_) => info!(log_group = %group, "created the CloudWatch Logs log group"),
            Err(err) if err.code() == Some("ResourceAlreadyExistsException") => {}
            Err(err) => return Err(creation_failed("log group", group, err)),
        }
        match self
            .client
            .create_log_stream()
            .log_group_name(group)
            .log_stream_name(stream)
            .send()
            .await
        {
            Ok(_) => {
                info!(log_group = %group, log_stream = %stream, "created the CloudWatch Logs log stream")
            }
            Err(err) if err.code() == Some("ResourceAlreadyExistsException") => {}
            Err(err) => return Err(creation_failed("log stream", stream, err)),
        }
        self.created.store(true, Ordering::Relaxed);
        Ok(())
    }
}

fn creation_failed<E>(
    what: &str,
    name: &str,
    err: aws_sdk_cloudwatchlogs::error::SdkError<
        E,
        aws_sdk_cloudwatchlogs::config::http::HttpResponse,
    >,
) -> PutError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let error = map_sdk_error_with(err, classify_logs_code);
    let message = format!("creating the {what} {name:?}: {}", error.message());
    match error {
        PutError::Throttled { code, .. } => PutError::Throttled { code, message },
        PutError::Transient { code, timeout, .. } => PutError::Transient {
            code,
            message,
            timeout,
        },
        PutError::Permanent { code, .. } => PutError::Permanent { code, message },
    }
}

impl SdkDestination for LogsClient {
    const LIMITS: &'static DestinationLimits = &CLOUDWATCH_LOGS;

    /// `stream` names the flow's target in the sink's logs; the target itself is the
    /// client's own ([`LogsTarget`]).
    async fn put(&self, _stream: &str, records: &[OutRecord]) -> PutResult {
        let mut plan = Plan::new(records)?;
        let mut results = plan.early_results(records.len());
        if plan.order.is_empty() {
            return Ok(results);
        }
        let events = std::mem::take(&mut plan.events);
        // Kept for the one call after creating a missing group or stream.
        let again = (self.target.create_missing && !self.created.load(Ordering::Relaxed))
            .then(|| events.clone());
        let answer = match (self.put_events(events).await, again) {
            (Err(error), Some(events)) if self.should_create(&error) => {
                self.create_group_and_stream().await?;
                self.put_events(events).await?
            }
            (other, _) => other?,
        };
        // The target exists: no later call keeps a copy of its events for creating it.
        self.created.store(true, Ordering::Relaxed);
        plan.fill(&mut results, answer.as_ref());
        Ok(results)
    }

    fn classify(&self, code: &str) -> CodeClass {
        classify_logs_code(code)
    }
}

/// CloudWatch Logs' codes: `ServiceUnavailableException` is its 5xx (the shared table
/// calls it a throttle, which it is for Firehose); `InvalidParameterException` (a call
/// the service will never take) does not heal by waiting; the rest as everywhere.
pub fn classify_logs_code(code: &str) -> CodeClass {
    match code {
        "ServiceUnavailableException" | OVERFLOW_CODE => CodeClass::Transient,
        "InvalidParameterException" => CodeClass::Permanent,
        other => classify_code(other),
    }
}

/// How one batch becomes one call: which records travel, in which order, and which were
/// settled before it.
struct Plan {
    /// Indices into the batch of the records sent, in the order sent (by read time;
    /// stable, so lines read in the same millisecond keep their file order).
    order: Vec<usize>,
    /// Records refused (empty) or held back (overflow) before the call.
    early: Vec<(usize, RecordResult)>,
    /// The events sent, in `order`.
    events: Vec<InputLogEvent>,
}

impl Plan {
    fn new(records: &[OutRecord]) -> Result<Plan, PutError> {
        let mut sorted: Vec<usize> = (0..records.len()).collect();
        sorted.sort_by_key(|&i| records[i].read_at_millis);
        let mut plan = Plan {
            order: Vec::with_capacity(records.len()),
            early: Vec::new(),
            events: Vec::with_capacity(records.len()),
        };
        let limits = &CLOUDWATCH_LOGS;
        let mut bytes = 0usize;
        for i in sorted {
            let data = &records[i].data;
            if data.is_empty() {
                plan.early.push((
                    i,
                    RecordResult::Rejected {
                        code: EMPTY_MESSAGE_CODE.into(),
                        message: "CloudWatch Logs refuses an empty event message".into(),
                    },
                ));
                continue;
            }
            let mut text = String::from_utf8_lossy(data).into_owned();
            // Replacement characters (3 bytes for each bad byte) can make a valid record
            // too long for an event, or push the call past its limit.
            truncate_at_char(&mut text, limits.max_record_bytes);
            let size = limits.record_bytes(text.len(), 0);
            if !plan.order.is_empty() && bytes + size > limits.max_request_bytes {
                plan.early.push((
                    i,
                    RecordResult::Failed {
                        code: OVERFLOW_CODE.into(),
                        message: "left for the next call: its text (invalid UTF-8 replaced) did not fit this one".into(),
                    },
                ));
                continue;
            }
            bytes += size;
            plan.order.push(i);
            plan.events.push(
                InputLogEvent::builder()
                    .timestamp(records[i].read_at_millis)
                    .message(text)
                    .build()
                    .map_err(construction_failure)?,
            );
        }
        Ok(plan)
    }

    fn early_results(&self, n: usize) -> Vec<RecordResult> {
        let mut results = vec![RecordResult::Ok; n];
        for (i, result) in &self.early {
            results[*i] = result.clone();
        }
        results
    }

    /// Marks the events the answer refused. Its indices count the events as sent:
    /// `tooOldLogEventEndIndex` and `expiredLogEventEndIndex` end (exclusive) a run from
    /// the first, `tooNewLogEventStartIndex` starts (inclusive) a run to the last.
    fn fill(&self, results: &mut [RecordResult], info: Option<&RejectedLogEventsInfo>) {
        let Some(info) = info else { return };
        let sent = self.order.len();
        let index = |i: Option<i32>| i.and_then(|i| usize::try_from(i).ok());
        let mut refused: Vec<(std::ops::Range<usize>, &str, &str)> = Vec::new();
        if let Some(end) = index(info.expired_log_event_end_index()) {
            refused.push((
                0..end.min(sent),
                "ExpiredLogEvent",
                "older than the log group's retention",
            ));
        }
        if let Some(end) = index(info.too_old_log_event_end_index()) {
            refused.push((0..end.min(sent), "TooOldLogEvent", "more than 14 days old"));
        }
        if let Some(start) = index(info.too_new_log_event_start_index()) {
            refused.push((
                start.min(sent)..sent,
                "TooNewLogEvent",
                "more than 2 hours in the future",
            ));
        }
        for (range, code, why) in refused {
            for &i in &self.order[range] {
                if results[i] == RecordResult::Ok {
                    results[i] = RecordResult::Rejected {
                        code: code.into(),
                        message: format!("CloudWatch Logs refused the event: {why}"),
                    };
                }
            }
        }
    }
}

fn truncate_at_char(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use firetail_record::{FileId, Span};

    fn record(data: &[u8], at: i64) -> OutRecord {
        OutRecord {
            data: Bytes::copy_from_slice(data),
            span: Span {
                file: FileId(1),
                start: 0,
                end: data.len() as u64,
            },
            partition_key: None,
            read_at_millis: at,
        }
    }

    #[test]
    fn events_are_sent_in_time_order_and_answers_map_back() {
        let records = [
            record(b"retried, read later\n", 300),
            record(b"first\n", 100),
            record(b"second\n", 200),
            record(b"same ms as second\n", 200),
        ];
        let plan = Plan::new(&records).unwrap();
        assert_eq!(plan.order, [1, 2, 3, 0]);
        let times: Vec<i64> = plan.events.iter().map(InputLogEvent::timestamp).collect();
        assert_eq!(times, [100, 200, 200, 300]);
        assert_eq!(plan.events[0].message(), "first\n");
        // The two oldest as sent were too old (end index 2, exclusive), the newest too new.
        let info = RejectedLogEventsInfo::builder()
            .too_old_log_event_end_index(2)
            .too_new_log_event_start_index(3)
            .build();
        let mut results = plan.early_results(records.len());
        plan.fill(&mut results, Some(&info));
        let codes: Vec<&str> = results
            .iter()
            .map(|r| match r {
                RecordResult::Ok => "ok",
                RecordResult::Rejected { code, .. } | RecordResult::Failed { code, .. } => code,
            })
            .collect();
        assert_eq!(
            codes,
            ["TooNewLogEvent", "TooOldLogEvent", "TooOldLogEvent", "ok"]
        );
    }

    #[test]
    fn empty_records_are_refused_and_bad_utf8_is_replaced() {
        let records = [record(b"", 1), record(b"a\xffb\n", 2)];
        let plan = Plan::new(&records).unwrap();
        assert_eq!(plan.order, [1]);
        assert_eq!(plan.events[0].message(), "a\u{fffd}b\n");
        let results = plan.early_results(2);
        assert!(
            matches!(&results[0], RecordResult::Rejected { code, .. } if code == EMPTY_MESSAGE_CODE)
        );
        assert_eq!(results[1], RecordResult::Ok);
    }

    #[test]
    fn text_grown_by_replacement_never_overflows_a_call() {
        // 400,000 invalid bytes become 1,200,000 bytes of text: more than an event may
        // hold, so it is cut; the next record no longer fits and waits for the next call.
        let bad = vec![0xffu8; 400_000];
        let records = [record(&bad, 1), record(b"ok\n", 2)];
        let plan = Plan::new(&records).unwrap();
        assert_eq!(plan.order, [0]);
        assert!(plan.events[0].message().len() <= CLOUDWATCH_LOGS.max_record_bytes);
        let results = plan.early_results(2);
        assert!(matches!(&results[1], RecordResult::Failed { code, .. } if code == OVERFLOW_CODE));
        assert_eq!(classify_logs_code(OVERFLOW_CODE), CodeClass::Transient);
    }

    #[test]
    fn codes_mean_what_they_mean_to_cloudwatch_logs() {
        assert_eq!(
            classify_logs_code("ServiceUnavailableException"),
            CodeClass::Transient
        );
        assert_eq!(
            classify_logs_code("ThrottlingException"),
            CodeClass::Throttle
        );
        assert_eq!(
            classify_logs_code("ResourceNotFoundException"),
            CodeClass::Permanent
        );
        assert_eq!(
            classify_logs_code("InvalidParameterException"),
            CodeClass::Permanent
        );
        assert_eq!(classify_logs_code("InternalFailure"), CodeClass::Transient);
    }
}
