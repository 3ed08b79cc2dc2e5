//! One tracked file: its descriptor, framer and watermark.
//!
//! A `TrackedFile` is one incarnation of a file's content: it keeps its [`FileId`] across
//! renames and a copytruncate hand-over, and gets a new one when the file is truncated or
//! replaced (offsets start again at 0, so spans of the old incarnation must not mix).

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use firetail_record::FileId;

use crate::checkpoint::{hash_hex, FileCheckpoint};
use crate::frame::{Frame, Framer, FramingRules};
use crate::identity;
use crate::watermark::Watermark;

/// Why a file stops being followed by path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    /// Found at a matching path: read as it grows.
    Live,
    /// No longer at a matching path (renamed away, deleted, or its content replaced):
    /// read to EOF through the open descriptor, then finished.
    RotatedAway,
    /// Drained (its unterminated tail emitted); waits for its last acks, then is dropped.
    Drained,
}

/// Where a file ends now (see [`TrackedFile::end_now`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EndNow {
    /// At the read position, with the bytes before it unchanged.
    AtEnd,
    /// Past the read position: more to read.
    Grown,
    /// Truncated or rewritten under the read position.
    Changed,
}

/// What a read found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadOutcome {
    /// Bytes read (0 at EOF).
    Read(usize),
    /// The file shrank below, or changed before, the read position.
    Changed,
}

pub(crate) struct TrackedFile {
    pub id: FileId,
    pub path: PathBuf,
    pub dev: u64,
    pub inode: u64,
    pub fingerprint: Option<u64>,
    /// Open descriptor, positioned at `framer.read_position()`.
    pub file: Option<File>,
    pub framer: Framer,
    pub watermark: Watermark,
    pub size: u64,
    pub mtime_ms: u64,
    pub lifecycle: Lifecycle,
    /// When bytes were last read (or the file was first seen).
    pub last_read: Instant,
    /// The last read reached EOF.
    pub at_eof: bool,
    /// Marker of `framer.read_position()`, to spot a rewrite that kept the size.
    pub read_marker: Option<u64>,
    /// The checkpoint last handed to the store.
    pub stored_offset: Option<u64>,
    /// Consecutive scans that did not list it (a listing racing a rename can miss a
    /// file, so one miss is not enough to call it gone).
    pub missed_scans: u8,
    /// A read saw the content change: the next scan must check the marker.
    pub suspect: bool,
    /// inotify said it was written to since it was last read.
    pub maybe_grown: bool,
}

