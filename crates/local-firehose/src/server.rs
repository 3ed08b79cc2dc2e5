//! The HTTP side: accept loop, routing, body limits, fault application, and the [`Server`]
//! handle tests and the CLI hold.
//!
//! Request flow for `POST /`: route by `X-Amz-Target` → require `Authorization` → read the
//! body (bounded by `Options::max_body`, refused early by Content-Length) → outage → latency →
//! the operation. For data calls the body is fully validated before any fault is drawn, and a
//! call-level fault decides whether anything is delivered.
//!
//! Shutdown: cancelling the token stops the accept loop, the flusher and every connection;
//! `Server::shutdown` then writes all buffers and stops the writer thread.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{ApiError, Operation, CONTENT_TYPE as AWS_JSON};
use crate::batch::{
    decode_put_record, decode_put_record_batch, DecodedPut, PutScratch, PUT_SCRATCH,
};
use crate::delivery::{run_writer, WriterMsg};
use crate::error::Error;
use crate::faults::{CallFault, FaultInjector, RecordFault};
use crate::kinesis::{self, KinesisStreams};
use crate::opensearch::OpenSearchMsg;
use crate::options::{Faults, LocalFirehoseArgs, Options};
use crate::quota::Quotas;
use crate::record_log::{AcceptedRecord, Outcome, RecordLog};
use crate::stats::{Stats, StatsCell};
use crate::streams::{Chunk, Streams};

/// How often the flusher looks for buffers older than their interval hint.
const FLUSH_TICK: Duration = Duration::from_millis(100);
/// Chunks queued for the writer before request handlers wait for it.
const WRITER_QUEUE: usize = 16;

