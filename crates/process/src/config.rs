//! Reading one `dataProcessingOptions` element with the agent's `Configuration` rules.
//!
//! Scalars are coerced from their text by the same rules as agent.json's keys
//! ([`firetail_agent::coerce`]: `"3600"` is a number, `"yes"` a boolean), enums are
//! case-sensitive, a present `null` counts as missing for required keys, and a list key whose
//! value is not an array silently falls back to its default (the agent's `readList`).

use firetail_agent::coerce::{self, scalar_text};
use firetail_agent::jregex::JavaRegexError;
use serde_json::{Map, Value};

use crate::json::JsonFormat;

/// A `dataProcessingOptions` entry the agent would refuse at startup (or that firetail cannot
/// support). `index` is the position of the option in the array.
#[derive(Debug, thiserror::Error)]
pub enum ProcessConfigError {
    #[error("dataProcessingOptions[{index}]: expected an object, got {value}")]
    NotAnObject { index: usize, value: String },
    #[error("dataProcessingOptions[{index}]: required key {key:?} is missing")]
    MissingKey { index: usize, key: &'static str },
    #[error(
        "dataProcessingOptions[{index}]: value {value} is not accepted for key {key:?}; allowed: {allowed}"
    )]
    InvalidValue {
        index: usize,
        key: &'static str,
        value: String,
        allowed: String,
    },
    #[error("dataProcessingOptions[{index}]: invalid regex in {key:?}: {source}")]
    InvalidPattern {
        index: usize,
        key: &'static str,
        #[source]
        source: JavaRegexError,
    },
    #[error(
        "dataProcessingOptions[{index}]: customFieldNames has {got} names but logFormat {format} has {expected} fields; change the names or specify matchPattern"
    )]
    FieldCountMismatch {
        index: usize,
        format: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("dataProcessingOptions[{index}]: customFieldNames must be specified when matchPattern is specified")]
    MatchPatternWithoutFields { index: usize },
    #[error("dataProcessingOptions[{index}]: optionName {option} is not supported by firetail: {reason}")]
    Unsupported {
        index: usize,
        option: &'static str,
        reason: &'static str,
    },
}

/// One option object plus its index, with typed, coercing accessors.
pub(crate) struct OptionReader<'a> {
    pub index: usize,
    map: &'a Map<String, Value>,
}

impl<'a> OptionReader<'a> {
    pub fn new(index: usize, value: &'a Value) -> Result<Self, ProcessConfigError> {
        match value {
            Value::Object(map) => Ok(OptionReader { index, map }),
            other => Err(ProcessConfigError::NotAnObject {
                index,
                value: other.to_string(),
            }),
        }
    }

    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// True if `key` is present with an explicit `null`. The agent's readers return that null
    /// instead of the fallback, which some converters only trip over per record.
    pub fn is_null(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(Value::is_null)
    }

    pub fn invalid(&self, key: &'static str, value: &Value, allowed: &str) -> ProcessConfigError {
        ProcessConfigError::InvalidValue {
            index: self.index,
            key,
            value: value.to_string(),
            allowed: allowed.to_owned(),
        }
    }

    /// A string-valued key; numbers and booleans are taken as their text.
    pub fn string(&self, key: &'static str) -> Result<Option<String>, ProcessConfigError> {
        match self.raw(key) {
            None => Ok(None),
            Some(v) => scalar_text(v)
                .map(Some)
                .ok_or_else(|| self.invalid(key, v, "a string")),
        }
    }

    /// A case-sensitive enum value (Java `Enum.valueOf`).
    pub fn enumeration<T: Copy>(
        &self,
        key: &'static str,
        legal: &[(&str, T)],
    ) -> Result<Option<T>, ProcessConfigError> {
        let Some(text) = self.string(key)? else {
            return Ok(None);
        };
        legal
            .iter()
            .find(|(name, _)| *name == text)
            .map(|(_, v)| Some(*v))
            .ok_or_else(|| ProcessConfigError::InvalidValue {
                index: self.index,
                key,
                value: format!("{text:?}"),
                allowed: legal.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(","),
            })
    }

    /// A case-sensitive enum value the option cannot do without: absent or `null` is
    /// [`ProcessConfigError::MissingKey`], as in the agent.
    pub fn required_enumeration<T: Copy>(
        &self,
        key: &'static str,
        legal: &[(&str, T)],
    ) -> Result<T, ProcessConfigError> {
        self.enumeration(key, legal)?
            .ok_or_else(|| self.missing(key))
    }

    /// The error for a required `key` that is absent or `null`.
    pub fn missing(&self, key: &'static str) -> ProcessConfigError {
        ProcessConfigError::MissingKey {
            index: self.index,
            key,
        }
    }

    /// A list of strings; a non-array value is ignored (the agent's `readList` fallback).
    pub fn string_list(
        &self,
        key: &'static str,
    ) -> Result<Option<Vec<String>>, ProcessConfigError> {
        let Some(Value::Array(items)) = self.raw(key) else {
            return Ok(None);
        };
        items
            .iter()
            .map(|v| scalar_text(v).ok_or_else(|| self.invalid(key, v, "a list of strings")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    pub fn json_format(&self) -> Result<JsonFormat, ProcessConfigError> {
        Ok(self
            .enumeration(
                "jsonFormat",
                &[
                    ("COMPACT", JsonFormat::Compact),
                    ("PRETTYPRINT", JsonFormat::PrettyPrint),
                ],
            )?
            .unwrap_or(JsonFormat::Compact))
    }

    /// A boolean with the agent's `BooleanConverter` spellings.
    pub fn boolean(&self, key: &'static str) -> Result<Option<bool>, ProcessConfigError> {
        let Some(v) = self.raw(key) else {
            return Ok(None);
        };
        coerce::boolean(v)
            .map(Some)
            .ok_or_else(|| self.invalid(key, v, "true, yes, t, y, 1, false, no, f, n, 0"))
    }

    /// A Java `long` by `Long.decode` rules, as agent.json's integers (`"0x10"` is 16,
    /// `"010"` is 8, `" 5"` is refused).
    pub fn long(&self, key: &'static str) -> Result<Option<i64>, ProcessConfigError> {
        let Some(v) = self.raw(key) else {
            return Ok(None);
        };
        coerce::long(v)
            .map(Some)
            .ok_or_else(|| self.invalid(key, v, "an integer"))
    }
}
