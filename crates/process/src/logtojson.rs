//! `LOGTOJSON`: parses a log line with the agent's built-in regexes (or a `matchPattern`) and
//! writes the captured fields as a flat JSON object of strings.
//!
//! One trailing `\n` is stripped, then the pattern must match the WHOLE line (`matches()`); no
//! match, or a group count different from the field count, skips the record. For the Apache
//! formats (also with a custom `matchPattern`) a value that is exactly `-` becomes `null`.
//!
//! The built-in Apache access-log formats have hand-written parsers ([`fast`]) that give the
//! same result as the regex without running it; a differential test keeps them honest. The
//! regex path stays the reference and handles everything else.
//!
//! Extension: `"firetail.lenientApache": true` on an Apache format accepts CRLF line endings
//! and IPv6 / bracketed client addresses, which the agent's patterns never match.

pub mod fast;

use crate::config::{OptionReader, ProcessConfigError};
use crate::json::{write_string, JsonFormat};
use firetail_agent::jregex::{JavaRegex, StepLimitExceeded};
use firetail_agent::utf8;

/// The `logFormat` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    CommonApache,
    CombinedApache,
    ApacheError,
    Syslog,
    Rfc3339Syslog,
}

pub(crate) const LOG_FORMATS: &[(&str, LogFormat)] = &[
    ("COMMONAPACHELOG", LogFormat::CommonApache),
    ("COMBINEDAPACHELOG", LogFormat::CombinedApache),
    ("APACHEERRORLOG", LogFormat::ApacheError),
    ("SYSLOG", LogFormat::Syslog),
    ("RFC3339SYSLOG", LogFormat::Rfc3339Syslog),
];

// Building blocks of the agent's `PatternConstants` (Java regex syntax).
const INT: &str = r"(?:[+-]?(?:[0-9]+))";
const POSINT: &str = r"(?:[1-9][0-9]*)";
const NONNEGINT: &str = r"(?:[0-9]+)";
const ANYDATA: &str = r".*";
const WORD: &str = r"\w+";
const NOQUOTE: &str = r#"[^"]+"#;
const IP: &str = r"(?:[\d\.]+)";
const HOSTNAME: &str = r"(?:[\w\-]+)(?:\.(?:[\w\-]+))*(?:\.?|\b)";
const USER: &str = r"(?:[a-zA-Z0-9._-]+)";
const MONTHDAY: &str = r"(?:(?:0[1-9])|(?:[12][0-9])|(?:3[01])|[1-9])";
const DAY: &str = r"(?:Mon(?:day)?|Tue(?:sday)?|Wed(?:nesday)?|Thu(?:rsday)?|Fri(?:day)?|Sat(?:urday)?|Sun(?:day)?)";
const MONTH: &str = r"\b(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|Jun(?:e)?|Jul(?:y)?|Aug(?:ust)?|Sep(?:tember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\b";
const YEAR: &str = r"(?:[1-9]\d*)";
const HOUR: &str = r"(?:2[0123]|[01]?[0-9])";
const MINUTE: &str = r"(?:[0-5][0-9])";
const SECOND: &str = r"(?:(?:[0-5]?[0-9]|60)(?:[:\.,][0-9]+)?)";
/// Firetail extension: IPv6 clients, bare or in brackets (never matched by the agent).
const IPV6: &str = r"(?:\[[0-9A-Fa-f:.]+(?:%[\w.]+)?\]|[0-9A-Fa-f]*:[0-9A-Fa-f:.]+(?:%[\w.]+)?)";

fn time() -> String {
    format!("(?:{HOUR}:{MINUTE}:{SECOND})")
}

fn iporhost(lenient: bool) -> String {
    if lenient {
        format!("(?:{HOSTNAME}|{IP}|{IPV6})")
    } else {
        format!("(?:{HOSTNAME}|{IP})")
    }
}

fn common_apache(lenient: bool) -> String {
    let httpdate = format!(r"(?:{MONTHDAY}/{MONTH}/{YEAR}:{}\s{INT})", time());
    format!(
        r#"^({}) ({USER}) ({USER}) \[({httpdate})\] "({NOQUOTE})" ({INT}|\-) ({INT}|\-)"#,
        iporhost(lenient)
    )
}

fn syslog_tail() -> String {
    let facility = format!("<{NONNEGINT}.{NONNEGINT}>");
    let prog = r"([\w\._/%-]+)";
    format!(r"(?:{facility} )?({USER}) {prog}(?:\[({POSINT})\])?: ({ANYDATA})")
}