/// The error a handler returns to make hyper drop the connection without an answer.
#[derive(Debug, thiserror::Error)]
#[error("connection closed without an answer ({0})")]
struct CloseConnection(&'static str);

type HttpResponse = Response<Full<Bytes>>;

/// Everything the request handlers share.
struct State {
    opts: Options,
    streams: Streams,
    faults: FaultInjector,
    quotas: Quotas,
    stats: Arc<StatsCell>,
    log: RecordLog,
    writer_tx: mpsc::Sender<WriterMsg>,
    /// Kinesis data streams (PutRecords), a namespace of their own.
    kinesis: KinesisStreams,
    opensearch_tx: mpsc::Sender<OpenSearchMsg>,
}

/// A running local Firehose endpoint.
pub struct Server {
    local_addr: SocketAddr,
    state: Arc<State>,
    shutdown: CancellationToken,
    /// The accept loop and the flusher; taken by `shutdown` to wait for them.
    tasks: Vec<JoinHandle<()>>,
}

/// Binds the listener, starts the writer, flusher and accept loop, and returns at once.
pub async fn start(opts: Options) -> Result<Server, Error> {
    opts.faults.validate()?;
    opts.quota.validate()?;
    if !opts.discard {
        std::fs::create_dir_all(&opts.dir).map_err(|source| Error::OutputDir {
            path: opts.dir.clone(),
            source,
        })?;
    }
    let listener = TcpListener::bind(opts.listen)
        .await
        .map_err(|source| Error::Bind {
            addr: opts.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: opts.listen,
        source,
    })?;
    let stats = Arc::new(StatsCell::default());
    let (writer_tx, writer_rx) = mpsc::channel(WRITER_QUEUE);
    spawn_writer(opts.dir.clone(), writer_rx, Arc::clone(&stats));
    let (opensearch_tx, opensearch_rx) = mpsc::channel(WRITER_QUEUE);
    tokio::spawn(crate::opensearch::run(
        opensearch_rx,
        writer_tx.clone(),
        Arc::clone(&stats),
    ));
    let state = Arc::new(State {
        log: RecordLog::new(
            opts.memory_log_cap,
            opts.record_log.as_deref(),
            opts.record_log_data,
            opts.record_log_flush,
        )?,
        faults: FaultInjector::new(opts.faults.clone(), opts.seed),
        quotas: Quotas::new(opts.quota),
        streams: Streams::new(opts.opensearch_url.clone()),
        stats,
        writer_tx,
        kinesis: KinesisStreams::default(),
        opensearch_tx,
        opts,
    });
    let shutdown = CancellationToken::new();
    let accept_task = tokio::spawn(accept_loop(listener, Arc::clone(&state), shutdown.clone()));
    let flusher_task = tokio::spawn(flush_loop(Arc::clone(&state), shutdown.clone()));
    tracing::info!(%local_addr, dir = %state.opts.dir.display(), "local-firehose listening");
    Ok(Server {
        local_addr,
        state,
        shutdown,
        tasks: vec![accept_task, flusher_task],
    })
}

/// The CLI subcommand: start, print the endpoint, serve until ctrl-c, then write all buffers.
pub async fn run(args: LocalFirehoseArgs) -> Result<(), Error> {
    let server = start(Options::from_args(&args)?).await?;
    println!(
        "local-firehose: endpoint {} (objects under {}); ctrl-c to stop",
        server.endpoint_url(),
        server.output_dir().display()
    );
    tokio::signal::ctrl_c().await.map_err(Error::Signal)?;
    server.flush().await;
    let stats = server.stats();
    server.shutdown().await;
    println!(
        "local-firehose: accepted {} records ({} bytes), wrote {} objects",
        stats.records_accepted, stats.bytes_accepted, stats.objects_written
    );
    Ok(())
}

impl Server {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://<addr>`, for the SDK's `endpoint_url`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// The directory objects are written under.
    pub fn output_dir(&self) -> &Path {
        &self.state.opts.dir
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.state.stats.snapshot()
    }

    /// The data of the records accepted on `stream`, in acceptance order (empty when
    /// discarding; cut short if the in-memory log hit its cap, see [`Server::log_truncated`]).
    pub fn delivered(&self, stream: &str) -> Vec<Bytes> {
        self.state
            .log
            .records()
            .into_iter()
            .filter(|r| &*r.stream == stream)
            .map(|r| r.data)
            .collect()
    }

    /// Every accepted record with its request id, index and outcome, in acceptance order.
    pub fn accepted(&self) -> Vec<AcceptedRecord> {
        self.state.log.records()
    }

    /// Whether the in-memory log stopped at its cap (then `delivered` is incomplete).
    pub fn log_truncated(&self) -> bool {
        self.state.log.truncated()
    }

    /// Replaces the fault plan; outage windows stay relative to the server's start.
    pub fn set_faults(&self, faults: Faults) {
        self.state.faults.set_plan(faults);
    }

    /// The current fault plan.
    pub fn faults(&self) -> Faults {
        (*self.state.faults.plan()).clone()
    }

    /// Writes every buffered record as objects now and waits until they are on disk.
    pub async fn flush(&self) {
        flush_all(&self.state).await;
    }

    /// Stops serving, writes all buffers and stops the writer.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        for task in std::mem::take(&mut self.tasks) {
            // They only end by cancellation; a join error means a panic, already reported.
            let _ = task.await;
        }
        flush_all(&self.state).await;
        tracing::info!(addr = %self.local_addr, "local-firehose stopped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn spawn_writer(dir: PathBuf, rx: mpsc::Receiver<WriterMsg>, stats: Arc<StatsCell>) {
    // A plain thread, not `spawn_blocking`: it ends when the last sender is dropped and must
    // never hold up a runtime's shutdown.
    let spawned = std::thread::Builder::new()
        .name("local-firehose-writer".into())
        .spawn(move || run_writer(dir, rx, stats));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the object writer; objects will not be written");
    }
}

async fn flush_all(state: &State) {
    let now = Instant::now();
    for stream in state.streams.all() {
        if let Some(chunk) = stream.take_due(now, true) {
            send_chunk(state, chunk).await;
        }
    }
    // OpenSearch first: its failed documents become objects for the writer.
    let (done_tx, done_rx) = oneshot::channel();
    if state
        .opensearch_tx
        .send(OpenSearchMsg::Barrier(done_tx))
        .await
        .is_ok()
    {
        let _ = done_rx.await;
    }
    let (done_tx, done_rx) = oneshot::channel();
    if state
        .writer_tx
        .send(WriterMsg::Barrier(done_tx))
        .await
        .is_ok()
    {
        // An error means the writer is gone; its own log says why.
        let _ = done_rx.await;
    }
    state.log.flush();
}

