//! The per-flow tailer task: discovery, reading, acknowledgements, checkpoints.
//!
//! One task per flow schedules every file of the flow cooperatively (no task per file):
//!
//! 1. **Wake** on an inotify event (through `notify`), an acknowledgement, the poll timer
//!    or shutdown.
//! 2. **Reconcile** (on events, rate-limited, and every `reconcile_interval`): scan the
//!    pattern, follow renames by inode, detect truncation and replacement by size and
//!    offset marker, hand a copytruncate copy over, pick up new files (`reconcile.rs`).
//! 3. **Read round**: each file reads while the in-flight budget allows, up to a fair
//!    share per round; frames become `Record`s sent in file order.
//! 4. **Maintain**: idle flush, close idle descriptors, retire drained files once every
//!    byte is acknowledged, hand changed watermarks to the checkpoint store, publish
//!    status.
//!
//! Reads are plain blocking `read(2)`s of at most [`READ_CHUNK`] bytes on the task:
//! log files are read from the page cache, and a thread hop per read would cost more.

mod file;
mod reconcile;
#[cfg(test)]
mod reconcile_tests;
mod watch;

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use firetail_record::{AckReceiver, FileId, Record, Span};
use tokio::sync::{mpsc, watch as watch_channel, Notify};
use tokio_util::sync::CancellationToken;

use crate::checkpoint::FlowCheckpoints;
use crate::discover::FilePattern;
use crate::frame::{Frame, FramingRules};
use crate::{FileStatus, FlowTailStatus, TailConfig, TailError};
use file::{EndNow, Lifecycle, ReadOutcome, TrackedFile};

/// Largest single read.
pub(crate) const READ_CHUNK: usize = 256 * 1024;
/// Most bytes one file reads per round before the next file's turn.
const ROUND_SHARE: usize = 4 * 1024 * 1024;
/// A settled, idle file's descriptor is closed after this long (and reopened on change).
const IDLE_CLOSE_AFTER: Duration = Duration::from_secs(30);
/// Smallest gap between two event-triggered rescans.
const EVENT_RESCAN_GAP: Duration = Duration::from_millis(20);
/// Shortest gap between two read rounds woken by write events: writes arriving within
/// it are read together (10 busy files written a line at a time cost a round per line).
/// It bounds the latency it adds.
const WRITE_GATHER: Duration = Duration::from_millis(5);
/// How often changed watermarks are handed to the checkpoint store.
const CHECKPOINT_SYNC: Duration = Duration::from_millis(100);

/// Retired files remembered in memory for resumption (oldest forgotten first).
const MAX_REMEMBERED_RETIRED: usize = 4096;

/// Process-wide source of [`FileId`]s: unique for the life of the process.
static NEXT_FILE_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_file_id() -> FileId {
    FileId(NEXT_FILE_ID.fetch_add(1, Ordering::Relaxed))
}

/// Tails one flow until `shutdown` fires, then settles.
///
/// `records` receives batches in file order. Every record's span must come back through
/// the `Acker` paired with `acks`. Shutdown contract: when `shutdown` fires the tailer
/// stops reading and drops `records`; it keeps applying acks until every `Acker` is
/// dropped (`acks` closes), then hands its final watermarks to `checkpoints` and returns.
/// Flush the store (or cancel its writer) after this returns.
pub async fn run_flow(
    cfg: TailConfig,
    checkpoints: FlowCheckpoints,
    records: mpsc::Sender<Vec<Record>>,
    mut acks: AckReceiver,
    status: watch_channel::Sender<FlowTailStatus>,
    shutdown: CancellationToken,
) -> Result<(), TailError> {
    let mut tailer = FlowTailer::new(cfg, checkpoints)?;
    let wake = Arc::new(Notify::new());
    let mut watcher = watch::DirWatcher::start(&tailer.pattern, wake.clone());
    let mut records = Some(records);
    let mut acks_open = true;
    tailer.reconcile();

    while !shutdown.is_cancelled() {
        while let Some(span) = acks.try_recv() {
            tailer.ack(span);
        }
        tailer.notified = watcher.is_active();
        let changes = watcher.take_changes();
        tailer.note_grown(&changes.grown);
        if tailer.reconcile_due(changes.rescan) {
            watcher.ensure_watching(&tailer.pattern);
            tailer.reconcile();
        }
        let (batches, read_any) = tailer.read_round();
        for batch in batches {
            let Some(tx) = records.as_ref() else { break };
            tokio::select! {
                sent = tx.send(batch) => if sent.is_err() {
                    tracing::warn!(flow = %tailer.cfg.flow_id, "record channel closed; stopping");
                    records = None;
                },
                _ = shutdown.cancelled() => break,
            }
        }
        if records.is_none() {
            break;
        }
        // Downstream must not hold records back (an open batch waiting to fill) while
        // reading waits for their acknowledgements: that is a stall until a timer.
        acks.set_reader_waiting(tailer.paused);
        tailer.maintain(&status);
        if read_any && !tailer.paused {
            tokio::task::yield_now().await;
            continue;
        }
        let wait = tailer.idle_wait(watcher.is_active());
        wait_for_work(
            &mut tailer,
            &mut acks,
            &mut acks_open,
            &wake,
            &shutdown,
            wait,
        )
        .await;
    }

    // Stop reading; close the record channel so downstream can drain and ack.
    drop(records);
    acks.set_reader_waiting(false);
    drop(watcher);
    settle_acks(&mut tailer, &mut acks, acks_open).await;
    tailer.publish(&status);
    Ok(())
}