impl LogFormat {
    pub fn name(self) -> &'static str {
        LOG_FORMATS
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(n, _)| n)
    }

    pub fn is_apache(self) -> bool {
        matches!(
            self,
            LogFormat::CommonApache | LogFormat::CombinedApache | LogFormat::ApacheError
        )
    }

    /// The JSON keys of the built-in pattern, in order.
    pub fn field_names(self) -> &'static [&'static str] {
        const COMMON: [&str; 7] = [
            "host", "ident", "authuser", "datetime", "request", "response", "bytes",
        ];
        const COMBINED: [&str; 9] = [
            "host", "ident", "authuser", "datetime", "request", "response", "bytes", "referer",
            "agent",
        ];
        const ERROR: [&str; 7] = [
            "timestamp",
            "module",
            "severity",
            "processid",
            "threadid",
            "client",
            "message",
        ];
        const SYSLOG: [&str; 5] = ["timestamp", "hostname", "program", "processid", "message"];
        match self {
            LogFormat::CommonApache => &COMMON,
            LogFormat::CombinedApache => &COMBINED,
            LogFormat::ApacheError => &ERROR,
            LogFormat::Syslog | LogFormat::Rfc3339Syslog => &SYSLOG,
        }
    }

    /// The agent's built-in Java regex for this format (`lenient` adds the firetail extension).
    pub fn pattern(self, lenient: bool) -> String {
        match self {
            LogFormat::CommonApache => format!("{}.*", common_apache(lenient)),
            LogFormat::CombinedApache => {
                format!(
                    r#"{} "({NOQUOTE})" "({NOQUOTE})".*"#,
                    common_apache(lenient)
                )
            }
            LogFormat::ApacheError => {
                let timestamp = format!(r"(?:{DAY}\s+{MONTH}\s+{MONTHDAY}\s+{}\s+{YEAR})", time());
                let urihost = if lenient {
                    format!("(?:{IPV6}(?::{POSINT})?|{}(?::{POSINT})?)", iporhost(false))
                } else {
                    format!("(?:{}(?::{POSINT})?)", iporhost(false))
                };
                format!(
                    r"^\[({timestamp})\] \[(?:({WORD}):)?({WORD})\] \[pid ({NONNEGINT})(?::tid ({NONNEGINT}))?\] \[client ({urihost})\] ({ANYDATA})"
                )
            }
            LogFormat::Syslog => {
                let ts = format!(r"(?:{MONTH}\s+{MONTHDAY}\s+{})", time());
                format!("^({ts}) {}", syslog_tail())
            }
            LogFormat::Rfc3339Syslog => {
                let rfc3339 =
                    r"(?:\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?)(?:Z|(?:[-+]\d{2}:\d{2}))";
                format!("^({rfc3339}) {}", syslog_tail())
            }
        }
    }
}

/// Pre-rendered keys of a flat JSON object whose values are all strings or `null`, so a
/// record costs only the value escaping.
///
/// The agent fills a `LinkedHashMap` field by field, so a name given twice is written
/// once: at the position of its first occurrence, with the value of its last (a `null`
/// included, when that column is missing).
#[derive(Debug, Clone)]
pub struct FlatObjectTemplate {
    /// `,`-less key prefixes: `"key":` (compact) or `\n  "key" : ` (pretty), each with the
    /// index of the field whose value it takes.
    keys: Vec<(Vec<u8>, usize)>,
    pretty: bool,
}

impl FlatObjectTemplate {
    pub fn new(fields: &[String], format: JsonFormat) -> Self {
        let pretty = format == JsonFormat::PrettyPrint;
        let mut keys: Vec<(Vec<u8>, usize)> = Vec::with_capacity(fields.len());
        let mut names: Vec<&str> = Vec::with_capacity(fields.len());
        for (index, f) in fields.iter().enumerate() {
            if let Some(pos) = names.iter().position(|n| *n == f.as_str()) {
                keys[pos].1 = index;
                continue;
            }
            let mut k = Vec::with_capacity(f.len() + 8);
            if pretty {
                k.extend_from_slice(b"\n  ");
            }
            write_string(&mut k, f);
            k.extend_from_slice(if pretty { b" : " } else { b":" });
            keys.push((k, index));
            names.push(f);
        }
        FlatObjectTemplate { keys, pretty }
    }

