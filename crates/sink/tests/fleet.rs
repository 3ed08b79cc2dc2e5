//! A fleet of sinks sharing one stream's quota, under paused time.
//!
//! Every daemon runs the real send loop (batching, adaptive concurrency, backoff, the retry
//! budget and, when on, the rate ceiling) against one overdrawing byte bucket of one
//! second, as `firetail local-firehose --quota-bytes` answers `scripts/fleet`'s processes.
//! Each daemon's writer offers its share of the scenario's load in 100 ms chunks. Paused
//! time makes a minute of a 50-daemon fleet take a second, free of the machine's load, so
//! quota-sharing rules can be compared by their numbers: goodput, throttled calls,
//! Jain's index of per-daemon goodput. `scripts/fleet` stays the end-to-end check (the
//! tailer's read-ahead, real HTTP, rotation).
//!
//! `cargo test -p firetail-sink --release --test fleet -- --ignored --nocapture` prints the
//! scenario matrix (`FLEET_DAEMONS=1` adds each daemon's goodput, calls and throttles); the
//! test that always runs checks that a fleet over its quota uses it and loses nothing.
//! What the matrix showed is in docs/scaling.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use firetail_record::{FileId, Span};
use firetail_sink::{run_sink, DestinationLimits, OutRecord, SinkConfig, SinkEvents};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const FH: &DestinationLimits = &firetail_sink::FIREHOSE;
/// scripts/fleet's line: a combined-format access line of 252 bytes.
const LINE_BYTES: usize = 252;
/// Writers hand over what they wrote every this long.
const CHUNK_EVERY: Duration = Duration::from_millis(100);
/// A loopback endpoint's answer time.
const LATENCY: Duration = Duration::from_millis(5);

#[derive(Clone, Copy, Debug)]
struct Scenario {
    daemons: usize,
    /// Bytes per second the stream takes.
    quota: f64,
    /// Offered load, as a multiple of the quota, split evenly.
    load: f64,
    /// How long the writers write; the fleet then drains.
    write_for: Duration,
    /// Whether the daemons learn a rate ceiling (`firetail.rateCeiling`).
    ceiling: bool,
    /// A burst: from this far in, for this long, the writers write this many times the
    /// load.
    burst: Option<(Duration, Duration, f64)>,
}

impl Scenario {
    /// Lines a second each daemon's writer offers outside a burst: its even split of the
    /// offered load.
    fn lines_per_sec_each(&self) -> f64 {
        self.load * self.quota / LINE_BYTES as f64 / self.daemons as f64
    }

    /// Lines a daemon has written by `at` (time since the start).
    fn written_by(&self, per_sec: f64, at: Duration) -> f64 {
        let t = at.min(self.write_for).as_secs_f64();
        let extra = self.burst.map_or(0.0, |(from, len, factor)| {
            let (a, b) = (from.as_secs_f64(), (from + len).as_secs_f64());
            (t.min(b) - a).max(0.0) * (factor - 1.0)
        });
        per_sec * (t + extra)
    }
}

#[derive(Debug)]
struct Outcome {
    /// Accepted bytes over the quota's bytes while the writers wrote, after the first 20 s.
    goodput: f64,
    /// Throttled calls over calls, same window.
    throttled: f64,
    /// Jain's index of per-daemon accepted bytes, same window.
    jain: f64,
    /// Per-daemon accepted bytes, lowest and highest, over the fair share.
    spread: (f64, f64),
    /// How long after the writers stopped the last record was accepted.
    drained_after: Duration,
    /// With a burst: how long after it ended the last daemon was still more than 2 s of
    /// writing behind.
    recovered_after: Option<Duration>,
    written: u64,
    /// Records accepted more than once / never.
    duplicates: u64,
    missing: u64,
}

