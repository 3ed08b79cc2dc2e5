//! Per-file acknowledgement watermark: the checkpoint of a file is the lowest offset not
//! yet acknowledged.
//!
//! Spans are issued in file order and gap-free (the framer guarantees it); acks arrive in
//! any order. Acks ahead of the watermark wait in an ordered map until the gap before them
//! closes. Invariant: [`Watermark::offset`] never passes a byte of an issued span that was
//! not acknowledged.

use std::collections::BTreeMap;

/// The acknowledgement state of one file.
#[derive(Clone, Debug, Default)]
pub struct Watermark {
    /// Every byte before this offset was acknowledged.
    acked: u64,
    /// End of the last issued span.
    issued: u64,
    /// Acknowledged spans beyond `acked`, by start offset.
    ahead: BTreeMap<u64, u64>,
    /// Total length of the spans in `ahead`.
    ahead_bytes: u64,
}

impl Watermark {
    /// A watermark for a file read from `offset` (everything before it counts as settled).
    pub fn new(offset: u64) -> Watermark {
        Watermark {
            acked: offset,
            issued: offset,
            ahead: BTreeMap::new(),
            ahead_bytes: 0,
        }
    }

    /// The checkpoint: the lowest offset not yet acknowledged.
    pub fn offset(&self) -> u64 {
        self.acked
    }

    /// End of the last issued span.
    pub fn issued(&self) -> u64 {
        self.issued
    }

    /// Bytes issued and not yet acknowledged.
    pub fn in_flight(&self) -> u64 {
        self.issued - self.acked - self.ahead_bytes
    }

    /// True when every issued byte was acknowledged.
    pub fn is_settled(&self) -> bool {
        self.acked == self.issued
    }

    /// Records that `[start, end)` left the tailer. Spans must be issued in order and
    /// without gaps; a span that does not start at the previous end is refused (false).
    pub fn issue(&mut self, start: u64, end: u64) -> bool {
        if start != self.issued || end < start {
            return false;
        }
        self.issued = end;
        true
    }

    /// Applies an acknowledgement. Duplicate, stale or never-issued spans are ignored
    /// (returns false); returns true when the watermark moved.
    pub fn ack(&mut self, start: u64, end: u64) -> bool {
        if end > self.issued || start >= end || start < self.acked {
            return false;
        }
        if start > self.acked {
            if self.ahead.insert(start, end).is_none() {
                self.ahead_bytes += end - start;
            }
            return false;
        }
        self.acked = end;
        while let Some(next_end) = self.ahead.remove(&self.acked) {
            self.ahead_bytes -= next_end - self.acked;
            self.acked = next_end;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn out_of_order_acks_wait_for_the_gap() {
        let mut w = Watermark::new(0);
        for (s, e) in [(0, 3), (3, 5), (5, 9)] {
            assert!(w.issue(s, e));
        }
        assert!(!w.ack(5, 9));
        assert!(!w.ack(3, 5));
        assert_eq!(w.offset(), 0);
        assert_eq!(w.in_flight(), 3);
        assert!(w.ack(0, 3));
        assert_eq!(w.offset(), 9);
        assert!(w.is_settled());
    }

    #[test]
    fn bogus_acks_are_ignored() {
        let mut w = Watermark::new(10);
        assert!(!w.issue(0, 5), "a gap or overlap is refused");
        assert!(w.issue(10, 20));
        assert!(!w.ack(20, 30), "never issued");
        assert!(w.ack(10, 20));
        assert!(!w.ack(10, 20), "duplicate");
        assert_eq!(w.offset(), 20);
    }

    fn spans_and_order() -> impl Strategy<Value = (Vec<(u64, u64)>, Vec<usize>, Vec<bool>)> {
        proptest::collection::vec(1u64..50, 1..60).prop_flat_map(|lens| {
            let mut at = 0;
            let spans: Vec<(u64, u64)> = lens
                .iter()
                .map(|l| {
                    let s = (at, at + l);
                    at += l;
                    s
                })
                .collect();
            let n = spans.len();
            let order = Just((0..n).collect::<Vec<_>>()).prop_shuffle();
            let withheld = proptest::collection::vec(proptest::bool::weighted(0.1), n);
            (Just(spans), order, withheld)
        })
    }

    proptest! {
        /// Random spans acked in random order: the watermark never passes an unacked byte,
        /// and reaches the end when all are acked.
        #[test]
        fn never_passes_an_unacked_byte((spans, order, withheld) in spans_and_order()) {
            let mut w = Watermark::new(0);
            for &(s, e) in &spans {
                prop_assert!(w.issue(s, e));
            }
            let mut acked = vec![false; spans.len()];
            for &i in &order {
                if withheld[i] {
                    continue;
                }
                w.ack(spans[i].0, spans[i].1);
                acked[i] = true;
                let lowest_unacked = spans.iter().zip(&acked).find(|(_, a)| !**a).map(|(s, _)| s.0);
                prop_assert_eq!(w.offset(), lowest_unacked.unwrap_or(spans.last().unwrap().1));
            }
            let end = spans.last().unwrap().1;
            let unacked: u64 = spans.iter().zip(&acked).filter(|(_, a)| !**a).map(|(s, _)| s.1 - s.0).sum();
            prop_assert_eq!(w.in_flight(), unacked);
            for (i, &(s, e)) in spans.iter().enumerate() {
                if withheld[i] {
                    w.ack(s, e);
                }
            }
            prop_assert_eq!(w.offset(), end);
            prop_assert!(w.is_settled());
        }
    }
}
