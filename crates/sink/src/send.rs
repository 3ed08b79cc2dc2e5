//! The per-flow send loop, [`run_sink`]: pull records, batch them, keep up to the
//! adaptive number of requests in flight, acknowledge what the destination accepted and
//! retry exactly what it did not.
//!
//! One task owns all the state below; each request runs in its own spawned task and
//! hands its batch back with the answer, so nothing is shared and nothing is locked.
//!
//! # Invariants
//! - A span is acknowledged only for a record whose own response entry has no error code.
//! - Every record taken from the input is, at any moment, in exactly one place: the open
//!   batch, the ready queue, the retry queue or an in-flight request. It leaves only by
//!   being accepted (acknowledged) or abandoned at the shutdown deadline (not
//!   acknowledged; re-read from the checkpoint).
//! - The input is not read while the flow is held (backoff, permanent error) or while
//!   `QUEUED_BATCHES` batches already wait for a slot, so the bounded channel pauses
//!   the tailer.
//!
//! # Flow-wide hold
//! Like the Kinesis Agent, backoff is per flow: it delays the next request of the flow,
//! whatever batch that is, for as long as the [`RetryPolicy`] decides. Permanent errors
//! are no curve: they hold the flow for `permanent_retry_interval` and allow a single
//! request in flight.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use rand::Rng;
use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinSet};
use tokio::time::{sleep_until, Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, trace, warn};

use crate::batch::{Batch, BatchLimits, Batcher};
use crate::ceiling::RateCeiling;
use crate::client::{CodeClass, DestinationLimits, PutClient, PutError, RecordResult};
use crate::events::SinkEvents;
use crate::linger::Linger;
use crate::retry::{Aimd, Cause, Extent, Pacer, RetryPolicy};
use crate::sdk::TIMEOUT_CODE;
use crate::{Acker, OutRecord, SinkConfig, SinkError, SinkSummary, Span};
use firetail_agent::log_gate::LogGate;
use firetail_agent::partition::is_valid_key;

/// How often a persisting permanent error, throttling or transient errors are logged at
/// WARN/ERROR (each occurrence is logged at DEBUG).
const REPEAT_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Closed batches waiting for a request slot before the input is read again. Waiting
/// batches hold in-flight budget without being in flight: past a couple (enough to
/// refill a slot the moment one frees), the budget is better spent on requests. With a
/// far endpoint (80 ms), a queue as deep as the concurrency limit held a quarter of the
/// budget and cut throughput from 16 to 14 MiB/s.
const QUEUED_BATCHES: usize = 2;

/// Runs one flow's sink until its input closes and everything is settled (drain), or
/// until `shutdown` fires (abandon: in-flight and queued records are not acknowledged).
///
/// `client` decides the API, its limits and how records are counted; its SDK retries
/// must be off (see [`crate::FirehoseClient`]). Records for a destination with partition
/// keys (Kinesis) without a valid one get one from [`SinkConfig::partition_keys`].
///
/// Fails only with [`SinkError::InvalidConfig`], before reading anything. Dropping the
/// returned future abandons like `shutdown` does (in-flight requests are aborted, nothing
/// more is acknowledged).
pub async fn run_sink<C: PutClient + ?Sized>(
    cfg: SinkConfig,
    client: Arc<C>,
    mut input: mpsc::Receiver<Vec<OutRecord>>,
    acker: Acker,
    events: Arc<dyn SinkEvents>,
    shutdown: CancellationToken,
) -> Result<SinkSummary, SinkError> {
    let limits = client.limits();
    cfg.validate(limits)?;
    let mut flow = Flow::new(cfg, limits, client, acker, events);
    let mut reader_alive = true;
    loop {
        let now = Instant::now();
        flow.close_expired(now);
        flow.close_lingering(now);
        if flow.acker.reader_waiting() && input.is_empty() && flow.awaits_no_answer() {
            // Reading is paused until something is acknowledged, everything read is
            // here, and no request is out or waiting to go whose answer would free the
            // budget: the open batch will not fill, so waiting for its age would stall
            // the flow (records larger than the in-flight budget / max_records). While
            // answers are still due it keeps filling: closing it at every pause sent
            // one partial batch per budget's worth at saturation (90 % full calls).
            flow.close_open_batch();
        }
        flow.dispatch(now);
        if flow.input_closed && flow.is_settled() {
            return Ok(flow.finish());
        }
        let wake = flow.next_wakeup(now);
        let can_pull = flow.can_pull(now);
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(flow.abandon()),
            Some(joined) = flow.in_flight.join_next_with_id(), if !flow.in_flight.is_empty() => {
                flow.on_joined(joined);
            }
            received = input.recv(), if can_pull => match received {
                Some(records) => flow.accept(records),
                None => flow.close_input(),
            },
            () = sleep_until(wake.unwrap_or(now)), if wake.is_some() => {}
            alive = flow.acker.reader_waiting_changed(), if reader_alive => reader_alive = alive,
        }
    }
}

