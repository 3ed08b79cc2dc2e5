//! Per-flow batching: records go into an open batch that closes at `max_records`, at
//! `max_bytes` of request payload, or `max_age` after its first record arrived, whichever
//! comes first; for a destination that limits a call's time span (CloudWatch Logs: 24 h),
//! also before a record whose read time would stretch the batch past it.
//!
//! Bytes are counted as the destination counts them against its request limit
//! ([`DestinationLimits::record_bytes`]: the record data, plus the partition key for
//! Kinesis, plus 26 bytes per event for CloudWatch Logs). A record never straddles two
//! batches and a batch never exceeds either limit, except a lone record larger than
//! `max_bytes` (only possible with a `max_bytes` below the per-record limit), which goes
//! alone.
//!
//! Pure: no I/O, no clock reads except the `now` the caller passes in.

use tokio::time::{Duration, Instant};

use crate::client::DestinationLimits;
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

    /// The earliest and latest read time of its records; `None` while empty.
    pub fn read_times(&self) -> Option<(i64, i64)> {
        let mut times = self.records.iter().map(|r| r.read_at_millis);
        let first = times.next()?;
        Some(times.fold((first, first), |(lo, hi), t| (lo.min(t), hi.max(t))))
    }

    /// True when the read times of both batches together span at most `span` ms.
    fn spans_at_most(&self, other: &Batch, span: Option<u64>) -> bool {
        let Some(span) = span else { return true };
        match (self.read_times(), other.read_times()) {
            (Some((lo1, hi1)), Some((lo2, hi2))) => within(lo1.min(lo2), hi1.max(hi2), span),
            _ => true,
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
            && self.spans_at_most(other, limits.max_span_millis)
    }

    /// Keeps the records up to `max_bytes` (at least one) and returns the rest, if any.
    pub fn split_at_bytes(
        &mut self,
        max_bytes: usize,
        destination: &DestinationLimits,
    ) -> Option<Batch> {
        let (mut keep, mut kept_bytes) = self.fitting(max_bytes, usize::MAX, destination);
        if keep == 0 {
            // A first record bigger than the budget goes alone.
            kept_bytes = self.records.first()?.request_bytes(destination);
            keep = 1;
        }
        if keep == self.records.len() {
            return None;
        }
        Some(self.keep_first(keep, kept_bytes))
    }

    /// Takes the leading records that fit in `max_bytes` and `max_records` out of this
    /// batch (none if not even the first fits) and returns them as a batch of their own.
    pub fn split_front(
        &mut self,
        max_bytes: usize,
        max_records: usize,
        destination: &DestinationLimits,
    ) -> Option<Batch> {
        let (take, bytes) = self.fitting(max_bytes, max_records, destination);
        if take == 0 {
            return None;
        }
        let rest = self.keep_first(take, bytes);
        Some(std::mem::replace(self, rest))
    }

    /// How many leading records fit in `max_bytes` and `max_records`, and their bytes.
    fn fitting(
        &self,
        max_bytes: usize,
        max_records: usize,
        destination: &DestinationLimits,
    ) -> (usize, usize) {
        let (mut count, mut bytes) = (0, 0);
        for record in self.records.iter().take(max_records) {
            let size = record.request_bytes(destination);
            if bytes + size > max_bytes {
                break;
            }
            bytes += size;
            count += 1;
        }
        (count, bytes)
    }

    /// Keeps the first `keep` records (`kept_bytes` of them) and returns the rest.
    fn keep_first(&mut self, keep: usize, kept_bytes: usize) -> Batch {
        let rest = Batch {
            records: self.records.split_off(keep),
            bytes: self.bytes - kept_bytes,
            attempt: self.attempt,
        };
        self.bytes = kept_bytes;
        rest
    }

    /// Moves `other`'s records to the end of this batch.
    pub fn absorb(&mut self, mut other: Batch) {
        self.records.append(&mut other.records);
        self.bytes += other.bytes;
        self.attempt = self.attempt.max(other.attempt);
    }
}

fn within(lo: i64, hi: i64, span: u64) -> bool {
    u64::try_from(hi.saturating_sub(lo)).map_or(true, |d| d <= span)
}

/// When an open batch closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchLimits {
    pub max_records: usize,
    pub max_bytes: usize,
    pub max_age: Duration,
    /// The longest span of read times one batch may hold (the destination's), in ms.
    pub max_span_millis: Option<u64>,
}

/// The most records a new batch reserves room for: CloudWatch Logs allows 10,000 per
/// call, and a flow's batches are rarely that full.
const PRESIZED_RECORDS: usize = 500;