/// The stream: one overdrawing byte bucket, and what it answered, per daemon.
struct Stream {
    quota: f64,
    tokens: f64,
    /// Requests a second: the byte quota over 2,621 bytes (us-east-1's 5 MiB / 2,000).
    request_tokens: f64,
    at: Instant,
    /// Per daemon: accepted bytes in the window.
    accepted: Vec<f64>,
    /// Per daemon: calls and throttled calls in the window.
    per_daemon: Vec<(u64, u64)>,
    /// Per daemon: records accepted, and the last time an accepted call found the
    /// daemon more than 2 s of writing behind.
    accepted_records: Vec<u64>,
    last_behind: Vec<Option<Instant>>,
    calls: u64,
    throttled: u64,
    window: (Instant, Instant),
    last_accept: Instant,
}

impl Stream {
    fn admit(&mut self, daemon: usize, bytes: usize, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.quota).min(self.quota);
        let requests = self.quota / 2621.44;
        self.request_tokens = (self.request_tokens + elapsed * requests).min(requests);
        self.at = now;
        let admitted = self.tokens > 0.0 && self.request_tokens > 0.0;
        let in_window = now >= self.window.0 && now < self.window.1;
        if in_window {
            self.calls += 1;
            self.throttled += u64::from(!admitted);
            self.per_daemon[daemon].0 += 1;
            self.per_daemon[daemon].1 += u64::from(!admitted);
        }
        if admitted {
            self.tokens -= bytes as f64;
            self.request_tokens -= 1.0;
            self.last_accept = now;
            if in_window {
                self.accepted[daemon] += bytes as f64;
            }
        }
        admitted
    }
}

fn line(daemon: usize, i: u64) -> OutRecord {
    let mut data = format!("d{daemon:03}-{i:010} ").into_bytes();
    data.resize(LINE_BYTES - 1, b'x');
    data.push(b'\n');
    OutRecord {
        data: Bytes::from(data),
        span: Span {
            file: FileId(daemon as u64 + 1),
            start: i * SPAN_LEN,
            end: (i + 1) * SPAN_LEN,
        },
        partition_key: None,
        read_at_millis: 0,
    }
}

/// A writer offering `per_sec` lines a second for `write_for`; returns how many it wrote
/// (it waits, like a tailer, when the sink does not take them).
fn writer(
    daemon: usize,
    per_sec: f64,
    s: Scenario,
) -> (mpsc::Receiver<Vec<OutRecord>>, Arc<Mutex<u64>>) {
    let (tx, rx) = mpsc::channel(4);
    let written = Arc::new(Mutex::new(0u64));
    let count = Arc::clone(&written);
    tokio::spawn(async move {
        let start = Instant::now();
        let mut next = 0u64;
        // Ticks missed while the sink does not pull come at once: the lines were written
        // on time, as a file would hold them, and are read late.
        let mut tick = tokio::time::interval(CHUNK_EVERY);
        let mut at = Duration::ZERO;
        while at < s.write_for {
            tick.tick().await;
            at += CHUNK_EVERY;
            let due = s.written_by(per_sec, at).floor() as u64;
            let chunk: Vec<OutRecord> = (next..due).map(|i| line(daemon, i)).collect();
            next = due;
            if tx.send(chunk).await.is_err() {
                return;
            }
            *count.lock().unwrap() = next;
        }
        let _ = start;
    });
    (rx, written)
}

fn daemon_config(daemon: usize, ceiling: bool) -> SinkConfig {
    // scripts/fleet's flow: the agent's defaults, a 1 s buffer age.
    let mut cfg = SinkConfig::agent_defaults(format!("d{daemon:03}"), "fleet", FH);
    cfg.max_age = Duration::from_secs(1);
    cfg.rate_ceiling = ceiling.then(firetail_sink::CeilingConfig::default);
    cfg
}

