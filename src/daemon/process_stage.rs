//! The process stage of one flow: framed records in, records ready to send out.
//!
//! It runs the flow's `dataProcessingOptions` chain, picks Kinesis partition keys, cuts
//! records to the destination's limit, and settles records the chain skipped: a LOGTOJSON
//! no-match is acknowledged here, since nothing will ever be sent for it.
//!
//! The order is the agent's: the key is taken from the record before it is cut, and for
//! Kinesis the key counts against the 1 MiB record limit, so the data is cut to
//! `1 MiB - key length`. That is why RANDOM keys are drawn here and not in the sink: a
//! record cut without its key in mind would be rejected by Kinesis as a whole request.
//! (The framer already cut raw records to the limit without a key; this cut only ever
//! shortens them further.)

use std::sync::atomic::Ordering::Relaxed;
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
    /// For Kinesis, how keys are chosen (`partitionKeyOption`); `None` for destinations
    /// without partition keys.
    pub partition_keys: Option<PartitionKeyOption>,
    /// The largest record the destination accepts (Kinesis: data and key together).
    pub max_record_size: usize,
    /// Written over the last bytes of a record cut to `max_record_size`.
    pub truncated_record_terminator: Vec<u8>,
}

impl ProcessSettings {
    pub fn for_flow(flow: &FlowSettings) -> ProcessSettings {
        ProcessSettings {
            partition_keys: match &flow.destination {
                Destination::Kinesis { partition_key, .. } => Some(*partition_key),
                _ => None,
            },
            max_record_size: flow.max_record_size_bytes(),
            truncated_record_terminator: flow.truncated_record_terminator.as_bytes().to_vec(),
        }
    }
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
    // With no converter and no key, a record leaves as the framer cut it (the framer
    // already cut raw records to this limit): the per-record work below is skipped.
    let pass_through = chain.is_empty() && settings.partition_keys.is_none();
    let mut scratch = Vec::new();
    while let Some(records) = input.recv().await {
        // Counted once per chunk: an atomic add per record was 2 % of the daemon's CPU.
        let bytes: u64 = records.iter().map(|r| r.span.len()).sum();
        counters.records_parsed(records.len() as u64, bytes);
        // One clock read per chunk: a chunk is one read of one file.
        let read_at = read_time_millis();
        let out: Vec<OutRecord> = if pass_through {
            records
                .into_iter()
                .map(|r| OutRecord {
                    data: r.data,
                    span: r.span,
                    partition_key: None,
                    read_at_millis: read_at,
                })
                .collect()
        } else if let (true, Some(keys)) = (chain.is_empty(), settings.partition_keys) {
            key_raw_chunk(keys, &settings, Chunk { records, read_at })
        } else {
            let chunk = Chunk { records, read_at };
            convert_chunk(&chain, &settings, chunk, &acker, &counters, &mut scratch)
        };
        if !out.is_empty() && output.send(out).await.is_err() {
            return;
        }
    }
}

/// When the records now arriving were read, in ms since the Unix epoch (CloudWatch Logs'
/// event time). Debug builds can shift it into the past (`crate::fault`), so that a test
/// can make CloudWatch Logs refuse events as too old.
fn read_time_millis() -> i64 {
    let now = firetail_agent::time::now_unix_millis();
    #[cfg(debug_assertions)]
    let now = now.saturating_sub(crate::fault::read_time_shift_millis());
    now
}

/// One read's records and when they were read.
struct Chunk {
    records: Vec<Record>,
    read_at: i64,
}

/// A Kinesis flow without a chain: what [`convert`] does to each record when the chain
/// is empty (the record as framed, its key, the cut to the limit less the key), without
/// its per-record result and counts (a raw record is never transformed, skipped or
/// failed), and with the thread's generator taken once per chunk. Going through
/// `convert` per record was 2.6 % of a RANDOM-keyed flow's CPU.
fn key_raw_chunk(
    keys: PartitionKeyOption,
    settings: &ProcessSettings,
    chunk: Chunk,
) -> Vec<OutRecord> {
    let Chunk { records, read_at } = chunk;
    let mut rng = rand::thread_rng();
    records
        .into_iter()
        .map(|record| {
            // Drawn once per record: a retry keeps its key, as the agent's does.
            let key = keys.key_with(&record.data, &mut rng);
            let limit = settings.max_record_size.saturating_sub(key.len());
            let (data, _cut) = firetail_agent::truncate_record(
                record.data,
                limit,
                &settings.truncated_record_terminator,
            );
            OutRecord {
                data,
                span: record.span,
                partition_key: Some(key),
                read_at_millis: read_at,
            }
        })
        .collect()
}