/// Sleeps until shutdown, an acknowledgement (applied here), a write event (after
/// letting writes gather) or `wait` passes. `acks_open` turns false when every `Acker`
/// is gone.
async fn wait_for_work(
    tailer: &mut FlowTailer,
    acks: &mut AckReceiver,
    acks_open: &mut bool,
    wake: &Notify,
    shutdown: &CancellationToken,
    wait: Duration,
) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        span = acks.recv(), if *acks_open => match span {
            Some(span) => tailer.ack(span),
            None => *acks_open = false,
        },
        _ = wake.notified() => {
            // A web server writes a line at a time: reading after every write costs a
            // wake-up and a round per line. Let writes gather for a moment instead.
            let since = tailer.last_round.elapsed();
            if since < WRITE_GATHER {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = tokio::time::sleep(WRITE_GATHER - since) => {}
                }
            }
        }
        _ = tokio::time::sleep(wait) => {}
    }
}

/// After the read loop: applies acknowledgements until every `Acker` is dropped,
/// handing watermarks to the checkpoint store as they move, then the final ones.
async fn settle_acks(tailer: &mut FlowTailer, acks: &mut AckReceiver, mut acks_open: bool) {
    let mut sync = tokio::time::interval(CHECKPOINT_SYNC);
    while acks_open {
        tokio::select! {
            span = acks.recv() => match span {
                Some(span) => tailer.ack(span),
                None => acks_open = false,
            },
            _ = sync.tick() => tailer.sync_checkpoints(),
        }
    }
    tailer.sync_checkpoints();
}

/// The state of one flow's tailer.
pub(crate) struct FlowTailer {
    cfg: TailConfig,
    pattern: FilePattern,
    rules: Arc<FramingRules>,
    checkpoints: FlowCheckpoints,
    /// Boxed: a table sized for a thousand files holds twice as many slots, and a slot
    /// the size of a `TrackedFile` (~300 bytes) would cost more than the file itself.
    files: HashMap<FileId, Box<TrackedFile>>,
    /// Live files by `(dev, inode)`.
    by_inode: HashMap<(u64, u64), FileId>,
    /// Positions not yet matched to a file: checkpoint entries at startup, then
    /// retired files.
    resume: Vec<crate::FileCheckpoint>,
    /// The flow had checkpoints at startup: `initialPosition` never applies.
    restarted: bool,
    first_scan_done: bool,
    /// On a flow's very first scan (no checkpoints): the matching files that are rotations
    /// of another matching file (`access.log.1` of `access.log`). They count as read.
    first_start_rotated: HashSet<(u64, u64)>,
    /// Inodes known to be copies of a tracked file (copy rotation), not read, with the
    /// size they were judged at (judged again if it changes).
    copies: HashMap<(u64, u64), u64>,
    /// Matching files that could not be opened (permissions), already reported.
    unreadable: HashSet<(u64, u64)>,
    last_reconcile: Instant,
    /// When the last read round started.
    last_round: Instant,
    last_sync: Instant,
    /// Bytes issued and not yet acknowledged, over all files.
    in_flight: u64,
    paused: bool,
    open_cap_warned: bool,
    /// A read saw a truncation or rewrite: rescan before reading again.
    rescan_now: bool,
    /// Read rounds so far (rotates which file reads first).
    rounds: usize,
    /// inotify reports writes: a quiet file at its end is not looked at until an event
    /// (or a scan) says it grew, and the pattern is scanned on namespace events plus
    /// every `full_scan_interval`. Otherwise every file is polled each round and the
    /// pattern scanned every `reconcile_interval`.
    notified: bool,
    stats: FlowTailStatus,
    frames: Vec<Frame>,
}

