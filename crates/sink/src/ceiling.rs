//! A request-rate ceiling learned from throttles: what keeps a fleet of daemons sharing
//! one stream's quota from spending most of its calls on `ServiceUnavailableException`.
//!
//! # Why concurrency is not enough
//! A stream's quota is a rate (requests, records, bytes per second) shared by every
//! server. On a near endpoint one request in flight is already hundreds of calls a second,
//! so halving the concurrency limit on a throttle ([`crate::retry::Aimd`]) cannot bring a
//! daemon down to its share: 50 daemons with backlogs, each retrying after a jittered
//! backoff, had 59 % of their calls throttled and a Jain's index of 0.58 (scripts/fleet,
//! see docs/scaling.md). A ceiling on the request *rate* can.
//!
//! # The rule
//! - No ceiling until the first throttle: a daemon alone on its stream never pays for it.
//! - On a whole-call throttle of a request sent after the last cut, while more than
//!   `throttled_share` of the recent calls were throttled, the ceiling becomes
//!   `backoff_ratio` × the rate the daemon was sending at (the lower of its ceiling and its
//!   own send rate over its last [`MEASURE_REQUESTS`] requests). Throttles of requests sent
//!   before the cut belong to the same congestion and do not cut again.
//! - From the cut on it grows by about `growth_per_sec` of itself per second, twice as
//!   fast for every [`ACCELERATE_AFTER`] since the cut (up to [`MAX_ACCELERATION`]), so
//!   quota freed by others is found within a minute or two, and a ceiling that stopped
//!   mattering disappears (above [`MAX_RATE`]). A daemon that sends more requests meets
//!   more throttles and is cut more often while all grow alike: that drives a fleet
//!   towards equal shares.
//! - Requests leave at most one per `1 / ceiling`, each interval stretched by a random
//!   factor in `[1 - jitter, 1 + jitter]`: daemons that were cut by the same burst of
//!   throttles do not come back in step.
//!
//! Pure: the caller passes `now` and the random draws. Time is `tokio::time::Instant`, so
//! it runs under paused test time.

use std::collections::VecDeque;

use tokio::time::{Duration, Instant};

/// A daemon's own send rate is measured over its last this many requests ...
pub const MEASURE_REQUESTS: usize = 8;
/// ... sent within this long.
pub const MEASURE_WINDOW: Duration = Duration::from_secs(60);
/// Each period this long since the last cut doubles the growth.
pub const ACCELERATE_AFTER: Duration = Duration::from_secs(30);
/// The growth stops doubling at this factor.
pub const MAX_ACCELERATION: f64 = 16.0;
/// The ceiling never goes below this many requests per second (one a minute): a daemon is
/// never starved for good.
pub const MIN_RATE: f64 = 1.0 / 60.0;
/// Above this the ceiling is dropped: nothing a stream can take is limited by it.
pub const MAX_RATE: f64 = 100_000.0;
/// Weight of one call in the moving throttled share (about the last 20 calls).
const SHARE_WEIGHT: f64 = 0.05;

/// How the ceiling reacts; the defaults are the documented ones.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CeilingConfig {
    /// Multiplier applied on a throttle, in `[0.1, 0.95]`.
    pub backoff_ratio: f64,
    /// Growth of the ceiling per second after a cut (of its logarithm: 0.02 is about
    /// 2 % a second), in `[0.001, 1]`.
    pub growth_per_sec: f64,
    /// Spread of the interval between requests, in `[0, 0.9]`.
    pub jitter: f64,
    /// A throttle cuts only while more than this share of the recent calls (a moving
    /// average over about 20) was throttled, in `[0, 0.5]`. Occasional throttles (a
    /// stream's burst, an injected fault) are the backoff's business; a fleet over its
    /// quota throttles most calls.
    pub throttled_share: f64,
}

impl Default for CeilingConfig {
    fn default() -> Self {
        CeilingConfig {
            backoff_ratio: 0.7,
            growth_per_sec: 0.05,
            jitter: 0.25,
            throttled_share: 0.1,
        }
    }
}

