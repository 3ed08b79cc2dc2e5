//! The run loop: paces line production against a monotonic clock, spreads lines over the
//! virtual hosts, and stops on count, duration or the stop flag.
//!
//! Pacing: line `k` is due `schedule.due(k)` seconds after the start ([`crate::schedule`]).
//! Each turn writes every line already due (at most `MAX_BURST`), flushes, and sleeps until
//! the next one is due (at least `MIN_SLEEP`, so 200k lines/s costs ~1000 wake-ups a second,
//! not 200k; at most `crate::progress::REDRAW_EVERY`, so the stop flag and the progress line
//! stay responsive). A line's log time is its due time on the schedule, anchored at
//! `--start-time` or at the wall clock when the run started, so timestamps never drift either.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::RngCore;

use crate::args::Rate;
use crate::config::{Destination, GeneratorConfig};
use crate::error::Error;
use crate::line::LineGenerator;
use crate::output::Sink;
use crate::pick::AliasTable;
use crate::progress::{ProgressLine, REDRAW_EVERY};
use crate::rng::Rng;
use crate::schedule::Schedule;

/// Most lines written in one turn before checking the clock and the stop flag again.
const MAX_BURST: u64 = 8_192;
/// Shortest sleep between turns.
const MIN_SLEEP: Duration = Duration::from_millis(1);

/// What a finished run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Lines written.
    pub lines: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Files written to (live names, and rotated names as they were when rotated).
    pub files_written: Vec<PathBuf>,
}

