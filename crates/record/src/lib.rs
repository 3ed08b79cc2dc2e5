//! The types that cross the boundary between the tailer and everything downstream.
//! They live in their own crate so that each stage depends on the channel, not on the
//! stage at its other end.
//!
//! A [`Record`] leaves the tailer carrying the [`Span`] of file bytes it was framed
//! from. Downstream stages (process, batch, send) never look inside a span; they hand
//! it back, unchanged, through an [`Acker`] once the record's fate is settled
//! (delivered, or skipped by a processing rule). The tailer turns those spans into a
//! per-file watermark, and only the watermark is ever checkpointed.

use bytes::Bytes;
use tokio::sync::mpsc;

/// The tailer's handle for one tracked file, unique for the life of the process.
///
/// It is not the file's identity on disk (that is the fingerprint plus dev/inode the
/// tailer keeps); it is a cheap key downstream stages can copy into every record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u64);

/// The half-open byte range `[start, end)` of one file that a record was framed from.
///
/// Spans of one file are handed out in increasing, gap-free order: the bytes a framer
/// discards (a skipped header, a runaway record's remainder) belong to the span of the
/// next record, so acknowledging every span moves the watermark to the end of the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: FileId,
    pub start: u64,
    pub end: u64,
}

impl Span {
    /// Bytes of the file this span covers (what the checkpoint moves by).
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// True for a zero-length span (never produced for a real record).
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// One framed record: the bytes to process and send, and where they came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The record as framed (a line keeps its `\n`; a truncated record ends with the
    /// flow's `truncatedRecordTerminator`). Shares the read buffer where it can.
    pub data: Bytes,
    /// The file bytes this record accounts for.
    pub span: Span,
}

/// The sending half of a flow's acknowledgement channel, cloned into every stage that
/// settles records. Acknowledgements may arrive in any order; the tailer reorders them.
///
/// The channel is unbounded on purpose: its length is bounded by the flow's in-flight
/// byte budget (no more spans are outstanding than records read), and an ack must never
/// block a sender task that is itself holding the budget.
#[derive(Clone, Debug)]
pub struct Acker {
    tx: mpsc::UnboundedSender<Span>,
}

impl Acker {
    /// Creates an acknowledgement channel; the receiver belongs to the flow's tailer.
    pub fn channel() -> (Acker, mpsc::UnboundedReceiver<Span>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Acker { tx }, rx)
    }

    /// Marks the bytes of `span` as settled. After the tailer has stopped, acks are
    /// dropped: the records will be read again from the last checkpoint, which is the
    /// at-least-once contract.
    pub fn ack(&self, span: Span) {
        // Ignored on purpose: a closed receiver means the tailer has shut down and its
        // final checkpoint is already written; see the method docs.
        let _ = self.tx.send(span);
    }
}
