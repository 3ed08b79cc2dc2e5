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
use tokio::sync::{mpsc, watch};

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
///
/// It also carries the one thing downstream must know of the tailer: whether reading is
/// paused until acknowledgements come back ([`Acker::reader_waiting`]). A stage that
/// holds records back for a reason of its own (the sink's open batch, waiting to fill)
/// must let them go while the reader waits, or the flow stalls: nothing more will
/// arrive to fill the batch until something is acknowledged.
#[derive(Clone, Debug)]
pub struct Acker {
    tx: mpsc::UnboundedSender<Span>,
    waiting: watch::Receiver<bool>,
}

/// The tailer's half of the acknowledgement channel: spans in, and the reader's
/// "waiting for acknowledgements" state out.
#[derive(Debug)]
pub struct AckReceiver {
    rx: mpsc::UnboundedReceiver<Span>,
    waiting: watch::Sender<bool>,
}

impl Acker {
    /// Creates an acknowledgement channel; the receiver belongs to the flow's tailer.
    pub fn channel() -> (Acker, AckReceiver) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (waiting_tx, waiting_rx) = watch::channel(false);
        (
            Acker {
                tx,
                waiting: waiting_rx,
            },
            AckReceiver {
                rx,
                waiting: waiting_tx,
            },
        )
    }

    /// Marks the bytes of `span` as settled. After the tailer has stopped, acks are
    /// dropped: the records will be read again from the last checkpoint, which is the
    /// at-least-once contract.
    pub fn ack(&self, span: Span) {
        // Ignored on purpose: a closed receiver means the tailer has shut down and its
        // final checkpoint is already written; see the method docs.
        let _ = self.tx.send(span);
    }

    /// True while the tailer has stopped reading until some of the bytes it handed out
    /// are acknowledged (its in-flight budget is spent).
    pub fn reader_waiting(&self) -> bool {
        *self.waiting.borrow()
    }

    /// Resolves when [`Acker::reader_waiting`] may have changed. Returns false once the
    /// tailer is gone (it never changes again: stop polling).
    pub async fn reader_waiting_changed(&mut self) -> bool {
        self.waiting.changed().await.is_ok()
    }
}

impl AckReceiver {
    /// The next acknowledgement; `None` once every [`Acker`] is dropped.
    pub async fn recv(&mut self) -> Option<Span> {
        self.rx.recv().await
    }

    /// An acknowledgement already queued, if any.
    pub fn try_recv(&mut self) -> Option<Span> {
        self.rx.try_recv().ok()
    }

    /// Publishes whether reading is paused until acknowledgements arrive; downstream is
    /// woken only when the state changes.
    pub fn set_reader_waiting(&self, waiting: bool) {
        self.waiting.send_if_modified(|current| {
            let changed = *current != waiting;
            *current = waiting;
            changed
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_reader_waiting_state_reaches_every_acker_and_wakes_only_on_change() {
        let (mut acker, mut acks) = Acker::channel();
        let other = acker.clone();
        assert!(!acker.reader_waiting());
        acks.set_reader_waiting(true);
        assert!(acker.reader_waiting_changed().await);
        assert!(acker.reader_waiting() && other.reader_waiting());
        acks.set_reader_waiting(true); // no change: no wake-up
        let woke = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            acker.reader_waiting_changed(),
        )
        .await;
        assert!(woke.is_err());
        acker.ack(Span {
            file: FileId(1),
            start: 0,
            end: 3,
        });
        assert_eq!(acks.try_recv().map(|s| s.len()), Some(3));
        drop(acks);
        assert!(!acker.reader_waiting_changed().await, "tailer gone");
    }
}