async fn send_chunk(state: &State, chunk: Chunk) {
    if chunk.config.opensearch.is_some() {
        if state
            .opensearch_tx
            .send(OpenSearchMsg::Deliver(Box::new(chunk)))
            .await
            .is_err()
        {
            tracing::error!("OpenSearch delivery is gone; dropping a chunk");
        }
        return;
    }
    if state
        .writer_tx
        .send(WriterMsg::Write(Box::new(chunk)))
        .await
        .is_err()
    {
        tracing::error!("object writer is gone; dropping a chunk");
    }
}

async fn flush_loop(state: Arc<State>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(FLUSH_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = Instant::now();
        for stream in state.streams.all() {
            if let Some(chunk) = stream.take_due(now, false) {
                send_chunk(&state, chunk).await;
            }
        }
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (socket, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Usually out of file descriptors: wait instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Small JSON answers must not wait for Nagle's algorithm.
        if let Err(e) = socket.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
        }
        let state = Arc::clone(&state);
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(Arc::clone(&state), req));
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(socket), service);
            tokio::select! {
                _ = shutdown.cancelled() => {}
                served = conn => if let Err(e) = served {
                    tracing::debug!(%peer, error = %e, "connection ended");
                },
            }
        });
    }
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<HttpResponse, CloseConnection> {
    match (req.method(), req.uri().path()) {
        (&Method::POST, "/") => handle_api(&state, req).await,
        (&Method::GET, "/stats") => Ok(stats_response(&state)),
        (&Method::GET, "/" | "/health") => Ok(plain(StatusCode::OK, "local-firehose ok\n")),
        (method, path) => {
            let err = ApiError::not_found(method.as_str(), path);
            Ok(error_response(&state, "Unknown", &err, &new_request_id()))
        }
    }
}

fn new_request_id() -> Arc<str> {
    uuid::Uuid::new_v4().hyphenated().to_string().into()
}

async fn handle_api(
    state: &State,
    req: Request<Incoming>,
) -> Result<HttpResponse, CloseConnection> {
    let request_id = new_request_id();
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok());
    let Some(op) = target.and_then(Operation::from_target) else {
        let err = ApiError::unknown_operation(target);
        count_request(state, "Unknown");
        return Ok(error_response(state, "Unknown", &err, &request_id));
    };
    count_request(state, op.name());
    if !req.headers().contains_key(AUTHORIZATION) {
        let err = ApiError::missing_authentication();
        return Ok(error_response(state, op.name(), &err, &request_id));
    }
    let body = match read_body(req, state.opts.max_body).await {
        Ok(body) => body,
        Err(BodyError::TooLarge(len)) => {
            let err = ApiError::body_too_large(len, state.opts.max_body);
            let mut response = error_response(state, op.name(), &err, &request_id);
            // The rest of the body is not read, so the connection cannot be reused.
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            return Ok(response);
        }
        Err(BodyError::Read(e)) => {
            tracing::debug!(error = %e, "request body unreadable");
            return Err(CloseConnection("request body unreadable"));
        }
    };
    if state.faults.in_outage() {
        bump_fault(state, "outage");
        let err = ApiError::service_unavailable();
        return Ok(error_response(state, op.name(), &err, &request_id));
    }
    let delay = state.faults.latency();
    if !delay.is_zero() {
        bump_fault(state, "latency");
        tokio::time::sleep(delay).await;
    }
    match dispatch(state, op, &body, &request_id).await {
        Ok(Some(json)) => Ok(json_response(StatusCode::OK, json, &request_id)),
        Ok(None) => Err(CloseConnection("injected reset")),
        Err(err) => Ok(error_response(state, op.name(), &err, &request_id)),
    }
}