    /// Writes `{…}` taking field `i`'s value from `value(i)`.
    pub fn write<'v>(&self, out: &mut Vec<u8>, value: impl Fn(usize) -> Option<&'v str>) {
        out.push(b'{');
        for (i, (key, field)) in self.keys.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(key);
            match value(*field) {
                Some(v) => write_string(out, v),
                None => out.extend_from_slice(b"null"),
            }
        }
        if self.pretty {
            out.extend_from_slice(if self.keys.is_empty() { b" " } else { b"\n" });
        }
        out.push(b'}');
    }
}

#[derive(Debug)]
pub struct LogToJson {
    format: LogFormat,
    regex: JavaRegex,
    template: FlatObjectTemplate,
    /// `groupCount() == fields.size()`; otherwise every record is skipped.
    group_count_matches: bool,
    /// Use the hand-written parser (built-in Apache access pattern, not lenient).
    fast: bool,
    lenient: bool,
}

impl LogToJson {
    pub(crate) fn from_option(opt: &OptionReader<'_>) -> Result<Self, ProcessConfigError> {
        let format = opt.required_enumeration("logFormat", LOG_FORMATS)?;
        let custom_fields = opt.string_list("customFieldNames")?;
        let match_pattern = opt.string("matchPattern")?;
        let json = opt.json_format()?;
        let lenient = opt.boolean("firetail.lenientApache")?.unwrap_or(false);
        Self::build(
            opt.index,
            format,
            custom_fields,
            match_pattern.as_deref(),
            json,
            lenient,
        )
    }

    /// Builds the converter from already-read option values (used by ADDEC2METADATA
    /// validation and by tests).
    pub fn build(
        index: usize,
        format: LogFormat,
        custom_fields: Option<Vec<String>>,
        match_pattern: Option<&str>,
        json: JsonFormat,
        lenient: bool,
    ) -> Result<Self, ProcessConfigError> {
        let builtin: Vec<String> = format
            .field_names()
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let fields = match (&custom_fields, match_pattern) {
            (None, Some(_)) => return Err(ProcessConfigError::MatchPatternWithoutFields { index }),
            (Some(f), None) if f.len() != builtin.len() => {
                return Err(ProcessConfigError::FieldCountMismatch {
                    index,
                    format: format.name(),
                    expected: builtin.len(),
                    got: f.len(),
                })
            }
            (Some(f), _) => f.clone(),
            (None, None) => builtin,
        };
        let lenient = lenient && format.is_apache() && match_pattern.is_none();
        let pattern = match match_pattern {
            Some(p) => p.to_owned(),
            None => format.pattern(lenient),
        };
        let regex =
            JavaRegex::new(&pattern).map_err(|source| ProcessConfigError::InvalidPattern {
                index,
                key: if match_pattern.is_some() {
                    "matchPattern"
                } else {
                    "logFormat"
                },
                source,
            })?;
        let fast = match_pattern.is_none()
            && !lenient
            && matches!(format, LogFormat::CommonApache | LogFormat::CombinedApache);
        Ok(LogToJson {
            format,
            group_count_matches: regex.group_count() == fields.len(),
            regex,
            template: FlatObjectTemplate::new(&fields, json),
            fast,
            lenient,
        })
    }

    /// Converts one record; `false` means the record is skipped (no match). A
    /// `matchPattern` that gave up at the backtracking step limit counts as no match here;
    /// the chain uses [`LogToJson::try_convert`], which sends such a record raw.
    pub fn convert(&self, input: &[u8], out: &mut Vec<u8>) -> bool {
        self.try_convert(input, out).unwrap_or(false)
    }

    /// Converts one record: `Ok(false)` means no match (the record is skipped); an error
    /// means a backtracking `matchPattern` gave up, which the chain treats like any
    /// converter failure (the record is sent raw, as the agent would on an exception).
    pub fn try_convert(&self, input: &[u8], out: &mut Vec<u8>) -> Result<bool, StepLimitExceeded> {
        let text = utf8::decode(input);
        let mut line: &str = text.strip_suffix('\n').unwrap_or(&text);
        if self.lenient {
            line = line.strip_suffix('\r').unwrap_or(line);
        }
        let converted = if self.fast {
            self.convert_fast(line, out)
        } else {
            self.try_convert_regex(line, out)?
        };
        if converted {
            out.push(b'\n');
        }
        Ok(converted)
    }

