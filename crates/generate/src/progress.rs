//! The live progress line on stderr (only when stderr is a terminal): lines/s, MiB/s, total
//! and current file, redrawn about four times a second.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::output::Progress;

/// Redraw period.
pub const REDRAW_EVERY: Duration = Duration::from_millis(250);

/// Remembers the previous sample to turn counters into rates.
#[derive(Debug)]
pub(crate) struct ProgressLine {
    enabled: bool,
    last_at: Instant,
    last_lines: u64,
    last_bytes: u64,
    drawn: bool,
}

impl ProgressLine {
    pub fn new(enabled: bool) -> Self {
        ProgressLine {
            enabled,
            last_at: Instant::now(),
            last_lines: 0,
            last_bytes: 0,
            drawn: false,
        }
    }

    /// Redraws if enabled and the redraw period has passed.
    pub fn tick(&mut self, progress: &Progress, file: Option<&Path>) {
        if !self.enabled || self.last_at.elapsed() < REDRAW_EVERY {
            return;
        }
        let now = Instant::now();
        let secs = now.duration_since(self.last_at).as_secs_f64().max(1e-6);
        let lines = progress.lines.load(Ordering::Relaxed);
        let bytes = progress.bytes.load(Ordering::Relaxed);
        let line_rate = (lines - self.last_lines) as f64 / secs;
        let mib_rate = (bytes - self.last_bytes) as f64 / secs / (1024.0 * 1024.0);
        let file = file
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "-".into());
        let mut err = std::io::stderr().lock();
        // A failed progress write must not stop the generator.
        let _ = write!(
            err,
            "\r\x1b[2K{line_rate:>10.0} lines/s {mib_rate:>8.2} MiB/s {lines:>12} lines  {file}"
        );
        let _ = err.flush();
        self.drawn = true;
        self.last_at = now;
        self.last_lines = lines;
        self.last_bytes = bytes;
    }

    /// Ends the line so the shell prompt starts on a fresh one.
    pub fn finish(&mut self) {
        if self.drawn {
            let _ = writeln!(std::io::stderr());
        }
    }
}