impl CeilingConfig {
    /// Clamps every field into its documented range.
    pub fn clamped(self) -> Self {
        CeilingConfig {
            backoff_ratio: clamp(self.backoff_ratio, 0.1, 0.95, 0.7),
            growth_per_sec: clamp(self.growth_per_sec, 0.001, 1.0, 0.05),
            jitter: clamp(self.jitter, 0.0, 0.9, 0.25),
            throttled_share: clamp(self.throttled_share, 0.0, 0.5, 0.1),
        }
    }
}

fn clamp(value: f64, lo: f64, hi: f64, fallback: f64) -> f64 {
    if value.is_finite() {
        value.clamp(lo, hi)
    } else {
        fallback
    }
}

/// The ceiling set by the last cut.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Cut {
    rate: f64,
    at: Instant,
}

/// The learned ceiling of one flow.
#[derive(Clone, Debug)]
pub struct RateCeiling {
    cfg: CeilingConfig,
    /// `None` while nothing was throttled, or once the ceiling grew past [`MAX_RATE`].
    cut: Option<Cut>,
    /// No request leaves before this.
    next_at: Option<Instant>,
    /// Moving average of "this call was throttled whole".
    share: f64,
    /// When the last [`MEASURE_REQUESTS`] requests were sent.
    sent: VecDeque<Instant>,
}

impl RateCeiling {
    pub fn new(cfg: CeilingConfig, _now: Instant) -> Self {
        RateCeiling {
            cfg: cfg.clamped(),
            cut: None,
            next_at: None,
            share: 0.0,
            sent: VecDeque::with_capacity(MEASURE_REQUESTS + 1),
        }
    }

    /// The ceiling at `now` in requests per second; `None` when there is none.
    pub fn rate(&mut self, now: Instant) -> Option<f64> {
        let cut = self.cut?;
        let rate = cut.rate * self.growth_since(cut.at, now).exp();
        if rate >= MAX_RATE {
            self.cut = None;
            self.next_at = None;
            return None;
        }
        Some(rate)
    }

    /// The logarithm of the growth factor `now` has accumulated since a cut at `at`:
    /// `growth_per_sec` a second, doubled every [`ACCELERATE_AFTER`].
    fn growth_since(&self, at: Instant, now: Instant) -> f64 {
        let mut elapsed = now.saturating_duration_since(at).as_secs_f64();
        let period = ACCELERATE_AFTER.as_secs_f64();
        let (mut total, mut speed) = (0.0, self.cfg.growth_per_sec);
        while elapsed > 0.0 {
            let span = if speed >= self.cfg.growth_per_sec * MAX_ACCELERATION {
                elapsed
            } else {
                elapsed.min(period)
            };
            total += speed * span;
            elapsed -= span;
            speed = (speed * 2.0).min(self.cfg.growth_per_sec * MAX_ACCELERATION);
        }
        total
    }

    /// The moving share of throttled calls.
    pub fn throttled_share(&self) -> f64 {
        self.share
    }

    /// How long the next request must wait.
    pub fn wait(&mut self, now: Instant) -> Duration {
        self.ready_at(now).map_or(Duration::ZERO, |at| at - now)
    }

    /// When the next request may leave, if the ceiling holds it back now.
    pub fn ready_at(&mut self, now: Instant) -> Option<Instant> {
        self.rate(now)?;
        self.next_at.filter(|at| *at > now)
    }

    /// A request left now. `unit` is a uniform draw in `[0, 1)` for the jitter.
    pub fn on_sent(&mut self, now: Instant, unit: f64) {
        if self.sent.len() == MEASURE_REQUESTS {
            self.sent.pop_front();
        }
        self.sent.push_back(now);
        if let Some(rate) = self.rate(now) {
            let spread = 1.0 + self.cfg.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
            let interval = Duration::from_secs_f64(spread / rate);
            // From the later of now and the slot this request used, so an idle spell does
            // not bank a burst.
            let from = self.next_at.map_or(now, |at| at.max(now));
            self.next_at = Some(from + interval);
        }
    }

    /// A request came back with records accepted.
    pub fn on_accepted(&mut self) {
        self.share -= SHARE_WEIGHT * self.share;
    }

