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
    /// When the last line went through, in ms on [`now_ms`]'s clock; 0 for never.
    last_ms: AtomicU64,
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
        }
    }

    /// True for the first call, then for the first call once `interval` has passed since
    /// the last true.
    pub fn due(&self) -> bool {
        let now = now_ms();
        let last = self.last_ms.load(Relaxed);
        (last == 0 || now.saturating_sub(last) >= self.interval_ms)
            && self
                .last_ms
                .compare_exchange(last, now.max(1), Relaxed, Relaxed)
                .is_ok()
    }

    /// The condition ended: the next [`Self::due`] is true at once.
    pub fn reset(&self) {
        self.last_ms.store(0, Relaxed);
    }
}

/// Milliseconds on a monotonic clock (a wall clock set back would hold lines back),
/// counted from the first look, so they fit an atomic.
fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    u64::try_from(START.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(u64::MAX)
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
    fn a_zero_interval_lets_every_call_through() {
        let gate = LogGate::new(Duration::ZERO);
        assert!(gate.due());
        assert!(gate.due());
    }
}
