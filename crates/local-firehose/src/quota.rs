//! Per-stream throughput quotas, as a Direct PUT delivery stream enforces them: requests,
//! records and bytes per second, shared by every caller of the stream, combined across
//! `PutRecord` and `PutRecordBatch`. A call that would exceed any of the three is refused
//! whole with `ServiceUnavailableException` ("Slow down."), and nothing of it is delivered.
//!
//! # The window
//! AWS states the quotas per second and does not publish its accounting. The model here is
//! one token bucket per dimension, refilled continuously at the quota's rate and holding at
//! most one *window* of it (1 s by default, `--quota-window`): a stream idle for a second
//! may take a second's worth at once, and over any longer interval the accepted rate never
//! exceeds the quota by more than one window's worth. A refused call costs nothing, as a
//! throttled call does not count against the service's quota either.
//!
//! Which calls pass while the stream is near its quota is not published either. Two
//! models are offered:
//! - **overdraft** (the default): a call passes while every bucket still holds something,
//!   and its whole cost is charged, possibly driving the bucket into debt that later calls
//!   wait out; the service accounts usage and throttles once the stream is over, so the
//!   call that crosses the quota passes. Big and small calls have the same chance.
//! - **strict** (`--quota-strict`): a call passes only if its whole cost is in the bucket.
//!   Small calls then keep the bucket below the size of a big one, and in scripts/fleet
//!   daemons sending full 500-record batches got nothing for a minute while caught-up
//!   daemons' small batches took the whole quota (docs/scaling.md).
//!
//! In both, a call bigger than a whole window (possible only with a quota scaled below one
//! request's size, e.g. 4 MiB against a 1 MiB/s bucket) passes once its bucket is full,
//! so no call is refused forever, and the long-run rate is the quota.
//!
//! Pure: no clock reads; the caller passes `now`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::Error;

/// The three per-second quotas of one stream. `None` leaves a dimension unlimited; all
/// `None` (the default) turns quotas off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    /// API calls per second.
    pub requests_per_sec: Option<f64>,
    /// Records per second.
    pub records_per_sec: Option<f64>,
    /// Bytes of record data (decoded) per second.
    pub bytes_per_sec: Option<f64>,
    /// How much unused quota a bucket keeps: bursts up to this window's worth pass.
    pub window: Duration,
    /// Admit a call only if its whole cost is in the buckets (else: while they are not
    /// empty, overdrawing them).
    pub strict: bool,
}

impl Default for Quota {
    fn default() -> Self {
        Quota {
            requests_per_sec: None,
            records_per_sec: None,
            bytes_per_sec: None,
            window: Duration::from_secs(1),
            strict: false,
        }
    }
}

impl Quota {
    /// Whether any dimension is limited.
    pub fn is_enabled(&self) -> bool {
        self.requests_per_sec.is_some()
            || self.records_per_sec.is_some()
            || self.bytes_per_sec.is_some()
    }

    /// Checks that every limit is a positive finite rate and the window is usable.
    pub fn validate(&self) -> Result<(), Error> {
        let limits = [
            ("quota-requests", self.requests_per_sec),
            ("quota-records", self.records_per_sec),
            ("quota-bytes", self.bytes_per_sec),
        ];
        for (flag, limit) in limits {
            if let Some(rate) = limit {
                if !(rate.is_finite() && rate > 0.0) {
                    return Err(Error::InvalidArg {
                        flag,
                        value: rate.to_string(),
                        reason: "must be a positive number per second".into(),
                    });
                }
            }
        }
        if self.window < Duration::from_millis(10) || self.window > Duration::from_secs(3600) {
            return Err(Error::InvalidArg {
                flag: "quota-window",
                value: format!("{:?}", self.window),
                reason: "must be between 10ms and 1h".into(),
            });
        }
        Ok(())
    }
}

/// Which quota refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    Requests,
    Records,
    Bytes,
}

impl Exceeded {
    /// The name used in the stats (`requests_over_quota`).
    pub fn name(self) -> &'static str {
        match self {
            Exceeded::Requests => "requests",
            Exceeded::Records => "records",
            Exceeded::Bytes => "bytes",
        }
    }
}

/// One dimension's bucket.
#[derive(Debug, Clone)]
struct Bucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: f64, window: Duration, now: Instant) -> Self {
        let capacity = rate * window.as_secs_f64();
        Bucket {
            rate,
            capacity,
            tokens: capacity,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.at = now;
    }

