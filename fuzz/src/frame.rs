//! The tail crate's `Framer` against a reference framing computed on the whole input.
//!
//! The input's first bytes choose the mode (one record per line, `aggregatedRecordSizeBytes`,
//! `multiLineStartPattern`, or any of these with `fileFooterPattern`), `skipHeaderLines`,
//! the read buffer size (the runaway limit), `maxRecordSize`, `truncatedRecordTerminator`,
//! the start offset and how the payload is cut into pushes (or `fill_from` reads).
//!
//! Properties:
//! - accounting: frames tile the bytes from the start offset with no gap or overlap, none is
//!   empty, `position() + pending_len()` is the bytes pushed, the buffer never holds more
//!   than the read buffer size, and after `finish` every byte is accounted for;
//! - every record is at most `maxRecordSize` bytes;
//! - without a footer pattern (whose effect depends on the reads by design), the frames
//!   equal [`reference`]: the agent's framing contract (Kinesis Agent spec §3) written
//!   directly over the whole input, so the chunking cannot matter.

use bytes::Bytes;
use firetail_agent::JavaRegex;
use firetail_tail::frame::Frame;
use firetail_tail::frame::{
    Discard, DiscardReason, FrameError, FramedRecord, Framer, FramingConfig,
};
use memchr::memchr;

use crate::Knobs;

/// Candidate `multiLineStartPattern`s (Java regexes, `lookingAt` on the line with its `\n`).
const START_PATTERNS: [&str; 6] = ["S", "\\d", "[A-Z]", "(?:S|E)+ ", "", "a*\\n"];
/// Candidate `fileFooterPattern`s.
const FOOTER_PATTERNS: [&str; 3] = ["E+", "^END$", "(?s).*F"];
/// Candidate `truncatedRecordTerminator`s.
const TERMINATORS: [&[u8]; 5] = [b"", b"\n", b"~", "\u{2026}".as_bytes(), b"<TRUNC>\n"];

#[derive(Clone, Copy, Debug)]
enum Mode {
    Single,
    Aggregated(usize),
    MultiLine(usize),
}

pub fn check(data: &[u8]) {
    let mut k = Knobs::new(data);
    let b0 = k.byte();
    let mode_knob = k.byte();
    let rbs_knob = k.byte();
    let max_knob = k.byte();
    let term_knob = k.byte();
    let start_knob = k.byte();
    let chunk_knob = k.byte();
    let chunks: Vec<usize> = k
        .take(usize::from(chunk_knob % 8))
        .iter()
        .map(|b| 1 + usize::from(*b))
        .collect();
    let input = k.rest();

    let mode = match b0 % 3 {
        0 => Mode::Single,
        1 => Mode::Aggregated(1 + usize::from(mode_knob % 64)),
        _ => Mode::MultiLine(usize::from(mode_knob) % START_PATTERNS.len()),
    };
    let footer = (b0 & 0x80 != 0).then(|| FOOTER_PATTERNS[usize::from(b0 >> 4) % 3]);
    let mut config = FramingConfig::firehose();
    config.skip_header_lines = usize::from((b0 >> 2) & 3);
    config.read_buffer_size = match rbs_knob {
        0xff => 0,
        b => 1 + usize::from(b % 96),
    };
    config.max_record_size = match max_knob {
        0xff => usize::MAX,
        b => 1 + usize::from(b % 128),
    };
    config.truncated_record_terminator = TERMINATORS[usize::from(term_knob) % 5].to_vec();
    match mode {
        Mode::Single => {}
        Mode::Aggregated(hint) => config.aggregated_record_size_bytes = hint,
        Mode::MultiLine(p) => config.multi_line_start_pattern = Some(START_PATTERNS[p].into()),
    }
    config.file_footer_pattern = footer.map(str::to_owned);
    let rules = match config.compile() {
        Ok(r) => r,
        Err(FrameError::ZeroBuffer) => {
            assert_eq!(config.read_buffer_size, 0);
            return;
        }
        Err(e) => panic!("built-in patterns compile: {e}"),
    };
    let start: u64 = if start_knob & 1 == 0 {
        0
    } else {
        u64::from(start_knob) * 1000
    };

    let mut framer = Framer::new(rules, start);
    let mut out = Vec::new();
    let use_reader = chunk_knob & 0x80 != 0;
    // end_of_data between pushes only matters for multi-line and aggregation (by contract).
    let eager = chunk_knob & 0x40 != 0 && matches!(mode, Mode::Single);
    let mut at = 0;
    let mut i = 0;
    while at < input.len() {
        let step = if chunks.is_empty() {
            input.len() - at
        } else {
            chunks[i % chunks.len()]
        };
        i += 1;
        let end = (at + step).min(input.len());
        if use_reader {
            let mut reader = &input[at..end];
            while !reader.is_empty() {
                let before = reader.len();
                let got = framer.fill_from(&mut reader, before).unwrap();
                assert_eq!(got, before - reader.len());
                assert!(got > 0, "fill_from reads something while there is data");
                framer.drain(&mut out);
                assert!(framer.pending_len() <= config.read_buffer_size);
            }
        } else {
            framer.push(&input[at..end], &mut out);
        }
        at = end;
        if eager {
            framer.end_of_data(&mut out);
        }
        assert!(
            framer.pending_len() <= config.read_buffer_size,
            "buffer bounded: {} > {}",
            framer.pending_len(),
            config.read_buffer_size
        );
        assert_eq!(framer.read_position(), start + at as u64);
        assert_eq!(
            framer.position() + framer.pending_len() as u64,
            start + at as u64
        );
        assert_tiles(&out, start, framer.position());
    }
    framer.end_of_data(&mut out);
    assert_tiles(&out, start, framer.position());
    framer.finish(&mut out);
    assert_eq!(framer.pending_len(), 0, "finish leaves nothing pending");
    assert_eq!(framer.position(), start + input.len() as u64);
    assert_tiles(&out, start, start + input.len() as u64);
    for f in &out {
        if let Frame::Record(r) = f {
            assert!(r.data.len() <= config.max_record_size, "{r:?}");
            assert!(r.len <= config.read_buffer_size.max(1) as u64 || !r.larger_than_buffer);
        }
    }
    if footer.is_none() {
        let start_re = match mode {
            Mode::MultiLine(p) => Some(JavaRegex::new(START_PATTERNS[p]).unwrap()),
            _ => None,
        };
        let expected = reference(&config, mode, start_re.as_ref(), input, start);
        assert_eq!(
            merge_discards(out),
            expected,
            "framer vs reference (config {config:?}, chunks {chunks:?}, reader {use_reader})"
        );
    }
}