/// Runs `cfg` on a new thread until it finishes or `stop` becomes true.
pub fn spawn(
    cfg: GeneratorConfig,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Result<RunSummary, Error>> {
    std::thread::spawn(move || run_config(&cfg, &stop))
}

/// Runs `cfg` on the calling thread until it finishes or `stop` becomes true.
pub fn run_config(cfg: &GeneratorConfig, stop: &AtomicBool) -> Result<RunSummary, Error> {
    cfg.validate()?;
    let mut run = Run::open(cfg)?;
    let result = match cfg.rate {
        Rate::PerSecond(rate) => run.paced(cfg, rate, stop),
        Rate::Max => run.unpaced(cfg, stop),
    };
    // Write what was produced even if the loop failed on one output.
    let flushed = run.flush_all();
    run.progress_line.finish();
    match result.and(flushed) {
        Err(e) if e.is_broken_stdout() => {}
        Err(e) => return Err(e),
        Ok(()) => {}
    }
    Ok(run.summary())
}

struct Run {
    generators: Vec<LineGenerator>,
    sinks: Vec<Sink>,
    /// Output index for each virtual host (stdout is shared).
    sink_of: Vec<usize>,
    vhost_pick: AliasTable,
    rng: Rng,
    origin_ms: i64,
    started: Instant,
    lines: u64,
    progress_line: ProgressLine,
}

impl Run {
    fn open(cfg: &GeneratorConfig) -> Result<Run, Error> {
        let origin_ms = cfg.start_time_ms.unwrap_or_else(wall_clock_ms);
        let mut rng = Rng::from_seed_u64(cfg.seed);
        let mut generators = Vec::with_capacity(cfg.vhosts.len());
        let mut sinks: Vec<Sink> = Vec::new();
        let mut sink_of = Vec::with_capacity(cfg.vhosts.len());
        let mut stdout_sink = None;
        for (i, vhost) in cfg.vhosts.iter().enumerate() {
            let mut realism = cfg.realism.clone();
            realism.host.clone_from(&vhost.host);
            let seed = rng.fork(i as u64 + 1).next_u64();
            generators.push(LineGenerator::new(seed, &realism));
            let index = match &vhost.destination {
                Destination::Stdout => *stdout_sink.get_or_insert_with(|| {
                    sinks.push(Sink::stdout(cfg.progress.clone()));
                    sinks.len() - 1
                }),
                Destination::File(path) => {
                    sinks.push(Sink::file(
                        path,
                        cfg.rotation.clone(),
                        cfg.on_rotate.clone(),
                        origin_ms.div_euclid(1000),
                        cfg.progress.clone(),
                    )?);
                    sinks.len() - 1
                }
            };
            sink_of.push(index);
        }
        Ok(Run {
            generators,
            sinks,
            sink_of,
            // Virtual hosts differ in popularity, like real ones.
            vhost_pick: AliasTable::zipf(cfg.vhosts.len(), 0.8),
            rng,
            origin_ms,
            started: Instant::now(),
            lines: 0,
            progress_line: ProgressLine::new(cfg.show_progress),
        })
    }

    /// Writes one line finishing `t` seconds after the start.
    #[inline]
    fn emit(&mut self, cfg: &GeneratorConfig, t: f64) -> Result<(), Error> {
        let finish_ms = self.origin_ms + (t * 1000.0) as i64;
        let v = if self.generators.len() == 1 {
            0
        } else {
            self.vhost_pick.sample(&mut self.rng)
        };
        let generator = &mut self.generators[v];
        if cfg.profile.incidents.is_some() {
            generator.set_incident(cfg.profile.incident_at(t));
        }
        let sink = &mut self.sinks[self.sink_of[v]];
        let start = sink.buf.len();
        generator.write_line_ms(finish_ms, &mut sink.buf);
        sink.commit_line(start, finish_ms.div_euclid(1000))?;
        self.lines += 1;
        Ok(())
    }

    fn paced(&mut self, cfg: &GeneratorConfig, rate: f64, stop: &AtomicBool) -> Result<(), Error> {
        let mut schedule = Schedule::new(rate, cfg.profile);
        let limit = cfg.duration.map(|d| d.as_secs_f64());
        let mut next_due = schedule.due(0);
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            let now = self.started.elapsed().as_secs_f64();
            let mut burst = 0;
            while next_due <= now && burst < MAX_BURST {
                if self.done(cfg, limit, next_due) {
                    return Ok(());
                }
                self.emit(cfg, next_due)?;
                next_due = schedule.due(self.lines);
                burst += 1;
            }
            if self.done(cfg, limit, next_due) {
                return Ok(());
            }
            if next_due > now {
                self.flush_all()?;
                self.tick_progress(cfg);
                let ahead = (next_due - self.started.elapsed().as_secs_f64()).max(0.0);
                let wait = Duration::from_secs_f64(ahead).clamp(MIN_SLEEP, REDRAW_EVERY);
                std::thread::sleep(wait);
            }
        }
    }

    fn unpaced(&mut self, cfg: &GeneratorConfig, stop: &AtomicBool) -> Result<(), Error> {
        // With a start time, timestamps follow a simulated schedule so output is reproducible;
        // otherwise they follow the wall clock.
        let mut schedule = cfg
            .start_time_ms
            .map(|_| Schedule::new(cfg.sim_rate, cfg.profile));
        let limit = cfg.duration;
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            if limit.is_some_and(|l| self.started.elapsed() >= l) {
                return Ok(());
            }
            let wall_t = self.started.elapsed().as_secs_f64();
            for _ in 0..1024 {
                if cfg.count.is_some_and(|c| self.lines >= c) {
                    return Ok(());
                }
                let t = match &mut schedule {
                    Some(s) => s.due(self.lines),
                    None => wall_t,
                };
                self.emit(cfg, t)?;
            }
            self.tick_progress(cfg);
        }
    }

    fn done(&self, cfg: &GeneratorConfig, limit: Option<f64>, next_due: f64) -> bool {
        cfg.count.is_some_and(|c| self.lines >= c) || limit.is_some_and(|l| next_due >= l)
    }

    fn tick_progress(&mut self, cfg: &GeneratorConfig) {
        let file = self.sinks.first().and_then(|s| s.current_path());
        self.progress_line.tick(&cfg.progress, file);
    }

    fn flush_all(&mut self) -> Result<(), Error> {
        let mut first_error = None;
        for sink in &mut self.sinks {
            if let Err(e) = sink.flush() {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn summary(&self) -> RunSummary {
        RunSummary {
            lines: self.sinks.iter().map(|s| s.lines_written()).sum(),
            bytes: self.sinks.iter().map(|s| s.bytes_written()).sum(),
            files_written: self.sinks.iter().flat_map(|s| s.files_written()).collect(),
        }
    }
}

fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