/// Runs the operation; `Ok(None)` means "close the connection without answering".
async fn dispatch(
    state: &State,
    op: Operation,
    body: &[u8],
    request_id: &Arc<str>,
) -> Result<Option<Vec<u8>>, ApiError> {
    let value = match op {
        Operation::CreateDeliveryStream => state.streams.create(body)?,
        Operation::DescribeDeliveryStream => state.streams.describe(body)?,
        Operation::ListDeliveryStreams => state.streams.list(body)?,
        Operation::DeleteDeliveryStream => {
            let stream = state.streams.delete(body)?;
            if let Some(chunk) = stream.take_due(Instant::now(), true) {
                send_chunk(state, chunk).await;
            }
            serde_json::json!({})
        }
        Operation::PutRecord | Operation::PutRecordBatch => {
            let (answer, chunk) = put(state, op, body, request_id)?;
            if let Some(chunk) = chunk {
                send_chunk(state, chunk).await;
            }
            return Ok(answer);
        }
        Operation::PutRecords => {
            let ctx = kinesis::Context {
                streams: &state.kinesis,
                faults: &state.faults,
                stats: &state.stats,
                log: &state.log,
                auto_create: state.opts.auto_create,
                discard: state.opts.discard,
            };
            return kinesis::put_records(&ctx, body, request_id);
        }
    };
    Ok(Some(value.to_string().into_bytes()))
}

/// The put path: validate, draw faults, deliver. Synchronous so the scratch buffers can be
/// borrowed throughout; returns the answer (None: reset) and a chunk that became due.
fn put(
    state: &State,
    op: Operation,
    body: &[u8],
    request_id: &Arc<str>,
) -> Result<(Option<Vec<u8>>, Option<Chunk>), ApiError> {
    PUT_SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let PutScratch { data, faults } = &mut *scratch;
        let decoded = match op {
            Operation::PutRecord => decode_put_record(body, data)?,
            _ => decode_put_record_batch(body, data)?,
        };
        let stream = state
            .streams
            .get_or_auto_create(&decoded.stream, state.opts.auto_create)?;
        let stream_name = &stream.config.name;
        let bytes = decoded.records.iter().map(|r| r.len()).sum();
        if let Err(exceeded) =
            state
                .quotas
                .try_admit(stream_name, decoded.records.len(), bytes, Instant::now())
        {
            Stats::bump(
                &mut state.stats.lock().requests_over_quota,
                exceeded.name(),
                1,
            );
            return Err(ApiError::service_unavailable());
        }
        let outcome = match state.faults.call_fault() {
            CallFault::None => Outcome::Answered,
            CallFault::Throttle => {
                bump_fault(state, "throttle");
                return Err(ApiError::service_unavailable());
            }
            CallFault::Error => {
                bump_fault(state, "error");
                return Err(ApiError::internal_failure());
            }
            CallFault::ResetDropped => {
                bump_fault(state, "reset_dropped");
                return Ok((None, None));
            }
            CallFault::ResetDelivered => {
                bump_fault(state, "reset_delivered");
                Outcome::ResetAfterDelivery
            }
        };
        if op == Operation::PutRecordBatch && outcome == Outcome::Answered {
            state.faults.record_faults(decoded.records.len(), faults);
        } else {
            faults.clear();
            faults.resize(decoded.records.len(), None);
        }
        let chunk = deliver(
            state,
            &stream,
            stream_name,
            request_id,
            outcome,
            &decoded,
            data,
            faults,
        );
        let answer = match (outcome, op) {
            (Outcome::ResetAfterDelivery, _) => None,
            (Outcome::Answered, Operation::PutRecord) => Some(put_record_answer(request_id)),
            (Outcome::Answered, _) => Some(put_record_batch_answer(request_id, faults)),
        };
        Ok((answer, chunk))
    })
}

#[allow(clippy::too_many_arguments)]
fn deliver(
    state: &State,
    stream: &crate::streams::Stream,
    stream_name: &Arc<str>,
    request_id: &Arc<str>,
    outcome: Outcome,
    decoded: &DecodedPut<'_>,
    data: &[u8],
    faults: &[Option<RecordFault>],
) -> Option<Chunk> {
    let accepted = state
        .stats
        .count_put(&decoded.records, data, faults, RecordFault::error_code);
    if state.opts.discard || accepted.is_empty() {
        return None;
    }
    state
        .log
        .append(stream_name, request_id, outcome, &accepted);
    stream.append(accepted.iter().map(|a| a.data))
}

