//! A scriptable fake destination and helpers shared by the sink's tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use firetail_record::{AckReceiver, Acker, FileId, Span};
use firetail_sink::{
    DestinationLimits, OutRecord, PutClient, PutError, PutFuture, RecordResult, SinkConfig,
    SinkEvents,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// What the fake does with one call.
#[derive(Clone, Debug)]
pub enum Plan {
    /// Accept every record.
    Accept,
    /// Per-record outcome: `None` accepts, `Some(code)` rejects with that code.
    Partial(Vec<Option<&'static str>>),
    /// Per-record outcome: `None` accepts, `Some(code)` refuses for good with that code
    /// (as CloudWatch Logs refuses a too-old event).
    Refuse(Vec<Option<&'static str>>),
    /// Fail the whole call; nothing is accepted.
    Fail(PutError),
    /// Accept every record, then lose the response (the client sees a timeout).
    AcceptAndLose,
    /// Never answer (the sink's request timeout fires).
    Hang,
    /// Accept every record but answer with one entry too few.
    Short,
}

/// Information a script gets about a call.
pub struct Call<'a> {
    /// 0-based index of the call.
    pub index: usize,
    pub records: &'a [OutRecord],
    pub at: Instant,
}

type Script = Box<dyn FnMut(&Call<'_>) -> (Plan, Duration) + Send>;

/// A destination that follows a script and remembers what it accepted.
pub struct Fake {
    limits: &'static DestinationLimits,
    script: Mutex<Script>,
    state: Mutex<FakeState>,
    in_flight: AtomicUsize,
}

#[derive(Default)]
pub struct FakeState {
    pub calls: Vec<Instant>,
    pub call_sizes: Vec<usize>,
    /// How often each record (by data) was accepted.
    pub accepted: HashMap<Bytes, usize>,
    /// Acceptances whose response was lost.
    pub lost: usize,
    pub max_in_flight: usize,
    pub partition_keys: Vec<Option<firetail_sink::PartitionKey>>,
}

impl Fake {
    pub fn new(
        limits: &'static DestinationLimits,
        script: impl FnMut(&Call<'_>) -> (Plan, Duration) + Send + 'static,
    ) -> Arc<Self> {
        Arc::new(Fake {
            limits,
            script: Mutex::new(Box::new(script)),
            state: Mutex::new(FakeState::default()),
            in_flight: AtomicUsize::new(0),
        })
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap()
    }

    async fn put(&self, records: &[OutRecord]) -> Result<Vec<RecordResult>, PutError> {
        let now = Instant::now();
        let (plan, latency) = {
            let mut state = self.state.lock().unwrap();
            let index = state.calls.len();
            state.calls.push(now);
            state.call_sizes.push(records.len());
            state
                .partition_keys
                .extend(records.iter().map(|r| r.partition_key.clone()));
            drop(state);
            let mut script = self.script.lock().unwrap();
            script(&Call {
                index,
                records,
                at: now,
            })
        };
        let running = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        {
            let mut state = self.state.lock().unwrap();
            state.max_in_flight = state.max_in_flight.max(running);
        }
        let _guard = Decrement(&self.in_flight);
        tokio::time::sleep(latency).await;
        let accept = |state: &mut FakeState, record: &OutRecord| {
            *state.accepted.entry(record.data.clone()).or_default() += 1;
        };
        match plan {
            Plan::Accept => {
                let mut state = self.state.lock().unwrap();
                records.iter().for_each(|r| accept(&mut state, r));
                Ok(vec![RecordResult::Ok; records.len()])
            }
            Plan::Partial(codes) => {
                assert_eq!(codes.len(), records.len());
                let mut state = self.state.lock().unwrap();
                Ok(records
                    .iter()
                    .zip(codes)
                    .map(|(record, code)| match code {
                        None => {
                            accept(&mut state, record);
                            RecordResult::Ok
                        }
                        Some(code) => RecordResult::Failed {
                            code: code.into(),
                            message: "injected".into(),
                        },
                    })
                    .collect())
            }
            Plan::Refuse(codes) => {
                assert_eq!(codes.len(), records.len());
                let mut state = self.state.lock().unwrap();
                Ok(records
                    .iter()
                    .zip(codes)
                    .map(|(record, code)| match code {
                        None => {
                            accept(&mut state, record);
                            RecordResult::Ok
                        }
                        Some(code) => RecordResult::Rejected {
                            code: code.into(),
                            message: "refused".into(),
                        },
                    })
                    .collect())
            }
            Plan::Fail(error) => Err(error),
            Plan::AcceptAndLose => {
                let mut state = self.state.lock().unwrap();
                records.iter().for_each(|r| accept(&mut state, r));
                state.lost += records.len();
                Err(PutError::Transient {
                    code: "RequestTimeout".into(),
                    message: "response lost".into(),
                    timeout: true,
                })
            }
            Plan::Short => {
                let mut state = self.state.lock().unwrap();
                records.iter().for_each(|r| accept(&mut state, r));
                state.lost += records.len();
                Ok(vec![RecordResult::Ok; records.len() - 1])
            }
            Plan::Hang => {
                std::future::pending::<()>().await;
                unreachable!()
            }
        }
    }
}

struct Decrement<'a>(&'a AtomicUsize);

impl Drop for Decrement<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl PutClient for Fake {
    fn put_batch<'a>(&'a self, _stream: &'a str, records: &'a [OutRecord]) -> PutFuture<'a> {
        Box::pin(self.put(records))
    }

    fn limits(&self) -> &'static DestinationLimits {
        self.limits
    }
}

pub const SPAN_LEN: u64 = 10;