fn assert_tiles(out: &[Frame], start: u64, end: u64) {
    let mut at = start;
    for f in out {
        assert_eq!(f.offset(), at, "frames are contiguous");
        assert!(!f.is_empty(), "no empty frame: {f:?}");
        at += f.len();
    }
    assert_eq!(at, end, "frames end at position()");
}

/// Merges contiguous discards of the same reason (the framer's documented output shape).
fn merge_discards(frames: Vec<Frame>) -> Vec<Frame> {
    let mut out: Vec<Frame> = Vec::with_capacity(frames.len());
    for f in frames {
        if let (Some(Frame::Discarded(last)), Frame::Discarded(d)) = (out.last_mut(), &f) {
            if last.reason == d.reason && last.offset + last.len == d.offset {
                last.len += d.len;
                continue;
            }
        }
        out.push(f);
    }
    out
}

/// Builds the expected frames.
struct Model<'a> {
    input: &'a [u8],
    start: u64,
    config: &'a FramingConfig,
    out: Vec<Frame>,
    /// Next unaccounted byte of `input`.
    p: usize,
}

impl Model<'_> {
    fn record(&mut self, len: usize, runaway: bool) {
        let data = &self.input[self.p..self.p + len];
        let max = self.config.max_record_size;
        let (data, truncated) = if data.len() > max {
            // Keep `max` bytes, the last ones overwritten by (the end of) the terminator.
            let term = &self.config.truncated_record_terminator;
            let keep = term.len().min(max);
            let mut cut = data[..max - keep].to_vec();
            cut.extend_from_slice(&term[term.len() - keep..]);
            (cut, true)
        } else {
            (data.to_vec(), false)
        };
        self.out.push(Frame::Record(FramedRecord {
            data: Bytes::from(data),
            offset: self.start + self.p as u64,
            len: len as u64,
            truncated,
            larger_than_buffer: runaway,
        }));
        self.p += len;
    }

    fn discard(&mut self, len: usize, reason: DiscardReason) {
        if len == 0 {
            return;
        }
        self.out.push(Frame::Discarded(Discard {
            offset: self.start + self.p as u64,
            len: len as u64,
            reason,
        }));
        self.p += len;
    }

    /// Bytes left.
    fn left(&self) -> usize {
        self.input.len() - self.p
    }

    /// Length of the current line with its `\n`, if the `\n` is within `limit` bytes.
    fn line_within(&self, limit: usize) -> Option<usize> {
        let end = self.p + limit.min(self.left());
        memchr(b'\n', &self.input[self.p..end]).map(|i| i + 1)
    }

    /// Discards through the end of the current line (or the input).
    fn discard_line(&mut self, reason: DiscardReason) {
        let n = self.line_within(usize::MAX).unwrap_or(self.left());
        self.discard(n, reason);
    }
}