/// Converts, keys and cuts one chunk; acknowledges the records the chain skipped.
fn convert_chunk(
    chain: &Chain,
    settings: &ProcessSettings,
    chunk: Chunk,
    acker: &Acker,
    counters: &FlowCounters,
    scratch: &mut Vec<u8>,
) -> Vec<OutRecord> {
    let Chunk { records, read_at } = chunk;
    let mut out = Vec::with_capacity(records.len());
    let (mut transformed, mut skipped, mut failed) = (0, 0, 0);
    for record in records {
        let converted = convert(chain, settings, record.data, scratch);
        match converted.outcome {
            Outcome::Converted => transformed += 1,
            // A converter failed: the record goes raw (the agent's processing error).
            Outcome::RawFallback => failed += 1,
            Outcome::Skipped | Outcome::Raw => {}
        }
        match converted.data {
            Some(data) => out.push(OutRecord {
                data,
                span: record.span,
                partition_key: converted.partition_key,
                read_at_millis: read_at,
            }),
            None => {
                skipped += 1;
                acker.ack(record.span);
            }
        }
    }
    counters.records_transformed(transformed);
    counters.records_skipped(skipped);
    if failed > 0 {
        counters
            .records_processing_errors
            .fetch_add(failed, Relaxed);
    }
    out
}

#[derive(Debug)]
pub struct Converted {
    pub outcome: Outcome,
    /// The bytes to send; `None` when the chain skipped the record.
    pub data: Option<Bytes>,
    /// The chain's output was cut to the destination's record limit.
    pub cut: bool,
    /// Kinesis flows: the record's key (RANDOM ones are drawn here too, see the module
    /// docs); `None` for Firehose.
    pub partition_key: Option<firetail_sink::PartitionKey>,
}

/// Runs the chain over one framed record, picks its partition key, then cuts it to the
/// destination's limit. `scratch` is reused between calls.
pub fn convert(
    chain: &Chain,
    settings: &ProcessSettings,
    data: Bytes,
    scratch: &mut Vec<u8>,
) -> Converted {
    let (outcome, data) = if chain.is_empty() {
        (Outcome::Raw, data)
    } else {
        scratch.clear();
        match chain.process(&data, scratch) {
            Outcome::Converted => (Outcome::Converted, Bytes::copy_from_slice(scratch)),
            Outcome::Skipped => {
                return Converted {
                    outcome: Outcome::Skipped,
                    data: None,
                    cut: false,
                    partition_key: None,
                }
            }
            outcome @ (Outcome::RawFallback | Outcome::Raw) => (outcome, data),
        }
    };
    let partition_key = partition_key(settings, &data);
    let limit = settings
        .max_record_size
        .saturating_sub(partition_key.as_ref().map_or(0, |k| k.len()));
    let (data, cut) =
        firetail_agent::truncate_record(data, limit, &settings.truncated_record_terminator);
    Converted {
        outcome,
        data: Some(data),
        cut,
        partition_key,
    }
}