async fn simulate(s: Scenario) -> Outcome {
    let start = Instant::now();
    let stream = Arc::new(Mutex::new(Stream {
        quota: s.quota,
        tokens: s.quota,
        request_tokens: s.quota / 2621.44,
        at: start,
        accepted: vec![0.0; s.daemons],
        per_daemon: vec![(0, 0); s.daemons],
        accepted_records: vec![0; s.daemons],
        last_behind: vec![None; s.daemons],
        calls: 0,
        throttled: 0,
        window: (start + Duration::from_secs(20), start + s.write_for),
        last_accept: start,
    }));
    let per_sec = s.lines_per_sec_each();
    let mut sinks = Vec::new();
    let mut fakes = Vec::new();
    let mut counts = Vec::new();
    for d in 0..s.daemons {
        let shared = Arc::clone(&stream);
        let fake = Fake::new(FH, move |call| {
            let bytes = call.records.iter().map(|r| r.data.len()).sum();
            let mut stream = shared.lock().unwrap();
            let admitted = stream.admit(d, bytes, call.at);
            if admitted {
                stream.accepted_records[d] += call.records.len() as u64;
                let due = (call.at - start).saturating_sub(Duration::from_secs(2));
                if (stream.accepted_records[d] as f64) < s.written_by(per_sec, due).floor() {
                    stream.last_behind[d] = Some(call.at);
                }
            }
            drop(stream);
            if admitted {
                (Plan::Accept, LATENCY)
            } else {
                (Plan::Fail(throttled()), LATENCY)
            }
        });
        let (input, written) = writer(d, per_sec, s);
        let (acker, acks) = acker();
        let events: Arc<dyn SinkEvents> = Arc::new(firetail_sink::NoopEvents);
        sinks.push(tokio::spawn(run_sink(
            daemon_config(d, s.ceiling),
            Arc::clone(&fake),
            input,
            acker,
            events,
            CancellationToken::new(),
        )));
        fakes.push((fake, acks));
        counts.push(written);
    }
    for sink in sinks {
        sink.await.unwrap().unwrap();
    }
    let stream = stream.lock().unwrap();
    if std::env::var_os("FLEET_DAEMONS").is_some() {
        let mut rows: Vec<(usize, (f64, u64, u64))> = (0..s.daemons)
            .map(|d| {
                (
                    d,
                    (
                        stream.accepted[d],
                        stream.per_daemon[d].0,
                        stream.per_daemon[d].1,
                    ),
                )
            })
            .collect();
        rows.sort_by(|a, b| a.1 .0.total_cmp(&b.1 .0));
        let fair = rows.iter().map(|r| r.1 .0).sum::<f64>() / s.daemons as f64;
        for (d, (a, c, t)) in rows {
            eprintln!(
                "  d{d:03} goodput {:.2} of fair, {c} calls, {t} throttled",
                a / fair
            );
        }
    }
    let window = (stream.window.1 - stream.window.0).as_secs_f64();
    let total: f64 = stream.accepted.iter().sum();
    let fair = total / s.daemons as f64;
    let squares: f64 = stream.accepted.iter().map(|a| a * a).sum();
    let (mut duplicates, mut missing, mut written) = (0, 0, 0);
    for ((fake, _acks), count) in fakes.iter().zip(&counts) {
        let n = *count.lock().unwrap();
        written += n;
        let state = fake.state();
        duplicates += state.accepted.values().filter(|&&c| c > 1).count() as u64;
        missing += n - state.accepted.len() as u64;
    }
    Outcome {
        goodput: total / window / s.quota,
        throttled: stream.throttled as f64 / stream.calls.max(1) as f64,
        jain: total * total / (s.daemons as f64 * squares.max(f64::MIN_POSITIVE)),
        spread: (
            stream.accepted.iter().copied().fold(f64::MAX, f64::min) / fair,
            stream.accepted.iter().copied().fold(0.0, f64::max) / fair,
        ),
        drained_after: stream
            .last_accept
            .saturating_duration_since(start + s.write_for),
        recovered_after: s.burst.map(|(from, len, _)| {
            let end = start + from + len;
            stream
                .last_behind
                .iter()
                .flatten()
                .map(|at| at.saturating_duration_since(end))
                .max()
                .unwrap_or_default()
        }),
        written,
        duplicates,
        missing,
    }
}

