//! The converter chain: builds the converters from `dataProcessingOptions` and runs a record
//! through them in order.
//!
//! Outcomes mirror the agent: a LOGTOJSON no-match ends the chain and the record is skipped;
//! any converter error sends the ORIGINAL record unchanged; no options means the raw record.

use std::cell::RefCell;
use std::sync::Arc;

use serde_json::Value;

use crate::addbrackets;
use crate::addmetadata::AddMetadata;
use crate::config::{OptionReader, ProcessConfigError};
use crate::csv::CsvToJson;
use crate::ec2metadata::{AddEc2Metadata, InstanceMetadataSource};
use crate::logtojson::LogToJson;
use crate::singleline::SingleLine;

/// What happened to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The chain produced output: `out` holds the bytes to send.
    Converted,
    /// LOGTOJSON did not match: send nothing (the bytes still count as consumed).
    Skipped,
    /// A converter failed: send the input record unchanged.
    RawFallback,
    /// The chain is empty: send the input record unchanged.
    Raw,
}

/// A clock returning Unix epoch milliseconds.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

#[derive(Debug)]
enum Converter {
    SingleLine(SingleLine),
    Csv(CsvToJson),
    LogToJson(LogToJson),
    AddMetadata(AddMetadata),
    AddEc2Metadata(AddEc2Metadata),
    AddBrackets,
}

const OPTION_NAMES: &[(&str, &str)] = &[
    ("ADDMETADATA", "ADDMETADATA"),
    ("ADDEC2METADATA", "ADDEC2METADATA"),
    ("SINGLELINE", "SINGLELINE"),
    ("CSVTOJSON", "CSVTOJSON"),
    ("LOGTOJSON", "LOGTOJSON"),
    ("ADDBRACKETS", "ADDBRACKETS"),
    ("USINGPLUGGIN", "USINGPLUGGIN"),
];

/// Result of one converter step.
enum Step {
    Written,
    Skip,
    Failed(String),
}

impl Converter {
    fn from_option(opt: &OptionReader<'_>) -> Result<Converter, ProcessConfigError> {
        let name = opt.required_enumeration("optionName", OPTION_NAMES)?;
        Ok(match name {
            "ADDMETADATA" => Converter::AddMetadata(AddMetadata::from_option(opt)?),
            "ADDEC2METADATA" => Converter::AddEc2Metadata(AddEc2Metadata::from_option(opt)?),
            "SINGLELINE" => Converter::SingleLine(SingleLine::from_option(opt)?),
            "CSVTOJSON" => Converter::Csv(CsvToJson::from_option(opt)?),
            "LOGTOJSON" => Converter::LogToJson(LogToJson::from_option(opt)?),
            "ADDBRACKETS" => Converter::AddBrackets,
            _ => {
                return Err(ProcessConfigError::Unsupported {
                    index: opt.index,
                    option: "USINGPLUGGIN",
                    reason: "Java plug-in classes cannot be loaded",
                })
            }
        })
    }

    fn name(&self) -> &'static str {
        match self {
            Converter::SingleLine(_) => "SINGLELINE",
            Converter::Csv(_) => "CSVTOJSON",
            Converter::LogToJson(_) => "LOGTOJSON",
            Converter::AddMetadata(_) => "ADDMETADATA",
            Converter::AddEc2Metadata(_) => "ADDEC2METADATA",
            Converter::AddBrackets => "ADDBRACKETS",
        }
    }

    fn apply(&self, input: &[u8], out: &mut Vec<u8>, chain: &Chain) -> Step {
        match self {
            Converter::SingleLine(c) => c.convert(input, out),
            Converter::Csv(c) => {
                if let Err(e) = c.convert(input, out) {
                    return Step::Failed(e.to_string());
                }
            }
            Converter::LogToJson(c) => match c.try_convert(input, out) {
                Ok(true) => {}
                Ok(false) => return Step::Skip,
                Err(e) => return Step::Failed(e.to_string()),
            },
            Converter::AddMetadata(c) => c.convert(input, out, (chain.clock)()),
            Converter::AddEc2Metadata(c) => {
                if let Err(e) = c.convert(
                    input,
                    out,
                    (chain.clock)(),
                    chain.metadata_source.as_deref(),
                ) {
                    return Step::Failed(e);
                }
            }
            Converter::AddBrackets => addbrackets::convert(input, out),
        }
        Step::Written
    }
}

