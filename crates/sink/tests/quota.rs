//! A stream's quota as the sink meets it, under paused time: the request-rate ceiling
//! learned from throttles, and the low-latency linger.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use firetail_sink::{run_sink, DestinationLimits, SinkConfig, SinkEvents};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const FH: &DestinationLimits = &firetail_sink::FIREHOSE;

/// Each call the quota fake saw: when, and whether it was admitted.
type Log = Arc<Mutex<Vec<(Instant, bool)>>>;

/// A destination with a quota of `per_sec` calls a second (a bucket holding one second's
/// worth): calls over it are throttled whole, as Firehose does.
fn quota_fake(per_sec: f64) -> (Arc<Fake>, Log) {
    let log: Log = Arc::default();
    let seen = Arc::clone(&log);
    let mut tokens = per_sec;
    let mut last: Option<Instant> = None;
    let fake = Fake::new(FH, move |call| {
        let elapsed = last.map_or(0.0, |l| (call.at - l).as_secs_f64());
        last = Some(call.at);
        tokens = (tokens + elapsed * per_sec).min(per_sec);
        let admitted = tokens >= 1.0;
        seen.lock().unwrap().push((call.at, admitted));
        if admitted {
            tokens -= 1.0;
            (Plan::Accept, Duration::from_millis(2))
        } else {
            (Plan::Fail(throttled()), Duration::from_millis(2))
        }
    });
    (fake, log)
}

/// Sends 20,000 records in calls of 100 against a quota of 10 calls a second, checks that
/// each is acknowledged once, and returns the share of the calls made after the first
/// 5 s that were throttled.
async fn throttled_share_after_warm_up(cfg: SinkConfig) -> f64 {
    let (fake, log) = quota_fake(10.0);
    let (acker, mut acks) = acker();
    let start = Instant::now();
    let events: Arc<dyn SinkEvents> = Recorder::new();
    let summary = tokio::spawn(run_sink(
        cfg,
        Arc::clone(&fake),
        feed(20_000, 100),
        acker,
        events,
        CancellationToken::new(),
    ))
    .await
    .unwrap()
    .unwrap();
    assert_eq!(summary.records_accepted, 20_000);
    assert!(ack_counts(&drain_acks(&mut acks), 20_000)
        .iter()
        .all(|&n| n == 1));
    let log = log.lock().unwrap();
    let late: Vec<bool> = log
        .iter()
        .filter(|(at, _)| *at - start >= Duration::from_secs(5))
        .map(|(_, admitted)| *admitted)
        .collect();
    late.iter().filter(|a| !**a).count() as f64 / late.len().max(1) as f64
}

#[tokio::test(start_paused = true)]
async fn a_learned_ceiling_keeps_a_daemon_under_a_rate_quota() {
    let mut cfg = config(FH);
    cfg.max_in_flight = 8;
    let with = throttled_share_after_warm_up(cfg.clone()).await;
    cfg.rate_ceiling = None;
    let without = throttled_share_after_warm_up(cfg).await;
    eprintln!("throttled share after warm-up: with the ceiling {with:.3}, without {without:.3}");
    // Backoff alone keeps probing a quota it cannot have; the ceiling learns it.
    assert!(without > 0.3, "without the ceiling: {without}");
    assert!(with < 0.15, "with the ceiling: {with}");
}

