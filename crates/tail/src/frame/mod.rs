//! Record framing: bytes of one file in, records out (Kinesis Agent §3, byte-exact with
//! the `framing_*` vectors).
//!
//! [`Framer`] is a pure, synchronous, push-style state machine. It knows nothing of files,
//! descriptors or tokio: the tailer (and `firetail preview`) push bytes in file order and
//! collect [`Frame`]s. Its invariants:
//!
//! - **Gap-free accounting.** Frames come out in file order and tile the file from the
//!   framer's start offset: each frame's `offset` is the previous frame's `offset + len`.
//!   Bytes that produce no record (skipped headers, a runaway record's remainder, a footer
//!   record and what followed it in the buffer) come out as [`Frame::Discarded`], so the
//!   owner can acknowledge them itself and the checkpoint can move past them.
//! - **Bounded memory.** The framer buffers at most `read_buffer_size` bytes of an
//!   unfinished record (plus one push); a longer record is a runaway (§3.7).
//! - **Chunking only matters where the agent's does.** Splitting the input into pushes
//!   never changes the output, except at [`Framer::end_of_data`] (the agent's "end of the
//!   buffered data" rules: eager emission of a multi-line event, flushing an aggregate)
//!   and for `fileFooterPattern` (which discards what is buffered).
//! - Records are `Bytes` slices of the framer's buffer: no allocation per record.

mod end_of_file;

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use firetail_agent::java;
use firetail_agent::jregex::{JavaRegex, JavaRegexError};
use firetail_agent::limits;
use firetail_agent::truncate_record;
use memchr::memchr;

pub use end_of_file::end_of_file_start;

/// How a flow cuts its files into records (the framing keys of an agent.json flow).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FramingConfig {
    /// Java regex tested with `lookingAt()` on each line (decoded, with its `\n`); a
    /// matching line starts a new record. `None`: one record per line.
    pub multi_line_start_pattern: Option<String>,
    /// Lines skipped whenever a file is read from offset 0.
    pub skip_header_lines: usize,
    /// Overwrites the last bytes of a record cut to `max_record_size`.
    pub truncated_record_terminator: Vec<u8>,
    /// Records longer than this are cut. Set it to `usize::MAX` when the flow has
    /// converters: the agent truncates after conversion, so call [`truncate_record`] on
    /// the converted bytes instead.
    pub max_record_size: usize,
    /// The agent's parser buffer (4 MiB Firehose, 5 MiB Kinesis): a record that does not
    /// end within this many bytes is a runaway.
    pub read_buffer_size: usize,
    /// `aggregatedRecordSizeBytes`: pack whole lines into records of at most this many
    /// bytes (single-line mode only). 0 disables.
    pub aggregated_record_size_bytes: usize,
    /// Java regex, compiled `MULTILINE`, matched against each trimmed record: a match
    /// drops the record and everything buffered after it.
    pub file_footer_pattern: Option<String>,
}

impl FramingConfig {
    /// The agent's defaults for a Firehose flow.
    pub fn firehose() -> FramingConfig {
        FramingConfig {
            multi_line_start_pattern: None,
            skip_header_lines: 0,
            truncated_record_terminator: b"\n".to_vec(),
            max_record_size: limits::FIREHOSE_MAX_RECORD_BYTES,
            read_buffer_size: limits::FIREHOSE_READ_BUFFER_BYTES,
            aggregated_record_size_bytes: 0,
            file_footer_pattern: None,
        }
    }

    /// The defaults for a flow to a destination with `limits`: records cut to its
    /// largest record, runaways at its parser buffer.
    pub fn for_destination(limits: &limits::DestinationLimits) -> FramingConfig {
        FramingConfig {
            max_record_size: limits.max_record_bytes,
            read_buffer_size: limits.read_buffer_bytes,
            ..FramingConfig::firehose()
        }
    }

    /// The agent's defaults for a Kinesis flow whose partition keys are
    /// `partition_key_len` bytes long.
    pub fn kinesis(partition_key_len: usize) -> FramingConfig {
        FramingConfig {
            max_record_size: limits::KINESIS_MAX_RECORD_BYTES.saturating_sub(partition_key_len),
            read_buffer_size: limits::KINESIS_READ_BUFFER_BYTES,
            ..FramingConfig::firehose()
        }
    }