impl FlowTailer {
    fn new(cfg: TailConfig, checkpoints: FlowCheckpoints) -> Result<FlowTailer, TailError> {
        let pattern = FilePattern::new(&cfg.file_pattern)?;
        let rules = cfg.framing.compile()?;
        let resume = checkpoints.entries();
        Ok(FlowTailer {
            restarted: !resume.is_empty(),
            cfg,
            pattern,
            rules,
            checkpoints,
            files: HashMap::new(),
            by_inode: HashMap::new(),
            resume,
            first_scan_done: false,
            first_start_rotated: HashSet::new(),
            copies: HashMap::new(),
            unreadable: HashSet::new(),
            last_reconcile: Instant::now(),
            last_round: Instant::now(),
            last_sync: Instant::now(),
            in_flight: 0,
            paused: false,
            open_cap_warned: false,
            rescan_now: false,
            rounds: 0,
            notified: false,
            stats: FlowTailStatus::default(),
            frames: Vec::new(),
        })
    }

    fn reconcile_due(&mut self, namespace_changed: bool) -> bool {
        // Kept until it can be honoured: a dropped request would wait a full interval.
        self.rescan_now |= namespace_changed;
        let since = self.last_reconcile.elapsed();
        let interval = if self.notified {
            self.cfg.full_scan_interval.max(self.cfg.reconcile_interval)
        } else {
            self.cfg.reconcile_interval
        };
        since >= interval || (self.rescan_now && since >= EVENT_RESCAN_GAP)
    }

    /// Files written to, by path (from inotify): marks the tracked file at each path as
    /// worth a read; a matching path that is not tracked asks for a scan.
    fn note_grown(&mut self, paths: &[PathBuf]) {
        for path in paths {
            let Ok(meta) = std::fs::metadata(path) else {
                continue; // gone already: the namespace event that follows says where
            };
            match self.by_inode.get(&(meta.dev(), meta.ino())) {
                Some(id) => {
                    if let Some(file) = self.files.get_mut(id) {
                        file.maybe_grown = true;
                    }
                }
                None => {
                    if meta.is_file()
                        && self.pattern.matches(path)
                        && !self.copies.contains_key(&(meta.dev(), meta.ino()))
                    {
                        self.rescan_now = true;
                    }
                }
            }
        }
    }

    fn idle_wait(&self, watching: bool) -> Duration {
        let mut wait = if watching {
            self.cfg.reconcile_interval
        } else {
            self.cfg.poll_interval
        };
        if let Some(idle) = self.cfg.idle_flush {
            wait = wait.min(idle / 2);
        }
        if self.rescan_now {
            // A truncation, copy or rename is being sorted out: do not sit on it for a
            // whole reconcile interval if no event comes.
            wait = wait.min(EVENT_RESCAN_GAP);
        }
        wait.min(Duration::from_secs(1))
            .max(Duration::from_millis(1))
    }

    fn ack(&mut self, span: Span) {
        let Some(file) = self.files.get_mut(&span.file) else {
            return; // a retired or replaced incarnation: nothing left to checkpoint
        };
        let before = file.watermark.in_flight();
        file.watermark.ack(span.start, span.end);
        self.in_flight = self.in_flight - before + file.watermark.in_flight();
    }

    /// Bytes the next read may take: the in-flight budget left, or one chunk when
    /// nothing is in flight (a record larger than the budget must still pass).
    fn allowance(&self, pending: u64) -> usize {
        let used = self.in_flight + pending;
        if used < self.cfg.max_in_flight_bytes {
            ((self.cfg.max_in_flight_bytes - used).min(READ_CHUNK as u64)) as usize
        } else if self.in_flight == 0 {
            READ_CHUNK
        } else {
            0
        }
    }

