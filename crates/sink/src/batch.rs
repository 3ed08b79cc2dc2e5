//! Per-flow batching: records go into an open batch that closes at `max_records`, at
//! `max_bytes` of request payload, or `max_age` after its first record arrived, whichever
//! comes first.
//!
//! Bytes are counted as the service counts them against its request limit: the record
//! data, plus the partition key for Kinesis. A record never straddles two batches and a
//! batch never exceeds either limit, except a lone record larger than `max_bytes` (only
//! possible with a `max_bytes` below the per-record limit), which goes alone.
//!
//! Pure: no I/O, no clock reads except the `now` the caller passes in.

use tokio::time::{Duration, Instant};

use crate::client::DestinationKind;
use crate::OutRecord;

/// Records that travel in one request, with the totals the sink needs to report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub records: Vec<OutRecord>,
    /// Sum of [`OutRecord::request_bytes`] over `records`.
    pub bytes: usize,
    /// How many times records of this batch were sent before (0 for a fresh batch).
    pub attempt: u32,
}

impl Batch {
    /// An empty batch with room for `capacity` records.
    pub fn with_capacity(capacity: usize) -> Self {
        Batch {
            records: Vec::with_capacity(capacity),
            bytes: 0,
            attempt: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// True when `other` can be appended without exceeding the limits.
    pub fn can_absorb(&self, other: &Batch, limits: &BatchLimits) -> bool {
        self.len() + other.len() <= limits.max_records
            && self.bytes + other.bytes <= limits.max_bytes
    }

    /// Moves `other`'s records to the end of this batch.
    pub fn absorb(&mut self, mut other: Batch) {
        self.records.append(&mut other.records);
        self.bytes += other.bytes;
        self.attempt = self.attempt.max(other.attempt);
    }
}

/// When an open batch closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchLimits {
    pub max_records: usize,
    pub max_bytes: usize,
    pub max_age: Duration,
}

/// The flow's open batch.
#[derive(Debug)]
pub struct Batcher {
    limits: BatchLimits,
    kind: DestinationKind,
    open: Batch,
    /// When the first record of the open batch arrived; `None` while it is empty.
    opened_at: Option<Instant>,
}

impl Batcher {
    pub fn new(limits: BatchLimits, kind: DestinationKind) -> Self {
        Batcher {
            limits,
            kind,
            open: Batch::default(),
            opened_at: None,
        }
    }

    pub fn limits(&self) -> &BatchLimits {
        &self.limits
    }

    /// Adds `record` and appends to `closed` every batch this closes (at most two: the
    /// open batch if `record` does not fit in it, and the new one if `record` fills it).
    pub fn push(&mut self, record: OutRecord, now: Instant, closed: &mut Vec<Batch>) {
        let size = record.request_bytes(self.kind);
        if !self.open.is_empty() && self.open.bytes + size > self.limits.max_bytes {
            closed.extend(self.take());
        }
        if self.open.is_empty() {
            self.open = Batch::with_capacity(self.limits.max_records);
            self.opened_at = Some(now);
        }
        self.open.records.push(record);
        self.open.bytes += size;
        if self.open.len() >= self.limits.max_records || self.open.bytes >= self.limits.max_bytes {
            closed.extend(self.take());
        }
    }

    /// When the open batch must be closed by age; `None` while nothing is open.
    pub fn deadline(&self) -> Option<Instant> {
        self.opened_at.map(|opened| opened + self.limits.max_age)
    }

    /// When the first record of the open batch arrived; `None` while nothing is open.
    pub fn opened_at(&self) -> Option<Instant> {
        self.opened_at
    }

    /// Closes the open batch if it has reached `max_age` at `now`.
    pub fn take_if_expired(&mut self, now: Instant) -> Option<Batch> {
        match self.deadline() {
            Some(deadline) if now >= deadline => self.take(),
            _ => None,
        }
    }

