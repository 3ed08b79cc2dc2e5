//! At most one log line per interval for a condition that repeats (a regex giving up on
//! every record, a checkpoint write failing on every tick): the journal hears of it when
//! it starts and then once per interval, and counters carry the rest.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Lets a repeated log line through at most once per interval. Shared by reference: of
/// callers racing for the same interval, one wins.
#[derive(Debug)]
pub struct LogGate {
    interval_ms: u64,
    /// When the last line went through, in ms on [`ms_of`]'s clock; 0 for never.
    last_ms: AtomicU64,
    /// Calls held back since the last line went through.
    held: AtomicU64,
}

impl LogGate {
    pub const fn new(interval: Duration) -> LogGate {
        LogGate {
            // An interval past u64 milliseconds means "once": saturate.
            interval_ms: if interval.as_millis() > u64::MAX as u128 {
                u64::MAX
            } else {
                interval.as_millis() as u64
            },
            last_ms: AtomicU64::new(0),
            held: AtomicU64::new(0),
        }
    }

    /// True for the first call, then for the first call once `interval` has passed since
    /// the last true.
    pub fn due(&self) -> bool {
        self.pass().is_some()
    }

    /// Like [`Self::due`], and when the line may go, what it can say about the calls held
    /// back since the last one went.
    pub fn pass(&self) -> Option<Passed> {
        self.pass_at(Instant::now())
    }

    /// [`Self::pass`] at `now`, for a caller on another clock of the same kind (tokio's,
    /// paused in tests: `tokio::time::Instant::into_std`).
    pub fn pass_at(&self, now: Instant) -> Option<Passed> {
        let now = ms_of(now);
        let last = self.last_ms.load(Relaxed);
        let due = (last == 0 || now.saturating_sub(last) >= self.interval_ms)
            && self
                .last_ms
                .compare_exchange(last, now.max(1), Relaxed, Relaxed)
                .is_ok();
        if due {
            Some(Passed {
                held: self.held.swap(0, Relaxed),
                since_last: (last != 0).then(|| Duration::from_millis(now.saturating_sub(last))),
            })
        } else {
            self.held.fetch_add(1, Relaxed);
            None
        }
    }

    /// The condition ended: the next [`Self::due`] is true at once.
    pub fn reset(&self) {
        self.last_ms.store(0, Relaxed);
        self.held.store(0, Relaxed);
    }
}

/// A line [`LogGate::pass`] let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Passed {
    /// Calls held back since the last line.
    pub held: u64,
    /// How long ago the last line went; `None` for the first.
    pub since_last: Option<Duration>,
}

/// Milliseconds of `at` on a monotonic clock (a wall clock set back would hold lines
/// back), counted from the first look, so they fit an atomic.
fn ms_of(at: Instant) -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    // From 1, so that 0 can stand for "never".
    u64::try_from(at.saturating_duration_since(start).as_millis())
        .map_or(u64::MAX, |ms| ms.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_call_passes_then_none_within_the_interval_until_reset() {
        let gate = LogGate::new(Duration::from_secs(60));
        assert!(gate.due());
        assert!(!gate.due());
        gate.reset();
        assert!(gate.due());
        assert!(!gate.due());
    }

    #[test]
    fn a_line_that_goes_through_counts_the_ones_held_back() {
        let gate = LogGate::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let first = gate.pass_at(t0).map(|p| (p.held, p.since_last));
        assert_eq!(first, Some((0, None)));
        assert_eq!(gate.pass_at(t0 + Duration::from_secs(1)), None);
        assert_eq!(gate.pass_at(t0 + Duration::from_secs(59)), None);
        let next = gate.pass_at(t0 + Duration::from_secs(61));
        assert_eq!(next.map(|p| p.held), Some(2));
        // Within a millisecond: the clock's origin may be taken just after `t0`.
        let since = next.and_then(|p| p.since_last).unwrap_or_default();
        assert!(since > Duration::from_millis(60_990) && since <= Duration::from_secs(61));
        assert_eq!(gate.pass_at(t0 + Duration::from_secs(62)), None);
    }

    #[test]
    fn a_zero_interval_lets_every_call_through() {
        let gate = LogGate::new(Duration::ZERO);
        assert!(gate.due());
        assert!(gate.due());
    }
}
