//! What a flow would send for a file: its framing and `dataProcessingOptions` applied,
//! exactly as the daemon applies them, without tailing or sending anything.
//!
//! `firetail preview` prints this, and the Kinesis Agent vectors are checked through
//! it, so the bytes a user previews are the bytes the daemon ships.

use bytes::Bytes;
use firetail_config::FlowSettings;
use firetail_process::{Chain, Outcome};

use crate::daemon::process_stage::{self, ProcessSettings};
use firetail_tail::frame::{end_of_file_start, Frame, Framer, FramingConfig};

/// A flow reduced to what preview needs.
pub struct PreviewFlow {
    framing: FramingConfig,
    chain: Chain,
    end_of_file: bool,
    settings: ProcessSettings,
}

/// What happened to one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The chain produced new bytes.
    Converted,
    /// The chain dropped the record (LOGTOJSON no-match); nothing is sent.
    Skipped,
    /// A converter failed; the original bytes are sent.
    RawFallback,
    /// The flow has no processing options.
    Raw,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Converted => "converted",
            Status::Skipped => "skipped",
            Status::RawFallback => "raw_fallback",
            Status::Raw => "raw",
        }
    }
}

/// One record as the daemon would hand it to the sink.
#[derive(Clone, Debug)]
pub struct PreviewRecord {
    pub index: usize,
    /// File offset and bytes covered (what the checkpoint moves by).
    pub offset: u64,
    pub length: u64,
    pub status: Status,
    /// The bytes sent; `None` when skipped.
    pub output: Option<Bytes>,
    pub truncated: bool,
    pub larger_than_buffer: bool,
    /// Kinesis DETERMINISTIC flows: the record's partition key.
    pub partition_key: Option<firetail_sink::PartitionKey>,
}

impl PreviewFlow {
    /// Builds the preview of the first flow of an `agent.json` text, as the daemon would
    /// build it; `options` replaces its `dataProcessingOptions`. `utc_now` (RFC 3339) pins the clock ADDMETADATA reads.
    pub fn from_agent_json(
        text: &str,
        origin: &str,
        options: Option<serde_json::Value>,
        utc_now: Option<String>,
    ) -> Result<PreviewFlow, anyhow::Error> {
        let loaded =
            firetail_config::parse_str(text, origin).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut flow = loaded
            .settings
            .flows
            .into_iter()
            .next()
            .ok_or_else(|| anyhow::anyhow!("{origin}: no flow"))?;
        if options.is_some() {
            flow.data_processing_options = options;
        }
        let mut chain = match &flow.data_processing_options {
            Some(opts) => Chain::from_options(opts)?,
            None => Chain::empty(),
        };
        if let Some(now) = utc_now {
            let millis = chrono::DateTime::parse_from_rfc3339(&now)
                .map_err(|e| anyhow::anyhow!("clock {now:?}: {e}"))?
                .timestamp_millis();
            chain = chain.with_clock(std::sync::Arc::new(move || millis));
        }
        PreviewFlow::new(&flow, chain)
    }

    /// Builds the preview of one configured flow (its chain already validated).
    pub fn new(flow: &FlowSettings, chain: Chain) -> Result<PreviewFlow, anyhow::Error> {
        let framing = crate::daemon::framing_config(flow, !chain.is_empty());
        framing.compile()?;
        Ok(PreviewFlow {
            framing,
            chain,
            end_of_file: flow.initial_position == firetail_config::InitialPosition::EndOfFile,
            settings: ProcessSettings::for_flow(flow),
        })
    }

    /// Reads the file from its first byte whatever the flow's `initialPosition` says (the
    /// default, END_OF_FILE, would start past everything the file holds).
    pub fn from_start(mut self) -> PreviewFlow {
        self.end_of_file = false;
        self
    }

    /// Frames and processes `input`. `arrival` replays a file that grew in these steps
    /// (the sizes sum to `input.len()`): after each step every complete record is read,
    /// as the vectors' `arrival.json` describes. An unterminated last line stays unsent,
    /// as it would until the file grows, rotates or idles out.
    pub fn run(
        &self,
        input: &[u8],
        arrival: Option<&[usize]>,
    ) -> Result<Vec<PreviewRecord>, anyhow::Error> {
        let rules = self.framing.compile()?;
        let whole = [input.len()];
        let steps = arrival.unwrap_or(&whole);
        let first = steps.first().copied().unwrap_or(0).min(input.len());
        let start = if self.end_of_file {
            let window_start = first.saturating_sub(self.framing.read_buffer_size);
            end_of_file_start(&input[window_start..first], window_start as u64) as usize
        } else {
            0
        };
        let mut framer = Framer::new(rules, start as u64);
        let mut frames = Vec::new();
        let mut end = 0usize;
        for &step in steps {
            let from = end.max(start);
            end = (end + step).min(input.len());
            if from < end {
                framer.push(&input[from..end], &mut frames);
            }
            framer.end_of_data(&mut frames);
        }
        let mut out = Vec::new();
        let mut scratch = Vec::new();
        for frame in frames {
            let Frame::Record(rec) = frame else { continue };
            out.push(self.process(out.len(), rec, &mut scratch));
        }
        Ok(out)
    }

    fn process(
        &self,
        index: usize,
        rec: firetail_tail::frame::FramedRecord,
        scratch: &mut Vec<u8>,
    ) -> PreviewRecord {
        let converted = process_stage::convert(&self.chain, &self.settings, rec.data, scratch);
        PreviewRecord {
            index,
            offset: rec.offset,
            length: rec.len,
            status: match converted.outcome {
                Outcome::Converted => Status::Converted,
                Outcome::Skipped => Status::Skipped,
                Outcome::RawFallback => Status::RawFallback,
                Outcome::Raw => Status::Raw,
            },
            // A raw record was cut by the framer; a converted one by `convert`.
            truncated: converted.data.is_some() && (rec.truncated || converted.cut),
            output: converted.data,
            larger_than_buffer: rec.larger_than_buffer,
            partition_key: converted.partition_key,
        }
    }
}
