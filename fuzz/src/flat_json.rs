//! Checks on the flat JSON objects LOGTOJSON and CSVTOJSON write.

use serde_json::Value;

/// Asserts that `out` is exactly one JSON object followed by one `\n` (the agent's record
/// layout), whose keys are `fields` in order and whose values are strings or `null`; returns
/// the values. COMPACT output has no other raw newline.
pub fn check_flat_object(out: &[u8], fields: &[&str], pretty: bool) -> Vec<Option<String>> {
    let body = out
        .strip_suffix(b"\n")
        .unwrap_or_else(|| panic!("converted record must end with \\n: {out:?}"));
    assert!(
        !body.ends_with(b"\n"),
        "exactly one trailing newline: {out:?}"
    );
    if !pretty {
        assert!(
            !body.contains(&b'\n'),
            "COMPACT output has no raw newline: {out:?}"
        );
    }
    let value: Value = serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!(
            "output is not JSON ({e}): {:?}",
            String::from_utf8_lossy(out)
        )
    });
    let Value::Object(map) = value else {
        panic!("output is not a JSON object: {out:?}");
    };
    let keys: Vec<&str> = map.keys().map(String::as_str).collect();
    assert_eq!(keys, fields, "keys in field order");
    map.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Some(s),
            Value::Null => None,
            other => panic!("field {k}: values are strings or null, got {other}"),
        })
        .collect()
}

/// Asserts that the non-null values occur in `line` in order, without overlapping (each is
/// a substring of the input taken left to right).
pub fn assert_values_in_order(line: &str, values: &[Option<String>]) {
    let mut at = 0;
    for v in values.iter().flatten() {
        match line[at..].find(v.as_str()) {
            Some(i) => at += i + v.len(),
            None => panic!("value {v:?} is not in {line:?} after byte {at} (values {values:?})"),
        }
    }
}
