//! The retry policy, as pure state machines the send loop drives:
//! - [`backoff_ceiling`] and [`full_jitter`]: capped exponential backoff with full jitter
//!   (the delay is uniform in `[0, ceiling]`, so a fleet does not retry in lock-step).
//! - [`RetryBudget`]: a token bucket in the style of the AWS SDKs' retry quota. Retries
//!   spend tokens, clean successes earn them back; an empty bucket makes every retry wait
//!   the maximum backoff, so a regional outage does not turn into a retry storm.
//! - [`Aimd`]: the adaptive limit on requests in flight: slow start, then +1 per window
//!   of clean successes, halved on throttles and timeouts (at most once per window, like
//!   TCP); it grows only while it is what holds requests back.
//! - [`Pacer`]: optional records/s and bytes/s limits, a token bucket that may go into
//!   debt so a batch larger than one second's worth is never refused.
//!
//! Time is `tokio::time::Instant`, so all of it runs under paused test time.

use tokio::time::{Duration, Instant};

use crate::Pacing;

/// Default retry budget, the AWS SDK standard-mode quota.
pub const DEFAULT_RETRY_BUDGET_TOKENS: u32 = 500;
/// Tokens a retry after an error or throttle costs.
pub const RETRY_COST: u32 = 5;
/// Tokens a retry after a timeout costs (the request may have been accepted: pricier).
pub const TIMEOUT_RETRY_COST: u32 = 10;
/// Tokens a clean success earns back.
pub const SUCCESS_REFUND: u32 = 1;

/// The backoff ceiling after `failures` consecutive failures (1 = the first):
/// `initial × 2^(failures−1)`, capped at `max`. Zero failures means no backoff.
pub fn backoff_ceiling(initial: Duration, max: Duration, failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let doublings = (failures - 1).min(31);
    initial.saturating_mul(1u32 << doublings).min(max)
}

/// A delay uniform in `[0, ceiling]` for `unit` uniform in `[0, 1)`.
pub fn full_jitter(ceiling: Duration, unit: f64) -> Duration {
    // `clamp` passes a NaN through and `mul_f64` panics on it: a NaN draw waits nothing.
    let unit = if unit.is_nan() {
        0.0
    } else {
        unit.clamp(0.0, 1.0)
    };
    ceiling.mul_f64(unit)
}

/// The retry quota.
#[derive(Clone, Debug)]
pub struct RetryBudget {
    tokens: u32,
    capacity: u32,
}

impl RetryBudget {
    pub fn new(capacity: u32) -> Self {
        RetryBudget {
            tokens: capacity,
            capacity,
        }
    }

    /// Spends `cost` tokens; false (and nothing spent) when there are not enough.
    pub fn try_spend(&mut self, cost: u32) -> bool {
        if self.tokens >= cost {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }

    /// Earns back tokens after a clean success.
    pub fn refund(&mut self, tokens: u32) {
        self.tokens = self.tokens.saturating_add(tokens).min(self.capacity);
    }

    pub fn tokens(&self) -> u32 {
        self.tokens
    }
}

/// Additive-increase / multiplicative-decrease limit on requests in flight.
///
/// It starts in slow start, as TCP does: +1 per clean success, so the limit doubles every
/// round trip until the first throttle or timeout. A far endpoint is then filled within a
/// few round trips (at 100 ms a round, the additive rise alone took seconds to reach 24
/// requests in flight). After the first congestion it grows by one per window of `limit`
/// successes. It grows only while the limit is what holds requests back (batches were
/// waiting for a slot): a quiet flow must not climb to the ceiling unused and then answer
/// a burst with every request at once.
///
/// Each request carries the [`Aimd::epoch`] at which it was sent. A decrease only counts
/// for a request sent in the current epoch and starts a new one, so a burst of throttles
/// from requests that were all sent under the old limit halves the limit once, not once
/// per request.
#[derive(Clone, Debug)]
pub struct Aimd {
    limit: f64,
    max: usize,
    epoch: u64,
    slow_start: bool,
}

impl Aimd {
    /// Starts at one request in flight, growing up to `max`.
    pub fn new(max: usize) -> Self {
        Aimd {
            limit: 1.0,
            max: max.max(1),
            epoch: 0,
            slow_start: true,
        }
    }