/// What a request task hands back.
struct Completed {
    batch: Batch,
    result: Result<Vec<RecordResult>, PutError>,
    latency: Duration,
    /// The AIMD epoch when the request was sent.
    epoch: u64,
    /// When it was sent (the rate ceiling counts only throttles of requests sent after
    /// its last cut).
    sent_at: Instant,
}

/// When and under which AIMD epoch a request was sent.
#[derive(Clone, Copy)]
struct Sent {
    epoch: u64,
    at: Instant,
}

/// Why a request needs its records sent again.
enum Failure {
    Throttle { code: String, extent: Extent },
    Transient { timeout: bool, extent: Extent },
    Permanent { code: String, message: String },
}

/// A permanent error the flow is currently stuck on.
struct PermanentState {
    code: String,
    since: Instant,
    /// Its ERROR repeats at most every [`REPEAT_LOG_INTERVAL`].
    log: LogGate,
    attempts: u64,
}

struct Flow<C: ?Sized> {
    cfg: SinkConfig,
    limits: &'static DestinationLimits,
    client: Arc<C>,
    stream: Arc<str>,
    acker: Acker,
    events: Arc<dyn SinkEvents>,
    batcher: Batcher,
    /// Closed batches never sent.
    ready: VecDeque<Batch>,
    /// Records that failed, sent before `ready` ones.
    retry: VecDeque<Batch>,
    in_flight: JoinSet<Completed>,
    /// Records per in-flight task, to count what a panic or the deadline abandons.
    in_flight_records: HashMap<tokio::task::Id, usize>,
    aimd: Aimd,
    retry_policy: RetryPolicy,
    /// No request leaves before this (backoff or permanent-error wait).
    hold_until: Option<Instant>,
    pacer: Option<Pacer>,
    /// The request-rate ceiling learned from throttles, when enabled.
    ceiling: Option<RateCeiling>,
    /// The low-latency mode's linger, when enabled.
    linger: Option<Linger>,
    pace_until: Option<Instant>,
    permanent: Option<PermanentState>,
    /// Per kind of WARN: when it was last logged and how often it recurred since.
    warned: HashMap<String, LogGate>,
    warned_bad_key: bool,
    input_closed: bool,
    summary: SinkSummary,
    closed_scratch: Vec<Batch>,
}

impl<C: PutClient + ?Sized> Flow<C> {
    fn new(
        cfg: SinkConfig,
        limits: &'static DestinationLimits,
        client: Arc<C>,
        acker: Acker,
        events: Arc<dyn SinkEvents>,
    ) -> Self {
        let batch_limits = BatchLimits {
            max_records: cfg.max_records,
            max_bytes: cfg.max_bytes,
            max_age: cfg.max_age,
            max_span_millis: limits.max_batch_span_millis,
        };
        Flow {
            stream: Arc::from(cfg.stream.as_str()),
            batcher: Batcher::new(batch_limits, limits),
            aimd: Aimd::new(cfg.max_in_flight),
            retry_policy: RetryPolicy::new(
                cfg.retry_initial_backoff,
                cfg.retry_max_backoff,
                cfg.retry_budget_tokens,
            ),
            pacer: cfg
                .pacing
                .as_ref()
                .and_then(|p| Pacer::new(p, Instant::now())),
            ceiling: cfg
                .rate_ceiling
                .map(|c| RateCeiling::new(c, Instant::now())),
            linger: cfg.linger.map(|l| Linger::new(l, cfg.max_age)),
            cfg,
            limits,
            client,
            acker,
            events,
            ready: VecDeque::new(),
            retry: VecDeque::new(),
            in_flight: JoinSet::new(),
            in_flight_records: HashMap::new(),
            hold_until: None,
            pace_until: None,
            permanent: None,
            warned: HashMap::new(),
            warned_bad_key: false,
            input_closed: false,
            summary: SinkSummary::default(),
            closed_scratch: Vec::new(),
        }
    }

