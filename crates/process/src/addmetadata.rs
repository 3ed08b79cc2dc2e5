//! `ADDMETADATA`: wraps the record as `{"ts":…,"metadata":…,"data":"<record>"}`.
//!
//! `ts` (UTC `yyyy-MM-dd'T'HH:mm:ss.SSS'Z'`, the processing time) is present only when
//! `timestamp` is the string `"true"` in any case; any other string disables it, and a
//! non-string value is a startup error in the agent (a `ClassCastException`). `metadata` is
//! any JSON value, printed in its original key order, or `null` when absent. `data` is the
//! record without one trailing `\n`.

use serde_json::Value;

use crate::config::{OptionReader, ProcessConfigError};
use crate::json::{JsonFormat, JsonWriter};
use firetail_agent::time::civil_from_unix;
use firetail_agent::utf8;

#[derive(Debug, Clone)]
pub struct AddMetadata {
    timestamp: bool,
    metadata: Value,
    json: JsonFormat,
}

impl AddMetadata {
    pub(crate) fn from_option(opt: &OptionReader<'_>) -> Result<Self, ProcessConfigError> {
        let timestamp = match opt.raw("timestamp") {
            None => false,
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            Some(other) => {
                return Err(opt.invalid(
                    "timestamp",
                    other,
                    "a JSON string \"true\" or \"false\" (the agent rejects booleans)",
                ))
            }
        };
        Ok(AddMetadata {
            timestamp,
            metadata: opt.raw("metadata").cloned().unwrap_or(Value::Null),
            json: opt.json_format()?,
        })
    }

    pub fn convert(&self, input: &[u8], out: &mut Vec<u8>, now_millis: i64) {
        let text = utf8::decode(input);
        let data = text.strip_suffix('\n').unwrap_or(&text);
        let mut w = JsonWriter::new(out, self.json);
        w.begin_object();
        if self.timestamp {
            w.key("ts");
            w.string(&format_utc_millis(now_millis));
        }
        w.key("metadata");
        w.value(&self.metadata);
        w.key("data");
        w.string(data);
        w.end_object();
        out.push(b'\n');
    }
}

/// `(date, hour, minute, second, millis)` of a Unix epoch millisecond instant in UTC.
pub(crate) fn utc_fields(epoch_millis: i64) -> ((i64, u32, u32), i64, i64, i64, i64) {
    let c = civil_from_unix(epoch_millis.div_euclid(1000));
    (
        (c.year, c.month, c.day),
        i64::from(c.hour),
        i64::from(c.minute),
        i64::from(c.second),
        epoch_millis.rem_euclid(1000),
    )
}

/// `yyyy-MM-dd'T'HH:mm:ss.SSS'Z'` in UTC.
pub fn format_utc_millis(epoch_millis: i64) -> String {
    let ((y, mo, d), h, mi, s, ms) = utc_fields(epoch_millis);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(format_utc_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_utc_millis(1_709_251_198_987),
            "2024-02-29T23:59:58.987Z"
        );
    }

    #[test]
    fn spec_example() {
        let conv = AddMetadata {
            timestamp: false,
            metadata: serde_json::from_str(
                r#"{"env":"prod","n":1,"f":1.50,"nested":{"k":[1,"two",null,true]}}"#,
            )
            .unwrap(),
            json: JsonFormat::Compact,
        };
        let mut out = Vec::new();
        conv.convert(b"raw line \"q\"\n", &mut out, 0);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"metadata\":{\"env\":\"prod\",\"n\":1,\"f\":1.5,\"nested\":{\"k\":[1,\"two\",null,true]}},\"data\":\"raw line \\\"q\\\"\"}\n"
        );
    }
}