/// Under a ceiling a request carries at most `ceiling::CALL_UNITS` units, whatever the
/// batches hold, so a daemon's calls (and the throttles it meets) come in proportion to its
/// rate (docs/scaling.md), and as many as fit; before one, batches go whole. Every record
/// still goes once.
#[tokio::test(start_paused = true)]
async fn under_a_ceiling_a_call_carries_the_call_size() {
    const RECORD: usize = 1_000;
    const N: u64 = 4_000;
    let quota = 100_000.0;
    let log: Arc<Mutex<Vec<(Instant, usize)>>> = Arc::default();
    let seen = Arc::clone(&log);
    let (mut tokens, mut last) = (quota, None::<Instant>);
    let fake = Fake::new(FH, move |call| {
        let bytes: usize = call.records.iter().map(|r| r.data.len()).sum();
        let elapsed = last.map_or(0.0, |l| (call.at - l).as_secs_f64());
        last = Some(call.at);
        tokens = (tokens + elapsed * quota).min(quota);
        seen.lock().unwrap().push((call.at, bytes));
        if tokens > 0.0 {
            tokens -= bytes as f64;
            (Plan::Accept, Duration::from_millis(2))
        } else {
            (Plan::Fail(throttled()), Duration::from_millis(2))
        }
    });
    let (tx, input) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        for chunk in 0..N / 100 {
            let records = (chunk * 100..(chunk + 1) * 100)
                .map(|i| {
                    let mut r = record(i);
                    r.data = bytes::Bytes::from(vec![b'x'; RECORD]);
                    r
                })
                .collect();
            if tx.send(records).await.is_err() {
                return;
            }
        }
    });
    let mut cfg = config(FH);
    cfg.max_records = 500;
    let (acker, mut acks) = acker();
    let start = Instant::now();
    let events: Arc<dyn SinkEvents> = Recorder::new();
    let summary = run_sink(
        cfg,
        Arc::clone(&fake),
        input,
        acker,
        events,
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(summary.records_accepted, N);
    assert!(ack_counts(&drain_acks(&mut acks), N)
        .iter()
        .all(|&n| n == 1));

    let cap =
        (firetail_sink::ceiling::CALL_UNITS * firetail_sink::ceiling::REQUEST_UNIT_BYTES) as usize;
    let log = log.lock().unwrap();
    assert!(
        log.iter().any(|(_, bytes)| *bytes > cap),
        "whole batches before the ceiling"
    );
    // From some call on, every call fits (a record may straddle the cap).
    let capped_from = log
        .iter()
        .rposition(|(_, bytes)| *bytes > cap + RECORD)
        .map_or(0, |i| i + 1);
    let engaged_after = log
        .get(capped_from)
        .map_or(Duration::MAX, |(at, _)| *at - start);
    assert!(
        engaged_after < Duration::from_secs(10),
        "calls were capped only from {engaged_after:?} (call {capped_from} of {})",
        log.len()
    );
    // And filled to the cap while a backlog waits: the end of a batch tops up with the head
    // of the next. Whole batches alone left a call of one record after every 100-record
    // batch (100 = 33 × 3 + 1), and a slow flow, calling more per byte, met more
    // throttles. Only the flow's last call may be short.
    let short: Vec<usize> = log[capped_from..log.len().saturating_sub(1)]
        .iter()
        .map(|(_, bytes)| *bytes)
        .filter(|bytes| *bytes + RECORD <= cap)
        .collect();
    assert!(
        short.is_empty(),
        "{} of {} capped calls were short: {:?}",
        short.len(),
        log.len() - capped_from,
        &short[..short.len().min(10)]
    );
}

#[tokio::test(start_paused = true)]
async fn linger_sends_a_quiet_flow_at_once_and_lets_a_busy_one_fill_its_batches() {
    // Quiet: one record, a 20 ms linger, a 1 s buffer age: it leaves at 20 ms.
    let mut cfg = config(FH);
    cfg.linger = Some(Duration::from_millis(20));
    let fake = Fake::new(FH, |_| (Plan::Accept, Duration::from_millis(1)));
    let (ack, _acks) = acker();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let events: Arc<dyn SinkEvents> = Recorder::new();
    let sink = tokio::spawn(run_sink(
        cfg.clone(),
        Arc::clone(&fake),
        rx,
        ack,
        events,
        CancellationToken::new(),
    ));
    let start = Instant::now();
    tx.send(vec![record(0)]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let first = fake.state().calls.clone();
    assert_eq!(first.len(), 1, "sent alone, before the buffer age");
    assert_eq!(first[0] - start, Duration::from_millis(20));
    drop(tx);
    sink.await.unwrap().unwrap();

    // Busy: one slot, a slow destination, records arriving faster than it answers: the
    // batch fills while the slot is taken, so calls carry full batches.
    let fake = Fake::new(FH, |_| (Plan::Accept, Duration::from_millis(100)));
    let (ack, _acks) = acker();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    cfg.max_in_flight = 1;
    let events: Arc<dyn SinkEvents> = Recorder::new();
    let sink = tokio::spawn(run_sink(
        cfg,
        Arc::clone(&fake),
        rx,
        ack,
        events,
        CancellationToken::new(),
    ));
    for i in 0..5_000 {
        tx.send(vec![record(i)]).await.unwrap();
        // 2,000 records a second against one 100 ms call at a time: 200 per call.
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    drop(tx);
    sink.await.unwrap().unwrap();
    let sizes = fake.state().call_sizes.clone();
    let full = sizes.iter().filter(|&&n| n == 100).count();
    assert!(
        full as f64 >= 0.9 * sizes.len() as f64,
        "{full} full of {}: {sizes:?}",
        sizes.len()
    );
}
