//! The process stage of one flow: framed records in, records ready to send out.
//!
//! It runs the flow's `dataProcessingOptions` chain, applies the destination's size
//! check to what the chain produced (the framer already cut raw records), picks Kinesis
//! partition keys, and settles records the chain skipped: a LOGTOJSON no-match is
//! acknowledged here, since nothing will ever be sent for it.

use std::sync::Arc;

use bytes::Bytes;
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
            match convert(&chain, &settings, record, &mut scratch, &counters) {
                Converted::Send(r) => out.push(r),
                Converted::Skip(span) => {
                    counters.record_skipped();
                    acker.ack(span);
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

enum Converted {
    Send(OutRecord),
    Skip(firetail_record::Span),
}

fn convert(
    chain: &Chain,
    settings: &ProcessSettings,
    record: Record,
    scratch: &mut Vec<u8>,
    counters: &FlowCounters,
) -> Converted {
    if chain.is_empty() {
        // The framer already cut raw records to the destination's limit.
        return Converted::Send(OutRecord {
            partition_key: partition_key(settings, &record.data),
            data: record.data,
            span: record.span,
        });
    }
    scratch.clear();
    let data = match chain.process(&record.data, scratch) {
        Outcome::Converted => {
            counters.record_transformed();
            Bytes::copy_from_slice(scratch)
        }
        Outcome::Skipped => return Converted::Skip(record.span),
        Outcome::RawFallback | Outcome::Raw => record.data,
    };
    // The key hashes the record before it is cut, as the agent's does.
    let partition_key = partition_key(settings, &data);
    let (data, _) = firetail_tail::frame::truncate_record(
        data,
        settings.max_record_size,
        &settings.truncated_record_terminator,
    );
    Converted::Send(OutRecord {
        data,
        span: record.span,
        partition_key,
    })
}

fn partition_key(settings: &ProcessSettings, data: &[u8]) -> Option<String> {
    match settings.partition_keys? {
        // Left to the sink, which draws a fresh one per record.
        PartitionKeys::Random => None,
        PartitionKeys::Deterministic => Some(firetail_process::deterministic_partition_key(data)),
    }
}