    fn flow_id(&self) -> &str {
        &self.cfg.flow_id
    }

    // ----- input -----

    fn accept(&mut self, records: Vec<OutRecord>) {
        let now = Instant::now();
        for mut record in records {
            if self.limits.partition_keys {
                self.ensure_partition_key(&mut record);
            }
            self.batcher.push(record, now, &mut self.closed_scratch);
        }
        self.ready.extend(self.closed_scratch.drain(..));
    }

    fn ensure_partition_key(&mut self, record: &mut OutRecord) {
        if record.partition_key.as_deref().is_some_and(is_valid_key) {
            return;
        }
        if record.partition_key.is_some() && !self.warned_bad_key {
            self.warned_bad_key = true;
            warn!(
                flow = %self.cfg.flow_id,
                "replacing a partition key that Kinesis would reject (empty or over 256 characters); further replacements are not logged"
            );
        }
        record.partition_key = Some(self.cfg.partition_keys.key_for(&record.data));
    }

    fn close_input(&mut self) {
        self.input_closed = true;
        self.close_open_batch();
        debug!(flow = %self.cfg.flow_id, "input closed; draining");
    }

    fn close_open_batch(&mut self) {
        if let Some(batch) = self.batcher.take() {
            self.ready.push_back(batch);
        }
    }

    fn close_expired(&mut self, now: Instant) {
        if let Some(batch) = self.batcher.take_if_expired(now) {
            self.ready.push_back(batch);
        }
    }

    /// Low-latency mode: the open batch leaves once its first record is the linger old and
    /// a request could leave now; while every slot is busy it keeps filling.
    fn close_lingering(&mut self, now: Instant) {
        let due = match (&self.linger, self.batcher.opened_at()) {
            (Some(linger), Some(opened)) => linger.is_due(opened, now),
            _ => false,
        };
        if due && self.can_send_now(now) {
            self.close_open_batch();
        }
    }

    /// Whether a request could leave at `now`: nothing queued before it, a slot free, no
    /// hold, and neither the pacer nor the ceiling asking to wait.
    fn can_send_now(&mut self, now: Instant) -> bool {
        !self.has_queued()
            && !self.held(now)
            && self.in_flight.len() < self.concurrency_limit()
            && self
                .ceiling
                .as_mut()
                .is_none_or(|c| c.ready_at(now).is_none())
            && self.pacer.as_mut().is_none_or(|p| p.wait(now).is_zero())
    }

    /// When a lingering batch could leave: its linger, and any ceiling wait after it.
    fn linger_wakeup(&mut self, now: Instant) -> Option<Instant> {
        let due = self.batcher.opened_at()? + self.linger.as_ref()?.current();
        if self.has_queued() {
            return None;
        }
        let ceiling = self.ceiling.as_mut().and_then(|c| c.ready_at(now));
        Some(ceiling.map_or(due, |at| at.max(due)))
    }

    fn held(&self, now: Instant) -> bool {
        self.hold_until.is_some_and(|until| now < until)
    }

    fn can_pull(&self, now: Instant) -> bool {
        !self.input_closed && !self.held(now) && !self.queue_is_full()
    }

    /// Whether [`QUEUED_BATCHES`] full batches' worth of records waits for a slot. Counted
    /// in records and bytes, not batches: batches closed by age while a rate ceiling or
    /// pacer holds the flow are small, and are merged when they leave (`next_batch`), so
    /// a flow held back keeps reading and still sends full batches.
    fn queue_is_full(&self) -> bool {
        let (records, bytes) = self
            .ready
            .iter()
            .chain(self.retry.iter())
            .fold((0, 0), |(r, b), batch| (r + batch.len(), b + batch.bytes));
        records >= QUEUED_BATCHES * self.cfg.max_records
            || bytes >= QUEUED_BATCHES * self.cfg.max_bytes
    }

    fn has_queued(&self) -> bool {
        !self.ready.is_empty() || !self.retry.is_empty()
    }