    /// Closes the open batch whatever its age (shutdown drain).
    pub fn take(&mut self) -> Option<Batch> {
        self.opened_at = None;
        if self.open.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.open))
        }
    }

    /// Records in the open batch.
    pub fn open_records(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use firetail_record::{FileId, Span};

    fn record(len: usize, key: Option<&str>) -> OutRecord {
        OutRecord {
            data: Bytes::from(vec![b'x'; len]),
            span: Span {
                file: FileId(1),
                start: 0,
                end: len as u64,
            },
            partition_key: key.map(str::to_owned),
        }
    }

    fn limits(max_records: usize, max_bytes: usize) -> BatchLimits {
        BatchLimits {
            max_records,
            max_bytes,
            max_age: Duration::from_secs(1),
        }
    }

    #[test]
    fn closes_at_max_records() {
        let mut batcher = Batcher::new(limits(3, 1000), DestinationKind::Firehose);
        let mut closed = Vec::new();
        let now = Instant::now();
        for _ in 0..7 {
            batcher.push(record(10, None), now, &mut closed);
        }
        assert_eq!(closed.iter().map(Batch::len).collect::<Vec<_>>(), [3, 3]);
        assert_eq!(closed[0].bytes, 30);
        assert_eq!(batcher.open_records(), 1);
    }

    #[test]
    fn closes_before_a_record_that_does_not_fit_and_when_exactly_full() {
        let mut batcher = Batcher::new(limits(500, 100), DestinationKind::Firehose);
        let mut closed = Vec::new();
        let now = Instant::now();
        batcher.push(record(60, None), now, &mut closed);
        batcher.push(record(50, None), now, &mut closed); // 110 > 100: the first goes alone
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].bytes, 60);
        batcher.push(record(50, None), now, &mut closed); // exactly 100: closes at once
        assert_eq!(closed.len(), 2);
        assert_eq!((closed[1].len(), closed[1].bytes), (2, 100));
        assert!(batcher.take().is_none());
    }

    #[test]
    fn an_oversized_record_travels_alone() {
        let mut batcher = Batcher::new(limits(500, 100), DestinationKind::Firehose);
        let mut closed = Vec::new();
        let now = Instant::now();
        batcher.push(record(10, None), now, &mut closed);
        batcher.push(record(150, None), now, &mut closed);
        assert_eq!(
            closed.iter().map(|b| b.bytes).collect::<Vec<_>>(),
            [10, 150]
        );
    }

    #[test]
    fn kinesis_counts_partition_keys() {
        let mut batcher = Batcher::new(limits(500, 100), DestinationKind::Kinesis);
        let mut closed = Vec::new();
        let now = Instant::now();
        batcher.push(record(40, Some("0123456789")), now, &mut closed);
        batcher.push(record(30, Some("0123456789")), now, &mut closed);
        batcher.push(record(1, Some("k")), now, &mut closed);
        assert!(closed.is_empty());
        batcher.push(record(10, Some("k")), now, &mut closed); // 92 + 11 > 100
        assert_eq!(closed.len(), 1);
        assert_eq!((closed[0].len(), closed[0].bytes), (3, 92));
        // Firehose ignores the key.
        assert_eq!(
            record(40, Some("0123456789")).request_bytes(DestinationKind::Firehose),
            40
        );
    }

    #[tokio::test(start_paused = true)]
    async fn age_counts_from_the_first_record() {
        let mut batcher = Batcher::new(limits(500, 1000), DestinationKind::Firehose);
        let mut closed = Vec::new();
        assert_eq!(batcher.deadline(), None);
        let start = Instant::now();
        batcher.push(record(1, None), Instant::now(), &mut closed);
        tokio::time::advance(Duration::from_millis(900)).await;
        batcher.push(record(1, None), Instant::now(), &mut closed);
        assert_eq!(batcher.deadline(), Some(start + Duration::from_secs(1)));
        assert!(batcher.take_if_expired(Instant::now()).is_none());
        tokio::time::advance(Duration::from_millis(100)).await;
        let batch = batcher.take_if_expired(Instant::now()).unwrap();
        assert_eq!(batch.len(), 2);
        assert_eq!(batcher.deadline(), None);
        // The next batch's clock starts at its own first record.
        tokio::time::advance(Duration::from_secs(5)).await;
        batcher.push(record(1, None), Instant::now(), &mut closed);
        assert!(batcher.take_if_expired(Instant::now()).is_none());
    }

    #[test]
    fn absorb_respects_limits() {
        let l = limits(3, 100);
        let mut a = Batch::with_capacity(3);
        a.records.push(record(10, None));
        a.bytes = 10;
        let mut b = Batch {
            records: vec![record(10, None), record(10, None)],
            bytes: 20,
            attempt: 2,
        };
        assert!(a.can_absorb(&b, &l));
        b.records.push(record(10, None));
        b.bytes = 30;
        assert!(!a.can_absorb(&b, &l));
        b.records.pop();
        b.bytes = 20;
        a.absorb(b);
        assert_eq!((a.len(), a.bytes, a.attempt), (3, 30, 2));
    }
}
