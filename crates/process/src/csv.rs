//! `CSVTOJSON`: splits a line with a Java regex delimiter and maps columns to field names.
//!
//! One trailing `\n` is stripped (a `\r` stays in the last field), the line is split with Java
//! `String.split` semantics (trailing empty fields dropped, a leading one kept), field *i* takes
//! column *i* or `null`, and extra columns are ignored. No quoting, no trimming.
//!
//! The agent compiles the delimiter only when it splits a line, so an invalid delimiter does
//! not stop the flow: every record fails conversion and is sent raw. The compile error is kept
//! here and reported per record for the same effect. An explicit `"delimiter": null` is the
//! same case: `readString("delimiter", ",")` returns the null and `split(null)` throws on
//! every record, so every record is sent raw (no data is lost; its bytes are sent as read).
//!
//! `"customFieldNames": null` is refused at startup, as in the agent: `readList` returns
//! null and the chain's constructor calls `toString()`, which dereferences the field list.

use std::borrow::Cow;

use crate::config::{OptionReader, ProcessConfigError};
#[cfg(test)]
use crate::json::JsonFormat;
use crate::logtojson::FlatObjectTemplate;
use firetail_agent::jregex::{JavaRegex, JavaRegexError, StepLimitExceeded};
use firetail_agent::utf8;

#[derive(Debug)]
enum Delimiter {
    /// One char that is not a regex metacharacter: Java's own `split` fast path.
    Literal(char),
    Regex(JavaRegex),
    Invalid(JavaRegexError),
    /// An explicit `"delimiter": null`.
    Null,
}

/// Why CSVTOJSON could not convert a record; the chain then sends the record raw.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CsvError {
    /// The delimiter is not a usable Java regex.
    #[error(transparent)]
    Delimiter(#[from] JavaRegexError),
    /// `"delimiter": null`: the agent's `split(null)` throws on every record.
    #[error("\"delimiter\" is null, so the Kinesis Agent cannot split any record")]
    NullDelimiter,
    /// A backtracking delimiter gave up on this record (see `jregex::backtrack`).
    #[error(transparent)]
    StepLimit(#[from] StepLimitExceeded),
}

#[derive(Debug)]
pub struct CsvToJson {
    delimiter: Delimiter,
    template: FlatObjectTemplate,
}

impl CsvToJson {
    pub(crate) fn from_option(opt: &OptionReader<'_>) -> Result<Self, ProcessConfigError> {
        let fields = opt
            .string_list("customFieldNames")?
            .ok_or_else(|| opt.missing("customFieldNames"))?;
        let json = opt.json_format()?;
        let delimiter = if opt.is_null("delimiter") {
            tracing::warn!(
                "dataProcessingOptions[{}]: CSVTOJSON \"delimiter\" is null: every record is sent unconverted, as the Kinesis Agent does; remove the key to split on ','",
                opt.index
            );
            Delimiter::Null
        } else {
            compile_delimiter(&opt.string("delimiter")?.unwrap_or_else(|| ",".to_owned()))
        };
        Ok(CsvToJson {
            delimiter,
            template: FlatObjectTemplate::new(&fields, json),
        })
    }

    #[cfg(test)]
    fn new(fields: &[&str], delimiter: &str, json: JsonFormat) -> Self {
        let fields: Vec<String> = fields.iter().map(|s| (*s).to_owned()).collect();
        CsvToJson {
            delimiter: compile_delimiter(delimiter),
            template: FlatObjectTemplate::new(&fields, json),
        }
    }

    pub fn convert(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CsvError> {
        let text = utf8::decode(input);
        let line = text.strip_suffix('\n').unwrap_or(&text);
        let columns: Vec<Cow<'_, str>> = match &self.delimiter {
            Delimiter::Literal(c) => split_literal(line, *c),
            Delimiter::Regex(re) => re.split(line)?,
            Delimiter::Invalid(e) => return Err(e.clone().into()),
            Delimiter::Null => return Err(CsvError::NullDelimiter),
        };
        self.template
            .write(out, |i| columns.get(i).map(|c| c.as_ref()));
        out.push(b'\n');
        Ok(())
    }
}

fn compile_delimiter(delimiter: &str) -> Delimiter {
    let mut chars = delimiter.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        if !".$|()[{^?*+\\".contains(c) {
            return Delimiter::Literal(c);
        }
    }
    match JavaRegex::new(delimiter) {
        Ok(re) => Delimiter::Regex(re),
        Err(e) => Delimiter::Invalid(e),
    }
}