    /// Nothing is in flight or queued: no answer is coming that would acknowledge
    /// anything.
    fn awaits_no_answer(&self) -> bool {
        self.in_flight.is_empty() && !self.has_queued()
    }

    fn is_settled(&self) -> bool {
        !self.has_queued() && self.in_flight.is_empty() && self.batcher.open_records() == 0
    }

    fn next_wakeup(&mut self, now: Instant) -> Option<Instant> {
        // The hold also gates reading the input, so its end is always worth waking for;
        // the pacer only matters when there is something to send.
        let pace = if self.has_queued() {
            self.pace_until
        } else {
            None
        };
        [
            self.batcher.deadline(),
            self.hold_until,
            pace,
            self.linger_wakeup(now),
        ]
        .into_iter()
        .flatten()
        .filter(|until| *until > now)
        .min()
    }

    // ----- sending -----

    fn concurrency_limit(&self) -> usize {
        if self.permanent.is_some() {
            1
        } else {
            self.aimd.limit()
        }
    }

    fn dispatch(&mut self, now: Instant) {
        while self.has_queued()
            && !self.held(now)
            && self.in_flight.len() < self.concurrency_limit()
        {
            let pacer_wait = self.pacer.as_mut().map_or(Duration::ZERO, |p| p.wait(now));
            let ceiling_wait = self
                .ceiling
                .as_mut()
                .map_or(Duration::ZERO, |c| c.wait(now));
            let wait = pacer_wait.max(ceiling_wait);
            if !wait.is_zero() {
                self.pace_until = Some(now + wait);
                return;
            }
            self.pace_until = None;
            let Some(batch) = self.next_batch(now) else {
                return;
            };
            if let Some(pacer) = self.pacer.as_mut() {
                pacer.spend(batch.len(), batch.bytes, now);
            }
            if let Some(ceiling) = self.ceiling.as_mut() {
                ceiling.on_sent(now, batch.bytes, rand::thread_rng().gen::<f64>());
            }
            self.spawn_request(batch);
        }
    }

    /// The oldest retry batch, else the oldest fresh batch, topped up with the queued
    /// batches behind it that fit, retries first: a partial failure leaves small retry
    /// batches, and a flow held back by a rate ceiling queues batches closed by age.
    /// Under a rate ceiling a request carries its call size: the rest of a bigger batch goes
    /// back to the front of the queue, and a smaller one is topped up with the head of the
    /// next.
    fn next_batch(&mut self, now: Instant) -> Option<Batch> {
        let mut batch = self.retry.pop_front().or_else(|| self.ready.pop_front())?;
        let mut limits = *self.batcher.limits();
        let call_cap = self.ceiling.as_mut().and_then(|c| c.max_call_bytes(now));
        if let Some(cap) = call_cap {
            limits.max_bytes = limits.max_bytes.min(cap);
            if let Some(rest) = batch.split_at_bytes(cap, self.limits) {
                self.retry.push_front(rest);
                return Some(batch);
            }
        }
        for queue in [&mut self.retry, &mut self.ready] {
            while let Some(next) = queue.front_mut() {
                if batch.can_absorb(next, &limits) {
                    if let Some(next) = queue.pop_front() {
                        batch.absorb(next);
                    }
                    continue;
                }
                // Under a ceiling every call is filled to its size, with the head of a
                // batch that does not fit whole: the fleet's fairness rests on a daemon's
                // calls coming in proportion to its rate, and whole batches alone left
                // calls of any size under the cap (batches closed by age of 2 units gave
                // calls of 1.5 and 0.5: a slow daemon made more calls per byte, met more
                // throttles and stayed slow).
                if call_cap.is_some() {
                    let room = limits.max_bytes.saturating_sub(batch.bytes);
                    let records = limits.max_records.saturating_sub(batch.len());
                    if let Some(head) = next.split_front(room, records, self.limits) {
                        if batch.can_absorb(&head, &limits) {
                            batch.absorb(head);
                        } else {
                            // A span limit (CloudWatch Logs): put the head back.
                            let rest = std::mem::replace(next, head);
                            next.absorb(rest);
                        }
                    }
                }
                break;
            }
        }
        Some(batch)
    }