    /// Reads every file once (fairly) and returns the record batches, in file order per
    /// file, and whether any byte was read.
    fn read_round(&mut self) -> (Vec<Vec<Record>>, bool) {
        self.last_round = Instant::now();
        let mut batches = Vec::new();
        let mut read_any = false;
        self.paused = false;
        let ids = self.round_order();
        let mut pending: u64 = self
            .files
            .values()
            .map(|f| f.framer.pending_len() as u64)
            .sum();
        let mut open_count = self.files.values().filter(|f| f.file.is_some()).count();
        for id in ids {
            if !self.ensure_open(id, &mut open_count) {
                // A rotated-away file without a descriptor reads no more (abandoned, or
                // never opened): it must still be finished, or it is never retired.
                let mut batch = Vec::new();
                self.finish_if_drained(id, &mut batch);
                if !batch.is_empty() {
                    batches.push(batch);
                }
                continue;
            }
            pending -= self.pending_of(id);
            let mut batch = Vec::new();
            read_any |= self.read_share(id, pending, &mut batch);
            self.finish_if_drained(id, &mut batch);
            pending += self.pending_of(id);
            if !batch.is_empty() {
                batches.push(batch);
            }
            if self.paused {
                break;
            }
        }
        (batches, read_any)
    }

    /// The files in the order this round reads them.
    fn round_order(&mut self) -> Vec<FileId> {
        let mut ids: Vec<FileId> = self.files.keys().copied().collect();
        ids.sort_unstable();
        // Start each round at a different file so a tight budget is shared fairly.
        self.rounds = self.rounds.wrapping_add(1);
        if !ids.is_empty() {
            let len = ids.len();
            ids.rotate_left(self.rounds % len);
        }
        ids
    }

    /// Bytes of a file's unterminated last line, held by its framer.
    fn pending_of(&self, id: FileId) -> u64 {
        self.files
            .get(&id)
            .map_or(0, |f| f.framer.pending_len() as u64)
    }

    /// Reads one file until its round share is used, the in-flight budget runs out
    /// (`pending_elsewhere`: other files' unterminated lines count against it), or it
    /// has nothing more; its records go to `batch`. True if any byte was read.
    fn read_share(&mut self, id: FileId, pending_elsewhere: u64, batch: &mut Vec<Record>) -> bool {
        let mut share = ROUND_SHARE;
        let mut read_any = false;
        while share > 0 {
            let allowance = self
                .allowance(pending_elsewhere + self.pending_of(id))
                .min(share);
            if allowance == 0 {
                self.paused = true;
                break;
            }
            let Some(file) = self.files.get_mut(&id) else {
                break;
            };
            if self.notified && file.is_quiet() {
                break; // nothing says it grew: no syscall for it
            }
            if file.framer.read_position() == 0 && self.unread_file_holds_a_copy(id) {
                // Its inode, freed and reused by another file's copy before the scan
                // saw it: the scan hands the copy to its original.
                if let Some(file) = self.files.get_mut(&id) {
                    file.suspect = true;
                }
                self.rescan_now = true;
                break;
            }
            let Some(n) = self.read_chunk(id, allowance) else {
                break;
            };
            self.absorb(id, batch);
            if n == 0 {
                break;
            }
            read_any = true;
            share = share.saturating_sub(n);
            self.stats.bytes_read += n as u64;
        }
        read_any
    }

    /// One read of at most `allowance` bytes into `self.frames`: the bytes read (0 at
    /// the end, on an error, or when the file changed under the read), or `None` if
    /// the file is no longer tracked.
    fn read_chunk(&mut self, id: FileId, allowance: usize) -> Option<usize> {
        let file = self.files.get_mut(&id)?;
        file.maybe_grown = false;
        let fp_len = self.cfg.fingerprint_bytes;
        let n = match file.read_some(allowance, fp_len, &mut self.frames) {
            Ok(ReadOutcome::Read(n)) => {
                // Right after a read, while the bytes read are surely still
                // there (the scan may come much later: the tailer can wait on
                // a full record channel through a whole rotation).
                if let Err(e) = file.refresh_fingerprint(self.cfg.fingerprint_bytes) {
                    tracing::debug!(path = %file.path().display(), error = %e, "fingerprint failed");
                }
                n
            }
            Ok(ReadOutcome::Changed) if file.lifecycle == Lifecycle::Live => {
                self.rescan_now = true;
                0
            }
            Ok(ReadOutcome::Changed) => {
                // Rewritten after it left the pattern: what was read is all
                // there is of it.
                file.abandon(self.rules.clone());
                0
            }
            Err(e) => {
                tracing::warn!(path = %file.path().display(), error = %e, "read failed");
                0
            }
        };
        Some(n)
    }