    /// Whether a call costing `cost` may pass now: strict, if it fits (a call larger than
    /// the whole bucket when the bucket is full); else while the bucket is not empty.
    fn admits(&mut self, cost: f64, strict: bool, now: Instant) -> bool {
        self.refill(now);
        if strict {
            self.tokens >= cost.min(self.capacity)
        } else {
            self.tokens > 0.0
        }
    }

    fn spend(&mut self, cost: f64) {
        self.tokens -= cost;
    }
}

/// The buckets of one stream.
#[derive(Debug, Clone)]
pub struct StreamQuota {
    strict: bool,
    requests: Option<Bucket>,
    records: Option<Bucket>,
    bytes: Option<Bucket>,
}

impl StreamQuota {
    /// Full buckets for `quota` at `now`.
    pub fn new(quota: &Quota, now: Instant) -> Self {
        let bucket = |rate: Option<f64>| rate.map(|r| Bucket::new(r, quota.window, now));
        StreamQuota {
            strict: quota.strict,
            requests: bucket(quota.requests_per_sec),
            records: bucket(quota.records_per_sec),
            bytes: bucket(quota.bytes_per_sec),
        }
    }

    /// Charges one call of `records` records and `bytes` bytes if every bucket admits it;
    /// otherwise charges nothing and says which quota it would exceed.
    pub fn try_admit(
        &mut self,
        records: usize,
        bytes: usize,
        now: Instant,
    ) -> Result<(), Exceeded> {
        let costs = [
            (Exceeded::Requests, 1.0),
            (Exceeded::Records, records as f64),
            (Exceeded::Bytes, bytes as f64),
        ];
        let strict = self.strict;
        for (dimension, cost) in costs {
            if let Some(bucket) = self.bucket(dimension) {
                if !bucket.admits(cost, strict, now) {
                    return Err(dimension);
                }
            }
        }
        for (dimension, cost) in costs {
            if let Some(bucket) = self.bucket(dimension) {
                bucket.spend(cost);
            }
        }
        Ok(())
    }

    fn bucket(&mut self, dimension: Exceeded) -> Option<&mut Bucket> {
        match dimension {
            Exceeded::Requests => self.requests.as_mut(),
            Exceeded::Records => self.records.as_mut(),
            Exceeded::Bytes => self.bytes.as_mut(),
        }
    }
}

/// Every stream's buckets, created on a stream's first call.
pub(crate) struct Quotas {
    quota: Quota,
    streams: Mutex<HashMap<Arc<str>, StreamQuota>>,
}

impl Quotas {
    pub(crate) fn new(quota: Quota) -> Self {
        Quotas {
            quota,
            streams: Mutex::new(HashMap::new()),
        }
    }

