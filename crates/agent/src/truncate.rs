//! Cutting a record to the destination's record limit the way the agent does (spec §3.7):
//! after conversion, in bytes, ending in the flow's `truncatedRecordTerminator`.

use bytes::{Bytes, BytesMut};

/// Cuts `data` to `max` bytes and overwrites its last `terminator.len()` bytes with the
/// terminator, byte-wise (it may split a UTF-8 sequence, as the agent does). Returns the
/// record and whether it was cut. Records within the limit are returned untouched.
///
/// Inlined for its fast path: every record of every flow passes here (twice for a flow
/// with converters), and only the rare long one needs the copy.
#[inline]
pub fn truncate_record(data: Bytes, max: usize, terminator: &[u8]) -> (Bytes, bool) {
    if data.len() <= max {
        return (data, false);
    }
    (cut(&data, max, terminator), true)
}

#[cold]
fn cut(data: &[u8], max: usize, terminator: &[u8]) -> Bytes {
    let mut cut = BytesMut::with_capacity(max);
    cut.extend_from_slice(&data[..max]);
    // A terminator longer than the limit keeps its end, so the record still ends in it.
    let term = &terminator[terminator.len().saturating_sub(max)..];
    let at = max - term.len();
    cut[at..].copy_from_slice(term);
    cut.freeze()
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
}