    fn convert_fast(&self, line: &str, out: &mut Vec<u8>) -> bool {
        let mut fields = [None; 9];
        let ok = match self.format {
            LogFormat::CommonApache => fast::parse_common(line, &mut fields),
            _ => fast::parse_combined(line, &mut fields),
        };
        if ok {
            self.template.write(out, |i| apache_value(fields[i]));
        }
        ok
    }

    /// The reference path: the Java regex through [`JavaRegex`] (a step-limit failure
    /// counts as no match here; see [`LogToJson::try_convert`]).
    pub fn convert_regex(&self, line: &str, out: &mut Vec<u8>) -> bool {
        self.try_convert_regex(line, out).unwrap_or(false)
    }

    fn try_convert_regex(&self, line: &str, out: &mut Vec<u8>) -> Result<bool, StepLimitExceeded> {
        if !self.group_count_matches {
            return Ok(false);
        }
        let Some(groups) = self.regex.captures_whole(line)? else {
            return Ok(false);
        };
        let apache = self.format.is_apache();
        self.template.write(out, |i| {
            let v = groups.get(i + 1).copied().flatten();
            if apache {
                apache_value(v)
            } else {
                v
            }
        });
        Ok(true)
    }

    /// Run only the hand-written parser (for differential testing); `None` if there is none.
    pub fn convert_fast_only(&self, line: &str, out: &mut Vec<u8>) -> Option<bool> {
        self.fast.then(|| self.convert_fast(line, out))
    }
}

fn apache_value(v: Option<&str>) -> Option<&str> {
    v.filter(|s| *s != "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(format: LogFormat, line: &str) -> Option<String> {
        let conv = LogToJson::build(0, format, None, None, JsonFormat::Compact, false).unwrap();
        let mut out = Vec::new();
        conv.convert(line.as_bytes(), &mut out)
            .then(|| String::from_utf8(out).unwrap())
    }

    #[test]
    fn spec_examples() {
        assert_eq!(
            run(LogFormat::CommonApache, "192.168.1.10 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326\n").unwrap(),
            "{\"host\":\"192.168.1.10\",\"ident\":null,\"authuser\":\"frank\",\"datetime\":\"10/Oct/2000:13:55:36 -0700\",\"request\":\"GET /apache_pb.gif HTTP/1.0\",\"response\":\"200\",\"bytes\":\"2326\"}\n"
        );
        assert!(run(
            LogFormat::CommonApache,
            "10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 2326\r\n"
        )
        .is_none());
        assert_eq!(
            run(LogFormat::Syslog, "Oct 11 22:14:15 <4.6> mymachine su: 'su root' failed\n").unwrap(),
            "{\"timestamp\":\"Oct 11 22:14:15\",\"hostname\":\"mymachine\",\"program\":\"su\",\"processid\":null,\"message\":\"'su root' failed\"}\n"
        );
        assert!(run(LogFormat::ApacheError, "[Fri Sep 09 10:42:29.902022 2011] [core:error] [pid 35708:tid 4328636416] [client 72.15.99.187] File does not exist: /x\n").is_some());
        assert!(run(
            LogFormat::Rfc3339Syslog,
            "2023-01-02T03:04:05Z web-01 systemd: Started\n"
        )
        .is_some());
    }

    /// The agent's parsers fill a `LinkedHashMap`: a repeated name is written once, where
    /// it first appears, with the last group's value.
    #[test]
    fn repeated_field_names_keep_the_first_position_and_the_last_value() {
        let conv = LogToJson::build(
            0,
            LogFormat::Syslog,
            Some(vec!["k".into(), "v".into(), "k".into()]),
            Some(r"(\w+)=(\w+)(?:,(\w+))?"),
            JsonFormat::Compact,
            false,
        )
        .unwrap();
        let mut out = Vec::new();
        assert!(conv.convert(b"a=b,c\n", &mut out));
        assert_eq!(out, b"{\"k\":\"c\",\"v\":\"b\"}\n");
        out.clear();
        assert!(conv.convert(b"a=b\n", &mut out));
        assert_eq!(out, b"{\"k\":null,\"v\":\"b\"}\n");
    }

    #[test]
    fn lenient_accepts_crlf_and_ipv6() {
        let conv = LogToJson::build(
            0,
            LogFormat::CommonApache,
            None,
            None,
            JsonFormat::Compact,
            true,
        )
        .unwrap();
        for line in [
            "10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 5\r\n",
            "2001:db8::1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 5\n",
            "[2001:db8::1] - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 5\n",
        ] {
            let mut out = Vec::new();
            assert!(conv.convert(line.as_bytes(), &mut out), "{line}");
        }
    }
}