    fn spawn_request(&mut self, batch: Batch) {
        let client = Arc::clone(&self.client);
        let stream = Arc::clone(&self.stream);
        let timeout = self.cfg.request_timeout;
        let epoch = self.aimd.epoch();
        let records = batch.len();
        self.summary.requests += 1;
        let handle = self.in_flight.spawn(async move {
            let started = Instant::now();
            let sent_at = started;
            let call = client.put_batch(&stream, &batch.records);
            let result = match tokio::time::timeout(timeout, call).await {
                Ok(result) => result,
                Err(_) => Err(PutError::Transient {
                    code: TIMEOUT_CODE.into(),
                    message: format!("no answer within {timeout:?}"),
                    timeout: true,
                }),
            };
            Completed {
                batch,
                result,
                latency: started.elapsed(),
                epoch,
                sent_at,
            }
        });
        self.in_flight_records.insert(handle.id(), records);
    }

    // ----- answers -----

    fn on_joined(&mut self, joined: Result<(tokio::task::Id, Completed), JoinError>) {
        let completed = match joined {
            Ok((id, completed)) => {
                self.in_flight_records.remove(&id);
                completed
            }
            Err(err) => {
                let lost = self.in_flight_records.remove(&err.id()).unwrap_or(0);
                self.summary.records_abandoned += lost as u64;
                self.events.records_abandoned(&self.cfg.flow_id, lost);
                error!(
                    flow = %self.cfg.flow_id,
                    records = lost,
                    error = %err,
                    "a send task failed; its records stay unacknowledged until the next restart re-reads them"
                );
                return;
            }
        };
        let Completed {
            batch,
            result,
            latency,
            epoch,
            sent_at,
        } = completed;
        self.events
            .batch_sent(&self.cfg.flow_id, batch.len(), batch.bytes, latency);
        match result {
            Ok(results) if results.len() == batch.len() => {
                self.on_answer(batch, results, Sent { epoch, at: sent_at });
            }
            Ok(results) => {
                let error = PutError::Transient {
                    code: "ResponseMismatch".into(),
                    message: format!(
                        "the response has {} entries for {} records",
                        results.len(),
                        batch.len()
                    ),
                    timeout: false,
                };
                self.on_call_error(batch, error, Sent { epoch, at: sent_at });
            }
            Err(error) => self.on_call_error(batch, error, Sent { epoch, at: sent_at }),
        }
    }

    fn on_answer(&mut self, batch: Batch, results: Vec<RecordResult>, sent: Sent) {
        let attempted = batch.len();
        let sorted = self.sort_answer(batch, results);
        let (acked_records, acked_bytes) = (sorted.acked_records, sorted.acked_bytes);
        self.note_accepted(acked_records, acked_bytes);
        self.note_rejected(
            &sorted.rejected,
            sorted.rejected_message.as_deref().unwrap_or_default(),
        );
        if acked_records > 0 {
            if let Some(ceiling) = self.ceiling.as_mut() {
                ceiling.on_accepted(Instant::now(), acked_bytes);
            }
        }
        for (code, n) in &sorted.codes {
            self.events.records_failed(&self.cfg.flow_id, code, *n);
        }
        if sorted.failed.is_empty() {
            self.on_clean_success();
            return;
        }
        debug!(
            flow = %self.cfg.flow_id,
            sent = acked_records,
            failed = sorted.failed.len(),
            errors = ?sorted.codes,
            "partial success; re-sending only the failed records"
        );
        self.retry_policy.on_progress(acked_records, attempted);
        let extent = Extent::Records(sorted.failed.len() as f64 / attempted as f64);
        let failure = if let Some((code, message)) = sorted.permanent {
            Failure::Permanent { code, message }
        } else if let Some(code) = sorted.throttle_code {
            Failure::Throttle { code, extent }
        } else {
            Failure::Transient {
                timeout: false,
                extent,
            }
        };
        if !matches!(failure, Failure::Permanent { .. }) {
            self.leave_permanent();
        }
        self.requeue(sorted.failed);
        self.on_failure(failure, sent);
    }

