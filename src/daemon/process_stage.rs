//! The process stage of one flow: framed records in, records ready to send out.
//!
//! It runs the flow's `dataProcessingOptions` chain, applies the destination's size
//! check to what the chain produced (the framer already cut raw records), picks Kinesis
//! partition keys, and settles records the chain skipped: a LOGTOJSON no-match is
//! acknowledged here, since nothing will ever be sent for it.

use std::sync::Arc;

use bytes::Bytes;
use firetail_config::{Destination, FlowSettings, PartitionKeyOption};
use firetail_process::{Chain, Outcome};
use firetail_record::{Acker, Record};
use firetail_sink::OutRecord;
use tokio::sync::mpsc;

use crate::daemon::counters::FlowCounters;

/// How the stage treats partition keys and record sizes for its destination.
#[derive(Clone, Debug)]
pub struct ProcessSettings {
    /// `None` for Firehose; for Kinesis, how keys are chosen.
    pub partition_keys: Option<PartitionKeys>,
    /// The largest record the destination accepts (Kinesis: before the key).
    pub max_record_size: usize,
    /// Written over the last bytes of a record cut to `max_record_size`.
    pub truncated_record_terminator: Vec<u8>,
}

impl ProcessSettings {
    pub fn for_flow(flow: &FlowSettings) -> ProcessSettings {
        ProcessSettings {
            partition_keys: match &flow.destination {
                Destination::Firehose { .. } => None,
                Destination::Kinesis { partition_key, .. } => Some(match partition_key {
                    PartitionKeyOption::Random => PartitionKeys::Random,
                    PartitionKeyOption::Deterministic => PartitionKeys::Deterministic,
                }),
            },
            max_record_size: flow.max_record_size_bytes(),
            truncated_record_terminator: flow.truncated_record_terminator.as_bytes().to_vec(),
        }
    }
}

/// Kinesis partition keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionKeys {
    /// The agent's default: a random decimal, spreading records over shards.
    Random,
    /// MD5 of the record as sent, so equal records land on the same shard.
    Deterministic,
}

/// Runs until `input` closes (the tailer stopped), then closes `output`.
pub async fn run(
    chain: Arc<Chain>,
    settings: ProcessSettings,
    mut input: mpsc::Receiver<Vec<Record>>,
    output: mpsc::Sender<Vec<firetail_sink::OutRecord>>,
    acker: Acker,
    counters: Arc<FlowCounters>,
) {
    let mut scratch = Vec::new();
    while let Some(records) = input.recv().await {
        let mut out = Vec::with_capacity(records.len());
        for record in records {
            counters.record_parsed(record.span.len());
            let converted = convert(&chain, &settings, record.data, &mut scratch);
            if converted.outcome == Outcome::Converted {
                counters.record_transformed();
            }
            match converted.data {
                Some(data) => out.push(OutRecord {
                    data,
                    span: record.span,
                    partition_key: converted.partition_key,
                }),
                None => {
                    // A LOGTOJSON no-match: nothing will ever be sent for these bytes.
                    counters.record_skipped();
                    acker.ack(record.span);
                }
            }
        }
        if !out.is_empty() && output.send(out).await.is_err() {
            // The sink is gone: the daemon is abandoning in-flight work at its
            // shutdown deadline. Unsent records stay unacknowledged and are read again.
            return;
        }
    }
}

/// One record after the chain, as it goes to the sink. `firetail preview` shows exactly
/// this, so previewed bytes are shipped bytes.
#[derive(Debug)]
pub struct Converted {
    pub outcome: Outcome,
    /// The bytes to send; `None` when the chain skipped the record.
    pub data: Option<Bytes>,
    /// The chain's output was cut to the destination's record limit.
    pub cut: bool,
    /// Kinesis DETERMINISTIC flows: the key; random keys are drawn by the sink.
    pub partition_key: Option<String>,
}

/// Runs the chain over one framed record, then cuts what it produced to the destination's
/// limit and picks its partition key. `scratch` is reused between calls.
pub fn convert(
    chain: &Chain,
    settings: &ProcessSettings,
    data: Bytes,
    scratch: &mut Vec<u8>,
) -> Converted {
    if chain.is_empty() {
        // The framer already cut raw records to the destination's limit.
        return Converted {
            outcome: Outcome::Raw,
            partition_key: partition_key(settings, &data),
            data: Some(data),
            cut: false,
        };
    }
    scratch.clear();
    let outcome = chain.process(&data, scratch);
    let data = match outcome {
        Outcome::Converted => Bytes::copy_from_slice(scratch),
        Outcome::Skipped => {
            return Converted {
                outcome,
                data: None,
                cut: false,
                partition_key: None,
            }
        }
        Outcome::RawFallback | Outcome::Raw => data,
    };
    // The key hashes the record before it is cut, as the agent's does.
    let partition_key = partition_key(settings, &data);
    let (data, cut) = firetail_tail::frame::truncate_record(
        data,
        settings.max_record_size,
        &settings.truncated_record_terminator,
    );
    Converted {
        outcome,
        data: Some(data),
        cut,
        partition_key,
    }
}

fn partition_key(settings: &ProcessSettings, data: &[u8]) -> Option<String> {
    match settings.partition_keys? {
        // Left to the sink, which draws a fresh one per record.
        PartitionKeys::Random => None,
        PartitionKeys::Deterministic => Some(firetail_process::deterministic_partition_key(data)),
    }
}
