//! The low-latency mode (`firetail.lingerMillis`): how long a partial batch may wait for
//! more records before it goes out on its own.
//!
//! The Kinesis Agent's `maxBufferAgeMillis` cannot go below one second, so a quiet server's
//! lines wait up to a second for company. With a linger of, say, 20 ms, the send loop
//! closes the open batch once its first record is that old *and* a request could leave at
//! once (a slot free, no hold, no pacing or ceiling wait): a quiet server's lines arrive in
//! tens of milliseconds, while a busy one, whose slots are taken, keeps filling its batches.
//!
//! Sending every 20 ms multiplies a fleet's request rate, which a stream's quota may not
//! carry (2,000 requests per second for the whole fleet in the largest regions). So the
//! linger doubles on every whole-call throttle, up to `maxBufferAgeMillis`, and halves
//! back towards its setting on every clean answer: under throttling a fleet in this mode
//! falls back to fuller batches instead of multiplying its calls.
//!
//! Pure: no clock; the send loop asks and reports.

use tokio::time::{Duration, Instant};

/// The current linger of one flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Linger {
    base: Duration,
    max: Duration,
    current: Duration,
}

impl Linger {
    /// `base` is the configured linger; it never grows past `max` (the buffer age, which
    /// closes the batch anyway).
    pub fn new(base: Duration, max: Duration) -> Self {
        Linger {
            base,
            max: max.max(base),
            current: base,
        }
    }

    /// How long a partial batch waits now.
    pub fn current(&self) -> Duration {
        self.current
    }

    /// Whether a batch opened at `opened_at` may go out at `now` (if a request can leave).
    pub fn is_due(&self, opened_at: Instant, now: Instant) -> bool {
        now >= opened_at + self.current
    }

    /// A whole call was throttled: wait twice as long for company.
    pub fn on_throttle(&mut self) {
        self.current = self.current.saturating_mul(2).min(self.max);
    }

    /// A call came back clean: halve back towards the setting.
    pub fn on_clean_success(&mut self) {
        self.current = (self.current / 2).max(self.base);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn doubles_on_throttles_up_to_the_buffer_age_and_halves_back() {
        let mut l = Linger::new(20 * MS, 1000 * MS);
        assert_eq!(l.current(), 20 * MS);
        let grown: Vec<u128> = (0..8)
            .map(|_| {
                l.on_throttle();
                l.current().as_millis()
            })
            .collect();
        assert_eq!(grown, [40, 80, 160, 320, 640, 1000, 1000, 1000]);
        let shrunk: Vec<u128> = (0..8)
            .map(|_| {
                l.on_clean_success();
                l.current().as_millis()
            })
            .collect();
        assert_eq!(shrunk, [500, 250, 125, 62, 31, 20, 20, 20]);
    }

    #[tokio::test(start_paused = true)]
    async fn due_once_the_first_record_is_old_enough() {
        let l = Linger::new(20 * MS, 1000 * MS);
        let opened = Instant::now();
        assert!(!l.is_due(opened, opened + 19 * MS));
        assert!(l.is_due(opened, opened + 20 * MS));
        // A linger above the buffer age is capped by nothing but the age itself.
        let long = Linger::new(5000 * MS, 1000 * MS);
        assert_eq!(long.current(), 5000 * MS);
    }
}