    /// Makes sure a file that may have data has a descriptor; false if it cannot be read.
    fn ensure_open(&mut self, id: FileId, open_count: &mut usize) -> bool {
        let Some(file) = self.files.get_mut(&id) else {
            return false;
        };
        if file.lifecycle == Lifecycle::Drained {
            return false;
        }
        if file.file.is_some() {
            return true;
        }
        if file.lifecycle != Lifecycle::Live
            || (file.size <= file.framer.read_position() && !file.maybe_grown)
        {
            return false;
        }
        if *open_count >= self.cfg.max_open_files && self.evict_idle_descriptor(id) {
            *open_count -= 1;
        }
        let Some(file) = self.files.get_mut(&id) else {
            return false;
        };
        if *open_count >= self.cfg.max_open_files {
            if !self.open_cap_warned {
                tracing::warn!(flow = %self.cfg.flow_id, max = self.cfg.max_open_files, "open file limit reached; other files wait");
                self.open_cap_warned = true;
            }
            return false;
        }
        match file.reopen() {
            Ok(true) => {
                *open_count += 1;
                true
            }
            Ok(false) => {
                // Moved, replaced or rewritten since it was closed: the scan decides
                // (and checks the marker even if size and mtime look unchanged).
                file.suspect = true;
                self.rescan_now = true;
                false
            }
            Err(e) => {
                tracing::warn!(path = %file.path().display(), error = %e, "reopen failed");
                false
            }
        }
    }

    /// At the descriptor cap: closes the least recently read settled live file (it is
    /// reopened, marker checked, when it grows). False if every open file is busy.
    fn evict_idle_descriptor(&mut self, except: FileId) -> bool {
        let victim = self
            .files
            .values_mut()
            .filter(|f| {
                f.id != except
                    && f.file.is_some()
                    && f.lifecycle == Lifecycle::Live
                    && f.at_eof
                    && f.is_settled()
            })
            .min_by_key(|f| f.last_read);
        match victim {
            Some(f) => {
                f.file = None;
                true
            }
            None => false,
        }
    }

    /// Turns the framer's output into records (issuing their spans) and acknowledges
    /// discarded bytes at once.
    fn absorb(&mut self, id: FileId, batch: &mut Vec<Record>) {
        let Some(file) = self.files.get_mut(&id) else {
            self.frames.clear();
            return;
        };
        let before = file.watermark.in_flight();
        for frame in self.frames.drain(..) {
            let (start, end) = (frame.offset(), frame.offset() + frame.len());
            file.watermark.issue(start, end);
            match frame {
                Frame::Record(r) => {
                    self.stats.records_read += 1;
                    self.stats.records_truncated += u64::from(r.truncated);
                    batch.push(Record {
                        data: r.data,
                        span: Span {
                            file: id,
                            start,
                            end,
                        },
                    });
                }
                Frame::Discarded(_) => {
                    self.stats.bytes_discarded += end - start;
                    file.watermark.ack(start, end);
                }
            }
        }
        self.in_flight = self.in_flight - before + file.watermark.in_flight();
    }

    /// A rotated-away file read to EOF, quiet for a reconcile interval: its unterminated
    /// tail becomes a record (the agent would drop it) and it waits for its acks.
    fn finish_if_drained(&mut self, id: FileId, batch: &mut Vec<Record>) {
        let quiet = self.cfg.reconcile_interval;
        let Some(file) = self.files.get_mut(&id) else {
            return;
        };
        let idle_flush = self.cfg.idle_flush.is_some_and(|d| {
            file.at_eof && file.framer.pending_len() > 0 && file.last_read.elapsed() >= d
        });
        let drained = file.lifecycle == Lifecycle::RotatedAway
            && (file.file.is_none() || (file.at_eof && file.last_read.elapsed() >= quiet));
        if !(drained || idle_flush) {
            return;
        }
        if file.framer.pending_len() > 0 {
            // The pending tail becomes a record only if it is still the file's end:
            // judged on a read long ago (reading paused on the budget), it was emitted
            // torn after the file had been truncated and refilled (its end went with
            // the old content), and a file that grew since was finished unread.
            match file.end_now(self.cfg.fingerprint_bytes) {
                Ok(EndNow::Grown) => return,
                Ok(EndNow::Changed) if file.lifecycle == Lifecycle::Live => return,
                Ok(EndNow::Changed) => file.abandon(self.rules.clone()),
                Ok(EndNow::AtEnd) | Err(_) => {}
            }
        }
        file.framer.finish(&mut self.frames);
        if drained {
            tracing::info!(path = %file.path().display(), offset = file.framer.position(), "rotated file drained");
            file.lifecycle = Lifecycle::Drained;
        }
        self.absorb(id, batch);
    }