    /// Sorts an answer's records: accepted and refused-for-good ones are acknowledged
    /// here (refused ones so the checkpoint moves past them: sending them again would be
    /// refused the same way); failed ones go into the batch to send again.
    fn sort_answer(&self, batch: Batch, results: Vec<RecordResult>) -> SortedAnswer {
        let mut sorted = SortedAnswer {
            failed: Batch {
                records: Vec::new(),
                bytes: 0,
                attempt: batch.attempt + 1,
            },
            ..SortedAnswer::default()
        };
        let mut acks = AckMerger::new(&self.acker, self.cfg.merge_acks);
        for (record, result) in batch.records.into_iter().zip(results) {
            match result {
                RecordResult::Ok => {
                    sorted.acked_records += 1;
                    // Data bytes only, as the agent's BytesSent: a Kinesis key is overhead.
                    sorted.acked_bytes += record.data.len();
                    acks.push(record.span);
                }
                RecordResult::Rejected { code, message } => {
                    acks.push(record.span);
                    sorted.rejected_message.get_or_insert(message);
                    count_code(&mut sorted.rejected, code);
                }
                RecordResult::Failed { code, message } => {
                    match self.client.classify(&code) {
                        CodeClass::Throttle if sorted.throttle_code.is_none() => {
                            sorted.throttle_code = Some(code.clone());
                        }
                        CodeClass::Permanent if sorted.permanent.is_none() => {
                            sorted.permanent = Some((code.clone(), message));
                        }
                        _ => {}
                    }
                    count_code(&mut sorted.codes, code);
                    sorted.failed.bytes += record.request_bytes(self.limits);
                    sorted.failed.records.push(record);
                }
            }
        }
        acks.finish();
        sorted
    }

    fn on_call_error(&mut self, batch: Batch, error: PutError, sent: Sent) {
        self.events
            .call_failed(&self.cfg.flow_id, error.code(), batch.len());
        debug!(
            flow = %self.cfg.flow_id,
            stream = %self.cfg.stream,
            records = batch.len(),
            attempt = batch.attempt + 1,
            %error,
            "request failed; its records will be sent again"
        );
        let failure = match error {
            PutError::Throttled { code, .. } => {
                // A throttle proves the stream exists and the credentials work.
                self.leave_permanent();
                Failure::Throttle {
                    code,
                    extent: Extent::WholeCall,
                }
            }
            PutError::Transient { timeout, .. } => Failure::Transient {
                timeout,
                extent: Extent::WholeCall,
            },
            PutError::Permanent { code, message } => Failure::Permanent { code, message },
        };
        let mut batch = batch;
        batch.attempt += 1;
        self.requeue(batch);
        self.on_failure(failure, sent);
    }

    fn note_accepted(&mut self, records: usize, bytes: usize) {
        if records == 0 {
            return;
        }
        self.summary.records_accepted += records as u64;
        self.summary.bytes_accepted += bytes as u64;
        self.events.records_acked(&self.cfg.flow_id, records, bytes);
    }

    /// Records the destination refused for good: one WARN per answer that had any (they
    /// are rare, and each one is data that will never arrive), and the count by code.
    fn note_rejected(&mut self, rejected: &[(String, usize)], message: &str) {
        for (code, n) in rejected {
            self.summary.records_rejected += *n as u64;
            self.events.records_rejected(&self.cfg.flow_id, code, *n);
            warn!(
                flow = %self.cfg.flow_id,
                stream = %self.cfg.stream,
                code = %code,
                records = n,
                message = %message,
                "the destination refused records for good; they are acknowledged and will not be sent again"
            );
        }
    }

    fn requeue(&mut self, batch: Batch) {
        self.summary.records_retried += batch.len() as u64;
        self.events.records_retried(&self.cfg.flow_id, batch.len());
        self.retry.push_back(batch);
    }

    fn on_clean_success(&mut self) {
        self.leave_permanent();
        self.retry_policy.on_clean_success();
        if let Some(linger) = self.linger.as_mut() {
            linger.on_clean_success();
        }
        // Saturated: batches are waiting and every slot is taken (this request's slot
        // is already free here, hence the + 1).
        let saturated = self.has_queued() && self.in_flight.len() + 1 >= self.concurrency_limit();
        if let Some(limit) = self.aimd.on_success(saturated) {
            self.events.concurrency_changed(&self.cfg.flow_id, limit);
        }
    }

