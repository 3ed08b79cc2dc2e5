//! Decoding record bytes the way the agent's `new String(bytes, UTF_8)` does.
//!
//! Malformed input becomes U+FFFD following the "maximal subpart" rule, with one Java
//! quirk: `ED` followed by `A0..BF` (an encoded UTF-16 surrogate) and, if present, one more
//! continuation byte becomes a single U+FFFD (`ED A0 80` -> 1, `ED A0` -> 1).

use std::borrow::Cow;

/// Decode `bytes` as the JDK UTF-8 decoder with `REPLACE` would. Valid input is borrowed.
pub fn decode(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(decode_lossy(bytes)),
    }
}

fn decode_lossy(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                out.push_str(valid);
                return out;
            }
            Err(e) => {
                let (valid, bad) = rest.split_at(e.valid_up_to());
                // `valid` is valid UTF-8 by construction of `valid_up_to`.
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                out.push('\u{FFFD}');
                let skip = malformed_len(bad, e.error_len());
                rest = &bad[skip.min(bad.len())..];
                if rest.is_empty() {
                    return out;
                }
            }
        }
    }
}

/// How many bytes one U+FFFD replaces at the start of `bad`.
fn malformed_len(bad: &[u8], error_len: Option<usize>) -> usize {
    let is_continuation = |b: Option<&u8>| b.is_some_and(|b| (0x80..=0xBF).contains(b));
    if bad.first() == Some(&0xED) && bad.get(1).is_some_and(|b| (0xA0..=0xBF).contains(b)) {
        return if is_continuation(bad.get(2)) { 3 } else { 2 };
    }
    error_len.unwrap_or(bad.len()).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count_fffd(b: &[u8]) -> usize {
        decode(b).chars().filter(|c| *c == '\u{FFFD}').count()
    }

    #[test]
    fn surrogate_sequences_are_one_replacement() {
        assert_eq!(count_fffd(b"\xED\xA0\x80"), 1);
        assert_eq!(count_fffd(b"\xED\xA0"), 1);
        assert_eq!(decode(b"<\xED\xA0A>"), "<\u{FFFD}A>");
        assert_eq!(count_fffd(b"\xE0\x80\x80"), 3);
        assert_eq!(count_fffd(b"\xF0\x9F\x98"), 1);
        assert_eq!(decode(b"ok"), "ok");
    }
}
