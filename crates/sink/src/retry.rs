//! The retry policy, as pure state machines the send loop drives:
//! - [`RetryPolicy`]: the policy itself. The send loop tells it what each answer did
//!   (clean success, partial progress, a [`Cause`] of failure over some [`Extent`]) and
//!   it answers with a [`Decision`]: how long to hold the flow and whether the failure is
//!   congestion for the [`Aimd`]. The throttle curve is this one type.
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
/// The failure score stops growing here: the backoff ceiling is long capped by then, and
/// a long outage must not take many clean successes to forget.
pub const MAX_FAILURE_SCORE: f64 = 40.0;

/// What went wrong with a request, as far as backing off is concerned. Permanent errors
/// are not here: they wait a fixed interval, not a curve (see [`crate::send`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The destination said slow down.
    Throttle,
    /// A transient error that is not a timeout (5xx, connection reset, a bad answer).
    Error,
    /// No answer within the request timeout: the request may have been accepted.
    Timeout,
}

impl Cause {
    /// Whether the failure says the destination is overloaded, so fewer requests in
    /// flight would help. A plain error says nothing about load.
    pub fn is_congestion(self) -> bool {
        matches!(self, Cause::Throttle | Cause::Timeout)
    }
}

/// How much of a request failed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Extent {
    /// The call as a whole failed (no per-record answer).
    WholeCall,
    /// The call was answered and this fraction of its records, in `(0, 1]`, failed.
    Records(f64),
}

/// What [`RetryPolicy::on_setback`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// How long the flow holds its next request (zero: no hold).
    pub delay: Duration,
    /// Whether the AIMD should count this as congestion.
    pub congestion: bool,
    /// The retry budget could not pay for this retry, so `delay` is the maximum backoff.
    pub budget_empty: bool,
}

/// The flow-wide backoff, like the Kinesis Agent's: it delays the flow's next request,
/// whatever batch that is.
///
/// The hold grows with a failure score: +1 per whole call that failed, + the failed
/// fraction for per-record failures, capped at [`MAX_FAILURE_SCORE`]. A partial answer
/// first multiplies it by the share of records that failed, and a clean success divides
/// it by 10 (below 1 it is forgotten). The delay is full jitter under
/// [`backoff_ceiling`] of the rounded score, or the maximum backoff when the
/// [`RetryBudget`] cannot pay for the retry.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    initial_backoff: Duration,
    max_backoff: Duration,
    budget: RetryBudget,
    failure_score: f64,
}

impl RetryPolicy {
    /// Backoff ceilings from `initial_backoff` doubling up to `max_backoff`, and a retry
    /// budget of `budget_tokens` (full at the start).
    pub fn new(initial_backoff: Duration, max_backoff: Duration, budget_tokens: u32) -> Self {
        RetryPolicy {
            initial_backoff,
            max_backoff,
            budget: RetryBudget::new(budget_tokens),
            failure_score: 0.0,
        }
    }

    /// A request came back with every record accepted.
    pub fn on_clean_success(&mut self) {
        self.budget.refund(SUCCESS_REFUND);
        self.failure_score /= 10.0;
        if self.failure_score < 1.0 {
            self.failure_score = 0.0;
        }
    }

    /// An answer accepted `accepted` of its `attempted` records and failed some of the
    /// rest (call [`RetryPolicy::on_setback`] for those next). Nothing accepted changes
    /// nothing.
    pub fn on_progress(&mut self, accepted: usize, attempted: usize) {
        if accepted == 0 || attempted == 0 {
            return;
        }
        // Decay by the share accepted, so a steady trickle of per-record failures settles
        // at a small hold instead of ratcheting up to the maximum (the agent only ever
        // adds here). Progress also proves the service is up, so it refills the budget.
        let accepted_share = (accepted as f64 / attempted as f64).min(1.0);
        self.failure_score *= 1.0 - accepted_share;
        self.budget.refund(SUCCESS_REFUND);
    }

    /// Records or a whole call failed with `cause`; `unit` is a uniform draw in `[0, 1)`
    /// for the jitter.
    pub fn on_setback(&mut self, cause: Cause, extent: Extent, unit: f64) -> Decision {
        // Only whole-call failures draw on the budget: it exists to stop an outage turning
        // into a retry storm, and a per-record failure is no outage. A timeout costs more
        // because its request may have been accepted: retrying it may duplicate.
        let (score, cost) = match extent {
            Extent::WholeCall => (
                1.0,
                if cause == Cause::Timeout {
                    TIMEOUT_RETRY_COST
                } else {
                    RETRY_COST
                },
            ),
            // A NaN share would poison the score for good: count it as all failed.
            Extent::Records(fraction) if fraction.is_nan() => (1.0, 0),
            Extent::Records(fraction) => (fraction.clamp(0.0, 1.0), 0),
        };
        self.failure_score = (self.failure_score + score).min(MAX_FAILURE_SCORE);
        let budget_empty = !self.budget.try_spend(cost);
        let delay = if budget_empty {
            self.max_backoff
        } else {
            full_jitter(self.ceiling(), unit)
        };
        Decision {
            delay,
            congestion: cause.is_congestion(),
            budget_empty,
        }
    }

