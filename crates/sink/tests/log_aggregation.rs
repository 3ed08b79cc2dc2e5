//! The sink's WARN aggregation, observed through a real `tracing` subscriber: a
//! destination that keeps throttling (or failing) for minutes costs the log one WARN per
//! kind of trouble per repeat interval, and every WARN after the first says how many
//! occurrences it stands for. Each occurrence in between is still logged at DEBUG, so the
//! count in a WARN must equal the DEBUG lines for the same trouble since the previous WARN.
//!
//! Time is paused (tokio's test clock), so three minutes of throttling take milliseconds
//! and every timestamp below is the virtual clock's, not the wall clock's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use firetail_sink::{run_sink, DestinationLimits, SinkEvents};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::field::{Field, Visit};
use tracing::{Event as TracingEvent, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

const FH: &DestinationLimits = &firetail_sink::FIREHOSE;

/// The sink's `REPEAT_LOG_INTERVAL` (private); every WARN states it, and
/// [`warn_lines`] checks that the statement matches this value.
const INTERVAL: Duration = Duration::from_secs(60);

/// How long each scenario keeps the destination in trouble: three whole intervals after
/// the first WARN, plus half of one so the last interval's WARN is not on the edge.
const TROUBLE_FOR: Duration = Duration::from_secs(3 * 60 + 30);

const THROTTLE: &str = "destination is throttling (ServiceUnavailableException); backing off";
const FAILING: &str = "requests are failing; retrying with backoff";

/// One captured event: its place in the capture, its level, its fields (the text is the
/// `message` field), and when it happened on the paused clock.
#[derive(Clone, Debug)]
struct Captured {
    seq: usize,
    level: Level,
    at: Instant,
    fields: BTreeMap<String, String>,
}

impl Captured {
    fn message(&self) -> &str {
        self.fields.get("message").map_or("", String::as_str)
    }
}

/// A layer that keeps every event in memory.
#[derive(Clone, Default)]
struct Capture {
    events: Arc<Mutex<Vec<Captured>>>,
}

#[derive(Default)]
struct FieldText(BTreeMap<String, String>);

impl Visit for FieldText {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
}

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &TracingEvent<'_>, _ctx: Context<'_, S>) {
        let mut fields = FieldText::default();
        event.record(&mut fields);
        let mut events = self.events.lock().unwrap();
        let seq = events.len();
        events.push(Captured {
            seq,
            level: *event.metadata().level(),
            at: Instant::now(),
            fields: fields.0,
        });
    }
}

/// What a scenario left behind: every event the sink logged, what it reported through
/// [`SinkEvents`], and when the trouble began and ended on the paused clock.
struct Scenario {
    logged: Vec<Captured>,
    recorder: Arc<Recorder>,
    ended: Instant,
}

/// Runs a sink against `fake` on a paused current-thread runtime with an in-memory
/// capture as the thread's subscriber (the runtime polls every task on this thread, so
/// the sink's request tasks log into it too), keeps it in trouble for [`TROUBLE_FOR`],
/// then shuts it down.
fn run_in_trouble(fake: Arc<Fake>) -> Scenario {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let capture = Capture::default();
    let _default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));
    let (recorder, ended) = runtime.block_on(async {
        let (acker, _acks) = acker();
        let recorder = Recorder::new();
        let shutdown = CancellationToken::new();
        // The request-rate ceiling would space a storm's calls a minute apart (its job);
        // here the calls must come thick and fast to test the logging.
        let cfg = firetail_sink::SinkConfig {
            rate_ceiling: None,
            ..config(FH)
        };
        let sink = tokio::spawn(run_sink(
            cfg,
            fake,
            feed(1_000, 100),
            acker,
            Arc::clone(&recorder) as Arc<dyn SinkEvents>,
            shutdown.clone(),
        ));
        tokio::time::sleep(TROUBLE_FOR).await;
        let ended = Instant::now();
        shutdown.cancel();
        let summary = sink.await.unwrap().unwrap();
        assert!(summary.abandoned, "the destination never accepted anything");
        (recorder, ended)
    });
    let logged = capture.events.lock().unwrap().clone();
    Scenario {
        logged,
        recorder,
        ended,
    }
}

/// The WARN lines about `what`, checked to state the interval they are rate-limited to.
fn warn_lines(events: &[Captured], what: &str) -> Vec<Captured> {
    let warns: Vec<Captured> = events
        .iter()
        .filter(|e| e.level == Level::WARN && e.message().starts_with(what))
        .cloned()
        .collect();
    for w in &warns {
        assert!(
            w.message()
                .ends_with(&format!("logged at most every {INTERVAL:?})")),
            "a WARN that does not state the interval {INTERVAL:?}: {}",
            w.message()
        );
        assert_eq!(w.fields.get("flow").map(String::as_str), Some("test-flow"));
    }
    warns
}

/// The count a WARN carries ("; N more time(s) in the last 60s"), if any, and the span
/// it covers.
fn repeats(warn: &Captured, what: &str) -> Option<(u64, String)> {
    let rest = warn.message().strip_prefix(what)?.strip_prefix("; ")?;
    let (count, rest) = rest.split_once(" more time(s) in the last ")?;
    let (span, _) = rest.split_once(" (")?;
    Some((count.parse().ok()?, span.to_string()))
}

