//! Allocation-free formatting helpers for the hot path: decimal integers, the Apache `%t`
//! timestamp (cached per second, since thousands of lines share one), and compact date stamps
//! for dated rotation names. All times are UTC and printed with `+0000`.

/// Appends the decimal form of `n` to `out` without allocating.
#[inline]
pub fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends `n` as exactly two digits (`n < 100`).
#[inline]
fn push_2(out: &mut Vec<u8>, n: u32) {
    out.push(b'0' + (n / 10) as u8);
    out.push(b'0' + (n % 10) as u8);
}

use firetail_agent::time::civil_from_unix;

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Writes `[25/Nov/2026:13:55:36 +0000]` for `secs`.
pub fn write_apache_time(out: &mut Vec<u8>, secs: i64) {
    let c = civil_from_unix(secs);
    out.push(b'[');
    push_2(out, c.day);
    out.push(b'/');
    out.extend_from_slice(MONTHS[(c.month - 1) as usize]);
    out.push(b'/');
    push_u64(out, c.year.max(0) as u64);
    out.push(b':');
    push_2(out, c.hour);
    out.push(b':');
    push_2(out, c.minute);
    out.push(b':');
    push_2(out, c.second);
    out.extend_from_slice(b" +0000]");
}

/// Remembers the rendered `%t` for the last two distinct seconds. Two, because request start
/// times straddle second boundaries (lines are slightly out of order), and a one-entry cache
/// would re-render on every flip.
#[derive(Debug, Default, Clone)]
pub struct TimeCache {
    entries: [(i64, [u8; 28]); 2],
    next_victim: usize,
}

impl TimeCache {
    /// Appends the bracketed timestamp for `secs`.
    #[inline]
    pub fn push(&mut self, out: &mut Vec<u8>, secs: i64) {
        for (s, text) in &self.entries {
            if *s == secs && text[0] == b'[' {
                out.extend_from_slice(text);
                return;
            }
        }
        let mut rendered = Vec::with_capacity(28);
        write_apache_time(&mut rendered, secs);
        if let Ok(fixed) = <[u8; 28]>::try_from(rendered.as_slice()) {
            self.entries[self.next_victim] = (secs, fixed);
            self.next_victim ^= 1;
        }
        out.extend_from_slice(&rendered);
    }
}

/// Granularity of the stamp in dated rotation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampGranularity {
    /// `20261125`
    Day,
    /// `20261125-13`
    Hour,
    /// `20261125-1305`
    Minute,
    /// `20261125-130512`
    Second,
}

/// Renders a dated-rotation stamp such as `20261125-1305`.
pub fn date_stamp(secs: i64, granularity: StampGranularity) -> String {
    let c = civil_from_unix(secs);
    let day = format!("{:04}{:02}{:02}", c.year, c.month, c.day);
    match granularity {
        StampGranularity::Day => day,
        StampGranularity::Hour => format!("{day}-{:02}", c.hour),
        StampGranularity::Minute => format!("{day}-{:02}{:02}", c.hour, c.minute),
        StampGranularity::Second => format!("{day}-{:02}{:02}{:02}", c.hour, c.minute, c.second),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_format_like_display() {
        for n in [0u64, 7, 10, 99, 100, 12345, u64::MAX] {
            let mut v = Vec::new();
            push_u64(&mut v, n);
            assert_eq!(String::from_utf8(v).unwrap(), n.to_string());
        }
    }

    #[test]
    fn apache_time_matches_chrono() {
        for secs in [
            0i64,
            951_782_400,
            1_795_614_936,
            4_102_444_799,
            1_709_164_800,
        ] {
            let mut v = Vec::new();
            write_apache_time(&mut v, secs);
            let expect = chrono::DateTime::from_timestamp(secs, 0)
                .unwrap()
                .format("[%d/%b/%Y:%H:%M:%S +0000]")
                .to_string();
            assert_eq!(String::from_utf8(v).unwrap(), expect);
        }
    }

    #[test]
    fn cache_returns_same_text_as_direct_render() {
        let mut cache = TimeCache::default();
        for secs in [100i64, 101, 100, 101, 102, 5, 102] {
            let mut a = Vec::new();
            cache.push(&mut a, secs);
            let mut b = Vec::new();
            write_apache_time(&mut b, secs);
            assert_eq!(a, b);
        }
    }

    #[test]
    fn date_stamps() {
        // 2026-11-25T13:05:12Z
        let t = 1_795_611_912;
        assert_eq!(date_stamp(t, StampGranularity::Day), "20261125");
        assert_eq!(date_stamp(t, StampGranularity::Hour), "20261125-13");
        assert_eq!(date_stamp(t, StampGranularity::Minute), "20261125-1305");
        assert_eq!(date_stamp(t, StampGranularity::Second), "20261125-130512");
    }
}