    /// Requests allowed in flight now.
    pub fn limit(&self) -> usize {
        // The float is within [1, max] by construction, so the cast cannot truncate badly.
        (self.limit.floor() as usize).clamp(1, self.max)
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// A request came back with every record accepted. `saturated`: batches were waiting
    /// for a slot, so the limit is what held them back. Returns the new limit if it
    /// changed.
    pub fn on_success(&mut self, saturated: bool) -> Option<usize> {
        if !saturated {
            return None;
        }
        let before = self.limit();
        let step = if self.slow_start {
            1.0
        } else {
            1.0 / self.limit.floor().max(1.0)
        };
        self.limit = (self.limit + step).min(self.max as f64);
        let after = self.limit();
        (after != before).then_some(after)
    }

    /// A request sent in `sent_epoch` was throttled or timed out: halve, once per epoch,
    /// and leave slow start for good. Returns the new limit if it changed.
    pub fn on_congestion(&mut self, sent_epoch: u64) -> Option<usize> {
        if sent_epoch != self.epoch {
            return None;
        }
        self.epoch += 1;
        self.slow_start = false;
        let before = self.limit();
        self.limit = (self.limit / 2.0).max(1.0);
        let after = self.limit();
        (after != before).then_some(after)
    }
}

/// One dimension of the pacer: `rate` units per second, at most `burst` saved up.
#[derive(Clone, Debug)]
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: f64, burst: f64, now: Instant) -> Self {
        Bucket {
            rate,
            burst,
            tokens: burst,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.at = now;
    }

    /// How long until the bucket is out of debt.
    fn wait(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }

    fn spend(&mut self, amount: f64, now: Instant) {
        self.refill(now);
        self.tokens -= amount;
    }
}

/// Client-side rate limit on records/s and bytes/s. A request may be sent whenever
/// neither bucket is in debt; sending spends its full cost, possibly into debt, and the
/// next request waits until the debt is repaid. The long-run rate is therefore exact and
/// no batch is ever too big to pass.
#[derive(Clone, Debug)]
pub struct Pacer {
    records: Option<Bucket>,
    bytes: Option<Bucket>,
}

impl Pacer {
    /// `None` when `pacing` limits nothing. Bursts are one second's worth.
    pub fn new(pacing: &Pacing, now: Instant) -> Option<Self> {
        let bucket = |rate: Option<f64>| {
            rate.filter(|r| r.is_finite() && *r > 0.0)
                .map(|r| Bucket::new(r, r, now))
        };
        let pacer = Pacer {
            records: bucket(pacing.records_per_sec),
            bytes: bucket(pacing.bytes_per_sec),
        };
        (pacer.records.is_some() || pacer.bytes.is_some()).then_some(pacer)
    }

    /// How long to wait before the next request may go.
    pub fn wait(&mut self, now: Instant) -> Duration {
        let records = self
            .records
            .as_mut()
            .map_or(Duration::ZERO, |b| b.wait(now));
        let bytes = self.bytes.as_mut().map_or(Duration::ZERO, |b| b.wait(now));
        records.max(bytes)
    }