    /// Compiles the patterns once per flow; every file's [`Framer`] shares the result.
    pub fn compile(&self) -> Result<Arc<FramingRules>, FrameError> {
        let start = match &self.multi_line_start_pattern {
            Some(p) => Some(JavaRegex::new(p).map_err(|source| FrameError::Pattern {
                key: "multiLineStartPattern",
                source,
            })?),
            None => None,
        };
        let footer = match &self.file_footer_pattern {
            Some(p) => Some(
                JavaRegex::new_multiline(p).map_err(|source| FrameError::Pattern {
                    key: "fileFooterPattern",
                    source,
                })?,
            ),
            None => None,
        };
        if self.read_buffer_size == 0 {
            return Err(FrameError::ZeroBuffer);
        }
        Ok(Arc::new(FramingRules {
            config: self.clone(),
            start,
            footer,
        }))
    }
}

/// A framing configuration that could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("{key}: {source}")]
    Pattern {
        key: &'static str,
        #[source]
        source: JavaRegexError,
    },
    #[error("read_buffer_size must be greater than 0")]
    ZeroBuffer,
}

/// A compiled [`FramingConfig`], shared by all framers of a flow.
#[derive(Debug)]
pub struct FramingRules {
    config: FramingConfig,
    start: Option<JavaRegex>,
    footer: Option<JavaRegex>,
}

impl FramingRules {
    /// The configuration these rules were compiled from.
    pub fn config(&self) -> &FramingConfig {
        &self.config
    }
}

/// One unit of output: a record, or file bytes that produce none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Record(FramedRecord),
    Discarded(Discard),
}

impl Frame {
    /// File offset of the first byte this frame accounts for.
    pub fn offset(&self) -> u64 {
        match self {
            Frame::Record(r) => r.offset,
            Frame::Discarded(d) => d.offset,
        }
    }

    /// File bytes this frame accounts for.
    pub fn len(&self) -> u64 {
        match self {
            Frame::Record(r) => r.len,
            Frame::Discarded(d) => d.len,
        }
    }

    /// True for a frame covering no bytes (never emitted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A record and the file bytes it covers (the vectors' `offset` and `length`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FramedRecord {
    /// The record as sent (cut and terminated if it was longer than `max_record_size`).
    pub data: Bytes,
    pub offset: u64,
    /// Bytes of the file covered; for a runaway record, the read buffer size.
    pub len: u64,
    pub truncated: bool,
    pub larger_than_buffer: bool,
}

/// File bytes consumed without producing a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discard {
    pub offset: u64,
    pub len: u64,
    pub reason: DiscardReason,
}

/// Why bytes were consumed without a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiscardReason {
    /// `skipHeaderLines`.
    Header,
    /// The remainder of a record larger than the read buffer.
    Runaway,
    /// The record that matched `fileFooterPattern`.
    Footer,
    /// What was buffered after a footer record.
    AfterFooter,
}

/// What the framer is throwing away before it frames again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Skipping {
    Nothing,
    /// Through the next `\n` (a runaway line's remainder).
    ThroughNewline,
    /// Multi-line runaway: until a line that starts a record. `mid_line`: the buffer
    /// starts inside a line whose beginning was already consumed.
    UntilStartLine {
        mid_line: bool,
    },
}

/// The framing state of one file. See the module docs for the invariants.
#[derive(Debug)]
pub struct Framer {
    rules: Arc<FramingRules>,
    /// Unconsumed bytes; `buf[0]` is the byte at file offset `pos`.
    buf: BytesMut,
    pos: u64,
    /// Header lines still to skip (armed only when starting at offset 0).
    headers_left: usize,
    skipping: Skipping,
    /// Bytes at the front of `buf` already known to belong to the record being built
    /// (whole lines), so they are not scanned again.
    scan: usize,
}

impl Framer {
    /// A framer for a file read from `start_offset`. Header skipping is armed only at 0,
    /// as in the agent (a resumed checkpoint never skips).
    pub fn new(rules: Arc<FramingRules>, start_offset: u64) -> Framer {
        let headers_left = if start_offset == 0 {
            rules.config.skip_header_lines
        } else {
            0
        };
        Framer {
            rules,
            buf: BytesMut::new(),
            pos: start_offset,
            headers_left,
            skipping: Skipping::Nothing,
            scan: 0,
        }
    }

    /// File offset up to which every byte is accounted for by an emitted frame.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// File offset just after the last byte pushed.
    pub fn read_position(&self) -> u64 {
        self.pos + self.buf.len() as u64
    }