/// The configured `dataProcessingOptions` of one flow.
pub struct Chain {
    converters: Vec<Converter>,
    clock: Clock,
    metadata_source: Option<Arc<dyn InstanceMetadataSource>>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("converters", &self.converters)
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// Second buffer for chains of more than one converter (ping-pong with `out`).
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Chain {
    /// Builds the chain from the raw `dataProcessingOptions` value of a flow. A value that is
    /// not an array is ignored like the agent does (no conversion).
    pub fn from_options(options: &Value) -> Result<Chain, ProcessConfigError> {
        let converters = match options {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(index, item)| Converter::from_option(&OptionReader::new(index, item)?))
                .collect::<Result<Vec<_>, _>>()?,
            Value::Null => Vec::new(),
            other => {
                tracing::warn!(value = %other, "dataProcessingOptions is not an array; ignored like the Kinesis Agent does");
                Vec::new()
            }
        };
        Ok(Chain {
            converters,
            ..Chain::empty()
        })
    }

    /// A chain without converters: every record is sent raw.
    pub fn empty() -> Chain {
        Chain {
            converters: Vec::new(),
            clock: Arc::new(firetail_agent::time::now_unix_millis),
            metadata_source: None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.converters.is_empty()
    }

    /// Where ADDEC2METADATA gets instance metadata (without one it passes records through).
    pub fn with_metadata_source(mut self, src: Arc<dyn InstanceMetadataSource>) -> Self {
        self.metadata_source = Some(src);
        self
    }

    /// The wall clock (epoch milliseconds) for ADDMETADATA `ts` and metadata refreshes.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Runs `record` (raw bytes including its trailing newline) through the chain. On
    /// [`Outcome::Converted`] `out` holds the bytes to send; otherwise `out` is empty.
    pub fn process(&self, record: &[u8], out: &mut Vec<u8>) -> Outcome {
        out.clear();
        match self.converters.as_slice() {
            [] => Outcome::Raw,
            [only] => self.finish(only, only.apply(record, out, self), out),
            many => SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                self.process_many(many, record, out, &mut scratch)
            }),
        }
    }

    fn finish(&self, conv: &Converter, step: Step, out: &mut Vec<u8>) -> Outcome {
        match step {
            Step::Written => Outcome::Converted,
            Step::Skip => {
                out.clear();
                Outcome::Skipped
            }
            Step::Failed(e) => {
                tracing::debug!(converter = conv.name(), error = %e, "Unable to convert data, falling back to raw data");
                out.clear();
                Outcome::RawFallback
            }
        }
    }

    fn process_many(
        &self,
        converters: &[Converter],
        record: &[u8],
        out: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) -> Outcome {
        // Alternate buffers so that the last converter writes into `out`.
        let n = converters.len();
        for (k, conv) in converters.iter().enumerate() {
            let write_out = (n - 1 - k) % 2 == 0;
            let step = if k == 0 {
                let target = if write_out { &mut *out } else { &mut *scratch };
                target.clear();
                conv.apply(record, target, self)
            } else if write_out {
                out.clear();
                conv.apply(scratch, out, self)
            } else {
                scratch.clear();
                conv.apply(out, scratch, self)
            };
            if !matches!(step, Step::Written) {
                return self.finish(conv, step, out);
            }
        }
        Outcome::Converted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(options: Value) -> String {
        Chain::from_options(&options).unwrap_err().to_string()
    }

    #[test]
    fn config_errors_name_index_key_value_and_allowed() {
        let e = err(json!([{"optionName": "SINGLELINE"}, {"optionName": "logtojson"}]));
        assert!(e.contains("[1]") && e.contains("optionName") && e.contains("logtojson"));
        assert!(e.contains("LOGTOJSON,ADDBRACKETS"), "{e}");
        let e = err(
            json!([{"optionName": "CSVTOJSON", "customFieldNames": ["a"], "jsonFormat": "pretty"}]),
        );
        assert!(
            e.contains("jsonFormat") && e.contains("COMPACT,PRETTYPRINT"),
            "{e}"
        );
        let e = err(
            json!([{"optionName": "LOGTOJSON", "logFormat": "SYSLOG", "customFieldNames": ["a"]}]),
        );
        assert!(e.contains("SYSLOG has 5 fields"), "{e}");
        let e = err(json!([{"optionName": "ADDMETADATA", "timestamp": true}]));
        assert!(e.contains("timestamp"), "{e}");
        let e = err(
            json!([{"optionName": "LOGTOJSON", "logFormat": "SYSLOG", "matchPattern": "(\\p{InGreek})", "customFieldNames": ["a"]}]),
        );
        assert!(e.contains("Unicode block"), "{e}");
        assert!(
            err(json!([{"optionName": "USINGPLUGGIN", "className": "x"}]))
                .contains("not supported")
        );
        assert!(err(json!(["SINGLELINE"])).contains("expected an object"));
        // A CSV field list given as a non-array is ignored, so the list is missing.
        assert!(
            err(json!([{"optionName": "CSVTOJSON", "customFieldNames": "a,b"}]))
                .contains("customFieldNames")
        );
    }

    #[test]
    fn values_are_coerced_like_the_agent() {
        let ok = |v: Value| Chain::from_options(&v).unwrap();
        ok(json!([{"optionName": "ADDEC2METADATA", "logFormat": "SYSLOG", "metadataTTL": "60"}]));
        ok(
            json!([{"optionName": "LOGTOJSON", "logFormat": "COMMONAPACHELOG", "firetail.lenientApache": "yes"}]),
        );
        assert!(ok(json!({"optionName": "SINGLELINE"})).is_empty());
        assert!(ok(json!([])).is_empty());
        // The agent ignores an unreadable metadataTTL with a warning (see ec2metadata.rs).
        ok(json!([{"optionName": "ADDEC2METADATA", "logFormat": "SYSLOG", "metadataTTL": "1h"}]));
    }

    /// Java constructs that need backtracking convert with Java semantics; a record on
    /// which such a pattern gives up at the step limit is sent raw, as the agent sends a
    /// record whose conversion threw.
    #[test]
    fn backtracking_patterns_convert_and_a_step_limit_sends_the_record_raw() {
        let chain = Chain::from_options(&json!([{"optionName": "LOGTOJSON", "logFormat": "SYSLOG",
            "matchPattern": "(?<level>[A-Z]+)(?=:) *+:(?!\\s)(.*)", "customFieldNames": ["level", "msg"]}]))
        .unwrap();
        let mut out = Vec::new();
        assert_eq!(chain.process(b"WARN:disk\n", &mut out), Outcome::Converted);
        assert_eq!(out, b"{\"level\":\"WARN\",\"msg\":\"disk\"}\n");
        assert_eq!(chain.process(b"WARN: disk\n", &mut out), Outcome::Skipped);

        let hostile =
            Chain::from_options(&json!([{"optionName": "LOGTOJSON", "logFormat": "SYSLOG",
            "matchPattern": "(?:(a|aa)+)+(?!a)\\1b", "customFieldNames": ["a"]}]))
            .unwrap();
        let record = format!("{}\n", "a".repeat(40));
        assert_eq!(
            hostile.process(record.as_bytes(), &mut out),
            Outcome::RawFallback
        );
        assert!(out.is_empty());
        let csv = Chain::from_options(
            &json!([{"optionName": "CSVTOJSON", "customFieldNames": ["x"],
            "delimiter": "(?:(a|aa)+)+(?!a)\\1b"}]),
        )
        .unwrap();
        assert_eq!(
            csv.process(record.as_bytes(), &mut out),
            Outcome::RawFallback
        );
    }

    #[test]
    fn outcomes() {
        let chain = Chain::from_options(&json!([{"optionName": "LOGTOJSON", "logFormat": "SYSLOG"}, {"optionName": "ADDBRACKETS"}])).unwrap();
        let mut out = Vec::new();
        assert_eq!(chain.process(b"nope\n", &mut out), Outcome::Skipped);
        assert!(out.is_empty());
        assert_eq!(
            chain.process(b"Mar 12 12:00:08 h p: m\n", &mut out),
            Outcome::Converted
        );
        assert!(out.starts_with(b"{{\"timestamp\""));
        assert_eq!(Chain::empty().process(b"x\n", &mut out), Outcome::Raw);
        let failing = Chain::from_options(&json!([{"optionName": "SINGLELINE"}, {"optionName": "CSVTOJSON", "customFieldNames": ["a"], "delimiter": "("}])).unwrap();
        assert_eq!(failing.process(b"x\n", &mut out), Outcome::RawFallback);
        assert!(out.is_empty());
    }
}
