//! Hand-written parsers equivalent to the agent's COMMONAPACHELOG / COMBINEDAPACHELOG regexes.
//!
//! Why they are exact: every field of those patterns is a character class that cannot contain
//! the delimiter that follows it (space, `]`, `"`), so the regex has only one way to split a
//! line; each field can therefore be cut at its delimiter and then checked against its own
//! sub-pattern. The numeric fields (`INT|-`) are greedy digit runs, and the trailing `.*` accepts
//! anything but Java's line terminators. The differential tests compare these functions with
//! the regex on generated and mutated lines.

/// `^(IPORHOST) (USER) (USER) \[(HTTPDATE)\] "(NOQUOTE)" (INT|\-) (INT|\-).*` as a whole-line
/// match. Fills `fields[0..7]` on success.
pub fn parse_common<'a>(line: &'a str, fields: &mut [Option<&'a str>; 9]) -> bool {
    match parse_common_prefix(line, fields) {
        Some(end) => !has_java_line_terminator(&line.as_bytes()[end..]),
        None => false,
    }
}

/// COMMONAPACHELOG's prefix plus ` "(NOQUOTE)" "(NOQUOTE)".*`. Fills `fields[0..9]`.
pub fn parse_combined<'a>(line: &'a str, fields: &mut [Option<&'a str>; 9]) -> bool {
    let Some(mut pos) = parse_common_prefix(line, fields) else {
        return false;
    };
    let b = line.as_bytes();
    for slot in &mut fields[7..9] {
        if !b[pos..].starts_with(b" \"") {
            return false;
        }
        pos += 2;
        let Some(len) = memchr_quote(&b[pos..]) else {
            return false;
        };
        if len == 0 {
            return false;
        }
        *slot = Some(&line[pos..pos + len]);
        pos += len + 1;
    }
    !has_java_line_terminator(&b[pos..])
}

/// Parses up to and including the bytes field; returns the position after it.
fn parse_common_prefix<'a>(line: &'a str, fields: &mut [Option<&'a str>; 9]) -> Option<usize> {
    let b = line.as_bytes();
    let host_end = b.iter().position(|&c| c == b' ')?;
    if !is_iporhost(&b[..host_end]) {
        return None;
    }
    fields[0] = Some(&line[..host_end]);
    let mut pos = host_end + 1;
    for slot in &mut fields[1..3] {
        let len = b[pos..].iter().position(|&c| !is_user_byte(c))?;
        if len == 0 || b[pos + len] != b' ' {
            return None;
        }
        *slot = Some(&line[pos..pos + len]);
        pos += len + 1;
    }
    if b.get(pos) != Some(&b'[') {
        return None;
    }
    pos += 1;
    let date_len = b[pos..].iter().position(|&c| c == b']')?;
    if !is_httpdate(&b[pos..pos + date_len]) {
        return None;
    }
    fields[3] = Some(&line[pos..pos + date_len]);
    pos += date_len + 1;
    if !b[pos..].starts_with(b" \"") {
        return None;
    }
    pos += 2;
    let request_len = memchr_quote(&b[pos..])?;
    if request_len == 0 {
        return None;
    }
    fields[4] = Some(&line[pos..pos + request_len]);
    pos += request_len + 1;
    if b.get(pos) != Some(&b' ') {
        return None;
    }
    pos += 1;
    let status_len = int_or_dash(&b[pos..])?;
    if b.get(pos + status_len) != Some(&b' ') {
        return None;
    }
    fields[5] = Some(&line[pos..pos + status_len]);
    pos += status_len + 1;
    let bytes_len = int_or_dash(&b[pos..])?;
    fields[6] = Some(&line[pos..pos + bytes_len]);
    Some(pos + bytes_len)
}

fn memchr_quote(b: &[u8]) -> Option<usize> {
    memchr::memchr(b'"', b)
}

/// `(INT|\-)` at the start of `b`, greedy: the length matched.
fn int_or_dash(b: &[u8]) -> Option<usize> {
    let sign = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = b[sign..].iter().take_while(|c| c.is_ascii_digit()).count();
    if digits > 0 {
        Some(sign + digits)
    } else if b.first() == Some(&b'-') {
        Some(1)
    } else {
        None
    }
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn is_user_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-')
}

/// `(?:HOSTNAME|IP)` matching all of `t`.
fn is_iporhost(t: &[u8]) -> bool {
    if t.is_empty() {
        return false;
    }
    if t.iter().all(|&c| c.is_ascii_digit() || c == b'.') {
        return true;
    }
    // HOSTNAME: labels of [\w-]+ separated by single dots, optionally one trailing dot.
    let body = t.strip_suffix(b".").unwrap_or(t);
    !body.is_empty()
        && body
            .split(|&c| c == b'.')
            .all(|label| !label.is_empty() && label.iter().all(|&c| is_word_byte(c) || c == b'-'))
}