impl TrackedFile {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: FileId,
        path: PathBuf,
        file: File,
        dev: u64,
        inode: u64,
        fingerprint: Option<u64>,
        rules: Arc<FramingRules>,
        start: u64,
    ) -> io::Result<TrackedFile> {
        let mut file = file;
        file.seek(SeekFrom::Start(start))?;
        let meta = file.metadata()?;
        let read_marker = identity::marker(&file, start)?;
        Ok(TrackedFile {
            id,
            path,
            dev,
            inode,
            fingerprint,
            file: Some(file),
            framer: Framer::new(rules, start),
            watermark: Watermark::new(start),
            size: meta.len(),
            mtime_ms: crate::discover::mtime_ms(&meta),
            lifecycle: Lifecycle::Live,
            last_read: Instant::now(),
            at_eof: false,
            read_marker,
            stored_offset: None,
            missed_scans: 0,
            suspect: false,
            maybe_grown: false,
        })
    }

    /// Reopens a descriptor closed while idle, if the path still holds this inode and the
    /// bytes before the read position are unchanged. Returns false if it does not (the
    /// reconcile scan will sort out where the file went).
    pub fn reopen(&mut self) -> io::Result<bool> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        if meta.dev() != self.dev || meta.ino() != self.inode {
            return Ok(false);
        }
        let pos = self.framer.read_position();
        if identity::marker(&file, pos)? != self.read_marker {
            return Ok(false);
        }
        file.seek(SeekFrom::Start(pos))?;
        self.file = Some(file);
        Ok(true)
    }

    /// Reads up to `max` bytes and frames them into `out`. At EOF applies the framer's
    /// end-of-data rules. Before reading past a previous EOF, checks that the file was
    /// not truncated or rewritten under the read position (`Changed`: nothing is read,
    /// the reconcile scan decides), and checks it again after the read, since logrotate
    /// may truncate between the check and the read, or while the bytes are read.
    pub fn read_some(
        &mut self,
        max: usize,
        fp_len: usize,
        out: &mut Vec<Frame>,
    ) -> io::Result<ReadOutcome> {
        let (fingerprint, read_marker) = (self.fingerprint, self.read_marker);
        let Some(file) = self.file.as_mut() else {
            return Ok(ReadOutcome::Read(0));
        };
        // One fstat says whether there is anything new, and the marker whether the
        // bytes before the position are still what was read (a truncation or rewrite,
        // even one that refilled the file past the position, must not be read as a
        // continuation).
        let pos = self.framer.read_position();
        let len = file.metadata()?.len();
        if len == pos && self.at_eof {
            // Idle: nothing new (a same-size rewrite shows in mtime, for the scan).
            return Ok(ReadOutcome::Read(0));
        }
        if len < pos || changed_under(file, pos, read_marker, fingerprint, fp_len)? {
            self.suspect = true;
            return Ok(ReadOutcome::Changed);
        }
        if len == pos {
            if !self.at_eof {
                self.reached_eof(out);
            }
            return Ok(ReadOutcome::Read(0));
        }
        // Read what the file holds, not a whole chunk: a buffer is allocated for what is
        // read and lives as long as the records sliced from it, so a line appended to a
        // quiet file must cost its own bytes, not 256 KiB (1,000 quiet files held 276 MiB).
        let available = usize::try_from(len - pos).unwrap_or(usize::MAX);
        #[cfg(test)]
        race::at(race::Step::BeforeRead);
        let filled = self.framer.fill_from(file, max.min(available));
        // Counted from the framer, not the result: bytes read before an error are in its
        // buffer (the descriptor moved past them) and must be accounted for like any.
        let n = usize::try_from(self.framer.read_position() - pos).unwrap_or(usize::MAX);
        if n == 0 {
            filled?;
            self.reached_eof(out);
            return Ok(ReadOutcome::Read(0));
        }
        #[cfg(test)]
        race::at(race::Step::AfterRead);
        // The new position's marker must name the bytes just read, not what the file
        // holds a moment later: taken from the file after a truncation it was missing,
        // and a missing marker matched the missing marker of the truncated file, so a
        // checkpoint was taken from the file's new bytes (a restart then resumed inside
        // a line of the new content). And the bytes read must be the file's bytes at
        // `pos`: truncated and refilled between the check above and the read, the file
        // held other content there, read as a continuation (torn records, a skipped
        // start). Both are settled by one look at the file after the read: if the bytes
        // before `pos` are still the ones read earlier, nothing was truncated before
        // that look, so the read (and a marker read from the file) saw this content.
        let marker = match confirm_read(
            file,
            self.framer.pending(),
            pos,
            n,
            read_marker,
            fingerprint,
            fp_len,
        ) {
            Ok(Some(marker)) => marker,
            unconfirmed => {
                self.unread_unconfirmed(pos, n);
                return unconfirmed.map(|_| ReadOutcome::Changed);
            }
        };
        self.accept_read(marker, n, available, filled, out);
        Ok(ReadOutcome::Read(n))
    }

    /// Takes back the `n` bytes just read at `pos`, which the file no longer confirms.
    /// Not framed, so never emitted: the scan decides where these bytes are now (a copy
    /// continued at `pos`) or whether they went with the truncation.
    fn unread_unconfirmed(&mut self, pos: u64, n: usize) {
        self.framer.unread(n);
        if let Some(file) = self.file.as_mut() {
            if file.seek(SeekFrom::Start(pos)).is_err() {
                // Reopened at the read position (marker checked) when needed.
                self.file = None;
            }
        }
        self.suspect = true;
    }

    /// Frames a confirmed read of `n` bytes (of the `available` the file held) into
    /// `out`; `filled` is how the read ended.
    fn accept_read(
        &mut self,
        marker: u64,
        n: usize,
        available: usize,
        filled: io::Result<usize>,
        out: &mut Vec<Frame>,
    ) {
        self.read_marker = Some(marker);
        self.last_read = Instant::now();
        self.framer.drain(out);
        match filled {
            Err(e) => {
                // What was read before the error is framed; the next read tries again
                // (and reports the error if it persists, with nothing read).
                tracing::debug!(path = %self.path.display(), error = %e, read = n, "read stopped early");
                self.at_eof = false;
            }
            // Everything the file held is read: its end-of-data rules apply now (a
            // partial aggregate or a finished multi-line event goes out), not a round
            // later after a read of nothing.
            Ok(_) if n == available => self.reached_eof(out),
            Ok(_) => self.at_eof = false,
        }
    }

    /// Where the file ends now relative to the read position, looked at now: `at_eof` is
    /// what the last read saw, which can be long ago (reading pauses on the in-flight
    /// budget), and the file may have grown, or been truncated and rewritten, since.
    pub fn end_now(&self, fp_len: usize) -> io::Result<EndNow> {
        let Some(f) = &self.file else {
            return Ok(EndNow::AtEnd);
        };
        let pos = self.framer.read_position();
        let len = f.metadata()?.len();
        Ok(
            if len < pos || changed_under(f, pos, self.read_marker, self.fingerprint, fp_len)? {
                EndNow::Changed
            } else if len > pos {
                EndNow::Grown
            } else {
                EndNow::AtEnd
            },
        )
    }

    /// At the end of the data: the framer's end-of-data rules, and the read buffer given
    /// back (a quiet file holds none; see [`Framer::release_buffer`]).
    fn reached_eof(&mut self, out: &mut Vec<Frame>) {
        self.at_eof = true;
        self.framer.end_of_data(out);
        self.framer.release_buffer();
    }

    /// Fills in the fingerprint once the file is long enough, from the content being
    /// read: only if the bytes before the read position are still the ones read. A file
    /// truncated and refilled since (copytruncate while the tailer was busy) must not
    /// get the new content's fingerprint, or the copy holding what was read would not be
    /// recognised and would be read again from 0.
    pub fn refresh_fingerprint(&mut self, len: usize) -> io::Result<()> {
        let pos = self.framer.read_position();
        if self.fingerprint.is_some() || self.size.max(pos) < len as u64 {
            return Ok(());
        }
        let Some(file) = &self.file else {
            return Ok(());
        };
        // Fingerprint first, marker second: a truncation between the two shows in the
        // marker.
        let fingerprint = identity::fingerprint(file, len)?;
        // An unknown marker (`None`) proves nothing: it also "matches" a file now
        // shorter than the read position.
        if fingerprint.is_some()
            && self.read_marker.is_some()
            && identity::marker(file, pos)? == self.read_marker
        {
            self.fingerprint = fingerprint;
        }
        Ok(())
    }

    /// Stops reading a file whose content changed under the read position (truncated
    /// or rewritten): what was read is all there is of this incarnation. An
    /// unterminated line pending in the framer is dropped, not emitted when the file is
    /// finished: it is the start of a line whose end, if it was written, went with the
    /// old content (or is in a copy, read there), so it would be a torn record.
    pub fn abandon(&mut self, rules: Arc<FramingRules>) {
        self.file = None;
        self.framer = Framer::new(rules, self.framer.position());
        // Nothing is known of the bytes before the new read position as they are now.
        self.read_marker = None;
    }

    /// A live file read to its end that nothing says has grown since (no write event,
    /// no larger size from a scan): reading it now would only cost a syscall.
    pub fn is_quiet(&self) -> bool {
        self.lifecycle == Lifecycle::Live
            && self.at_eof
            && !self.maybe_grown
            && self.size <= self.framer.read_position()
    }

    /// Settled: nothing buffered in the framer and every issued byte acknowledged.
    pub fn is_settled(&self) -> bool {
        self.watermark.is_settled() && self.framer.pending_len() == 0
    }

    /// The checkpoint entry for the current watermark (`None` if the marker cannot be
    /// computed: the descriptor is closed and the position moved, or the file no longer
    /// holds the bytes read).
    pub fn checkpoint(&self, flow: &str) -> Option<FileCheckpoint> {
        let offset = self.watermark.offset();
        // The marker must name the bytes that were read and acknowledged, not what the
        // file holds now: acks keep coming after a truncation or rewrite the tailer has
        // not noticed yet (always so once shutdown stopped the scans). A marker taken
        // from the file then is missing (the copy of a copytruncate no longer matches
        // its own checkpoint and is read again) or, for a file refilled past the offset,
        // that of the new bytes: a restart trusts it and skips them.
        let marker = if offset == self.framer.read_position() {
            self.read_marker
        } else {
            let f = self.file.as_ref()?;
            // Marker first, check second: a truncation between the two shows.
            let marker = identity::marker(f, offset).ok().flatten();
            let read = identity::marker(f, self.framer.read_position())
                .ok()
                .flatten();
            // An unknown marker (`None`) proves nothing: it equals the missing marker of
            // a file truncated below the read position, whose bytes at `offset` are
            // then new ones.
            if read.is_none() || read != self.read_marker {
                return None; // keep the previous checkpoint; retried at the next sync
            }
            marker
        };
        Some(FileCheckpoint {
            flow: flow.to_owned(),
            fingerprint: self.fingerprint.map(hash_hex),
            dev: self.dev,
            inode: self.inode,
            path: self.path.to_string_lossy().into_owned(),
            offset,
            marker: marker.map(hash_hex),
            size: self.size,
            mtime_ms: self.mtime_ms,
            updated_ms: 0,
            gone_since_ms: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// [`changed_under`] for this file's state.
    pub fn changed_under(&self, f: &File, fp_len: usize) -> io::Result<bool> {
        let pos = self.framer.read_position();
        changed_under(f, pos, self.read_marker, self.fingerprint, fp_len)
    }
}

/// True if `f` no longer holds the bytes read before `pos`: their marker differs, or,
/// while `pos` is still inside the fingerprinted bytes, the fingerprint does. Before
/// `MARKER_BYTES` the marker proves little, and at 0 nothing: a file copytruncated
/// before the tailer read it would pass for the file it fingerprinted, keep that
/// fingerprint (now its copy's: a restart no longer matches its checkpoint) and leave
/// the copy judged "a copy of a live file", never read.
pub(crate) fn changed_under(
    f: &File,
    pos: u64,
    read_marker: Option<u64>,
    fingerprint: Option<u64>,
    fp_len: usize,
) -> io::Result<bool> {
    if identity::marker(f, pos)? != read_marker {
        return Ok(true);
    }
    Ok(match fingerprint {
        Some(fp) if pos < fp_len as u64 => identity::fingerprint(f, fp_len)? != Some(fp),
        _ => false,
    })
}

/// After a read of `n` bytes at `pos` (the framer's `pending` bytes end with them): the
/// marker of the new read position, if the file still holds the bytes read before `pos`
/// (`None`: truncated or rewritten since they were read, so the bytes just read may be
/// another content's).
///
/// The marker is hashed from the bytes in hand when they cover it (no syscall, and no
/// race). Otherwise it is read from the file first and the check comes second, so a
/// truncation between the two shows in the check.
fn confirm_read(
    f: &File,
    pending: &[u8],
    pos: u64,
    n: usize,
    read_marker: Option<u64>,
    fingerprint: Option<u64>,
    fp_len: usize,
) -> io::Result<Option<u64>> {
    let end = pos + n as u64;
    let window = end.min(identity::MARKER_BYTES) as usize;
    let marker = match pending.len().checked_sub(window) {
        Some(from) => Some(identity::hash(&pending[from..])),
        None => identity::marker(f, end)?,
    };
    if marker.is_none() || changed_under(f, pos, read_marker, fingerprint, fp_len)? {
        return Ok(None);
    }
    Ok(marker)
}

/// Test hooks at the points of a read where another process changing the file makes a
/// difference: tests run their change there, deterministically, instead of hoping for
/// the preemption that a loaded machine gives once in a few hundred runs.
#[cfg(test)]
pub(crate) mod race {
    use std::cell::RefCell;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum Step {
        /// After the checks, before the bytes are read.
        BeforeRead,
        /// After the bytes are read, before anything else looks at the file.
        AfterRead,
    }

    type Hook = (Step, Box<dyn FnOnce()>);

    thread_local! {
        static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
    }

    /// Runs `f` once, the next time this thread's reader reaches `step`.
    pub(crate) fn when(step: Step, f: impl FnOnce() + 'static) {
        HOOK.with(|h| *h.borrow_mut() = Some((step, Box::new(f))));
    }

    /// True while a hook waits for its step.
    pub(crate) fn pending() -> bool {
        HOOK.with(|h| h.borrow().is_some())
    }

    pub(super) fn at(step: Step) {
        let hook = HOOK.with(|h| {
            let mut h = h.borrow_mut();
            match h.as_ref() {
                Some((s, _)) if *s == step => h.take(),
                _ => None,
            }
        });
        if let Some((_, f)) = hook {
            f();
        }
    }
}
