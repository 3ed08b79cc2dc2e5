//! Pure helpers around framing: cutting oversized records and finding where an
//! `END_OF_FILE` start begins.

use bytes::{Bytes, BytesMut};

/// Cuts `data` to `max` bytes and overwrites its last `terminator.len()` bytes with the
/// terminator, byte-wise (it may split a UTF-8 sequence, as the agent does). Returns the
/// record and whether it was cut. Records within the limit are returned untouched.
pub fn truncate_record(data: Bytes, max: usize, terminator: &[u8]) -> (Bytes, bool) {
    if data.len() <= max {
        return (data, false);
    }
    let mut cut = BytesMut::with_capacity(max);
    cut.extend_from_slice(&data[..max]);
    let term = &terminator[terminator.len().saturating_sub(max)..];
    let at = max - term.len();
    cut[at..].copy_from_slice(term);
    (cut.freeze(), true)
}

/// Where `initialPosition: END_OF_FILE` starts reading a file seen for the first time:
/// just after the last `\n` of `window`, the last read-buffer-size bytes of the file
/// (beginning at file offset `window_start`). Without a `\n` in the window the agent
/// starts at the window's start, in mid-record.
pub fn end_of_file_start(window: &[u8], window_start: u64) -> u64 {
    match memchr::memrchr(b'\n', window) {
        Some(i) => window_start + i as u64 + 1,
        None => window_start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_records_are_untouched() {
        let (d, t) = truncate_record(Bytes::from_static(b"abc\n"), 4, b"\n");
        assert_eq!((&d[..], t), (&b"abc\n"[..], false));
    }

    #[test]
    fn long_records_end_with_the_terminator() {
        let (d, t) = truncate_record(Bytes::from_static(b"abcdef\n"), 5, b"XY");
        assert_eq!((&d[..], t), (&b"abcXY"[..], true));
    }

    #[test]
    fn a_terminator_longer_than_the_limit_is_cut_from_its_front() {
        let (d, _) = truncate_record(Bytes::from_static(b"abcdef"), 2, b"XYZ");
        assert_eq!(&d[..], b"YZ");
    }

    #[test]
    fn end_of_file_starts_after_the_last_newline() {
        assert_eq!(end_of_file_start(b"old1\nold2\nold-partial", 0), 10);
        assert_eq!(end_of_file_start(b"no newline", 100), 100);
        assert_eq!(end_of_file_start(b"a\n", 5), 7);
    }
}