/// Record `i`: unique data, span `[i*10, i*10+10)` of file 1.
pub fn record(i: u64) -> OutRecord {
    OutRecord {
        data: Bytes::from(format!("record-{i:08}\n")),
        span: Span {
            file: FileId(1),
            start: i * SPAN_LEN,
            end: (i + 1) * SPAN_LEN,
        },
        partition_key: None,
        read_at_millis: 0,
    }
}

pub fn config(limits: &DestinationLimits) -> SinkConfig {
    let mut cfg = SinkConfig::agent_defaults("test-flow", "test-stream", limits);
    cfg.max_records = 100;
    cfg.max_age = Duration::from_secs(1);
    cfg.retry_initial_backoff = Duration::from_millis(100);
    cfg.retry_max_backoff = Duration::from_secs(2);
    cfg.permanent_retry_interval = Duration::from_secs(30);
    cfg.request_timeout = Duration::from_secs(10);
    // The daemon's default is off (issue #20); the sink's tests keep it on so that its
    // interplay with retries, pacing and the linger stays tested.
    cfg.rate_ceiling = Some(firetail_sink::CeilingConfig::default());
    cfg
}

/// Sends records `0..n` into a channel in chunks of `chunk`, then closes it.
pub fn feed(n: u64, chunk: u64) -> mpsc::Receiver<Vec<OutRecord>> {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let mut i = 0;
        while i < n {
            let end = (i + chunk).min(n);
            if tx.send((i..end).map(record).collect()).await.is_err() {
                return;
            }
            i = end;
        }
    });
    rx
}

/// Drains an ack receiver.
pub fn drain_acks(rx: &mut AckReceiver) -> Vec<Span> {
    let mut spans = Vec::new();
    while let Some(span) = rx.try_recv() {
        spans.push(span);
    }
    spans
}

/// Per record index, how many times its bytes were acknowledged.
pub fn ack_counts(spans: &[Span], n: u64) -> Vec<usize> {
    let mut counts = vec![0usize; n as usize];
    for span in spans {
        assert_eq!(
            span.start % SPAN_LEN,
            0,
            "ack does not start on a record: {span:?}"
        );
        assert_eq!(
            span.end % SPAN_LEN,
            0,
            "ack does not end on a record: {span:?}"
        );
        for i in span.start / SPAN_LEN..span.end / SPAN_LEN {
            counts[i as usize] += 1;
        }
    }
    counts
}

pub fn acker() -> (Acker, AckReceiver) {
    Acker::channel()
}

/// Everything a sink reported, for assertions.
#[derive(Default)]
pub struct Recorder {
    pub events: Mutex<Vec<Event>>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Sent {
        records: usize,
        bytes: usize,
    },
    Acked {
        records: usize,
        bytes: usize,
    },
    /// Records of an answered call failed with a per-record code.
    Failed {
        code: String,
        records: usize,
    },
    /// The whole call failed.
    CallFailed {
        code: String,
        records: usize,
    },
    Rejected {
        code: String,
        records: usize,
    },
    Retried(usize),
    Throttled(String),
    Permanent(String),
    Concurrency(usize),
    Backoff(Duration),
    Abandoned(usize),
}

impl Recorder {
    pub fn new() -> Arc<Self> {
        Arc::new(Recorder::default())
    }

    fn push(&self, event: Event) {
        self.events.lock().unwrap().push(event);
    }

    pub fn all(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    pub fn sum(&self, pick: impl Fn(&Event) -> Option<usize>) -> usize {
        self.all().iter().filter_map(pick).sum()
    }
}

impl SinkEvents for Recorder {
    fn batch_sent(&self, _flow: &str, records: usize, bytes: usize, _latency: Duration) {
        self.push(Event::Sent { records, bytes });
    }
    fn records_acked(&self, _flow: &str, records: usize, bytes: usize) {
        self.push(Event::Acked { records, bytes });
    }
    fn records_failed(&self, _flow: &str, code: &str, records: usize) {
        self.push(Event::Failed {
            code: code.into(),
            records,
        });
    }
    fn call_failed(&self, _flow: &str, code: &str, records: usize) {
        self.push(Event::CallFailed {
            code: code.into(),
            records,
        });
    }
    fn records_rejected(&self, _flow: &str, code: &str, records: usize) {
        self.push(Event::Rejected {
            code: code.into(),
            records,
        });
    }
    fn records_retried(&self, _flow: &str, records: usize) {
        self.push(Event::Retried(records));
    }
    fn throttled(&self, _flow: &str, code: &str) {
        self.push(Event::Throttled(code.into()));
    }
    fn permanent_error(&self, _flow: &str, code: &str, _message: &str) {
        self.push(Event::Permanent(code.into()));
    }
    fn concurrency_changed(&self, _flow: &str, limit: usize) {
        self.push(Event::Concurrency(limit));
    }
    fn backoff(&self, _flow: &str, delay: Duration) {
        self.push(Event::Backoff(delay));
    }
    fn records_abandoned(&self, _flow: &str, records: usize) {
        self.push(Event::Abandoned(records));
    }
}

pub fn transient_500() -> PutError {
    PutError::Transient {
        code: "InternalFailure".into(),
        message: "injected 500".into(),
        timeout: false,
    }
}

pub fn throttled() -> PutError {
    PutError::Throttled {
        code: "ServiceUnavailableException".into(),
        message: "Slow down.".into(),
    }
}

pub fn not_found() -> PutError {
    PutError::Permanent {
        code: "ResourceNotFoundException".into(),
        message: "Firehose test-stream under account 123 not found.".into(),
    }
}