/// 512 KiB/s: us-east-1's Direct PUT byte quota × 0.1, as scripts/fleet runs it.
const FLEET_QUOTA: f64 = 524_288.0;

#[tokio::test(start_paused = true)]
async fn a_fleet_over_its_quota_uses_it_and_loses_nothing() {
    let outcome = simulate(Scenario {
        daemons: 20,
        quota: FLEET_QUOTA,
        load: 2.0,
        write_for: Duration::from_secs(60),
        ceiling: true,
        burst: None,
    })
    .await;
    eprintln!("{outcome:?}");
    assert_eq!((outcome.missing, outcome.duplicates), (0, 0), "{outcome:?}");
    // The quota is used (1.00 in the report's runs) and shared: 0.92-0.98 here, the low
    // end where a daemon whose calls are never throttled (d000, which paused time's
    // lock-step hands a just-refilled bucket) never engages a ceiling and sends its whole
    // offered load (docs/scaling.md); the previous rule's model fleets measured 0.74-0.84.
    assert!(outcome.goodput > 0.9, "{outcome:?}");
    assert!(outcome.jain > 0.8, "{outcome:?}");
}

#[tokio::test(start_paused = true)]
#[ignore = "a report: prints the scenario matrix"]
async fn fleet_report() {
    for ceiling in [false, true] {
        for load in [0.5, 2.0, 5.0] {
            for quota in [FLEET_QUOTA, 5.0 * 1024.0 * 1024.0] {
                let s = Scenario {
                    daemons: 50,
                    quota,
                    load,
                    write_for: Duration::from_secs(120),
                    ceiling,
                    burst: None,
                };
                let o = simulate(s).await;
                eprintln!(
                    "ceiling {ceiling:5} load {load:3} quota {:>7.0} KiB/s: goodput {:.3} throttled {:.3} Jain {:.3} spread {:.2}-{:.2} drained +{:.0?} missing {} dup {} of {}",
                    quota / 1024.0,
                    o.goodput,
                    o.throttled,
                    o.jain,
                    o.spread.0,
                    o.spread.1,
                    o.drained_after,
                    o.missing,
                    o.duplicates,
                    o.written
                );
            }
        }
    }
}

/// scripts/fleet's burst: 0.5x, then 10x for 10 s from 30 s, then 0.5x until the writers
/// stop at 59 s. The quota, used whole from the burst's start, needs 99.5 s from its end
/// to deliver everything written.
#[tokio::test(start_paused = true)]
#[ignore = "a report: prints the burst's recovery"]
async fn fleet_burst_report() {
    for ceiling in [false, true] {
        let (from, len) = (Duration::from_secs(30), Duration::from_secs(10));
        let s = Scenario {
            daemons: 50,
            quota: FLEET_QUOTA,
            load: 0.5,
            write_for: Duration::from_secs(59),
            ceiling,
            burst: Some((from, len, 20.0)),
        };
        let per_sec = s.lines_per_sec_each();
        let fleet_bytes = |at| s.written_by(per_sec, at) * (s.daemons * LINE_BYTES) as f64;
        let by_burst_end = fleet_bytes(from) + s.quota * len.as_secs_f64();
        let needs = (fleet_bytes(s.write_for) - by_burst_end) / s.quota;
        let o = simulate(s).await;
        eprintln!(
            "burst, ceiling {ceiling:5}: every daemon within 2 s of its writer {:.0?} after the burst (the quota needs {needs:.1} s); throttled {:.3}; missing {} dup {} of {}",
            o.recovered_after.unwrap_or_default(),
            o.throttled,
            o.missing,
            o.duplicates,
            o.written
        );
    }
}