    /// Idle descriptors, retirement of drained files, checkpoints and status.
    fn maintain(&mut self, status: &watch_channel::Sender<FlowTailStatus>) {
        let mut retired = Vec::new();
        for file in self.files.values_mut() {
            match file.lifecycle {
                Lifecycle::Drained if file.is_settled() => retired.push(file.id),
                Lifecycle::Live
                    if file.file.is_some()
                        && file.at_eof
                        && file.is_settled()
                        && file.last_read.elapsed() >= IDLE_CLOSE_AFTER =>
                {
                    file.file = None;
                }
                _ => {}
            }
        }
        for id in retired {
            self.retire(id);
        }
        if self.last_sync.elapsed() >= CHECKPOINT_SYNC {
            self.sync_checkpoints();
            self.publish(status);
        }
    }

    /// Drops a drained, fully acknowledged file. Its final position is kept (in the
    /// store, marked gone, and in memory) so that if the same content shows up in the
    /// pattern again it resumes there instead of being read twice.
    fn retire(&mut self, id: FileId) {
        let Some(file) = self.files.remove(&id) else {
            return;
        };
        tracing::info!(path = %file.path().display(), "closed fully acknowledged rotated file");
        let owned_by_other = self.by_inode.contains_key(&(file.dev, file.inode));
        if let Some(cp) = file.checkpoint(&self.cfg.flow_id) {
            if !owned_by_other {
                self.checkpoints.put(cp.clone());
                self.checkpoints.mark_gone(file.dev, file.inode);
            }
            if self.resume.len() >= MAX_REMEMBERED_RETIRED {
                self.resume.remove(0);
            }
            self.resume.push(cp);
        }
    }

    /// Hands every changed watermark to the checkpoint store.
    fn sync_checkpoints(&mut self) {
        self.last_sync = Instant::now();
        for file in self.files.values_mut() {
            if let Some(owner) = self.by_inode.get(&(file.dev, file.inode)) {
                if *owner != file.id {
                    // Replaced content: the (dev, inode) entry belongs to the new incarnation.
                    continue;
                }
            }
            let offset = file.watermark.offset();
            if file.stored_offset == Some(offset) {
                continue;
            }
            if let Some(cp) = file.checkpoint(&self.cfg.flow_id) {
                self.checkpoints.put(cp);
                file.stored_offset = Some(offset);
            }
        }
    }

    fn publish(&mut self, status: &watch_channel::Sender<FlowTailStatus>) {
        let mut files: Vec<FileStatus> = self
            .files
            .values()
            .map(|f| FileStatus {
                path: f.path.clone(),
                file: f.id,
                // The last stat can lag the reads (a writer appended in between): a
                // size below what was read would hide in-flight bytes from
                // `bytes_behind`, which must be 0 only when every byte read was acked.
                size: f.size.max(f.framer.read_position()),
                acked_offset: f.watermark.offset(),
                read_offset: f.framer.read_position(),
                open: f.file.is_some(),
                rotated_away: f.lifecycle != Lifecycle::Live,
            })
            .collect();
        // Bytewise: `Path`'s component-wise order costs more than the rest of an idle
        // wake-up with a thousand files.
        files.sort_by(|a, b| {
            (a.path.as_os_str().as_encoded_bytes(), a.file)
                .cmp(&(b.path.as_os_str().as_encoded_bytes(), b.file))
        });
        self.stats.bytes_in_flight = self.in_flight;
        self.stats.paused = self.paused;
        // The file list lives only in the channel (`self.stats.files` stays empty): a
        // second copy here would be another 150 bytes per tracked file.
        status.send_replace(FlowTailStatus {
            files,
            ..self.stats.clone()
        });
    }
}
