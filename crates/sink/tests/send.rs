//! The send loop against a scripted fake destination, under paused time: exactly-once
//! acceptance (except lost responses), acks only for accepted records, backoff, budget,
//! AIMD, permanent errors, drain and abandon.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use firetail_sink::retry::backoff_ceiling;
use firetail_sink::{run_sink, DestinationLimits, PartitionKeyOption, SinkEvents};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const FH: &DestinationLimits = &firetail_sink::FIREHOSE;

fn run(
    cfg: firetail_sink::SinkConfig,
    fake: &Arc<Fake>,
    input: tokio::sync::mpsc::Receiver<Vec<firetail_sink::OutRecord>>,
    acker: firetail_sink::Acker,
    events: Arc<dyn SinkEvents>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<firetail_sink::SinkSummary> {
    let fake = Arc::clone(fake);
    tokio::spawn(async move {
        run_sink(cfg, fake, input, acker, events, shutdown)
            .await
            .unwrap()
    })
}

#[tokio::test(start_paused = true)]
async fn seeded_faults_every_record_accepted_once_except_lost_responses() {
    const N: u64 = 20_000;
    let mut rng = StdRng::seed_from_u64(0xF12E);
    let fake = Fake::new(FH, move |call| {
        let latency = Duration::from_millis(rng.gen_range(5..200));
        let roll: f64 = rng.gen();
        let plan = if roll < 0.05 {
            Plan::Fail(transient_500())
        } else if roll < 0.10 {
            Plan::Fail(throttled())
        } else if roll < 0.13 {
            Plan::AcceptAndLose
        } else if roll < 0.15 {
            Plan::Hang
        } else if roll < 0.45 {
            Plan::Partial(
                call.records
                    .iter()
                    .map(|_| match rng.gen_range(0..20) {
                        0 => Some("ServiceUnavailableException"),
                        1 => Some("InternalFailure"),
                        _ => None,
                    })
                    .collect(),
            )
        } else {
            Plan::Accept
        };
        (plan, latency)
    });
    let (acker, mut acks) = acker();
    let events = Recorder::new();
    let summary = run(
        config(FH),
        &fake,
        feed(N, 37),
        acker,
        events.clone(),
        CancellationToken::new(),
    )
    .await
    .unwrap();

    let state = fake.state();
    assert_eq!(state.accepted.len() as u64, N, "every record was accepted");
    let total: usize = state.accepted.values().sum();
    assert!(state.lost > 0, "the script lost some responses");
    assert_eq!(
        total - N as usize,
        state.lost,
        "duplicates are exactly the lost responses"
    );
    assert!(state.max_in_flight > 1 && state.max_in_flight <= 4);

    let spans = drain_acks(&mut acks);
    assert!(
        ack_counts(&spans, N).iter().all(|&c| c == 1),
        "each record acked once"
    );
    assert!(
        spans.windows(2).any(|w| w[1].start < w[0].start),
        "concurrent batches complete out of order"
    );
    assert_eq!(summary.records_accepted, N);
    assert_eq!(summary.records_abandoned, 0);
    assert!(!summary.abandoned);
    assert!(summary.records_retried > 0);

    // Event counts are exact: every attempted record is either acked or failed.
    let sent = events.sum(|e| match e {
        Event::Sent { records, .. } => Some(*records),
        _ => None,
    });
    let acked = events.sum(|e| match e {
        Event::Acked { records, .. } => Some(*records),
        _ => None,
    });
    let failed = events.sum(|e| match e {
        Event::Failed { records, .. } | Event::CallFailed { records, .. } => Some(*records),
        _ => None,
    });
    let retried = events.sum(|e| match e {
        Event::Retried(n) => Some(*n),
        _ => None,
    });
    assert_eq!(acked as u64, N);
    assert_eq!(sent, acked + failed);
    assert_eq!(failed, retried);
    assert_eq!(sent, state.call_sizes.iter().sum::<usize>());
    assert_eq!(summary.requests as usize, state.calls.len());
}

#[tokio::test(start_paused = true)]
async fn partial_failure_resends_only_the_failed_records() {
    // The first call rejects records 1 and 3; everything else is accepted.
    let fake = Fake::new(FH, |call| {
        if call.index == 0 {
            let codes = (0..call.records.len())
                .map(|i| match i {
                    1 => Some("ServiceUnavailableException"),
                    3 => Some("InternalFailure"),
                    _ => None,
                })
                .collect();
            (Plan::Partial(codes), Duration::ZERO)
        } else {
            (Plan::Accept, Duration::ZERO)
        }
    });
    let (acker, mut acks) = acker();
    let mut cfg = config(FH);
    cfg.max_records = 5;
    let summary = run(
        cfg,
        &fake,
        feed(5, 5),
        acker,
        Arc::new(firetail_sink::NoopEvents),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let state = fake.state();
    assert_eq!(state.call_sizes, [5, 2]);
    assert!(state.accepted.values().all(|&n| n == 1));
    let spans = drain_acks(&mut acks);
    // Accepted records of the first call are acknowledged at once, merged where contiguous.
    assert_eq!(spans[0].start..spans[0].end, 0..10);
    assert_eq!(spans[1].start..spans[1].end, 20..30);
    assert_eq!(spans[2].start..spans[2].end, 40..50);
    assert!(ack_counts(&spans, 5).iter().all(|&c| c == 1));
    assert_eq!(summary.records_retried, 2);
}

/// The same code means two things: `ServiceUnavailableException` on one record of an
/// answer, or as the whole call's error (a stream's quota). Observers (CloudWatch's
/// `ServiceErrors`) learn which from the event, never from the code.
#[tokio::test(start_paused = true)]
async fn a_whole_call_failure_and_per_record_failures_are_reported_apart() {
    let fake = Fake::new(FH, |call| {
        let plan = match call.index {
            0 => Plan::Fail(throttled()),
            1 => Plan::Partial(
                (0..call.records.len())
                    .map(|i| (i == 0).then_some("ServiceUnavailableException"))
                    .collect(),
            ),
            _ => Plan::Accept,
        };
        (plan, Duration::ZERO)
    });
    let (acker, _acks) = acker();
    let events = Recorder::new();
    let mut cfg = config(FH);
    cfg.max_records = 3;
    run(
        cfg,
        &fake,
        feed(3, 3),
        acker,
        events.clone(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let failures: Vec<Event> = events
        .all()
        .into_iter()
        .filter(|e| matches!(e, Event::Failed { .. } | Event::CallFailed { .. }))
        .collect();
    assert_eq!(
        failures,
        [
            Event::CallFailed {
                code: "ServiceUnavailableException".into(),
                records: 3
            },
            Event::Failed {
                code: "ServiceUnavailableException".into(),
                records: 1
            }
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn records_refused_for_good_are_acknowledged_reported_and_never_sent_again() {
    // The first call refuses records 0 and 1 (too old) and 4 (too new); every record is
    // then settled: nothing is sent again, nothing waits, the flow is not held.
    let fake = Fake::new(&firetail_sink::CLOUDWATCH_LOGS, |call| {
        if call.index == 0 {
            let codes = (0..call.records.len())
                .map(|i| match i {
                    0 | 1 => Some("TooOldLogEvent"),
                    4 => Some("TooNewLogEvent"),
                    _ => None,
                })
                .collect();
            (Plan::Refuse(codes), Duration::ZERO)
        } else {
            (Plan::Accept, Duration::ZERO)
        }
    });
    let (acker, mut acks) = acker();
    let mut cfg = config(&firetail_sink::CLOUDWATCH_LOGS);
    cfg.max_records = 5;
    let events = Recorder::new();
    let summary = run(
        cfg,
        &fake,
        feed(10, 10),
        acker,
        events.clone(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(fake.state().call_sizes, [5, 5]);
    let spans = drain_acks(&mut acks);
    assert!(ack_counts(&spans, 10).iter().all(|&c| c == 1), "{spans:?}");
    assert_eq!(summary.records_rejected, 3);
    assert_eq!(summary.records_accepted, 7);
    assert_eq!(summary.records_retried, 0);
    let rejected: Vec<Event> = events
        .all()
        .into_iter()
        .filter(|e| matches!(e, Event::Rejected { .. }))
        .collect();
    assert_eq!(
        rejected,
        [
            Event::Rejected {
                code: "TooOldLogEvent".into(),
                records: 2
            },
            Event::Rejected {
                code: "TooNewLogEvent".into(),
                records: 1
            }
        ]
    );
    assert!(!events.all().iter().any(|e| matches!(
        e,
        Event::Backoff(_) | Event::Failed { .. } | Event::CallFailed { .. }
    )));
}

#[tokio::test(start_paused = true)]
async fn backoff_grows_and_is_capped() {
    const FAILURES: usize = 8;
    let fake = Fake::new(FH, |call| {
        if call.index < FAILURES {
            (Plan::Fail(transient_500()), Duration::ZERO)
        } else {
            (Plan::Accept, Duration::ZERO)
        }
    });
    let (acker, _acks) = acker();
    let events = Recorder::new();
    let cfg = config(FH);
    let (initial, max) = (cfg.retry_initial_backoff, cfg.retry_max_backoff);
    run(
        cfg,
        &fake,
        feed(10, 10),
        acker,
        events.clone(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let state = fake.state();
    assert_eq!(state.calls.len(), FAILURES + 1);
    for (k, pair) in state.calls.windows(2).enumerate() {
        let gap = pair[1] - pair[0];
        let ceiling = backoff_ceiling(initial, max, k as u32 + 1);
        assert!(
            gap <= ceiling,
            "gap {k} = {gap:?} above ceiling {ceiling:?}"
        );
    }
    let delays: Vec<Duration> = events
        .all()
        .into_iter()
        .filter_map(|e| match e {
            Event::Backoff(d) => Some(d),
            _ => None,
        })
        .collect();
    assert!(!delays.is_empty());
    assert!(delays.iter().all(|d| *d <= max));
}

#[tokio::test(start_paused = true)]
async fn retry_budget_limits_the_retry_rate_during_an_outage() {
    // A 10-minute outage of 500s, then recovery.
    let outage = Duration::from_secs(600);
    let start = Instant::now();
    let fake = Fake::new(FH, move |call| {
        if call.at - start < outage {
            (Plan::Fail(transient_500()), Duration::ZERO)
        } else {
            (Plan::Accept, Duration::ZERO)
        }
    });
    let (acker, _acks) = acker();
    let mut cfg = config(FH);
    cfg.retry_budget_tokens = 50; // ten retries
    cfg.retry_initial_backoff = Duration::from_millis(1);
    cfg.retry_max_backoff = Duration::from_secs(5);
    let summary = run(
        cfg,
        &fake,
        feed(10, 10),
        acker,
        Recorder::new(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(summary.records_accepted, 10);
    let state = fake.state();
    let calls = &state.calls;
    // Ten budgeted retries, then one attempt per max backoff: ~600/5 = 120 calls, not the
    // hundreds of thousands a 1 ms backoff would allow.
    assert!(calls.len() <= 10 + 600 / 5 + 2, "{} calls", calls.len());
    let late_gaps: Vec<Duration> = calls.windows(2).skip(11).map(|w| w[1] - w[0]).collect();
    assert!(!late_gaps.is_empty());
    assert!(
        late_gaps.iter().all(|g| *g == Duration::from_secs(5)),
        "{late_gaps:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn aimd_concurrency_falls_on_throttles_and_rises_on_success() {
    // 40 clean calls, 6 throttled, then clean again.
    let fake = Fake::new(FH, |call| {
        let plan = if (40..46).contains(&call.index) {
            Plan::Fail(throttled())
        } else {
            Plan::Accept
        };
        (plan, Duration::from_millis(50))
    });
    let (acker, _acks) = acker();
    let events = Recorder::new();
    let mut cfg = config(FH);
    cfg.max_records = 10;
    // Six throttles in a row would also engage the request-rate ceiling (tests/quota.rs),
    // which spaces requests instead of filling slots; this test is about the slots.
    cfg.rate_ceiling = None;
    run(
        cfg,
        &fake,
        feed(1_000, 10),
        acker,
        events.clone(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let limits: Vec<usize> = events
        .all()
        .into_iter()
        .filter_map(|e| match e {
            Event::Concurrency(n) => Some(n),
            _ => None,
        })
        .collect();
    let peak = limits
        .iter()
        .position(|&n| n == 4)
        .expect("reached max_in_flight");
    let trough = peak
        + limits[peak..]
            .iter()
            .position(|&n| n == 1)
            .expect("fell back to 1");
    assert!(
        limits[..peak].windows(2).all(|w| w[1] == w[0] + 1),
        "{limits:?}"
    );
    assert!(limits[trough..].contains(&4), "recovered: {limits:?}");
    assert!(fake.state().max_in_flight <= 4);
    assert!(events
        .all()
        .iter()
        .any(|e| matches!(e, Event::Throttled(c) if c == "ServiceUnavailableException")));
}

#[tokio::test(start_paused = true)]
async fn permanent_error_acks_nothing_and_recovers_when_fixed() {
    let start = Instant::now();
    let healed_at = Duration::from_secs(95);
    let fake = Fake::new(FH, move |call| {
        if call.at - start < healed_at {
            (Plan::Fail(not_found()), Duration::ZERO)
        } else {
            (Plan::Accept, Duration::ZERO)
        }
    });
    let (acker, mut acks) = acker();
    let events = Recorder::new();
    let handle = run(
        config(FH),
        &fake,
        feed(250, 50),
        acker,
        events.clone(),
        CancellationToken::new(),
    );

    tokio::time::sleep(Duration::from_secs(90)).await;
    assert!(
        drain_acks(&mut acks).is_empty(),
        "nothing acked while the stream is missing"
    );
    {
        let state = fake.state();
        // One probe at a time, every permanent_retry_interval (30 s): t = 1, 31, 61.
        assert_eq!(state.calls.len(), 3, "{:?}", state.calls);
        assert!(state.accepted.is_empty());
    }
    let summary = handle.await.unwrap();
    assert_eq!(summary.records_accepted, 250);
    let spans = drain_acks(&mut acks);
    assert!(ack_counts(&spans, 250).iter().all(|&c| c == 1));
    let permanent = events
        .all()
        .iter()
        .filter(|e| matches!(e, Event::Permanent(c) if c == "ResourceNotFoundException"))
        .count();
    assert_eq!(permanent, 4);
}

#[tokio::test(start_paused = true)]
async fn backed_off_flow_stops_pulling_its_input() {
    let fake = Fake::new(FH, |_| (Plan::Fail(not_found()), Duration::ZERO));
    let (acker, _acks) = acker();
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let shutdown = CancellationToken::new();
    let mut cfg = config(FH);
    cfg.max_records = 10;
    let handle = run(cfg, &fake, rx, acker, Recorder::new(), shutdown.clone());
    let mut sent = 0u64;
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        let chunk = (sent * 10..sent * 10 + 10).map(record).collect();
        match tokio::time::timeout_at(deadline, tx.send(chunk)).await {
            Ok(Ok(())) => sent += 1,
            _ => break,
        }
    }
    // max_in_flight (4) batches queued + 1 in flight + 1 in the channel, at most.
    assert!(sent <= 7, "the sink kept pulling: {sent} chunks");
    shutdown.cancel();
    let summary = handle.await.unwrap();
    assert!(summary.abandoned);
}

#[tokio::test(start_paused = true)]
async fn closed_input_flushes_the_partial_batch_and_drains() {
    let fake = Fake::new(FH, |call| {
        // The first call is throttled: the drain must wait for its retry.
        let plan = if call.index == 0 {
            Plan::Fail(throttled())
        } else {
            Plan::Accept
        };
        (plan, Duration::from_millis(20))
    });
    let (acker, mut acks) = acker();
    let mut cfg = config(FH);
    cfg.max_age = Duration::from_secs(3600);
    let start = Instant::now();
    let summary = run(
        cfg,
        &fake,
        feed(7, 7),
        acker,
        Recorder::new(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "did not wait for max_age"
    );
    assert_eq!(summary.records_accepted, 7);
    assert!(ack_counts(&drain_acks(&mut acks), 7)
        .iter()
        .all(|&c| c == 1));
}

#[tokio::test(start_paused = true)]
async fn shutdown_deadline_abandons_without_acking() {
    // Calls hang; one batch is in flight, more are queued and open.
    let fake = Fake::new(FH, |_| (Plan::Hang, Duration::ZERO));
    let (acker, mut acks) = acker();
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let shutdown = CancellationToken::new();
    let events = Recorder::new();
    let mut cfg = config(FH);
    cfg.max_records = 10;
    cfg.request_timeout = Duration::from_secs(3600);
    let handle = run(cfg, &fake, rx, acker, events.clone(), shutdown.clone());
    for i in 0..3 {
        tx.send((i * 10..i * 10 + 10).map(record).collect())
            .await
            .unwrap();
    }
    tx.send(vec![record(30), record(31)]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    shutdown.cancel();
    let summary = handle.await.unwrap();
    assert!(summary.abandoned);
    // One batch in flight and two waiting for a slot (QUEUED_BATCHES): the sink stops
    // reading there, so the last two records never left the channel. Neither kind is
    // acknowledged; both are read again from the checkpoint.
    assert_eq!(summary.records_abandoned, 30);
    assert_eq!(summary.records_accepted, 0);
    assert!(drain_acks(&mut acks).is_empty());
    assert!(events.all().contains(&Event::Abandoned(30)));
    drop(tx);
}

#[tokio::test(start_paused = true)]
async fn request_timeout_is_retried_and_may_duplicate() {
    // The first call hangs past the timeout; the retry is accepted.
    let fake = Fake::new(FH, |call| {
        let plan = if call.index == 0 {
            Plan::Hang
        } else {
            Plan::Accept
        };
        (plan, Duration::ZERO)
    });
    let (acker, mut acks) = acker();
    let events = Recorder::new();
    let summary = run(
        config(FH),
        &fake,
        feed(3, 3),
        acker,
        events.clone(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(summary.records_accepted, 3);
    assert_eq!(fake.state().calls.len(), 2);
    assert!(ack_counts(&drain_acks(&mut acks), 3)
        .iter()
        .all(|&c| c == 1));
    assert!(events.all().contains(&Event::CallFailed {
        code: "RequestTimeout".into(),
        records: 3
    }));
}

#[tokio::test(start_paused = true)]
async fn kinesis_records_get_partition_keys_and_count_them() {
    let fake = Fake::new(&firetail_sink::KINESIS, |_| (Plan::Accept, Duration::ZERO));
    let (acker, _acks) = acker();
    let events = Recorder::new();
    let mut cfg = config(&firetail_sink::KINESIS);
    cfg.partition_keys = PartitionKeyOption::Deterministic;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let handle = run(
        cfg,
        &fake,
        rx,
        acker,
        events.clone(),
        CancellationToken::new(),
    );
    let mut keyed = record(1);
    keyed.partition_key = Some("user-key".into());
    let mut bad = record(2);
    bad.partition_key = Some(Default::default());
    tx.send(vec![record(0), keyed, bad]).await.unwrap();
    drop(tx);
    let summary = handle.await.unwrap();
    let keys = fake.state().partition_keys.clone();
    let md5 = |i| {
        Some(firetail_agent::partition::deterministic_partition_key(
            &record(i).data,
        ))
    };
    assert_eq!(keys, [md5(0), Some("user-key".into()), md5(2)]);
    // 16 data bytes per record; keys are not counted (the agent's BytesSent), though
    // they count against the batch's size limit.
    assert_eq!(summary.bytes_accepted, 3 * 16);
}

#[tokio::test(start_paused = true)]
async fn pacing_holds_the_configured_rate() {
    let fake = Fake::new(FH, |_| (Plan::Accept, Duration::ZERO));
    let (acker, _acks) = acker();
    let mut cfg = config(FH);
    cfg.pacing = Some(firetail_sink::Pacing {
        records_per_sec: Some(100.0),
        bytes_per_sec: None,
    });
    let start = Instant::now();
    run(
        cfg,
        &fake,
        feed(1_000, 100),
        acker,
        Recorder::new(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    // A second's worth of burst lets the first two batches leave at once (the second
    // puts the bucket in debt); then one batch per second: the 10th leaves at t = 8 s.
    let calls = fake.state().calls.clone();
    let offsets: Vec<u64> = calls.iter().map(|t| (*t - start).as_secs()).collect();
    assert_eq!(offsets, [0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
}

#[tokio::test(start_paused = true)]
async fn a_response_with_the_wrong_entry_count_acks_nothing_and_resends() {
    let fake = Fake::new(FH, |call| {
        let plan = if call.index == 0 {
            Plan::Short
        } else {
            Plan::Accept
        };
        (plan, Duration::ZERO)
    });
    let (acker, mut acks) = acker();
    let events = Recorder::new();
    let summary = run(
        config(FH),
        &fake,
        feed(4, 4),
        acker,
        events.clone(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(summary.records_accepted, 4);
    assert!(ack_counts(&drain_acks(&mut acks), 4)
        .iter()
        .all(|&c| c == 1));
    assert_eq!(fake.state().call_sizes, [4, 4]);
    assert!(events.all().contains(&Event::CallFailed {
        code: "ResponseMismatch".into(),
        records: 4
    }));
}

#[tokio::test(start_paused = true)]
async fn per_record_permanent_codes_hold_the_flow_like_a_permanent_call_error() {
    let fake = Fake::new(FH, |call| {
        let plan = if call.index < 2 {
            Plan::Partial(
                (0..call.records.len())
                    .map(|i| (i == 0).then_some("KMSAccessDeniedException"))
                    .collect(),
            )
        } else {
            Plan::Accept
        };
        (plan, Duration::ZERO)
    });
    let (acker, mut acks) = acker();
    let events = Recorder::new();
    let mut cfg = config(FH);
    cfg.max_records = 3;
    let summary = run(
        cfg,
        &fake,
        feed(3, 3),
        acker,
        events.clone(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(summary.records_accepted, 3);
    let state = fake.state();
    // Accepted at once: records 1 and 2. Record 0 is retried after the permanent interval.
    assert_eq!(state.call_sizes, [3, 1, 1]);
    assert_eq!(state.calls[1] - state.calls[0], Duration::from_secs(30));
    assert!(ack_counts(&drain_acks(&mut acks), 3)
        .iter()
        .all(|&c| c == 1));
    assert_eq!(
        events
            .all()
            .iter()
            .filter(|e| matches!(e, Event::Permanent(_)))
            .count(),
        2
    );
}

/// A partial batch waits for its age only while more records may come: once the tailer
/// says it is waiting for acknowledgements (its in-flight budget is spent), nothing more
/// arrives until something is acknowledged, so the open batch must go at once. Without
/// that, records too large to fill a batch within the budget moved once per
/// `maxBufferAgeMillis` (issue 15).
#[tokio::test(start_paused = true)]
async fn an_open_batch_leaves_at_once_while_the_reader_waits_for_acks() {
    for reader_waits in [false, true] {
        let fake = Fake::new(FH, |_| (Plan::Accept, Duration::from_millis(5)));
        let mut cfg = config(FH);
        cfg.max_records = 500;
        cfg.max_age = Duration::from_secs(900);
        let (acker, mut acks) = acker();
        acks.set_reader_waiting(reader_waits);
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let start = Instant::now();
        let sink = run(
            cfg,
            &fake,
            rx,
            acker,
            Recorder::new(),
            CancellationToken::new(),
        );
        tx.send((0..10).map(record).collect()).await.unwrap();
        // Keep the input open (a live tailer), and wait long enough for a prompt send.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let calls = fake.state().calls.clone();
        if reader_waits {
            assert_eq!(calls.len(), 1, "the batch left without waiting for its age");
            assert!(calls[0] - start < Duration::from_millis(10));
            assert_eq!(drain_acks(&mut acks).len(), 1, "one merged ack");
        } else {
            assert!(
                calls.is_empty(),
                "a reader that still reads: the batch may fill"
            );
        }
        drop(tx);
        let summary = sink.await.unwrap();
        assert_eq!(summary.records_accepted, 10);
    }
}

/// At saturation the reader waits on its budget at every turn while requests are out:
/// their answers will free it, so the open batch keeps filling until no answer is due.
/// Closing it at every pause sent about one partial batch per budget's worth (90 % of
/// calls full instead of all but the last).
#[tokio::test(start_paused = true)]
async fn an_open_batch_keeps_filling_while_an_answer_is_due() {
    let fake = Fake::new(FH, |_| (Plan::Accept, Duration::from_millis(100)));
    let mut cfg = config(FH);
    cfg.max_records = 10;
    cfg.max_age = Duration::from_secs(900);
    let (acker, mut acks) = acker();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let sink = run(
        cfg,
        &fake,
        rx,
        acker,
        Recorder::new(),
        CancellationToken::new(),
    );
    // Batches waiting for the one slot: the concurrency limit grows past one.
    tx.send((0..40).map(record).collect()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(fake.state().calls.len(), 4);
    // A full batch goes out, three records stay open, and the reader waits on its budget.
    let start = Instant::now();
    tx.send((40..53).map(record).collect()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    acks.set_reader_waiting(true);
    tokio::time::sleep(Duration::from_millis(40)).await;
    assert_eq!(
        fake.state().calls.len(),
        5,
        "a slot is free, but an answer is due: the open batch waits for more records"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let calls = fake.state().calls.clone();
    assert_eq!(
        calls.len(),
        6,
        "the partial batch left once no answer was due"
    );
    assert!(calls[5] - start >= Duration::from_millis(100));
    assert!(calls[5] - start < Duration::from_millis(120));
    drop(tx);
    let summary = sink.await.unwrap();
    assert_eq!(summary.records_accepted, 53);
    assert!(!drain_acks(&mut acks).is_empty());
}

/// The reader may start waiting while the batch is already open and the sink is idle:
/// the change alone must wake it.
#[tokio::test(start_paused = true)]
async fn the_reader_starting_to_wait_wakes_an_idle_sink() {
    let fake = Fake::new(FH, |_| (Plan::Accept, Duration::from_millis(5)));
    let mut cfg = config(FH);
    cfg.max_age = Duration::from_secs(900);
    let (acker, acks) = acker();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let sink = run(
        cfg,
        &fake,
        rx,
        acker,
        Recorder::new(),
        CancellationToken::new(),
    );
    tx.send((0..3).map(record).collect()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(fake.state().calls.is_empty());
    acks.set_reader_waiting(true);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(fake.state().calls.len(), 1);
    drop(tx);
    sink.await.unwrap();
}