    /// Bytes pushed but not yet part of any frame (e.g. an unterminated last line).
    pub fn pending_len(&self) -> usize {
        self.buf.len()
    }

    /// The bytes pushed but not yet part of any frame: the file's bytes just before
    /// [`Framer::read_position`].
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Takes back the last `n` bytes appended by [`Framer::fill_from`], before
    /// [`Framer::drain`] framed them: the reader found they may not be the file's bytes
    /// at that position (the file was truncated or rewritten while it read them).
    pub fn unread(&mut self, n: usize) {
        let keep = self.buf.len().saturating_sub(n);
        self.buf.truncate(keep);
        // Only bytes framed before the fill were scanned; kept anyway for safety.
        self.scan = self.scan.min(keep);
    }

    /// How many more bytes the framer accepts before it must be drained: reading more
    /// than this per step would only grow the buffer past the agent's.
    pub fn room(&self) -> usize {
        self.rules
            .config
            .read_buffer_size
            .saturating_sub(self.buf.len())
            .max(1)
    }

    /// Pushes `bytes` (the next bytes of the file) and appends every frame that is now
    /// certain to `out`. Large inputs are taken in buffer-sized steps to bound memory.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<Frame>) {
        while !bytes.is_empty() {
            let n = self.room().min(bytes.len());
            self.buf.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            self.drain(out);
        }
    }

    /// Lets go of the read buffer's spare capacity, keeping only the pending bytes (an
    /// unterminated line) in a buffer of their own size. The buffer shares its
    /// allocation with the records sliced from it, and its spare room would otherwise
    /// pin a whole read's allocation for as long as the file stays quiet: call it when
    /// the reader is at the end of the data.
    pub fn release_buffer(&mut self) {
        if self.buf.is_empty() {
            self.buf = BytesMut::new();
        } else if self.buf.capacity() > 2 * self.buf.len() {
            self.buf = BytesMut::from(&self.buf[..]);
        }
    }

    /// Appends up to `max` bytes read from `reader` (capped at [`Framer::room`]) without
    /// framing them; call [`Framer::drain`] after. Returns the bytes read (0 at EOF).
    ///
    /// The bytes land in a new buffer of exactly the size needed, the pending bytes (at
    /// most a partial line, usually) copied in front: std's `read_to_end` reads into its
    /// spare capacity without zero-filling it first, which a `resize` then `read` did for
    /// every read (2 % of the daemon's CPU). Bytes read before an error are kept: the
    /// descriptor has moved past them.
    pub fn fill_from(
        &mut self,
        reader: &mut impl std::io::Read,
        max: usize,
    ) -> std::io::Result<usize> {
        use std::io::Read;
        let want = self.room().min(max).max(1);
        let pending = self.buf.len();
        let mut next = Vec::with_capacity(pending + want);
        next.extend_from_slice(&self.buf);
        let result = reader.by_ref().take(want as u64).read_to_end(&mut next);
        let got = next.len() - pending;
        self.buf = BytesMut::from(bytes::Bytes::from(next));
        result.map(|_| got)
    }

    /// Appends to `out` every frame that is certain from the bytes pushed so far.
    pub fn drain(&mut self, out: &mut Vec<Frame>) {
        loop {
            if !self.skip(out) {
                return;
            }
            let progressed = if self.rules.start.is_some() {
                self.drain_multi_line(out)
            } else if self.rules.config.aggregated_record_size_bytes > 0 {
                self.drain_aggregated(out)
            } else {
                self.drain_single_line(out)
            };
            if !progressed {
                return;
            }
        }
    }

    /// The agent's end-of-buffered-data rules, applied when the reader reached the end of
    /// the file: a multi-line event whose data ends in `\n` is emitted at once, and a
    /// partial aggregate is flushed. A partial line stays pending.
    pub fn end_of_data(&mut self, out: &mut Vec<Frame>) {
        self.drain(out);
        if self.headers_left > 0 || self.skipping != Skipping::Nothing || self.buf.is_empty() {
            return;
        }
        if self.rules.start.is_some() {
            if self.buf.last() == Some(&b'\n') {
                let n = self.buf.len();
                self.emit_record(n, n, false, out);
            }
        } else if self.rules.config.aggregated_record_size_bytes > 0 && self.scan > 0 {
            let n = self.scan;
            self.emit_record(n, n, false, out);
        }
    }

    /// Emits everything pending as records: the unterminated last line (or event) of a
    /// file that was rotated away or stayed idle too long. Bytes being skipped are
    /// discarded. Framing continues normally with later pushes.
    pub fn finish(&mut self, out: &mut Vec<Frame>) {
        self.end_of_data(out);
        if self.buf.is_empty() {
            return;
        }
        if self.headers_left > 0 || self.skipping != Skipping::Nothing {
            let n = self.buf.len();
            let reason = if self.headers_left > 0 {
                DiscardReason::Header
            } else {
                DiscardReason::Runaway
            };
            self.discard(n, reason, out);
            return;
        }
        if self.scan > 0 && self.rules.start.is_none() {
            let n = self.scan;
            self.emit_record(n, n, false, out);
        }
        let n = self.buf.len();
        if n > 0 {
            self.emit_record(n, n, false, out);
        }
    }

    /// Consumes header lines and runaway remainders. Returns false when it needs more
    /// bytes before framing can go on.
    fn skip(&mut self, out: &mut Vec<Frame>) -> bool {
        while self.headers_left > 0 {
            match memchr(b'\n', &self.buf) {
                Some(i) => {
                    self.discard(i + 1, DiscardReason::Header, out);
                    self.headers_left -= 1;
                }
                None => {
                    let n = self.buf.len();
                    self.discard(n, DiscardReason::Header, out);
                    return false;
                }
            }
        }
        match self.skipping {
            Skipping::Nothing => true,
            Skipping::ThroughNewline => match memchr(b'\n', &self.buf) {
                Some(i) => {
                    self.discard(i + 1, DiscardReason::Runaway, out);
                    self.skipping = Skipping::Nothing;
                    true
                }
                None => {
                    let n = self.buf.len();
                    self.discard(n, DiscardReason::Runaway, out);
                    false
                }
            },
            Skipping::UntilStartLine { mid_line } => self.skip_until_start_line(mid_line, out),
        }
    }

    fn skip_until_start_line(&mut self, mut mid_line: bool, out: &mut Vec<Frame>) -> bool {
        loop {
            let newline = memchr(b'\n', &self.buf);
            match (newline, mid_line) {
                (Some(i), true) => {
                    self.discard(i + 1, DiscardReason::Runaway, out);
                    mid_line = false;
                }
                (Some(i), false) => {
                    if self.starts_record(&self.buf[..=i]) {
                        self.skipping = Skipping::Nothing;
                        return true;
                    }
                    self.discard(i + 1, DiscardReason::Runaway, out);
                }
                (None, _) => {
                    // A line's beginning is needed to test it, up to a buffer-full;
                    // past that (or once its beginning is gone) it cannot start a record.
                    if mid_line || self.buf.len() >= self.rules.config.read_buffer_size {
                        let n = self.buf.len();
                        self.discard(n, DiscardReason::Runaway, out);
                        mid_line = true;
                    }
                    self.skipping = Skipping::UntilStartLine { mid_line };
                    return false;
                }
            }
        }
    }

    /// One record per line. Returns true if it made room for more framing.
    fn drain_single_line(&mut self, out: &mut Vec<Frame>) -> bool {
        while let Some(i) = memchr(b'\n', &self.buf) {
            if !self.emit_record(i + 1, i + 1, false, out) {
                return true;
            }
        }
        self.runaway_if_full(out)
    }

    fn drain_aggregated(&mut self, out: &mut Vec<Frame>) -> bool {
        let hint = self.rules.config.aggregated_record_size_bytes;
        while let Some(i) = memchr(b'\n', &self.buf[self.scan..]) {
            let line_end = self.scan + i + 1;
            if self.scan > 0 && line_end > hint {
                // The next line does not fit: the aggregate so far is a record.
                let n = self.scan;
                self.scan = 0;
                if !self.emit_record(n, n, false, out) {
                    return true;
                }
                continue;
            }
            self.scan = line_end;
            if self.scan >= hint {
                let n = self.scan;
                self.scan = 0;
                if !self.emit_record(n, n, false, out) {
                    return true;
                }
            }
        }
        if self.buf.len() >= self.rules.config.read_buffer_size && self.scan > 0 {
            let n = self.scan;
            self.scan = 0;
            self.emit_record(n, n, false, out);
            return true;
        }
        self.runaway_if_full(out)
    }

    fn drain_multi_line(&mut self, out: &mut Vec<Frame>) -> bool {
        loop {
            if self.scan == 0 {
                // The first line of a record is never tested.
                match memchr(b'\n', &self.buf) {
                    Some(i) => self.scan = i + 1,
                    None => break,
                }
            }
            let Some(i) = memchr(b'\n', &self.buf[self.scan..]) else {
                break;
            };
            let line_end = self.scan + i + 1;
            if self.starts_record(&self.buf[self.scan..line_end]) {
                let n = self.scan;
                self.scan = 0;
                if !self.emit_record(n, n, false, out) {
                    return true;
                }
            } else {
                self.scan = line_end;
            }
        }
        if self.buf.len() >= self.rules.config.read_buffer_size {
            let n = self.rules.config.read_buffer_size;
            let mid_line = self.buf[n - 1] != b'\n';
            self.scan = 0;
            if self.emit_record(n, n, true, out) {
                self.skipping = Skipping::UntilStartLine { mid_line };
            }
            return true;
        }
        false
    }

    /// A full buffer without a record boundary: the agent's runaway record (§3.7). The
    /// first buffer-full is the record; the rest of the line is discarded.
    fn runaway_if_full(&mut self, out: &mut Vec<Frame>) -> bool {
        let size = self.rules.config.read_buffer_size;
        if self.buf.len() < size {
            return false;
        }
        self.scan = 0;
        tracing::warn!(
            offset = self.pos,
            size,
            "record larger than the read buffer; discarding data until the next record"
        );
        if self.emit_record(size, size, true, out) {
            self.skipping = Skipping::ThroughNewline;
        }
        true
    }

    /// A `multiLineStartPattern` that gives up at the backtracking step limit (counted and
    /// logged by the regex) starts a record: the line's bytes are sent in a record of
    /// their own rather than appended to one that could then be cut at the size limit.
    fn starts_record(&self, line: &[u8]) -> bool {
        match &self.rules.start {
            Some(re) => re
                .looking_at(&String::from_utf8_lossy(line))
                .unwrap_or(true),
            None => true,
        }
    }

    /// Emits the first `n` buffered bytes (of which the record is the first `data_len`)
    /// as a record, unless it matches the footer pattern. Returns false if the footer
    /// matched (the buffer was discarded).
    fn emit_record(
        &mut self,
        n: usize,
        data_len: usize,
        runaway: bool,
        out: &mut Vec<Frame>,
    ) -> bool {
        debug_assert!(data_len <= n);
        if let Some(footer) = &self.rules.footer {
            let text = String::from_utf8_lossy(&self.buf[..data_len]);
            // A footer pattern that gives up at the step limit is no footer: the record
            // is sent, and nothing after it is discarded.
            if footer.matches(java::trim(&text)).unwrap_or(false) {
                self.discard(n, DiscardReason::Footer, out);
                let rest = self.buf.len();
                self.discard(rest, DiscardReason::AfterFooter, out);
                self.scan = 0;
                self.skipping = Skipping::Nothing;
                tracing::info!(
                    offset = self.pos,
                    "file footer pattern matched; discarded the rest of the buffer"
                );
                return false;
            }
        }
        self.scan = 0;
        let mut data = self.buf.split_to(n).freeze();
        if data_len < n {
            data.truncate(data_len);
        }
        let config = &self.rules.config;
        let (data, truncated) = truncate_record(
            data,
            config.max_record_size,
            &config.truncated_record_terminator,
        );
        out.push(Frame::Record(FramedRecord {
            data,
            offset: self.pos,
            len: n as u64,
            truncated,
            larger_than_buffer: runaway,
        }));
        self.pos += n as u64;
        true
    }

    /// Consumes the first `n` buffered bytes as a discard, merging with the previous
    /// frame when it is a contiguous discard of the same kind.
    fn discard(&mut self, n: usize, reason: DiscardReason, out: &mut Vec<Frame>) {
        if n == 0 {
            return;
        }
        self.buf.advance(n);
        self.scan = 0;
        let offset = self.pos;
        self.pos += n as u64;
        if let Some(Frame::Discarded(last)) = out.last_mut() {
            if last.reason == reason && last.offset + last.len == offset {
                last.len += n as u64;
                return;
            }
        }
        out.push(Frame::Discarded(Discard {
            offset,
            len: n as u64,
            reason,
        }));
    }
}

#[cfg(test)]
mod tests;