fn put_record_answer(request_id: &str) -> Vec<u8> {
    let mut out = String::with_capacity(96);
    out.push_str("{\"RecordId\":\"");
    push_record_id(&mut out, &record_id_prefix(request_id), 0);
    out.push_str("\",\"Encrypted\":false}");
    out.into_bytes()
}

fn put_record_batch_answer(request_id: &str, faults: &[Option<RecordFault>]) -> Vec<u8> {
    let failed = faults.iter().flatten().count();
    let mut out = String::with_capacity(80 + faults.len() * 64);
    out.push_str("{\"Encrypted\":false,\"FailedPutCount\":");
    out.push_str(&failed.to_string());
    out.push_str(",\"RequestResponses\":[");
    let prefix = record_id_prefix(request_id);
    for (index, fault) in faults.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        match fault {
            None => {
                out.push_str("{\"RecordId\":\"");
                push_record_id(&mut out, &prefix, index);
                out.push_str("\"}");
            }
            // Codes and messages are fixed ASCII without quotes or backslashes.
            Some(fault) => {
                out.push_str("{\"ErrorCode\":\"");
                out.push_str(fault.error_code());
                out.push_str("\",\"ErrorMessage\":\"");
                out.push_str(fault.error_message());
                out.push_str("\"}");
            }
        }
    }
    out.push_str("]}");
    out.into_bytes()
}

/// Record ids are the request id's hex digits plus the record's index in 4 hex digits.
fn record_id_prefix(request_id: &str) -> String {
    request_id.chars().filter(|c| *c != '-').collect()
}

fn push_record_id(out: &mut String, prefix: &str, index: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str(prefix);
    for shift in (0..4).rev() {
        out.push(HEX[(index >> (shift * 4)) & 0xf] as char);
    }
}

enum BodyError {
    TooLarge(u64),
    Read(hyper::Error),
}

/// Reads the whole body, refusing (without buffering it) one larger than `cap`.
async fn read_body(req: Request<Incoming>, cap: usize) -> Result<Bytes, BodyError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = declared {
        if len > cap as u64 {
            return Err(BodyError::TooLarge(len));
        }
    }
    let capacity = declared.map_or(64 * 1024, |len| len as usize);
    let mut buf = BytesMut::with_capacity(capacity);
    let mut body = req.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(BodyError::Read)?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > cap {
                return Err(BodyError::TooLarge((buf.len() + data.len()) as u64));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

fn count_request(state: &State, op: &str) {
    Stats::bump(&mut state.stats.lock().requests, op, 1);
}

fn bump_fault(state: &State, kind: &str) {
    Stats::bump(&mut state.stats.lock().faults, kind, 1);
}

fn error_response(state: &State, op: &str, err: &ApiError, request_id: &str) -> HttpResponse {
    Stats::bump(&mut state.stats.lock().requests_rejected, err.code, 1);
    tracing::debug!(op, code = err.code, message = %err.message, "request refused");
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = json_response(status, err.body(), request_id);
    if let Ok(code) = HeaderValue::from_str(err.code) {
        response.headers_mut().insert("x-amzn-errortype", code);
    }
    response
}

fn json_response(status: StatusCode, body: Vec<u8>, request_id: &str) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(AWS_JSON));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

fn plain(status: StatusCode, text: &'static str) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
}

fn stats_response(state: &State) -> HttpResponse {
    let body = serde_json::to_vec_pretty(&state.stats.snapshot()).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_answer_counts_failures() {
        let faults = [None, Some(RecordFault::InternalFailure), None];
        let body = put_record_batch_answer("0000-11", &faults);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["FailedPutCount"], 1);
        assert_eq!(v["RequestResponses"][0]["RecordId"], "0000110000");
        assert_eq!(v["RequestResponses"][1]["ErrorCode"], "InternalFailure");
        assert_eq!(v["RequestResponses"][2]["RecordId"], "0000110002");
    }
}