fn partition_key(settings: &ProcessSettings, data: &[u8]) -> Option<firetail_sink::PartitionKey> {
    // Drawn once per record: a retry keeps its key, as the agent's does.
    Some(settings.partition_keys?.key_for(data))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MIB: usize = 1_048_576;

    fn kinesis(keys: PartitionKeyOption) -> ProcessSettings {
        ProcessSettings {
            partition_keys: Some(keys),
            max_record_size: MIB,
            truncated_record_terminator: b"\n".to_vec(),
        }
    }

    fn line(len: usize) -> Bytes {
        let mut data = vec![b'c'; len - 1];
        data.push(b'\n');
        Bytes::from(data)
    }

    #[test]
    fn a_kinesis_key_counts_against_the_record_limit() {
        // The agent's numbers: a 1 048 570-byte line with a 32-character key is cut to
        // 1 048 544 bytes, and the key hashes the line before the cut.
        let mut scratch = Vec::new();
        let input = line(1_048_570);
        let out = convert(
            &Chain::empty(),
            &kinesis(PartitionKeyOption::Deterministic),
            input.clone(),
            &mut scratch,
        );
        let data = out.data.unwrap();
        let key = out.partition_key.unwrap();
        assert_eq!(
            key,
            firetail_agent::partition::deterministic_partition_key(&input)
        );
        assert_eq!((data.len(), key.len()), (1_048_544, 32));
        assert!(out.cut && data.ends_with(b"\n"));

        // RANDOM keys vary in length; data and key together always fit exactly.
        for _ in 0..20 {
            let out = convert(
                &Chain::empty(),
                &kinesis(PartitionKeyOption::Random),
                line(MIB),
                &mut scratch,
            );
            let (data, key) = (out.data.unwrap(), out.partition_key.unwrap());
            assert_eq!(data.len() + key.len(), MIB, "{key}");
            assert!(data.ends_with(b"\n"));
        }
    }

    #[test]
    fn converted_kinesis_records_are_cut_with_their_key_and_short_ones_are_untouched() {
        let chain =
            Chain::from_options(&serde_json::json!([{"optionName": "SINGLELINE"}])).unwrap();
        let mut scratch = Vec::new();
        let out = convert(
            &chain,
            &kinesis(PartitionKeyOption::Random),
            line(MIB + 100),
            &mut scratch,
        );
        assert_eq!(out.outcome, Outcome::Converted);
        let (data, key) = (out.data.unwrap(), out.partition_key.unwrap());
        assert_eq!(data.len() + key.len(), MIB);

        let short = line(200);
        let out = convert(
            &Chain::empty(),
            &kinesis(PartitionKeyOption::Random),
            short.clone(),
            &mut scratch,
        );
        assert_eq!((out.data.unwrap(), out.cut), (short, false));
    }

    #[test]
    fn raw_kinesis_chunks_are_keyed_and_cut_as_convert_would() {
        let inputs = [line(200), line(1_048_570), line(MIB + 100), line(1)];
        let chunk = || Chunk {
            records: inputs
                .iter()
                .enumerate()
                .map(|(i, data)| Record {
                    data: data.clone(),
                    span: firetail_record::Span {
                        file: firetail_record::FileId(3),
                        start: i as u64,
                        end: i as u64 + 1,
                    },
                })
                .collect(),
            read_at: 42,
        };
        let settings = kinesis(PartitionKeyOption::Deterministic);
        let out = key_raw_chunk(PartitionKeyOption::Deterministic, &settings, chunk());
        assert_eq!(out.len(), inputs.len());
        for (i, (got, input)) in out.iter().zip(&inputs).enumerate() {
            let want = convert(&Chain::empty(), &settings, input.clone(), &mut Vec::new());
            assert_eq!(got.data, want.data.unwrap());
            assert_eq!(got.partition_key, want.partition_key);
            assert_eq!((got.span.start, got.read_at_millis), (i as u64, 42));
        }
        let settings = kinesis(PartitionKeyOption::Random);
        for (got, input) in key_raw_chunk(PartitionKeyOption::Random, &settings, chunk())
            .iter()
            .zip(&inputs)
        {
            let key = got.partition_key.as_ref().unwrap();
            assert!(firetail_agent::partition::is_valid_key(key), "{key}");
            let limit = MIB - key.len();
            assert_eq!(got.data.len(), input.len().min(limit));
            assert!(got.data.ends_with(b"\n"));
        }
    }

    #[test]
    fn firehose_records_have_no_key_and_the_whole_limit() {
        let settings = ProcessSettings {
            partition_keys: None,
            max_record_size: 1_024_000,
            truncated_record_terminator: b"\n".to_vec(),
        };
        let out = convert(&Chain::empty(), &settings, line(1_024_000), &mut Vec::new());
        assert_eq!(out.partition_key, None);
        assert_eq!((out.data.unwrap().len(), out.cut), (1_024_000, false));
    }
}