/// Java `String.split` on a literal char.
fn split_literal(line: &str, c: char) -> Vec<Cow<'_, str>> {
    let mut pieces: Vec<Cow<'_, str>> = line.split(c).map(Cow::Borrowed).collect();
    if pieces.len() == 1 {
        return pieces;
    }
    while pieces.last().is_some_and(|p| p.is_empty()) {
        pieces.pop();
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(fields: &[&str], delimiter: &str, input: &str) -> String {
        let mut out = Vec::new();
        CsvToJson::new(fields, delimiter, JsonFormat::Compact)
            .convert(input.as_bytes(), &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn spec_examples() {
        assert_eq!(
            run(
                &["id", "name", "amount", "note"],
                ",",
                "42,Alice Smith, 3.50\n"
            ),
            "{\"id\":\"42\",\"name\":\"Alice Smith\",\"amount\":\" 3.50\",\"note\":null}\n"
        );
        assert_eq!(
            run(&["a", "b", "c", "d"], ",", "1,,3,\n"),
            "{\"a\":\"1\",\"b\":\"\",\"c\":\"3\",\"d\":null}\n"
        );
        assert_eq!(
            run(&["a", "b", "c"], "|", "ab|cd\n"),
            "{\"a\":\"a\",\"b\":\"b\",\"c\":\"|\"}\n"
        );
        assert_eq!(
            run(&["a", "b"], "\\t", "x\ty\n"),
            "{\"a\":\"x\",\"b\":\"y\"}\n"
        );
        assert_eq!(
            run(&["a", "b"], ",", "x,y\r\n"),
            "{\"a\":\"x\",\"b\":\"y\\r\"}\n"
        );
        assert_eq!(run(&["a"], ",", ",,,\n"), "{\"a\":null}\n");
    }

    /// The agent builds the object through a `LinkedHashMap`: a repeated name keeps the
    /// position of its first occurrence and the value of its last, a null included.
    #[test]
    fn repeated_field_names_are_written_once_as_the_agent_writes_them() {
        assert_eq!(
            run(&["a", "b", "a", "c"], ",", "1,2,3,4\n"),
            "{\"a\":\"3\",\"b\":\"2\",\"c\":\"4\"}\n"
        );
        assert_eq!(
            run(&["a", "b", "a"], ",", "1,2\n"),
            "{\"a\":null,\"b\":\"2\"}\n"
        );
        assert_eq!(run(&["x", "x", "x"], ",", "1,2,3\n"), "{\"x\":\"3\"}\n");
        let mut out = Vec::new();
        CsvToJson::new(&["a", "b", "a"], ",", JsonFormat::PrettyPrint)
            .convert(b"1,2,3\n", &mut out)
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\n  \"a\" : \"3\",\n  \"b\" : \"2\"\n}\n"
        );
    }

    /// The agent sends every record raw when `"delimiter"` is an explicit null.
    #[test]
    fn null_delimiter_sends_every_record_raw() {
        let chain = crate::Chain::from_options(&serde_json::json!([
            {"optionName": "CSVTOJSON", "customFieldNames": ["a", "b"], "delimiter": null}
        ]))
        .unwrap();
        let mut out = Vec::new();
        for record in [&b"x,y\n"[..], b"plain\n", b""] {
            assert_eq!(
                chain.process(record, &mut out),
                crate::Outcome::RawFallback,
                "{record:?}"
            );
        }
    }

    /// The agent cannot start with `"customFieldNames": null` (the chain's `toString()`
    /// dereferences the null list), so neither does firetail.
    #[test]
    fn null_field_names_are_refused() {
        let e = crate::Chain::from_options(&serde_json::json!([
            {"optionName": "CSVTOJSON", "customFieldNames": null}
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("customFieldNames"), "{e}");
    }

    #[test]
    fn invalid_delimiter_fails_each_record() {
        let mut out = Vec::new();
        let csv = CsvToJson::new(&["a"], "(", JsonFormat::Compact);
        assert!(csv.convert(b"x\n", &mut out).is_err());
    }
}