    /// Charges a call to `stream`; `Err` names the quota it would exceed. Always `Ok` when
    /// quotas are off.
    pub(crate) fn try_admit(
        &self,
        stream: &Arc<str>,
        records: usize,
        bytes: usize,
        now: Instant,
    ) -> Result<(), Exceeded> {
        if !self.quota.is_enabled() {
            return Ok(());
        }
        // Nothing panics while the map is held, and a poisoned map is still consistent.
        let mut streams = self
            .streams
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        streams
            .entry(Arc::clone(stream))
            .or_insert_with(|| StreamQuota::new(&self.quota, now))
            .try_admit(records, bytes, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn quota(requests: f64, records: f64, bytes: f64) -> Quota {
        Quota {
            requests_per_sec: Some(requests),
            records_per_sec: Some(records),
            bytes_per_sec: Some(bytes),
            window: Duration::from_secs(1),
            strict: true,
        }
    }

    fn overdraft(q: Quota) -> Quota {
        Quota { strict: false, ..q }
    }

    #[test]
    fn a_full_window_passes_then_the_rate_holds() {
        let t0 = Instant::now();
        let mut q = StreamQuota::new(&quota(10.0, 1e9, 1e12), t0);
        // An idle stream takes one window's worth at once ...
        for _ in 0..10 {
            assert_eq!(q.try_admit(1, 1, t0), Ok(()));
        }
        assert_eq!(q.try_admit(1, 1, t0), Err(Exceeded::Requests));
        // ... then one call per 100 ms.
        assert_eq!(q.try_admit(1, 1, t0 + 50 * MS), Err(Exceeded::Requests));
        assert_eq!(q.try_admit(1, 1, t0 + 100 * MS), Ok(()));
        assert_eq!(q.try_admit(1, 1, t0 + 150 * MS), Err(Exceeded::Requests));
        // Over 10 s of calls every 10 ms, the accepted rate is the quota plus one window.
        let accepted = (0..1000)
            .filter(|i| q.try_admit(1, 1, t0 + 200 * MS + *i * 10 * MS).is_ok())
            .count();
        assert!((100..=101).contains(&accepted), "{accepted}");
    }

    #[test]
    fn a_refused_call_costs_nothing_and_names_its_quota() {
        let t0 = Instant::now();
        let mut q = StreamQuota::new(&quota(100.0, 1000.0, 10_000.0), t0);
        assert_eq!(q.try_admit(600, 100, t0), Ok(()));
        assert_eq!(q.try_admit(500, 100, t0), Err(Exceeded::Records));
        // The refused call left its records in the bucket: 400 still pass.
        assert_eq!(q.try_admit(400, 100, t0), Ok(()));
        assert_eq!(q.try_admit(0, 9_801, t0), Err(Exceeded::Bytes));
        assert_eq!(q.try_admit(0, 9_800, t0), Ok(()));
    }

    #[test]
    fn overdraft_admits_while_not_empty_and_charges_in_full() {
        let t0 = Instant::now();
        let mut q = StreamQuota::new(&overdraft(quota(100.0, 1e9, 1000.0)), t0);
        // 900 of 1000 bytes: passes; 900 more: passes too (100 left), 800 into debt.
        assert_eq!(q.try_admit(1, 900, t0), Ok(()));
        assert_eq!(q.try_admit(1, 900, t0), Ok(()));
        assert_eq!(q.try_admit(1, 1, t0), Err(Exceeded::Bytes));
        // The debt is repaid at 1000 B/s: 800 ms.
        assert_eq!(
            q.try_admit(1, 1, t0 + Duration::from_millis(799)),
            Err(Exceeded::Bytes)
        );
        assert_eq!(q.try_admit(1, 1, t0 + Duration::from_millis(801)), Ok(()));
        // Over 100 s of one 100-byte call every 10 ms, the accepted bytes are the quota.
        let accepted = (0..10_000)
            .filter(|i| {
                q.try_admit(1, 100, t0 + Duration::from_secs(1) + *i * 10 * MS)
                    .is_ok()
            })
            .count();
        assert!((1000..=1011).contains(&accepted), "{accepted}");
    }

    #[test]
    fn a_call_larger_than_the_window_passes_into_debt() {
        let t0 = Instant::now();
        let mut q = StreamQuota::new(&quota(1000.0, 1e9, 1000.0), t0);
        // 4 000 bytes against 1 000 B/s: admitted on a full bucket, then 4 s of debt.
        assert_eq!(q.try_admit(1, 4000, t0), Ok(()));
        assert_eq!(
            q.try_admit(1, 1, t0 + Duration::from_millis(2999)),
            Err(Exceeded::Bytes)
        );
        assert_eq!(q.try_admit(1, 1, t0 + Duration::from_millis(3001)), Ok(()));
    }

    #[test]
    fn streams_are_independent_and_off_means_off() {
        let t0 = Instant::now();
        let quotas = Quotas::new(quota(1.0, 1e9, 1e12));
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        assert!(quotas.try_admit(&a, 1, 1, t0).is_ok());
        assert_eq!(quotas.try_admit(&a, 1, 1, t0), Err(Exceeded::Requests));
        assert!(quotas.try_admit(&b, 1, 1, t0).is_ok());
        let off = Quotas::new(Quota::default());
        assert!((0..10_000).all(|_| off.try_admit(&a, 500, 4 << 20, t0).is_ok()));
    }

    #[test]
    fn limits_are_validated() {
        assert!(quota(1.0, 1.0, 1.0).validate().is_ok());
        assert!(quota(0.0, 1.0, 1.0).validate().is_err());
        assert!(quota(1.0, f64::NAN, 1.0).validate().is_err());
        let q = Quota {
            window: Duration::ZERO,
            ..Quota::default()
        };
        assert!(q.validate().is_err());
        assert!(!Quota::default().is_enabled());
    }
}