/// The flow's open batch.
#[derive(Debug)]
pub struct Batcher {
    limits: BatchLimits,
    destination: &'static DestinationLimits,
    open: Batch,
    /// When the first record of the open batch arrived; `None` while it is empty.
    opened_at: Option<Instant>,
    /// The earliest and latest read time in the open batch.
    read_times: (i64, i64),
}

impl Batcher {
    /// A batcher for a flow's `limits` that counts records as `destination` does.
    pub fn new(limits: BatchLimits, destination: &'static DestinationLimits) -> Self {
        Batcher {
            limits,
            destination,
            open: Batch::default(),
            opened_at: None,
            read_times: (0, 0),
        }
    }

    pub fn limits(&self) -> &BatchLimits {
        &self.limits
    }

    /// Adds `record` and appends to `closed` every batch this closes (at most two: the
    /// open batch if `record` does not fit in it, and the new one if `record` fills it).
    pub fn push(&mut self, record: OutRecord, now: Instant, closed: &mut Vec<Batch>) {
        let size = record.request_bytes(self.destination);
        let at = record.read_at_millis;
        let too_long = self.limits.max_span_millis.is_some_and(|span| {
            let (lo, hi) = self.read_times;
            !within(lo.min(at), hi.max(at), span)
        });
        if !self.open.is_empty() && (self.open.bytes + size > self.limits.max_bytes || too_long) {
            closed.extend(self.take());
        }
        if self.open.is_empty() {
            self.open = Batch::with_capacity(self.limits.max_records.min(PRESIZED_RECORDS));
            self.opened_at = Some(now);
            self.read_times = (at, at);
        }
        self.read_times = (self.read_times.0.min(at), self.read_times.1.max(at));
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
    use firetail_agent::limits::{CLOUDWATCH_LOGS, FIREHOSE, KINESIS, LOGS_MAX_BATCH_SPAN_MILLIS};
    use firetail_record::{FileId, Span};

    fn record(len: usize, key: Option<&str>) -> OutRecord {
        OutRecord {
            data: Bytes::from(vec![b'x'; len]),
            span: Span {
                file: FileId(1),
                start: 0,
                end: len as u64,
            },
            partition_key: key.map(crate::PartitionKey::from),
            read_at_millis: 1_700_000_000_000,
        }
    }

    fn limits(max_records: usize, max_bytes: usize) -> BatchLimits {
        BatchLimits {
            max_records,
            max_bytes,
            max_age: Duration::from_secs(1),
            max_span_millis: None,
        }
    }

    #[test]
    fn a_batch_splits_at_a_byte_budget_keeping_order_and_at_least_one_record() {
        let mut batch = Batch::with_capacity(4);
        for len in [100, 200, 300, 400] {
            batch.bytes += record(len, None).request_bytes(&FIREHOSE);
            batch.records.push(record(len, None));
        }
        batch.attempt = 2;
        let rest = batch.split_at_bytes(350, &FIREHOSE).unwrap();
        assert_eq!(
            batch
                .records
                .iter()
                .map(|r| r.data.len())
                .collect::<Vec<_>>(),
            [100, 200]
        );
        assert_eq!(
            rest.records
                .iter()
                .map(|r| r.data.len())
                .collect::<Vec<_>>(),
            [300, 400]
        );
        assert_eq!((batch.bytes, rest.bytes), (300, 700));
        assert_eq!(rest.attempt, 2);
        // One record over the budget still leaves, alone.
        let mut big = rest;
        let tail = big.split_at_bytes(10, &FIREHOSE).unwrap();
        assert_eq!((big.len(), tail.len()), (1, 1));
        // A batch within the budget is not split.
        assert_eq!(big.split_at_bytes(10_000, &FIREHOSE), None);
    }

    /// A flow to CloudWatch Logs with the service's own limits.
    fn logs_batcher() -> Batcher {
        let l = &CLOUDWATCH_LOGS;
        Batcher::new(
            BatchLimits {
                max_records: l.max_records_per_request,
                max_bytes: l.max_request_bytes,
                max_age: Duration::from_secs(60),
                max_span_millis: l.max_batch_span_millis,
            },
            l,
        )
    }

    fn read_at(len: usize, millis: i64) -> OutRecord {
        OutRecord {
            read_at_millis: millis,
            ..record(len, None)
        }
    }

    #[test]
    fn logs_batches_close_at_ten_thousand_events() {
        let mut batcher = logs_batcher();
        let mut closed = Vec::new();
        let now = Instant::now();
        for _ in 0..10_001 {
            batcher.push(record(1, None), now, &mut closed);
        }
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].len(), 10_000);
        assert_eq!(closed[0].bytes, 10_000 * 27, "1 byte + 26 per event");
        assert_eq!(batcher.open_records(), 1);
    }

    #[test]
    fn logs_batches_count_26_bytes_per_event_against_one_mib() {
        let mut batcher = logs_batcher();
        let mut closed = Vec::new();
        let now = Instant::now();
        // 1,022 events of 1,000 bytes count 1,048,572 bytes with their overhead (without
        // it they would be 1,022,000, and 1,048 would fit): the 1,023rd does not fit.
        for _ in 0..1_023 {
            batcher.push(record(1_000, None), now, &mut closed);
        }
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].len(), 1_022);
        assert_eq!(closed[0].bytes, 1_022 * 1_026);
        assert!(closed[0].bytes <= 1_048_576);
        // Exactly full (message bytes + overhead = 1 MiB) closes at once.
        let mut batcher = logs_batcher();
        let mut closed = Vec::new();
        batcher.push(record(1_048_576 - 26, None), now, &mut closed);
        assert_eq!((closed.len(), closed[0].bytes), (1, 1_048_576));
    }

    #[test]
    fn logs_batches_never_span_more_than_24_hours() {
        let day = LOGS_MAX_BATCH_SPAN_MILLIS as i64;
        let t0 = 1_700_000_000_000;
        let mut batcher = logs_batcher();
        let mut closed = Vec::new();
        let now = Instant::now();
        batcher.push(read_at(10, t0), now, &mut closed);
        batcher.push(read_at(10, t0 + day), now, &mut closed); // exactly 24 h: still one
        assert!(closed.is_empty());
        batcher.push(read_at(10, t0 + day + 1), now, &mut closed);
        assert_eq!(
            closed.len(),
            1,
            "a record 24 h + 1 ms after the first starts a batch"
        );
        assert_eq!(closed[0].len(), 2);
        // Earlier times count too (a clock stepped back).
        batcher.push(read_at(10, t0 - 1), now, &mut closed);
        assert_eq!(closed.len(), 2);
        assert_eq!(batcher.open_records(), 1);
        // Retried batches are merged only within the span.
        let l = *batcher.limits();
        let old = Batch {
            records: vec![read_at(10, t0)],
            bytes: 36,
            attempt: 1,
        };
        let fresh = Batch {
            records: vec![read_at(10, t0 + day + 1)],
            bytes: 36,
            attempt: 0,
        };
        assert!(!old.can_absorb(&fresh, &l));
        let near = Batch {
            records: vec![read_at(10, t0 + 1_000)],
            bytes: 36,
            attempt: 0,
        };
        assert!(old.can_absorb(&near, &l));
        assert_eq!(near.read_times(), Some((t0 + 1_000, t0 + 1_000)));
    }

    #[test]
    fn closes_at_max_records() {
        let mut batcher = Batcher::new(limits(3, 1000), &FIREHOSE);
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
        let mut batcher = Batcher::new(limits(500, 100), &FIREHOSE);
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
        let mut batcher = Batcher::new(limits(500, 100), &FIREHOSE);
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
        let mut batcher = Batcher::new(limits(500, 100), &KINESIS);
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
        assert_eq!(record(40, Some("0123456789")).request_bytes(&FIREHOSE), 40);
    }

    #[tokio::test(start_paused = true)]
    async fn age_counts_from_the_first_record() {
        let mut batcher = Batcher::new(limits(500, 1000), &FIREHOSE);
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
    fn split_front_takes_the_leading_records_that_fit() {
        let mut b = Batch {
            records: vec![record(10, None), record(20, None), record(30, None)],
            bytes: 60,
            attempt: 1,
        };
        // Nothing fits: the batch is untouched.
        assert_eq!(b.split_front(9, 10, &FIREHOSE), None);
        assert_eq!((b.len(), b.bytes), (3, 60));
        // By bytes: 10 + 20 fit in 35, the 30 does not.
        let front = b.split_front(35, 10, &FIREHOSE).unwrap();
        assert_eq!((front.len(), front.bytes, front.attempt), (2, 30, 1));
        assert_eq!((b.len(), b.bytes), (1, 30));
        // By records.
        let mut b = Batch {
            records: vec![record(10, None), record(10, None), record(10, None)],
            bytes: 30,
            attempt: 0,
        };
        let front = b.split_front(1_000, 2, &FIREHOSE).unwrap();
        assert_eq!((front.len(), b.len(), b.bytes), (2, 1, 10));
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
