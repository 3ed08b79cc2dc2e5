//! Errors and warnings of configuration loading, each carrying where it happened.
//!
//! Invariant: every message names the file; a message about a key names the key, the bad
//! value and what is allowed; a message inside a flow names the flow index and, once known,
//! the flow id.

use std::fmt;
use std::path::PathBuf;

/// Where in the configuration something was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file (or origin name given to `parse_str`).
    pub file: String,
    /// The section inside that file, if not the top level.
    pub section: Section,
}

/// A part of a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Section {
    /// Top level keys.
    Top,
    /// `flows[index]`, with the flow id once it is known.
    Flow {
        /// Position in the file's `flows` array.
        index: usize,
        /// The flow id (`fh:<stream>:<pattern>`), once computable.
        id: Option<String>,
    },
    /// `firetail.generators[index]`.
    Generator {
        /// Position in the `firetail.generators` array.
        index: usize,
    },
}

impl Location {
    /// The top level of `file`.
    pub fn top(file: &str) -> Self {
        Location {
            file: file.to_owned(),
            section: Section::Top,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        match &self.section {
            Section::Top => Ok(()),
            Section::Flow {
                index,
                id: Some(id),
            } => write!(f, ": flows[{index}] ({id})"),
            Section::Flow { index, id: None } => write!(f, ": flows[{index}]"),
            Section::Generator { index } => write!(f, ": firetail.generators[{index}]"),
        }
    }
}

/// One configuration error. Loading collects all of them (see [`ConfigErrors`]).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No configuration file exists at any candidate path.
    #[error("no configuration file found (tried: {tried})")]
    NotFound {
        /// The candidates, comma separated.
        tried: String,
    },
    /// The file could not be read.
    #[error("{file}: cannot read configuration file: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not JSON (comments allowed; trailing commas are not).
    #[error("{file}:{line}:{column}: invalid JSON: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser says.
        message: String,
    },
    /// The top level (or an element that must be an object) is something else.
    #[error("{at}: {what} must be a JSON object, found {found}")]
    NotAnObject {
        /// Where.
        at: Location,
        /// What had to be an object.
        what: String,
        /// The JSON type found.
        found: &'static str,
    },
    /// A value of the wrong type or format.
    #[error("{at}: '{key}': {value} is not {expected}")]
    BadValue {
        /// Where.
        at: Location,
        /// The key.
        key: String,
        /// The value as written (JSON text).
        value: String,
        /// What is allowed.
        expected: String,
    },
    /// An integer outside the key's range. The wording follows the agent's.
    #[error("{at}: '{key}' value {value} is outside of valid range {range}")]
    OutOfRange {
        /// Where.
        at: Location,
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// The range, e.g. `[1000..900000]`.
        range: String,
    },
    /// An enum value that is not one of the legal names. The wording follows the agent's.
    #[error(
        "{at}: Value({value}) is not legally accepted by key: {key}. Legal values are {legal}"
    )]
    IllegalEnum {
        /// Where.
        at: Location,
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// Legal values, comma separated.
        legal: String,
    },
    /// A required key is absent.
    #[error("{at}: required key '{key}' is missing")]
    Missing {
        /// Where.
        at: Location,
        /// The key.
        key: String,
    },
    /// A flow names no destination (`deliveryStream`, `kinesisStream`, `firetail.logGroup`).
    #[error("{at}: Could not recognize flow type: set 'deliveryStream' (Firehose) or 'kinesisStream' (Kinesis Data Streams), or firetail's 'firetail.logGroup' (CloudWatch Logs)")]
    UnknownFlowType {
        /// Where.
        at: Location,
    },
    /// A bad `filePattern`.
    #[error("{at}: 'filePattern': {pattern:?} {reason}")]
    BadFilePattern {
        /// Where.
        at: Location,
        /// The pattern as written.
        pattern: String,
        /// Why it is rejected.
        reason: String,
    },
    /// Two flows with the same id (destination type, stream and pattern).
    #[error("Duplicate flow: {id} (defined in {first} and {second})")]
    DuplicateFlow {
        /// The id.
        id: String,
        /// Where the first one is.
        first: Location,
        /// Where the second one is.
        second: Location,
    },
    /// No flows after merging agent.d.
    #[error("{file}: There are no flows configured in configuration file.")]
    NoFlows {
        /// The main file.
        file: String,
    },
}

/// Every error found in a configuration, in file order. Never empty.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The errors.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    /// How many errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false for a `ConfigErrors` produced by this crate.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Something worth telling the operator that does not stop loading. The caller logs these
/// (at WARN) with their `Display`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigWarning {
    /// A key firetail does not know. Never an error: the agent ignores unknown keys.
    #[error("{at}: unknown key '{key}' ignored{}", did_you_mean(.suggestion))]
    UnknownKey {
        /// Where.
        at: Location,
        /// The key.
        key: String,
        /// A known key within edit distance 2.
        suggestion: Option<&'static str>,
    },
    /// A flow key written at the top level, where it has no effect (Kinesis Agent #87).
    #[error(
        "{at}: '{key}' is a flow key and has no effect at the top level; put it inside each flow"
    )]
    FlowKeyAtTopLevel {
        /// Where.
        at: Location,
        /// The key.
        key: String,
    },
    /// A key the agent accepts but never reads (e.g. `log.level`).
    #[error("{at}: '{key}' is ignored: {reason}")]
    IgnoredKey {
        /// Where.
        at: Location,
        /// The key.
        key: String,
        /// Why.
        reason: &'static str,
    },
    /// A key that means nothing for this flow type or in firetail.
    #[error("{at}: '{key}' has no effect: {reason}")]
    NoEffect {
        /// Where.
        at: Location,
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
    /// A list key whose value is not an array at all; the default (for
    /// `dataProcessingOptions`: no converters) is used, as the agent does (silently, in the
    /// agent's case). An array with a non-object item is an error instead.
    #[error("{at}: '{key}' is not an array; ignored and the default (no converters) used, as the Kinesis Agent does")]
    ListFallback {
        /// Where.
        at: Location,
        /// The key.
        key: String,
    },
    /// An agent.d file that could not be parsed, or whose `flows` is not an array; skipped as
    /// the agent does. `name` is the base name, as the agent prints it; `detail` holds the
    /// reason, with the full path.
    #[error("Error reading configuration file, ignoring - {name} ({detail})")]
    DropInIgnored {
        /// The file.
        name: String,
        /// Why.
        detail: String,
    },
    /// Any other remark with a location (octal strings, content after the JSON object, …).
    #[error("{at}: {message}")]
    Note {
        /// Where.
        at: Location,
        /// The remark.
        message: String,
    },
}

fn did_you_mean(suggestion: &Option<&'static str>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean '{s}'?)"),
        None => String::new(),
    }
}