    fn on_failure(&mut self, failure: Failure, sent: Sent) {
        let now = Instant::now();
        let (cause, extent) = match failure {
            Failure::Permanent { code, message } => {
                self.on_permanent(code, message, now);
                return;
            }
            Failure::Throttle { code, extent } => {
                self.events.throttled(&self.cfg.flow_id, &code);
                if extent == Extent::WholeCall {
                    self.on_whole_call_throttle(sent.at, now);
                }
                self.warn_now_and_then(
                    now,
                    &format!("destination is throttling ({code}); backing off"),
                );
                (Cause::Throttle, extent)
            }
            Failure::Transient { timeout, extent } => {
                if extent == Extent::WholeCall {
                    self.warn_now_and_then(now, "requests are failing; retrying with backoff");
                }
                let cause = if timeout {
                    Cause::Timeout
                } else {
                    Cause::Error
                };
                (cause, extent)
            }
        };
        let decision = self
            .retry_policy
            .on_setback(cause, extent, rand::thread_rng().gen::<f64>());
        if decision.congestion {
            if let Some(limit) = self.aimd.on_congestion(sent.epoch) {
                self.events.concurrency_changed(&self.cfg.flow_id, limit);
            }
        }
        if decision.budget_empty {
            trace!(flow = %self.cfg.flow_id, "retry budget empty; waiting the maximum backoff");
        }
        self.hold_for(now, decision.delay);
    }

    /// A stream's quota speaks through whole-call throttles (per-record ones are faults of
    /// single records, or a Kinesis shard's limit, left to the backoff).
    fn on_whole_call_throttle(&mut self, sent_at: Instant, now: Instant) {
        if let Some(linger) = self.linger.as_mut() {
            linger.on_throttle();
        }
        if let Some(ceiling) = self.ceiling.as_mut() {
            if let Some(rate) = ceiling.on_throttled(sent_at, now) {
                debug!(
                    flow = %self.cfg.flow_id,
                    requests_per_second = rate,
                    throttled_share = ceiling.throttled_share(),
                    "throttled: request-rate ceiling cut"
                );
            }
        }
    }

    fn hold_for(&mut self, now: Instant, delay: Duration) {
        if delay.is_zero() {
            return;
        }
        let until = now + delay;
        if self.hold_until.is_none_or(|current| current < until) {
            self.hold_until = Some(until);
            self.events.backoff(&self.cfg.flow_id, delay);
        }
    }

    fn on_permanent(&mut self, code: String, message: String, now: Instant) {
        self.events
            .permanent_error(&self.cfg.flow_id, &code, &message);
        let interval = self.cfg.permanent_retry_interval;
        match self.permanent.as_mut() {
            Some(state) if state.code == code => {
                state.attempts += 1;
                if state.log.pass_at(now.into_std()).is_some() {
                    error!(
                        flow = %self.cfg.flow_id,
                        stream = %self.cfg.stream,
                        code = %code,
                        message = %message,
                        attempts = state.attempts,
                        failing_for = ?now.duration_since(state.since),
                        "the destination still rejects requests; nothing is acknowledged, reading is paused"
                    );
                }
            }
            _ => {
                error!(
                    flow = %self.cfg.flow_id,
                    stream = %self.cfg.stream,
                    code = %code,
                    message = %message,
                    retry_every = ?interval,
                    "the destination rejects requests with an error that needs fixing (stream name, permissions, credentials, KMS key?); nothing is acknowledged, reading is paused, retrying slowly"
                );
                let log = LogGate::new(REPEAT_LOG_INTERVAL);
                // This line was the first: the next one waits an interval.
                log.pass_at(now.into_std());
                self.permanent = Some(PermanentState {
                    code,
                    since: now,
                    log,
                    attempts: 1,
                });
            }
        }
        self.hold_for(now, interval);
    }

    fn leave_permanent(&mut self) {
        if let Some(state) = self.permanent.take() {
            info!(
                flow = %self.cfg.flow_id,
                stream = %self.cfg.stream,
                code = %state.code,
                failed_for = ?state.since.elapsed(),
                attempts = state.attempts,
                "the destination accepts requests again"
            );
            self.hold_until = None;
        }
    }