/// DEBUG lines about `what` logged after event `after` and before event `until` (by
/// their order in the capture: several calls can fail at the same paused instant).
fn debug_lines_between(logged: &[Captured], what: &str, after: usize, until: usize) -> u64 {
    logged[after + 1..until]
        .iter()
        .filter(|e| e.level == Level::DEBUG && e.message() == what)
        .count() as u64
}

/// The properties both scenarios share, for one kind of trouble:
/// - exactly one WARN in each interval-long window counted from the first WARN, and
///   consecutive WARNs at least an interval apart;
/// - the first WARN carries no count; every later one carries N > 0, N equal to the
///   DEBUG lines for the same trouble since the previous WARN, over a span of at least
///   one interval;
/// - WARNs and DEBUGs together account for every `occurrences` the sink reported.
fn assert_aggregated(scenario: &Scenario, what: &str, occurrences: u64) {
    let logged = &scenario.logged;
    let warns = warn_lines(logged, what);
    let first = warns.first().expect("no WARN at all").at;
    let timeline: Vec<String> = warns
        .iter()
        .map(|w| format!("{:?}: {}", w.at - first, w.message()))
        .collect();
    // One at the start, then one per whole interval the trouble lasted.
    let expected = 1 + ((scenario.ended - first).as_secs() / INTERVAL.as_secs()) as usize;
    assert_eq!(
        expected, 4,
        "the scenario covers three intervals after the first WARN"
    );
    assert_eq!(
        warns.len(),
        expected,
        "WARN lines for {what:?}: {timeline:#?}"
    );

    for k in 0..expected as u32 {
        let window = first + INTERVAL * k..first + INTERVAL * (k + 1);
        let in_window = warns.iter().filter(|w| window.contains(&w.at)).count();
        assert_eq!(
            in_window, 1,
            "interval {k} after the first WARN: {timeline:#?}"
        );
    }
    for pair in warns.windows(2) {
        assert!(pair[1].at - pair[0].at >= INTERVAL, "{timeline:#?}");
    }

    assert_eq!(
        repeats(&warns[0], what),
        None,
        "the first WARN has nothing to count"
    );
    let mut counted = 0;
    for pair in warns.windows(2) {
        let (n, span) = repeats(&pair[1], what)
            .unwrap_or_else(|| panic!("a later WARN without a count: {}", pair[1].message()));
        assert!(n > 0, "{}", pair[1].message());
        assert_eq!(
            n,
            debug_lines_between(logged, what, pair[0].seq, pair[1].seq),
            "the count must be the occurrences logged at DEBUG since the previous WARN: {}",
            pair[1].message()
        );
        let span_secs: f64 = span.trim_end_matches('s').parse().unwrap();
        assert!(span_secs >= INTERVAL.as_secs_f64(), "{span}");
        counted += n;
    }
    // Occurrences after the last WARN wait for a next one that never came.
    let tail = debug_lines_between(logged, what, warns[expected - 1].seq, logged.len());
    assert_eq!(expected as u64 + counted + tail, occurrences);
}

/// Calls that ended in a throttle, as the sink reported them.
fn throttles(recorder: &Recorder) -> u64 {
    recorder
        .all()
        .iter()
        .filter(|e| matches!(e, Event::Throttled(_)))
        .count() as u64
}

/// Whole calls that failed with the injected 500, as the sink reported them.
fn failures(recorder: &Recorder) -> u64 {
    recorder
        .all()
        .iter()
        .filter(|e| matches!(e, Event::CallFailed { code, .. } if code == "InternalFailure"))
        .count() as u64
}

/// Every call the fake saw was answered and judged, except those still in flight at
/// shutdown.
fn assert_all_calls_judged(fake: &Fake, judged: u64) {
    let state = fake.state();
    let calls = state.calls.len() as u64;
    assert!(
        judged <= calls && calls - judged <= state.max_in_flight as u64,
        "{judged} judged of {calls} calls"
    );
}

#[test]
fn a_throttling_storm_logs_one_warn_per_interval_with_the_repeat_count() {
    let fake = Fake::new(FH, |_| (Plan::Fail(throttled()), Duration::from_millis(50)));
    let scenario = run_in_trouble(Arc::clone(&fake));

    let throttled = throttles(&scenario.recorder);
    assert_all_calls_judged(&fake, throttled);
    // Enough throttles for aggregation to matter: many per interval.
    assert!(throttled > 4 * 10, "only {throttled} throttles");
    assert_aggregated(&scenario, THROTTLE, throttled);
    assert!(
        warn_lines(&scenario.logged, FAILING).is_empty(),
        "throttling is not logged as failing"
    );
}

#[test]
fn each_kind_of_trouble_is_aggregated_on_its_own() {
    // Throttled and failing calls alternate: neither kind's WARN may swallow the other's.
    let fake = Fake::new(FH, |call| {
        let plan = if call.index % 2 == 0 {
            Plan::Fail(throttled())
        } else {
            Plan::Fail(transient_500())
        };
        (plan, Duration::from_millis(50))
    });
    let scenario = run_in_trouble(Arc::clone(&fake));

    let (throttled, failed) = (throttles(&scenario.recorder), failures(&scenario.recorder));
    assert_all_calls_judged(&fake, throttled + failed);
    assert_aggregated(&scenario, THROTTLE, throttled);
    assert_aggregated(&scenario, FAILING, failed);
}