    /// Charges a request of `records` records and `bytes` bytes.
    pub fn spend(&mut self, records: usize, bytes: usize, now: Instant) {
        if let Some(bucket) = self.records.as_mut() {
            bucket.spend(records as f64, now);
        }
        if let Some(bucket) = self.bytes.as_mut() {
            bucket.spend(bytes as f64, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn backoff_doubles_and_is_capped() {
        let (initial, max) = (100 * MS, 10_000 * MS);
        let ceilings: Vec<u128> = (0..10)
            .map(|n| backoff_ceiling(initial, max, n).as_millis())
            .collect();
        assert_eq!(
            ceilings,
            [0, 100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000]
        );
        assert_eq!(backoff_ceiling(initial, max, u32::MAX), max);
        assert_eq!(
            backoff_ceiling(Duration::from_secs(3600), Duration::MAX, 40),
            Duration::from_secs(3600) * (1 << 31)
        );
    }

    #[test]
    fn full_jitter_spans_zero_to_ceiling() {
        let ceiling = 1000 * MS;
        assert_eq!(full_jitter(ceiling, 0.0), Duration::ZERO);
        assert_eq!(full_jitter(ceiling, 0.5), 500 * MS);
        assert_eq!(full_jitter(ceiling, 1.5), ceiling);
        assert_eq!(full_jitter(ceiling, -0.5), Duration::ZERO);
        assert_eq!(full_jitter(ceiling, f64::NAN), Duration::ZERO);
    }

    #[test]
    fn budget_spends_refunds_and_caps() {
        let mut budget = RetryBudget::new(12);
        assert!(budget.try_spend(RETRY_COST));
        assert!(budget.try_spend(RETRY_COST));
        assert!(!budget.try_spend(RETRY_COST));
        assert_eq!(budget.tokens(), 2);
        budget.refund(3);
        assert!(budget.try_spend(RETRY_COST));
        budget.refund(100);
        assert_eq!(budget.tokens(), 12);
    }

    #[test]
    fn aimd_doubles_per_round_until_congestion_then_grows_per_window() {
        let mut aimd = Aimd::new(64);
        assert_eq!(aimd.limit(), 1);
        // Slow start: every saturated success adds one (a round of `limit` successes
        // doubles the limit).
        assert_eq!(aimd.on_success(true), Some(2));
        assert_eq!(aimd.on_success(true), Some(3));
        assert_eq!(aimd.on_success(true), Some(4));
        for _ in 0..4 {
            aimd.on_success(true);
        }
        assert_eq!(aimd.limit(), 8);
        // An unsaturated flow does not grow.
        for _ in 0..50 {
            assert_eq!(aimd.on_success(false), None);
        }
        assert_eq!(aimd.limit(), 8);
        let epoch = aimd.epoch();
        assert_eq!(aimd.on_congestion(epoch), Some(4));
        // Other requests of the same burst do not halve again.
        assert_eq!(aimd.on_congestion(epoch), None);
        assert_eq!(aimd.limit(), 4);
        // Congestion avoidance: one per window of `limit` successes.
        for _ in 0..3 {
            assert_eq!(aimd.on_success(true), None);
        }
        assert_eq!(aimd.on_success(true), Some(5));
        assert_eq!(aimd.on_congestion(aimd.epoch()), Some(2));
        assert_eq!(aimd.on_congestion(aimd.epoch()), Some(1));
        assert_eq!(aimd.on_congestion(aimd.epoch()), None);
        assert_eq!(aimd.limit(), 1);
        for _ in 0..10_000 {
            aimd.on_success(true);
        }
        assert_eq!(aimd.limit(), 64, "capped at the maximum");
    }

    #[tokio::test(start_paused = true)]
    async fn pacer_holds_the_average_rate() {
        let pacing = Pacing {
            records_per_sec: Some(1000.0),
            bytes_per_sec: Some(10_000.0),
        };
        let mut pacer = Pacer::new(&pacing, Instant::now()).unwrap();
        assert_eq!(pacer.wait(Instant::now()), Duration::ZERO);
        // 500 records of 100 bytes: 50 000 bytes is 5 s of byte budget, 4 s beyond the burst.
        pacer.spend(500, 50_000, Instant::now());
        assert_eq!(pacer.wait(Instant::now()), Duration::from_secs(4));
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(pacer.wait(Instant::now()), Duration::ZERO);
        assert!(Pacer::new(
            &Pacing {
                records_per_sec: None,
                bytes_per_sec: Some(0.0)
            },
            Instant::now()
        )
        .is_none());
    }
}