/// The framing contract over the whole input, then `finish` (spec §3.2–3.5, §3.7):
/// - `skipHeaderLines` lines (to each `\n`) are discarded when starting at offset 0;
/// - a record is a line with its `\n` (single-line); the longest run of whole lines of at
///   most the hint bytes, a first longer line alone (aggregated); or a first line plus
///   following lines up to one that starts a record (multi-line);
/// - a record whose end is not within the read buffer size is a runaway: the first
///   buffer-full is the record, and the rest is discarded up to the next line (single-line)
///   or the next line that starts a record (multi-line); with aggregation a full buffer
///   first flushes the aggregate;
/// - at the end, the unterminated remainder is one record (an aggregate is flushed first);
/// - records longer than `maxRecordSize` are cut and end with the terminator.
fn reference(
    config: &FramingConfig,
    mode: Mode,
    start_re: Option<&JavaRegex>,
    input: &[u8],
    start: u64,
) -> Vec<Frame> {
    let rbs = config.read_buffer_size;
    // A start pattern that gives up at the step limit starts a record, as in the framer.
    let starts = |line: &[u8]| {
        start_re.is_some_and(|re| {
            re.looking_at(&String::from_utf8_lossy(line))
                .unwrap_or(true)
        })
    };
    let mut m = Model {
        input,
        start,
        config,
        out: Vec::new(),
        p: 0,
    };
    if start == 0 {
        for _ in 0..config.skip_header_lines {
            m.discard_line(DiscardReason::Header);
        }
    }
    while m.left() > 0 {
        match mode {
            Mode::Single => match m.line_within(rbs) {
                Some(n) => m.record(n, false),
                None if m.left() >= rbs => {
                    m.record(rbs, true);
                    m.discard_line(DiscardReason::Runaway);
                }
                None => m.record(m.left(), false),
            },
            Mode::Aggregated(hint) => {
                let window = &input[m.p..m.p + rbs.min(m.left())];
                let mut scan = 0;
                let mut cut = None;
                while let Some(i) = memchr(b'\n', &window[scan..]) {
                    let end = scan + i + 1;
                    if scan > 0 && end > hint {
                        cut = Some(scan);
                        break;
                    }
                    scan = end;
                    if scan >= hint {
                        cut = Some(scan);
                        break;
                    }
                }
                match cut {
                    Some(n) => m.record(n, false),
                    None if scan > 0 => m.record(scan, false),
                    None if m.left() >= rbs => {
                        m.record(rbs, true);
                        m.discard_line(DiscardReason::Runaway);
                    }
                    None => m.record(m.left(), false),
                }
            }
            Mode::MultiLine(_) => {
                let window = &input[m.p..m.p + rbs.min(m.left())];
                let cut = memchr(b'\n', window).map(|first| {
                    let mut scan = first + 1;
                    while let Some(i) = memchr(b'\n', &window[scan..]) {
                        let end = scan + i + 1;
                        if starts(&window[scan..end]) {
                            return Some(scan);
                        }
                        scan = end;
                    }
                    None
                });
                match cut.flatten() {
                    Some(n) => m.record(n, false),
                    None if m.left() >= rbs => {
                        let mid_line = input[m.p + rbs - 1] != b'\n';
                        m.record(rbs, true);
                        if mid_line {
                            m.discard_line(DiscardReason::Runaway);
                        }
                        // Skip lines until one that starts a record; a line whose start
                        // cannot be tested within a buffer-full is skipped whole.
                        while m.left() > 0 {
                            match m.line_within(rbs) {
                                Some(n) if starts(&input[m.p..m.p + n]) => break,
                                Some(n) => m.discard(n, DiscardReason::Runaway),
                                None => m.discard_line(DiscardReason::Runaway),
                            }
                        }
                    }
                    None => m.record(m.left(), false),
                }
            }
        }
    }
    merge_discards(m.out)
}