    /// One WARN line per kind of trouble per [`REPEAT_LOG_INTERVAL`], carrying how many
    /// times it happened since the last line, so a throttling storm costs the journal a
    /// line a minute instead of one per request.
    fn warn_now_and_then(&mut self, now: Instant, what: &str) {
        let gate = self
            .warned
            .entry(what.to_string())
            .or_insert_with(|| LogGate::new(REPEAT_LOG_INTERVAL));
        let Some(passed) = gate.pass_at(now.into_std()) else {
            debug!(flow = %self.cfg.flow_id, "{what}");
            return;
        };
        let since = match (passed.held, passed.since_last) {
            (n, Some(last)) if n > 0 => format!("; {n} more time(s) in the last {last:.0?}"),
            _ => String::new(),
        };
        warn!(
            flow = %self.flow_id(),
            stream = %self.cfg.stream,
            concurrency = self.aimd.limit(),
            "{what}{since} (repeats are counted and logged at most every {REPEAT_LOG_INTERVAL:?})"
        );
    }

    // ----- the end -----

    fn finish(self) -> SinkSummary {
        debug!(flow = %self.cfg.flow_id, summary = ?self.summary, "sink drained");
        self.summary
    }

    fn abandon(mut self) -> SinkSummary {
        let queued: usize = self
            .ready
            .iter()
            .chain(self.retry.iter())
            .map(Batch::len)
            .sum();
        let in_flight: usize = self.in_flight_records.values().sum();
        let abandoned = queued + in_flight + self.batcher.open_records();
        self.in_flight.abort_all();
        self.summary.records_abandoned += abandoned as u64;
        self.summary.abandoned = true;
        if abandoned > 0 {
            self.events.records_abandoned(&self.cfg.flow_id, abandoned);
            warn!(
                flow = %self.cfg.flow_id,
                records = abandoned,
                "shutdown deadline: unacknowledged records abandoned; they are read again from the checkpoint"
            );
        }
        self.summary
    }
}

fn count_code(codes: &mut Vec<(String, usize)>, code: String) {
    match codes.iter_mut().find(|(known, _)| *known == code) {
        Some((_, n)) => *n += 1,
        None => codes.push((code, 1)),
    }
}

/// One answer's records, sorted by what happened to them.
#[derive(Default)]
struct SortedAnswer {
    /// The records to send again.
    failed: Batch,
    /// Per-record failure codes, with how many records each.
    codes: Vec<(String, usize)>,
    /// The first throttling code among the failures.
    throttle_code: Option<String>,
    /// The first permanent failure, code and message.
    permanent: Option<(String, String)>,
    acked_records: usize,
    /// Data bytes of the accepted records.
    acked_bytes: usize,
    /// Records refused for good, by code.
    rejected: Vec<(String, usize)>,
    /// The first refused record's message.
    rejected_message: Option<String>,
}

/// Sends acknowledgements, merging runs of contiguous spans of one file into one span.
struct AckMerger<'a> {
    acker: &'a Acker,
    merge: bool,
    pending: Option<Span>,
}

impl<'a> AckMerger<'a> {
    fn new(acker: &'a Acker, merge: bool) -> Self {
        AckMerger {
            acker,
            merge,
            pending: None,
        }
    }

    fn push(&mut self, span: Span) {
        if let Some(pending) = self.pending.as_mut() {
            if self.merge && pending.file == span.file && pending.end == span.start {
                pending.end = span.end;
                return;
            }
            self.acker.ack(*pending);
        }
        self.pending = Some(span);
    }

    fn finish(mut self) {
        if let Some(span) = self.pending.take() {
            self.acker.ack(span);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FileId;

    #[test]
    fn ack_merger_merges_only_contiguous_spans_of_one_file() {
        let (acker, mut rx) = Acker::channel();
        let span = |file, start, end| Span {
            file: FileId(file),
            start,
            end,
        };
        let mut merger = AckMerger::new(&acker, true);
        for s in [
            span(1, 0, 5),
            span(1, 5, 9),
            span(2, 9, 12),
            span(2, 20, 25),
            span(1, 9, 10),
        ] {
            merger.push(s);
        }
        merger.finish();
        let mut got = Vec::new();
        while let Some(s) = rx.try_recv() {
            got.push(s);
        }
        assert_eq!(
            got,
            [
                span(1, 0, 9),
                span(2, 9, 12),
                span(2, 20, 25),
                span(1, 9, 10)
            ]
        );

        let mut merger = AckMerger::new(&acker, false);
        merger.push(span(1, 0, 5));
        merger.push(span(1, 5, 9));
        merger.finish();
        assert_eq!(rx.try_recv(), Some(span(1, 0, 5)));
        assert_eq!(rx.try_recv(), Some(span(1, 5, 9)));
    }
}
