//! How Java turns numbers and strings into text and back, where the agent's output or
//! configuration depends on it: `Double.toString` (JSON numbers written by LOGTOJSON and
//! CSVTOJSON, RANDOM partition keys), `Long.decode` (every integer in agent.json, through
//! Guava's `Ints`/`Longs.stringConverter()`) and `String.trim` (SINGLELINE, the footer
//! pattern).

/// Java `String.trim()`: strips every char `<= U+0020` from both ends (not Unicode
/// whitespace: U+00A0 stays, every ASCII control character goes).
pub fn trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// Java `Double.toString`: the shortest digits that round-trip, in plain notation for
/// 10^-3 <= |v| < 10^7 and computerized scientific notation otherwise, always with at least one
/// fractional digit (`1000.0`, `1.23456789E7`, `1.0E-4`, `-0.0`).
pub fn double_to_string(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    // Rust's `{:e}` prints the shortest round-tripping digits as `d.ddde<exp>`.
    let sci = format!("{:e}", v.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if v < 0.0 { "-" } else { "" };
    let abs = v.abs();
    if (1e-3..1e7).contains(&abs) {
        let point = exp + 1; // digits before the decimal point
        if point <= 0 {
            let zeros = "0".repeat(usize::try_from(-point).unwrap_or(0));
            format!("{sign}0.{zeros}{digits}")
        } else {
            let point = usize::try_from(point).unwrap_or(0);
            if digits.len() <= point {
                let zeros = "0".repeat(point - digits.len());
                format!("{sign}{digits}{zeros}.0")
            } else {
                format!("{sign}{}.{}", &digits[..point], &digits[point..])
            }
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        format!("{sign}{first}.{rest}E{exp}")
    }
}

/// Java's `Long.decode`. Only ASCII digits are accepted (Java also takes other Unicode
/// digits; no real config uses them).
pub fn decode_long(s: &str) -> Option<i64> {
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) =
        if let Some(hex) = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
            (16, hex)
        } else if let Some(hex) = rest.strip_prefix('#') {
            (16, hex)
        } else if rest.len() > 1 && rest.starts_with('0') {
            (8, &rest[1..])
        } else {
            (10, rest)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from(u64::from_str_radix(digits, radix).ok()?);
    let value = if negative { -magnitude } else { magnitude };
    i64::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_doubles() {
        for (v, s) in [
            (1000.0, "1000.0"),
            (12345678.9, "1.23456789E7"),
            (0.0001, "1.0E-4"),
            (-0.0, "-0.0"),
            (1.5, "1.5"),
            (0.001, "0.001"),
            (1e7, "1.0E7"),
            (9999999.0, "9999999.0"),
            (123.456, "123.456"),
            (1e21, "1.0E21"),
            (-2.5e-10, "-2.5E-10"),
            (0.1, "0.1"),
        ] {
            assert_eq!(double_to_string(v), s, "{v}");
        }
    }

    #[test]
    fn decode_follows_java() {
        assert_eq!(decode_long("1000"), Some(1000));
        assert_eq!(decode_long("-5"), Some(-5));
        assert_eq!(decode_long("+5"), Some(5));
        assert_eq!(decode_long("0x1F"), Some(31));
        assert_eq!(decode_long("#1f"), Some(31));
        assert_eq!(decode_long("010"), Some(8));
        assert_eq!(decode_long("0"), Some(0));
        assert_eq!(decode_long("-9223372036854775808"), Some(i64::MIN));
        for bad in [
            "", "-", "+-1", "--1", " 1", "1 ", "1.5", "1e3", "0x", "08", "abc", "١",
        ] {
            assert_eq!(decode_long(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn trim_strips_controls_but_not_unicode_spaces() {
        assert_eq!(trim("\t\x01 a b \r\n"), "a b");
        assert_eq!(trim("\u{a0}a\u{a0}"), "\u{a0}a\u{a0}");
    }
}
