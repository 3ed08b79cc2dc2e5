//! The Kinesis Agent's value coercion (spec §1.2), one function per target type: the
//! `Configuration` rules every agent.json key and every `dataProcessingOptions` key is read
//! with, so the two readers (`firetail-config`, `firetail-process`) cannot drift apart.
//!
//! The agent uses a value of the right Java type as is and otherwise converts its
//! `toString()`: integers with Guava's `Ints`/`Longs.stringConverter()` (which is Java's
//! `Integer.decode`/`Long.decode`: optional sign, `0x`/`#` hex, leading-`0` octal, no
//! surrounding spaces), booleans with a fixed word list. A JSON float such as `1.5` or `1e3`
//! is not an integer. These functions return `None` when the agent would throw.

use serde_json::Value;

use crate::java::decode_long;

/// The text Java's `toString()` would give a scalar JSON value; `None` for arrays/objects
/// (whose Java `toString()` is never a valid scalar anyway).
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// A Java `long` from a JSON number or string, by `Long.decode` rules.
pub fn long(v: &Value) -> Option<i64> {
    match v {
        // With `arbitrary_precision` the number keeps its text, so `1.0` and `1e3` fail here
        // exactly as Jackson's Double → "1000.0" → decode fails.
        Value::Number(n) => n.as_i64(),
        Value::String(s) => decode_long(s),
        _ => None,
    }
}

/// A Java `int` (32-bit) from a JSON number or string.
pub fn int(v: &Value) -> Option<i64> {
    long(v).filter(|n| i32::try_from(*n).is_ok())
}

/// An unsigned 64-bit integer from a JSON number or a decimal string.
pub fn u64_value(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.starts_with('+') => s.parse().ok(),
        _ => None,
    }
}

/// A float from a JSON number or string; NaN and infinities are refused.
pub fn float(v: &Value) -> Option<f64> {
    let f = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }?;
    f.is_finite().then_some(f)
}

/// A boolean: JSON `true`/`false`, or a case-insensitive word from the agent's list.
pub fn boolean(v: &Value) -> Option<bool> {
    if let Value::Bool(b) = v {
        return Some(*b);
    }
    match scalar_text(v)?.to_lowercase().as_str() {
        "true" | "yes" | "t" | "y" | "1" => Some(true),
        "false" | "no" | "f" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// True if `s` is a string [`decode_long`] reads as octal (leading `0` then more digits), a
/// surprise worth a warning: `"010"` is 8.
pub fn is_octal_literal(s: &str) -> bool {
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    unsigned.len() > 1
        && unsigned.starts_with('0')
        && !unsigned.starts_with("0x")
        && !unsigned.starts_with("0X")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn num(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn numbers_must_be_integral() {
        assert_eq!(long(&num("1000")), Some(1000));
        assert_eq!(long(&num("1.5")), None);
        assert_eq!(long(&num("1.0")), None);
        assert_eq!(long(&num("1e3")), None);
        assert_eq!(long(&num("99999999999999999999")), None);
        assert_eq!(int(&num("2147483647")), Some(2_147_483_647));
        assert_eq!(int(&num("2147483648")), None);
        assert_eq!(int(&json!("1000")), Some(1000));
        assert_eq!(int(&json!(true)), None);
        assert_eq!(int(&json!([1])), None);
    }

    #[test]
    fn booleans_follow_the_agent_word_list() {
        for t in [
            json!(true),
            json!("TRUE"),
            json!("Yes"),
            json!("t"),
            json!("Y"),
            json!("1"),
            json!(1),
        ] {
            assert_eq!(boolean(&t), Some(true), "{t}");
        }
        for f in [
            json!(false),
            json!("False"),
            json!("NO"),
            json!("f"),
            json!("n"),
            json!("0"),
            json!(0),
        ] {
            assert_eq!(boolean(&f), Some(false), "{f}");
        }
        for bad in [json!("maybe"), json!(2), json!(1.0), json!([]), json!(null)] {
            assert_eq!(boolean(&bad), None, "{bad}");
        }
    }

    #[test]
    fn octal_literals_are_spotted() {
        assert!(is_octal_literal("010"));
        assert!(is_octal_literal("-07"));
        assert!(!is_octal_literal("0"));
        assert!(!is_octal_literal("0x10"));
        assert!(!is_octal_literal("100"));
    }
}
