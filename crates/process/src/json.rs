//! JSON output byte-identical to the agent's Jackson `ObjectMapper`.
//!
//! Two layouts: COMPACT (`writeValueAsString`) and PRETTYPRINT (Jackson's
//! `DefaultPrettyPrinter`: objects break lines with a two-space indent per *object* level and
//! `" : "` between key and value, arrays stay inline as `[ a, b ]`, empty containers are
//! `{ }` / `[ ]` when pretty). Strings are escaped like Jackson's defaults; numbers coming
//! from JSON input are re-serialised the way Jackson reads them into Java objects (integers
//! keep their digits, everything else becomes a `double` printed by `Double.toString`).

use firetail_agent::java::double_to_string;
use serde_json::Value;

/// The `jsonFormat` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonFormat {
    Compact,
    PrettyPrint,
}

/// Writes JSON into a caller-owned buffer in one of the agent's layouts.
///
/// Objects are written with [`begin_object`](Self::begin_object) / [`key`](Self::key) /
/// value / [`end_object`](Self::end_object); the writer keeps the per-level entry counts the
/// pretty layout needs.
pub struct JsonWriter<'o> {
    out: &'o mut Vec<u8>,
    pretty: bool,
    /// Entries written so far in each open object.
    entries: Vec<usize>,
}

impl<'o> JsonWriter<'o> {
    pub fn new(out: &'o mut Vec<u8>, format: JsonFormat) -> Self {
        JsonWriter {
            out,
            pretty: format == JsonFormat::PrettyPrint,
            entries: Vec::with_capacity(4),
        }
    }

    pub fn begin_object(&mut self) {
        self.out.push(b'{');
        self.entries.push(0);
    }

    /// Writes the separator, line break and indentation before a key, then the key.
    pub fn key(&mut self, key: &str) {
        let depth = self.entries.len();
        if let Some(n) = self.entries.last_mut() {
            if *n > 0 {
                self.out.push(b',');
            }
            *n += 1;
        }
        if self.pretty {
            self.out.push(b'\n');
            self.indent(depth);
        }
        write_string(self.out, key);
        if self.pretty {
            self.out.extend_from_slice(b" : ");
        } else {
            self.out.push(b':');
        }
    }

    pub fn end_object(&mut self) {
        let had_entries = self.entries.pop().unwrap_or(0) > 0;
        if self.pretty {
            if had_entries {
                self.out.push(b'\n');
                self.indent(self.entries.len());
            } else {
                self.out.push(b' ');
            }
        }
        self.out.push(b'}');
    }

    fn indent(&mut self, depth: usize) {
        for _ in 0..depth {
            self.out.extend_from_slice(b"  ");
        }
    }

    pub fn string(&mut self, s: &str) {
        write_string(self.out, s);
    }

    pub fn null(&mut self) {
        self.out.extend_from_slice(b"null");
    }

    pub fn opt_string(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.string(s),
            None => self.null(),
        }
    }

    /// Any JSON value, as Jackson would print the Java object it reads it into.
    pub fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.null(),
            Value::Bool(true) => self.out.extend_from_slice(b"true"),
            Value::Bool(false) => self.out.extend_from_slice(b"false"),
            Value::Number(n) => write_number(self.out, &n.to_string()),
            Value::String(s) => self.string(s),
            Value::Array(items) => {
                self.out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(b',');
                    }
                    if self.pretty {
                        self.out.push(b' ');
                    }
                    self.value(item);
                }
                if self.pretty {
                    self.out.push(b' ');
                }
                self.out.push(b']');
            }
            Value::Object(map) => {
                self.begin_object();
                for (k, item) in map {
                    self.key(k);
                    self.value(item);
                }
                self.end_object();
            }
        }
    }
}

/// Escape `s` as a JSON string the way Jackson does: `"` and `\` backslashed, `\b \t \n \f \r`
/// short escapes, other C0 controls as `\u00XX` (upper-case hex), everything else raw.
pub fn write_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut run_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            b'\t' => b't',
            b'\n' => b'n',
            0x0C => b'f',
            b'\r' => b'r',
            0x00..=0x1F => 0,
            _ => continue,
        };
        out.extend_from_slice(&bytes[run_start..i]);
        run_start = i + 1;
        if short != 0 {
            out.extend_from_slice(&[b'\\', short]);
        } else {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xF)],
            ]);
        }
    }
    out.extend_from_slice(&bytes[run_start..]);
    out.push(b'"');
}

/// A JSON number from input, as Jackson re-prints it: integer literals keep their digits
/// (`-0` is an `int` 0), anything with a fraction or exponent becomes a Java `double`.
pub fn write_number(out: &mut Vec<u8>, literal: &str) {
    let is_integer = !literal.contains(['.', 'e', 'E']);
    if is_integer {
        let digits = literal.strip_prefix('-').unwrap_or(literal);
        if digits.bytes().all(|b| b == b'0') {
            out.push(b'0');
        } else {
            out.extend_from_slice(literal.as_bytes());
        }
        return;
    }
    match literal.parse::<f64>() {
        Ok(v) if v.is_finite() => out.extend_from_slice(double_to_string(v).as_bytes()),
        // Jackson writes non-finite doubles as quoted strings by default.
        Ok(v) if v.is_sign_negative() => out.extend_from_slice(b"\"-Infinity\""),
        _ => out.extend_from_slice(b"\"Infinity\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compact(v: &Value) -> String {
        let mut out = Vec::new();
        JsonWriter::new(&mut out, JsonFormat::Compact).value(v);
        String::from_utf8(out).unwrap()
    }

    fn pretty(v: &Value) -> String {
        let mut out = Vec::new();
        JsonWriter::new(&mut out, JsonFormat::PrettyPrint).value(v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn numbers_from_json() {
        let check = |lit: &str, want: &str| {
            let mut out = Vec::new();
            write_number(&mut out, lit);
            assert_eq!(String::from_utf8(out).unwrap(), want, "{lit}");
        };
        check("1e3", "1000.0");
        check("12345678.9", "1.23456789E7");
        check("0.0001", "1.0E-4");
        check("-0", "0");
        check("-0.0", "-0.0");
        check("1.50", "1.5");
        check(
            "123456789012345678901234567890",
            "123456789012345678901234567890",
        );
    }

    #[test]
    fn pretty_layout_matches_jackson() {
        let v: Value = serde_json::from_str(
            r#"{"metadata":{"env":"prod","arr":[1,2],"empty":{},"ea":[],"o":[{"b":null}]},"data":"raw"}"#,
        )
        .unwrap();
        assert_eq!(
            pretty(&v),
            "{\n  \"metadata\" : {\n    \"env\" : \"prod\",\n    \"arr\" : [ 1, 2 ],\n    \"empty\" : { },\n    \"ea\" : [ ],\n    \"o\" : [ {\n      \"b\" : null\n    } ]\n  },\n  \"data\" : \"raw\"\n}"
        );
        assert_eq!(
            compact(&v),
            r#"{"metadata":{"env":"prod","arr":[1,2],"empty":{},"ea":[],"o":[{"b":null}]},"data":"raw"}"#
        );
    }

    #[test]
    fn string_escapes() {
        let mut out = Vec::new();
        write_string(&mut out, "a\"\\\u{8}\t\n\u{c}\r\u{1}\u{1f}\u{7f}/é\u{2028}");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\\"\\\\\\b\\t\\n\\f\\r\\u0001\\u001F\u{7f}/é\u{2028}\""
        );
    }
}