    /// The backoff ceiling the score sets now (the jittered delay is at most this).
    pub fn ceiling(&self) -> Duration {
        // The score is within [0, MAX_FAILURE_SCORE], so the cast cannot truncate badly.
        let steps = self.failure_score.round() as u32;
        backoff_ceiling(self.initial_backoff, self.max_backoff, steps)
    }

    pub fn failure_score(&self) -> f64 {
        self.failure_score
    }

    pub fn budget_tokens(&self) -> u32 {
        self.budget.tokens()
    }
}

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

    /// 100 ms doubling to 10 s, the SinkConfig defaults.
    fn new_policy(budget: u32) -> RetryPolicy {
        RetryPolicy::new(100 * MS, 10_000 * MS, budget)
    }

    /// `n` whole-call errors; returns the last decision.
    fn errors(policy: &mut RetryPolicy, n: usize, unit: f64) -> Decision {
        let mut last = None;
        for _ in 0..n {
            last = Some(policy.on_setback(Cause::Error, Extent::WholeCall, unit));
        }
        last.expect("n > 0")
    }

    #[test]
    fn policy_curve_doubles_per_failed_call_and_is_capped() {
        let mut policy = new_policy(u32::MAX);
        // A draw of 1 waits the whole ceiling; the top of the curve is the maximum.
        let delays: Vec<u128> = (0..10)
            .map(|_| {
                policy
                    .on_setback(Cause::Error, Extent::WholeCall, 1.0)
                    .delay
                    .as_millis()
            })
            .collect();
        assert_eq!(
            delays,
            [100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000, 10000]
        );
        // The jitter is a share of that ceiling.
        let half = policy.on_setback(Cause::Error, Extent::WholeCall, 0.5);
        assert_eq!(half.delay, 5000 * MS);
        assert_eq!(policy.failure_score(), 11.0);
        errors(&mut policy, 100, 0.5);
        assert_eq!(
            policy.failure_score(),
            MAX_FAILURE_SCORE,
            "the score is capped"
        );
    }

    #[test]
    fn policy_forgets_on_clean_success() {
        let mut policy = new_policy(u32::MAX);
        errors(&mut policy, 12, 0.0);
        assert_eq!(policy.ceiling(), 10_000 * MS);
        policy.on_clean_success();
        assert!((policy.failure_score() - 1.2).abs() < 1e-9);
        assert_eq!(policy.ceiling(), 100 * MS);
        // Below 1 the score is forgotten, not kept as a fraction.
        policy.on_clean_success();
        assert_eq!(policy.failure_score(), 0.0);
        assert_eq!(policy.ceiling(), Duration::ZERO);
        // Half a step would still round up to a backoff: it is forgotten too.
        errors(&mut policy, 5, 0.0);
        policy.on_clean_success();
        assert_eq!(policy.failure_score(), 0.0);
        assert_eq!(policy.ceiling(), Duration::ZERO);
        // A long outage (the capped score) is forgotten after two clean successes.
        errors(&mut policy, 1000, 0.0);
        policy.on_clean_success();
        assert_eq!(policy.failure_score(), 4.0);
        assert_eq!(policy.ceiling(), 800 * MS);
        policy.on_clean_success();
        assert_eq!(policy.failure_score(), 0.0);
        let first = policy.on_setback(Cause::Error, Extent::WholeCall, 1.0);
        assert_eq!(first.delay, 100 * MS, "the curve starts over");
    }

    #[test]
    fn policy_decays_by_the_share_accepted_on_partial_progress() {
        let mut policy = new_policy(100);
        errors(&mut policy, 8, 0.0);
        assert_eq!(policy.budget_tokens(), 100 - 8 * RETRY_COST);
        // 3 of 4 accepted: a quarter of the score stays, and the budget earns a refund.
        policy.on_progress(3, 4);
        assert_eq!(policy.failure_score(), 2.0);
        assert_eq!(
            policy.budget_tokens(),
            100 - 8 * RETRY_COST + SUCCESS_REFUND
        );
        // Nothing accepted is no progress: no decay, no refund.
        policy.on_progress(0, 4);
        policy.on_progress(0, 0);
        assert_eq!(policy.failure_score(), 2.0);
        assert_eq!(
            policy.budget_tokens(),
            100 - 8 * RETRY_COST + SUCCESS_REFUND
        );
        // The failed quarter adds its fraction, not a whole step.
        let decision = policy.on_setback(Cause::Error, Extent::Records(0.25), 1.0);
        assert_eq!(policy.failure_score(), 2.25);
        assert_eq!(decision.delay, 200 * MS);
        // A steady trickle of 10 % failures settles instead of ratcheting up.
        for _ in 0..1000 {
            policy.on_progress(9, 10);
            policy.on_setback(Cause::Throttle, Extent::Records(0.1), 0.0);
        }
        assert!(policy.failure_score() < 0.2, "{}", policy.failure_score());
    }

    #[test]
    fn per_record_failures_spend_no_budget() {
        let mut policy = new_policy(RETRY_COST);
        for cause in [Cause::Throttle, Cause::Error, Cause::Timeout] {
            for _ in 0..50 {
                let decision = policy.on_setback(cause, Extent::Records(0.5), 0.5);
                assert!(!decision.budget_empty);
                assert!(decision.delay < 10_000 * MS);
            }
        }
        assert_eq!(policy.budget_tokens(), RETRY_COST);
        // Even with the budget empty, a per-record failure follows the curve.
        let mut policy = new_policy(0);
        let decision = policy.on_setback(Cause::Throttle, Extent::Records(1.0), 1.0);
        assert_eq!(decision.delay, 100 * MS);
        assert!(!decision.budget_empty);
    }

    #[test]
    fn an_empty_budget_waits_the_maximum() {
        let mut policy = new_policy(2 * RETRY_COST + 2);
        assert!(!errors(&mut policy, 2, 0.0).budget_empty);
        assert_eq!(policy.budget_tokens(), 2);
        // The third retry cannot be paid: whatever the draw, it waits the maximum, and
        // nothing is spent.
        let decision = policy.on_setback(Cause::Throttle, Extent::WholeCall, 0.0);
        assert!(decision.budget_empty);
        assert_eq!(decision.delay, 10_000 * MS);
        assert_eq!(policy.budget_tokens(), 2);
        // Clean successes earn the budget back, one token each.
        for _ in 0..RETRY_COST - 2 {
            policy.on_clean_success();
        }
        let decision = policy.on_setback(Cause::Error, Extent::WholeCall, 0.0);
        assert!(!decision.budget_empty);
        assert_eq!(decision.delay, Duration::ZERO);
        assert_eq!(policy.budget_tokens(), 0);
    }

    #[test]
    fn a_timeout_costs_more_than_an_error_or_throttle() {
        let mut policy = new_policy(100);
        policy.on_setback(Cause::Error, Extent::WholeCall, 0.0);
        assert_eq!(policy.budget_tokens(), 100 - RETRY_COST);
        policy.on_setback(Cause::Throttle, Extent::WholeCall, 0.0);
        assert_eq!(policy.budget_tokens(), 100 - 2 * RETRY_COST);
        policy.on_setback(Cause::Timeout, Extent::WholeCall, 0.0);
        assert_eq!(
            policy.budget_tokens(),
            100 - 2 * RETRY_COST - TIMEOUT_RETRY_COST
        );
        // A budget that pays for an error but not a timeout.
        let mut policy = new_policy(RETRY_COST);
        assert!(
            policy
                .on_setback(Cause::Timeout, Extent::WholeCall, 0.0)
                .budget_empty
        );
        assert!(
            !policy
                .on_setback(Cause::Error, Extent::WholeCall, 0.0)
                .budget_empty
        );
    }

    #[test]
    fn throttles_and_timeouts_are_congestion_plain_errors_are_not() {
        let mut policy = new_policy(u32::MAX);
        for extent in [Extent::WholeCall, Extent::Records(0.5)] {
            assert!(policy.on_setback(Cause::Throttle, extent, 0.5).congestion);
            assert!(policy.on_setback(Cause::Timeout, extent, 0.5).congestion);
            assert!(!policy.on_setback(Cause::Error, extent, 0.5).congestion);
        }
        // The budget does not change the answer.
        let mut policy = new_policy(0);
        assert!(
            policy
                .on_setback(Cause::Throttle, Extent::WholeCall, 0.5)
                .congestion
        );
        assert!(
            !policy
                .on_setback(Cause::Error, Extent::WholeCall, 0.5)
                .congestion
        );
    }

    #[test]
    fn policy_stays_finite_on_odd_draws_and_fractions() {
        let mut policy = new_policy(u32::MAX);
        errors(&mut policy, 3, 0.0);
        for unit in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 2.0] {
            let decision = policy.on_setback(Cause::Error, Extent::Records(0.0), unit);
            assert!(decision.delay <= policy.ceiling(), "{unit}: {decision:?}");
        }
        assert_eq!(
            policy
                .on_setback(Cause::Error, Extent::Records(0.0), f64::NAN)
                .delay,
            Duration::ZERO
        );
        // A NaN fraction counts as all failed instead of poisoning the score.
        policy.on_setback(Cause::Throttle, Extent::Records(f64::NAN), 0.0);
        assert_eq!(policy.failure_score(), 4.0);
        policy.on_setback(Cause::Throttle, Extent::Records(7.0), 0.0);
        assert_eq!(policy.failure_score(), 5.0, "a fraction is at most 1");
        policy.on_progress(10, 4);
        assert_eq!(policy.failure_score(), 0.0);
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