const MONTHS: [&[u8]; 23] = [
    b"Jan",
    b"January",
    b"Feb",
    b"February",
    b"Mar",
    b"March",
    b"Apr",
    b"April",
    b"May",
    b"Jun",
    b"June",
    b"Jul",
    b"July",
    b"Aug",
    b"August",
    b"Sep",
    b"September",
    b"Oct",
    b"October",
    b"Nov",
    b"November",
    b"Dec",
    b"December",
];

/// `MONTHDAY/MONTH/YEAR:HOUR:MINUTE:SECOND\sINT` matching all of `d`.
fn is_httpdate(d: &[u8]) -> bool {
    let mut parts = d.splitn(3, |&c| c == b'/');
    let (Some(day), Some(month), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if !is_monthday(day) || !MONTHS.contains(&month) {
        return false;
    }
    let mut parts = rest.splitn(4, |&c| c == b':');
    let (Some(year), Some(hour), Some(minute), Some(rest)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    is_year(year) && is_hour(hour) && is_minute(minute) && is_second_zone(rest)
}

fn is_monthday(d: &[u8]) -> bool {
    matches!(
        d,
        [b'1'..=b'9'] | [b'0', b'1'..=b'9'] | [b'1' | b'2', b'0'..=b'9'] | [b'3', b'0' | b'1']
    )
}

fn is_year(y: &[u8]) -> bool {
    matches!(y.first(), Some(b'1'..=b'9')) && y.iter().all(u8::is_ascii_digit)
}

fn is_hour(h: &[u8]) -> bool {
    matches!(
        h,
        [b'0'..=b'9'] | [b'2', b'0'..=b'3'] | [b'0' | b'1', b'0'..=b'9']
    )
}

fn is_minute(m: &[u8]) -> bool {
    matches!(m, [b'0'..=b'5', b'0'..=b'9'])
}

/// `SECOND\sINT` matching all of `r` (this part may contain further `:`).
fn is_second_zone(r: &[u8]) -> bool {
    let sec_len = r.iter().take_while(|c| c.is_ascii_digit()).count();
    let sec_ok = matches!(&r[..sec_len], [_] | [b'0'..=b'5', _] | [b'6', b'0']);
    if !sec_ok {
        return false;
    }
    let mut pos = sec_len;
    if matches!(r.get(pos), Some(b':' | b'.' | b',')) {
        let frac = r[pos + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if frac == 0 {
            return false;
        }
        pos += 1 + frac;
    }
    if !matches!(r.get(pos), Some(b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')) {
        return false;
    }
    pos += 1;
    let zone = &r[pos..];
    let sign = usize::from(matches!(zone.first(), Some(b'+' | b'-')));
    zone.len() > sign && zone[sign..].iter().all(u8::is_ascii_digit)
}

/// Whether Java's `.*` would stop inside `b`: `\n`, `\r`, U+0085, U+2028, U+2029.
pub fn has_java_line_terminator(b: &[u8]) -> bool {
    let mut i = 0;
    while let Some(off) = memchr::memchr3(b'\n', b'\r', 0xC2, &b[i..])
        .into_iter()
        .chain(memchr::memchr(0xE2, &b[i..]))
        .min()
    {
        let at = i + off;
        match b[at] {
            b'\n' | b'\r' => return true,
            0xC2 if b.get(at + 1) == Some(&0x85) => return true,
            0xE2 if b.get(at + 1) == Some(&0x80) && matches!(b.get(at + 2), Some(0xA8 | 0xA9)) => {
                return true
            }
            _ => i = at + 1,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminators() {
        assert!(!has_java_line_terminator("abc é\u{2027}\u{84}".as_bytes()));
        for t in ["\n", "\r", "\u{85}", "\u{2028}", "\u{2029}"] {
            assert!(has_java_line_terminator(format!("x{t}y").as_bytes()));
        }
    }

    #[test]
    fn dates() {
        assert!(is_httpdate(b"10/Oct/2000:13:55:36 -0700"));
        assert!(is_httpdate(b"1/October/2000:3:55:60.123\t0700"));
        assert!(!is_httpdate(b"10/oct/2000:13:55:36 -0700"));
        assert!(!is_httpdate(b"10/Oct/2000:24:55:36 -0700"));
        assert!(!is_httpdate(b"10/Oct/2000:13:55:36 -07:00"));
    }
}