    /// A request sent at `sent_at` was throttled whole. Returns the new ceiling when it
    /// was cut.
    pub fn on_throttled(&mut self, sent_at: Instant, now: Instant) -> Option<f64> {
        self.share += SHARE_WEIGHT * (1.0 - self.share);
        if self.share <= self.cfg.throttled_share || self.cut.is_some_and(|c| sent_at < c.at) {
            return None;
        }
        // The rate it really sent at: a ceiling that grew unused is no base to cut from.
        let sending = self.send_rate(now);
        let base = self.rate(now).map_or(sending, |r| r.min(sending));
        let rate = (base * self.cfg.backoff_ratio).max(MIN_RATE);
        self.cut = Some(Cut { rate, at: now });
        // The next request waits a full interval from now, whatever slot it had.
        self.next_at = Some(now + Duration::from_secs_f64(1.0 / rate));
        Some(rate)
    }

    /// Requests per second over the last [`MEASURE_REQUESTS`] sent within
    /// [`MEASURE_WINDOW`], counted up to now (so a daemon that went quiet measures low).
    fn send_rate(&self, now: Instant) -> f64 {
        let recent: Vec<&Instant> = self
            .sent
            .iter()
            .filter(|t| now.saturating_duration_since(**t) <= MEASURE_WINDOW)
            .collect();
        let Some(oldest) = recent.first() else {
            return 0.0;
        };
        let span = now
            .saturating_duration_since(**oldest)
            .max(Duration::from_secs(1));
        recent.len() as f64 / span.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn cfg() -> CeilingConfig {
        CeilingConfig {
            jitter: 0.0,
            throttled_share: 0.0,
            growth_per_sec: 0.02,
            ..CeilingConfig::default()
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1.0)
    }

    #[tokio::test(start_paused = true)]
    async fn no_ceiling_until_the_first_throttle() {
        let mut c = RateCeiling::new(cfg(), Instant::now());
        for _ in 0..1000 {
            assert_eq!(c.wait(Instant::now()), Duration::ZERO);
            c.on_sent(Instant::now(), 0.5);
            c.on_accepted();
            tokio::time::advance(MS).await;
        }
        assert_eq!(c.rate(Instant::now()), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_cut_starts_from_the_send_rate_then_spaces_requests() {
        let mut c = RateCeiling::new(cfg(), Instant::now());
        // Ten requests a second; the last eight span 700 ms, measured up to 100 ms later.
        for _ in 0..20 {
            c.on_sent(Instant::now(), 0.5);
            tokio::time::advance(100 * MS).await;
        }
        let now = Instant::now();
        let cut = c.on_throttled(now, now).unwrap();
        assert!(close(cut, 0.7 * 8.0), "{cut}");
        let interval = Duration::from_secs_f64(1.0 / cut);
        assert_eq!(c.wait(now), interval);
        tokio::time::advance(interval).await;
        assert_eq!(c.wait(Instant::now()), Duration::ZERO);
        c.on_sent(Instant::now(), 0.5);
        let next = c.wait(Instant::now());
        assert!(next < interval && next > interval.mul_f64(0.95), "{next:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn throttles_of_requests_sent_before_the_cut_do_not_cut_again() {
        let mut c = RateCeiling::new(cfg(), Instant::now());
        let early = Instant::now();
        for _ in 0..8 {
            c.on_sent(early, 0.5);
        }
        tokio::time::advance(Duration::from_secs(1)).await;
        let first = c.on_throttled(early, Instant::now()).unwrap();
        assert!(close(first, 0.7 * 8.0));
        assert_eq!(c.on_throttled(early, Instant::now()), None);
        // A request sent after the cut counts, cut from the lower of the ceiling (5.7/s)
        // and what was sent: the last eight requests over 2 s, 4/s.
        tokio::time::advance(Duration::from_secs(1)).await;
        let later = Instant::now();
        c.on_sent(later, 0.5);
        assert!(c.rate(later).unwrap() > 4.0);
        assert!(close(c.on_throttled(later, later).unwrap(), 0.7 * 4.0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_ceiling_that_grew_unused_is_cut_from_what_was_sent() {
        let mut c = RateCeiling::new(cfg(), Instant::now());
        let now = Instant::now();
        c.on_throttled(now, now);
        assert_eq!(c.rate(now), Some(MIN_RATE), "nothing sent: the floor");
        // 80 s later the ceiling has grown 30-fold, but only 2 requests went in 20 s.
        tokio::time::advance(Duration::from_secs(60)).await;
        c.on_sent(Instant::now(), 0.5);
        tokio::time::advance(Duration::from_secs(20)).await;
        let now = Instant::now();
        c.on_sent(now, 0.5);
        assert!(c.rate(now).unwrap() > 0.4);
        assert!(close(c.on_throttled(now, now).unwrap(), 0.7 * 2.0 / 20.0));
    }

    #[tokio::test(start_paused = true)]
    async fn growth_doubles_every_period_since_the_cut_and_the_ceiling_lifts_at_the_top() {
        let mut c = RateCeiling::new(cfg(), Instant::now());
        let start = Instant::now();
        for _ in 0..8 {
            c.on_sent(start, 0.5);
        }
        tokio::time::advance(Duration::from_secs(1)).await;
        let cut_at = Instant::now();
        let cut = c.on_throttled(cut_at, cut_at).unwrap();
        let at = |s: u64| cut_at + Duration::from_secs(s);
        // 2 % a second for 30 s, then 4 %, 8 %, ...
        assert!(close(c.rate(at(10)).unwrap(), cut * (0.2f64).exp()));
        assert!(close(c.rate(at(30)).unwrap(), cut * (0.6f64).exp()));
        assert!(close(c.rate(at(40)).unwrap(), cut * (1.0f64).exp()));
        // 90-120 s: 8 x, 0.16 a second (and 16 x from then on).
        let g90 = 0.6 + 1.2 + 2.4;
        assert!(close(c.rate(at(100)).unwrap(), cut * (g90 + 1.6f64).exp()));
        assert_eq!(c.rate(at(200)), None, "past MAX_RATE the ceiling is gone");
        assert_eq!(c.wait(at(200)), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn jitter_spreads_intervals_around_the_ceiling() {
        let mut c = RateCeiling::new(
            CeilingConfig {
                jitter: 0.5,
                throttled_share: 0.0,
                ..CeilingConfig::default()
            },
            Instant::now(),
        );
        let now = Instant::now();
        c.cut = Some(Cut {
            rate: 10.0,
            at: now,
        });
        c.on_sent(now, 0.0);
        assert_eq!(c.ready_at(now), Some(now + 50 * MS));
        c.next_at = None;
        c.on_sent(now, 1.0);
        assert_eq!(c.ready_at(now), Some(now + 150 * MS));
    }

    #[tokio::test(start_paused = true)]
    async fn occasional_throttles_do_not_cut_a_steady_stream_of_them_does() {
        let mut c = RateCeiling::new(CeilingConfig::default(), Instant::now());
        // One call in 20 throttled: the share stays near 5 %, under the 10 % guard.
        for i in 0..400 {
            tokio::time::advance(10 * MS).await;
            let now = Instant::now();
            c.on_sent(now, 0.5);
            if i % 20 == 19 {
                assert_eq!(c.on_throttled(now, now), None, "call {i}");
            } else {
                c.on_accepted();
            }
        }
        assert_eq!(c.rate(Instant::now()), None);
        // Every other call throttled: the share passes 10 % within a few calls.
        let mut cut = None;
        for _ in 0..10 {
            tokio::time::advance(10 * MS).await;
            let now = Instant::now();
            c.on_sent(now, 0.5);
            cut = cut.or(c.on_throttled(now, now));
            c.on_accepted();
        }
        assert!(cut.is_some());
        assert!(c.throttled_share() > 0.1);
    }

    #[test]
    fn settings_are_clamped_into_range() {
        let c = CeilingConfig {
            backoff_ratio: 2.0,
            growth_per_sec: f64::NAN,
            jitter: -1.0,
            throttled_share: 0.9,
        }
        .clamped();
        assert_eq!(
            (
                c.backoff_ratio,
                c.growth_per_sec,
                c.jitter,
                c.throttled_share
            ),
            (0.95, 0.05, 0.0, 0.5)
        );
    }
}
