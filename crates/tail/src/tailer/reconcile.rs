//! The reconcile scan: what happened to every file since the last look.
//!
//! Files are followed by `(dev, inode)`, so a rename (logrotate's default, into another
//! matching name or anywhere else) keeps the same tracked file and its open descriptor.
//! The decision for a tracked file found again:
//!
//! | seen | meaning | action |
//! | --- | --- | --- |
//! | same inode, any path | renamed or untouched | keep reading |
//! | size below the read position, or the bytes before it changed | truncated or rewritten | a copy with our fingerprint holding the bytes (copytruncate) continues the same file; otherwise the old incarnation is finished and the file is read again from 0 as a new one |
//! | inode not found | renamed out of the pattern or deleted | drain through the open descriptor, then finish |
//!
//! A new inode with a live tracked file's fingerprint is a copy if it is a prefix of that
//! file now (same bytes before the copy's end: ignored, the file itself is read), or if
//! that file has lost the bytes before its read position since the scan listed it
//! (truncated under the scan) while the new inode holds them at that position: the next
//! scan hands the read position over to it, as for any copytruncate. Otherwise it resumes
//! from its checkpoint (found by fingerprint even if renamed, validated by size and
//! marker) or starts at 0. On a flow's very first scan (no checkpoints at all), files that
//! are rotations of another matching file (`access.log.1`, `access.log-20261126` of
//! `access.log`) count as read, as the Kinesis Agent reads only the newest file of a
//! rotation set: a first start does not ship every rotated archive still on disk. The
//! live files (`access.log`; several for `*/access.log`) start at `initialPosition`. A copy
//! whose size changes is judged again, so a new file that merely starts like a tracked
//! one (a common header) is read once its own content shows.
//!
//! The scan's sizes are a snapshot: logrotate copies and truncates while the scan runs.
//! Decisions that could read bytes twice or skip them read the files again.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::{DirEntryExt, MetadataExt};
use std::time::Instant;

use firetail_record::FileId;

use super::file::{Lifecycle, TrackedFile};
use super::{next_file_id, FlowTailer};
use crate::checkpoint::{hash_hex, FileCheckpoint};
use crate::discover::Candidate;
use crate::frame::end_of_file_start;
use crate::identity;
use crate::InitialPosition;

type Key = (u64, u64);

fn key(c: &Candidate) -> Key {
    (c.dev, c.inode)
}

/// Opens `c` and checks it is still the inode the scan saw.
fn open_candidate(c: &Candidate) -> Option<File> {
    open_inode(&c.path, c.dev, c.inode)
}

impl FlowTailer {
    pub(super) fn reconcile(&mut self) {
        let candidates = self.pattern.scan();
        self.reconcile_with(&candidates);
    }

    /// Applies one scan's listing. The files keep changing after `scan` stat-ed them
    /// (a copy grows, the original is truncated), so every decision that matters reads
    /// the files again instead of trusting the listed sizes.
    pub(super) fn reconcile_with(&mut self, candidates: &[Candidate]) {
        self.last_reconcile = Instant::now();
        self.rescan_now = false;
        if !self.first_scan_done && !self.restarted {
            self.first_start_rotated = rotated_on_first_start(candidates);
            if !self.first_start_rotated.is_empty() {
                tracing::info!(
                    rotated = self.first_start_rotated.len(),
                    "first start: rotated files of the pattern count as read; the live files start at initialPosition (as in the Kinesis Agent)"
                );
            }
        }
        let index: HashMap<Key, usize> = candidates
            .iter()
            .enumerate()
            .map(|(i, c)| (key(c), i))
            .collect();
        let mut claimed: HashSet<Key> = HashSet::new();
        let changed = self.follow_live_files(&index, candidates, &mut claimed);
        // The inodes of changed files are released before any copy is looked for: an
        // inode freed by a deleted file is soon reused, often by the copy of another
        // tracked file's copytruncate. Still claimed by the deleted file's tracker (the
        // scan had not seen the deletion), that copy could not continue its original,
        // which was then read again from 0 and its copy read from 0 as a new file.
        for &(id, i) in &changed {
            let k = key(&candidates[i]);
            claimed.remove(&k);
            if self.by_inode.get(&k) == Some(&id) {
                self.by_inode.remove(&k);
            }
        }
        for (id, i) in changed {
            self.on_truncated(id, &candidates[i], candidates, &mut claimed);
        }
        // A copy that changed size since it was judged is judged again: a copy in
        // progress stays a copy, but a new file that only started like a tracked one
        // (a common header) shows its own content as it grows and must be read.
        self.copies
            .retain(|k, size| index.get(k).is_some_and(|&i| candidates[i].size == *size));
        for c in candidates {
            let k = key(c);
            if claimed.contains(&k)
                || self.by_inode.contains_key(&k)
                || self.copies.contains_key(&k)
            {
                continue;
            }
            self.discover(c);
        }
        if !self.first_scan_done {
            self.first_scan_done = true;
            self.resume_leftovers();
            // Says at once whether the pattern finds anything (the agent's users were left
            // guessing, its issue #44); tests also wait for it before rotating files.
            if candidates.is_empty() {
                tracing::info!(pattern = %self.cfg.file_pattern, "first scan: no file matches the pattern yet");
            } else {
                tracing::info!(pattern = %self.cfg.file_pattern, files = candidates.len(), "first scan: files match the pattern");
            }
        }
    }

    /// Finds each live file in the listing by inode (claiming its inode) and follows
    /// it; a file not listed has missed a scan. Returns the files whose inode no
    /// longer holds what was read (truncated, or replaced), with their listing index.
    fn follow_live_files(
        &mut self,
        index: &HashMap<Key, usize>,
        candidates: &[Candidate],
        claimed: &mut HashSet<Key>,
    ) -> Vec<(FileId, usize)> {
        let mut live: Vec<FileId> = self
            .files
            .values()
            .filter(|f| f.lifecycle == Lifecycle::Live)
            .map(|f| f.id)
            .collect();
        live.sort_unstable();
        let mut changed: Vec<(FileId, usize)> = Vec::new();
        for id in live {
            let Some(file) = self.files.get(&id) else {
                continue;
            };
            let k = (file.dev, file.inode);
            match index.get(&k) {
                Some(&i) => {
                    if let Some(f) = self.files.get_mut(&id) {
                        f.missed_scans = 0;
                    }
                    claimed.insert(k);
                    if self.follow(id, &candidates[i]) {
                        changed.push((id, i));
                    }
                }
                None => self.missed(id),
            }
        }
        changed
    }

    /// A tracked file found again at `c`. True if its content changed under the read
    /// position (truncated or replaced): the caller hands it to [`Self::on_truncated`].
    fn follow(&mut self, id: FileId, c: &Candidate) -> bool {
        let fp_len = self.cfg.fingerprint_bytes;
        let Some(file) = self.files.get_mut(&id) else {
            return false;
        };
        if file.path != c.path {
            tracing::debug!(from = %file.path.display(), to = %c.path.display(), "file renamed");
            file.path.clone_from(&c.path);
        }
        // The marker is checked only when something moved (a pread per changed file,
        // not per file per scan): the read path checks it before reading new bytes.
        let changed = file.size != c.size || file.mtime_ms != c.mtime_ms || file.suspect;
        file.suspect = false;
        file.size = c.size;
        file.mtime_ms = c.mtime_ms;
        if let Err(e) = file.refresh_fingerprint(fp_len) {
            tracing::debug!(path = %c.path.display(), error = %e, "fingerprint failed");
        }
        let pos = file.framer.read_position();
        let truncated = c.size < pos;
        let replaced = !truncated && changed && marker_changed(file, c, fp_len);
        if truncated || replaced {
            return true;
        }
        // Nothing read yet (an empty file): no marker or fingerprint tells its growth
        // from other bytes in its inode. An empty rotated file deleted, its inode reused
        // at once by the copy of a copytruncate, before the scan saw the deletion, looks
        // renamed and grown; read from 0 as its own, that copy was read twice. What it
        // holds is judged as for a new file: a copy of a tracked file is one here too.
        pos == 0 && changed && c.size > 0 && self.holds_a_copy(c)
    }

    /// True if `c` holds a copy of another tracked file (see `copy_of_tracked`).
    fn holds_a_copy(&self, c: &Candidate) -> bool {
        let Some(handle) = open_candidate(c) else {
            return false;
        };
        match identity::fingerprint(&handle, self.cfg.fingerprint_bytes) {
            Ok(Some(fp)) => self.copy_of_tracked(c, &handle, fp).is_some(),
            _ => false,
        }
    }

    /// True if live file `id`, of which nothing was read yet, now holds a copy of
    /// another tracked file: not to be read as its own new lines before the scan judges
    /// it (see `follow`). Costs a pread only while nothing was read.
    pub(super) fn unread_file_holds_a_copy(&self, id: FileId) -> bool {
        let Some(f) = self.files.get(&id) else {
            return false;
        };
        let Some(handle) = &f.file else {
            return false;
        };
        if f.framer.read_position() != 0 || f.lifecycle != Lifecycle::Live {
            return false;
        }
        let Ok(Some(fp)) = identity::fingerprint(handle, self.cfg.fingerprint_bytes) else {
            return false;
        };
        let c = Candidate {
            path: f.path.clone(),
            dev: f.dev,
            inode: f.inode,
            size: 0,
            mtime_ms: 0,
        };
        self.copy_of_tracked(&c, handle, fp).is_some()
    }

    /// The tracked file's content shrank or changed under its read position.
    fn on_truncated(
        &mut self,
        id: FileId,
        c: &Candidate,
        all: &[Candidate],
        claimed: &mut HashSet<Key>,
    ) {
        let Some(file) = self.files.get(&id) else {
            return;
        };
        let pos = file.framer.read_position();
        let (fp, marker) = (file.fingerprint, file.read_marker);
        let fp_len = self.cfg.fingerprint_bytes;
        let usable = |k: &Candidate| {
            let kk = key(k);
            kk != key(c)
                && !claimed.contains(&kk)
                && !self.by_inode.contains_key(&kk)
                && k.size >= pos
                && fp.is_some_and(|fp| holds_same_bytes(k, fp, fp_len, pos, marker))
        };
        // The copy of a copytruncate: in the pattern, or else beside the file (a copy to
        // a name the pattern does not match is drained, then finished). A copy made after
        // this scan listed the directory is only found beside the file, yet its name may
        // match: the name decides, or the next scan would take it for a new file.
        let copy = match all.iter().find(|k| usable(k)) {
            Some(k) => Some((k.clone(), true)),
            None => siblings(&c.path).into_iter().find(|k| usable(k)).map(|k| {
                let in_pattern = self.pattern.matches(&k.path);
                (k, in_pattern)
            }),
        };
        let Some(file) = self.files.get_mut(&id) else {
            return;
        };
        // Released by the scan already; another changed file may have taken the inode
        // over since (its copy), and keeps it.
        if self.by_inode.get(&key(c)) == Some(&id) {
            self.by_inode.remove(&key(c));
        }
        let handed_over = copy.and_then(|(k, in_pattern)| {
            let mut handle = open_candidate(&k)?;
            std::io::Seek::seek(&mut handle, std::io::SeekFrom::Start(pos)).ok()?;
            Some((k, in_pattern, handle))
        });
        if let Some((k, in_pattern, handle)) = handed_over {
            tracing::info!(path = %c.path.display(), copy = %k.path.display(), offset = pos, "copytruncate: continuing in the copy");
            file.file = Some(handle);
            file.path.clone_from(&k.path);
            (file.dev, file.inode, file.size, file.mtime_ms) = (k.dev, k.inode, k.size, k.mtime_ms);
            file.stored_offset = None;
            file.at_eof = false;
            claimed.insert(key(&k));
            self.copies.remove(&key(&k));
            if in_pattern {
                self.by_inode.insert(key(&k), id);
            } else {
                file.lifecycle = Lifecycle::RotatedAway;
            }
        } else {
            tracing::warn!(path = %c.path.display(), read = pos, size = c.size, "file truncated or replaced; reading it again from 0");
            file.abandon(self.rules.clone());
            file.lifecycle = Lifecycle::RotatedAway;
        }
        // What the inode holds now is judged like any new file, not read from 0 blindly:
        // an inode number freed by a deleted file is soon reused, often by the very next
        // file created, which under logrotate is the copy of another tracked file
        // (copytruncate). Read from 0, that copy would be read twice; unclaimed, it can
        // still be handed the original's read position, in this scan or the next. Unless
        // another changed file of this scan has just continued in it (its copy).
        if !claimed.contains(&key(c)) && !self.by_inode.contains_key(&key(c)) {
            self.discover(c);
        }
    }

    /// A tracked file not listed: gone after two scans in a row (the second one soon).
    fn missed(&mut self, id: FileId) {
        let Some(file) = self.files.get_mut(&id) else {
            return;
        };
        file.missed_scans = file.missed_scans.saturating_add(1);
        if file.missed_scans < 2 {
            self.rescan_now = true;
            return;
        }
        tracing::info!(path = %file.path.display(), "file rotated away or deleted; draining it");
        file.lifecycle = Lifecycle::RotatedAway;
        self.by_inode.remove(&(file.dev, file.inode));
    }

    /// A matching inode not tracked yet.
    fn discover(&mut self, c: &Candidate) {
        let handle = match File::open(&c.path) {
            Ok(file) => {
                self.unreadable.remove(&key(c));
                match file.metadata() {
                    Ok(m) if (m.dev(), m.ino()) == key(c) => file,
                    _ => return, // replaced since the scan: the next scan sees what is there
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                // Tried again at every scan (a chmod triggers one), said once per file.
                if self.unreadable.insert(key(c)) {
                    tracing::error!(path = %c.path.display(), error = %e, "cannot open a file the pattern matches; its lines are not shipped until it can be read");
                }
                return;
            }
        };
        let fp = identity::fingerprint(&handle, self.cfg.fingerprint_bytes)
            .ok()
            .flatten();
        if let Some(fp) = fp {
            match self.copy_of_tracked(c, &handle, fp) {
                Some(Kinship::CopyOfLive) => {
                    tracing::info!(path = %c.path.display(), "a copy of a tracked file; not read");
                    self.copies.insert(key(c), c.size);
                    return;
                }
                Some(Kinship::CopyOfTruncated(original)) => {
                    // The scan stat-ed the original before it was truncated: the next
                    // scan sees the truncation and hands the read position over to this
                    // copy (`on_truncated`); the original is not read until then. The
                    // copy is not filed as one, so if that does not happen it is judged
                    // again (read from 0 at worst, never skipped).
                    tracing::info!(path = %c.path.display(), "a copy of a tracked file truncated since the scan; continuing in it at the next scan");
                    if let Some(f) = self.files.get_mut(&original) {
                        f.suspect = true;
                    }
                    self.rescan_now = true;
                    return;
                }
                None => {}
            }
        }
        if fp.is_none() && self.may_be_a_copy_in_progress(c, &handle) {
            // Looked at again by the next scan, when it has grown or differs.
            return;
        }
        let first_start = !self.first_scan_done && !self.restarted;
        let start = match self.take_resume(c, fp, &handle) {
            Some(offset) => offset,
            None if first_start && self.first_start_rotated.contains(&key(c)) => {
                // A rotated file on the first start: read already, as far as this flow is
                // concerned (its bytes are older than anything it will ship).
                handle.metadata().map_or(c.size, |m| m.len())
            }
            None if first_start && self.cfg.initial_position == InitialPosition::EndOfFile => {
                end_of_file_position(&handle, c.size, self.cfg.framing.read_buffer_size)
            }
            None => 0,
        };
        self.track(c, handle, fp, start);
    }

    /// A new file still shorter than the fingerprint whose bytes are the start of a
    /// tracked file it is named after (`app.log.1` of `app.log`): possibly logrotate's
    /// copy being written. Only such names are compared, to keep a scan linear.
    fn may_be_a_copy_in_progress(&self, c: &Candidate, handle: &File) -> bool {
        use std::os::unix::fs::FileExt;
        let Some(name) = c.path.file_name().map(|n| n.as_encoded_bytes()) else {
            return false;
        };
        let mut mine = vec![0u8; c.size as usize];
        if handle.read_exact_at(&mut mine, 0).is_err() {
            return false;
        }
        self.files.values().any(|f| {
            let named_after = f
                .path
                .file_name()
                .is_some_and(|n| name.starts_with(n.as_encoded_bytes()));
            // No size check from the scan: the tracked file may have grown since it was
            // listed, and the read below fails if it is really shorter.
            if f.lifecycle != Lifecycle::Live || !named_after || key(c) == (f.dev, f.inode) {
                return false;
            }
            let mut theirs = vec![0u8; c.size as usize];
            match &f.file {
                Some(h) => h.read_exact_at(&mut theirs, 0).is_ok() && theirs == mine,
                None => false,
            }
        })
    }

    /// Whether the new file `c` (open as `copy`, fingerprint `fp`) is a copy of a live
    /// tracked file, judged on the files' current content (never on the scan's sizes:
    /// logrotate copies and truncates while the scan runs):
    ///
    /// - a prefix of the tracked file as it is now (same bytes before the copy's current
    ///   end): a copy made before any truncation, finished or still being written;
    /// - or, when the tracked file no longer holds the bytes before its read position
    ///   (truncated or rewritten after the scan stat-ed it), a file holding exactly those
    ///   bytes at that position: the copy of a copytruncate.
    ///
    /// A new file that only shares the first bytes (a common header) differs before its
    /// end, or at the read position, and is not a copy.
    fn copy_of_tracked(&self, c: &Candidate, copy: &File, fp: u64) -> Option<Kinship> {
        let copy_len = copy.metadata().ok()?.len();
        let copy_end = identity::marker(copy, copy_len).ok().flatten()?;
        self.files
            .values()
            .filter(|f| {
                f.lifecycle == Lifecycle::Live
                    && f.fingerprint == Some(fp)
                    && (f.dev, f.inode) != key(c)
            })
            .find_map(|f| {
                let opened;
                let original = match &f.file {
                    Some(h) => h,
                    None => {
                        opened = open_inode(&f.path, f.dev, f.inode)?;
                        &opened
                    }
                };
                if matches!(identity::marker(original, copy_len), Ok(Some(m)) if m == copy_end) {
                    return Some(Kinship::CopyOfLive);
                }
                let pos = f.framer.read_position();
                let original_lost_it =
                    matches!(identity::marker(original, pos), Ok(m) if m != f.read_marker);
                let copy_holds_it = pos > 0
                    && f.read_marker.is_some()
                    && matches!(identity::marker(copy, pos), Ok(m) if m == f.read_marker);
                (original_lost_it && copy_holds_it).then_some(Kinship::CopyOfTruncated(f.id))
            })
    }

    /// The checkpoint entry for `c`, if any, validated: its offset, or 0 if the file was
    /// truncated or replaced since.
    fn take_resume(&mut self, c: &Candidate, fp: Option<u64>, handle: &File) -> Option<u64> {
        let fp_hex = fp.map(hash_hex);
        let same_inode = |e: &FileCheckpoint| e.dev == c.dev && e.inode == c.inode;
        let idx = self
            .resume
            .iter()
            .position(|e| fp_hex.is_some() && e.fingerprint == fp_hex && same_inode(e))
            .or_else(|| {
                self.resume
                    .iter()
                    .position(|e| fp_hex.is_some() && e.fingerprint == fp_hex)
            })
            .or_else(|| {
                self.resume
                    .iter()
                    .position(|e| e.fingerprint.is_none() && same_inode(e))
            })?;
        let entry = self.resume.remove(idx);
        if (entry.dev, entry.inode) != key(c) {
            self.checkpoints.mark_gone(entry.dev, entry.inode);
        }
        let marker = identity::marker(handle, entry.offset)
            .ok()
            .flatten()
            .map(hash_hex);
        if c.size < entry.offset || marker != entry.marker {
            tracing::warn!(path = %c.path.display(), offset = entry.offset, size = c.size, "checkpoint no longer matches the file (truncated or replaced); reading from 0");
            return Some(0);
        }
        tracing::info!(path = %c.path.display(), offset = entry.offset, "resuming from checkpoint");
        Some(entry.offset)
    }

    /// Checkpointed files not found by the scan: a file renamed out of the pattern while
    /// the daemon was down (looked for by inode at its stored path, then among its old
    /// directory's entries) is still drained from its checkpoint; others are marked gone.
    fn resume_leftovers(&mut self) {
        for entry in std::mem::take(&mut self.resume) {
            // One renamed out of the pattern is drained only if something is left; one
            // at a matching name (the listing raced a rename) is followed even when read
            // to its end: dropped, the next scan would find it with no checkpoint left
            // and read it again from 0.
            let Some(c) = find_by_inode(&entry)
                .filter(|c| c.size > entry.offset || self.pattern.matches(&c.path))
            else {
                self.checkpoints.mark_gone(entry.dev, entry.inode);
                continue;
            };
            let Some(handle) = open_candidate(&c) else {
                continue;
            };
            let marker = identity::marker(&handle, entry.offset)
                .ok()
                .flatten()
                .map(hash_hex);
            if marker != entry.marker || self.by_inode.contains_key(&key(&c)) {
                continue;
            }
            let fp = identity::fingerprint(&handle, self.cfg.fingerprint_bytes)
                .ok()
                .flatten();
            // Found by inode at a name the pattern matches: the scan's listing missed it
            // (logrotate renaming while the directory was read). It is a live file; the
            // next scan must find it tracked, or a second tracker would read it again.
            let live = self.pattern.matches(&c.path);
            if live {
                tracing::info!(path = %c.path.display(), offset = entry.offset, "resuming a file the first scan missed");
            } else {
                tracing::info!(path = %c.path.display(), offset = entry.offset, "draining a file rotated away while stopped");
            }
            if let Some(id) = self.track(&c, handle, fp, entry.offset) {
                if !live {
                    if let Some(f) = self.files.get_mut(&id) {
                        f.lifecycle = Lifecycle::RotatedAway;
                    }
                    self.by_inode.remove(&key(&c));
                }
            }
        }
    }

    /// Starts tracking `c` from `start` as a new incarnation.
    fn track(
        &mut self,
        c: &Candidate,
        handle: File,
        fp: Option<u64>,
        start: u64,
    ) -> Option<FileId> {
        let id = next_file_id();
        let open_count = self.files.values().filter(|f| f.file.is_some()).count();
        let mut file = match TrackedFile::new(
            id,
            c.path.clone(),
            handle,
            c.dev,
            c.inode,
            fp,
            self.rules.clone(),
            start,
        ) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(path = %c.path.display(), error = %e, "cannot start tailing");
                return None;
            }
        };
        if open_count >= self.cfg.max_open_files {
            // Tracked, but waits for a descriptor (reopened with its marker checked).
            file.file = None;
        }
        tracing::info!(path = %c.path.display(), offset = start, file = id.0, "tailing file");
        self.by_inode.insert(key(c), id);
        self.files.insert(id, Box::new(file));
        Some(id)
    }
}

/// What a new file is to a tracked file with the same fingerprint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kinship {
    /// A copy of the file as it still is: not read (the file is).
    CopyOfLive,
    /// A copy of this file, which has been truncated since: it takes over the file's
    /// read position.
    CopyOfTruncated(FileId),
}

/// The candidates named as rotations of another candidate in the same directory: the
/// other's name, then a separator (`.`, `-`, `_`), then anything (`access.log.1`,
/// `access.log-20261126`, `access.log_old`; compressed names never match the pattern).
fn rotated_on_first_start(candidates: &[Candidate]) -> HashSet<Key> {
    fn name(c: &Candidate) -> Option<&[u8]> {
        c.path.file_name().map(|n| n.as_encoded_bytes())
    }
    candidates
        .iter()
        .filter(|c| {
            let Some(mine) = name(c) else { return false };
            candidates.iter().any(|head| {
                head.path.parent() == c.path.parent()
                    && name(head).is_some_and(|h| {
                        mine.len() > h.len()
                            && mine.starts_with(h)
                            && matches!(mine[h.len()], b'.' | b'-' | b'_')
                    })
            })
        })
        .map(key)
        .collect()
}

/// Opens `path` if it is still the inode `(dev, inode)`.
fn open_inode(path: &std::path::Path, dev: u64, inode: u64) -> Option<File> {
    let file = File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    (meta.dev() == dev && meta.ino() == inode).then_some(file)
}

/// Regular files in the directory of `path` (for a copy under a non-matching name).
fn siblings(path: &std::path::Path) -> Vec<Candidate> {
    let Some(dir) = path.parent().and_then(|d| std::fs::read_dir(d).ok()) else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| {
            let m = std::fs::metadata(e.path()).ok()?;
            m.is_file().then(|| Candidate {
                path: e.path(),
                dev: m.dev(),
                inode: m.ino(),
                size: m.len(),
                mtime_ms: crate::discover::mtime_ms(&m),
            })
        })
        .collect()
}

/// Where the file of a checkpoint entry is now: at its stored path, or renamed within
/// the same directory (what logrotate does without `olddir`).
fn find_by_inode(entry: &FileCheckpoint) -> Option<Candidate> {
    let stored = std::path::Path::new(&entry.path);
    let candidate = |path: std::path::PathBuf| {
        let m = std::fs::metadata(&path).ok()?;
        (m.is_file() && m.dev() == entry.dev && m.ino() == entry.inode).then(|| Candidate {
            path,
            dev: m.dev(),
            inode: m.ino(),
            size: m.len(),
            mtime_ms: crate::discover::mtime_ms(&m),
        })
    };
    if let Some(c) = candidate(stored.to_owned()) {
        return Some(c);
    }
    let dir = std::fs::read_dir(stored.parent()?).ok()?;
    dir.filter_map(Result::ok)
        .filter(|e| e.ino() == entry.inode)
        .find_map(|e| candidate(e.path()))
}

/// True if the bytes before the tracked file's read position are not what was read
/// (`changed_under`: marker, and fingerprint while the position is inside it).
fn marker_changed(file: &TrackedFile, c: &Candidate, fp_len: usize) -> bool {
    let current = match &file.file {
        Some(f) => file.changed_under(f, fp_len),
        None => match open_candidate(c) {
            Some(f) => file.changed_under(&f, fp_len),
            None => return false,
        },
    };
    matches!(current, Ok(true))
}

/// True if candidate `k` starts with fingerprint `fp` and holds, before `pos`, the bytes
/// whose marker is `marker` (so it is a copy of what was read).
fn holds_same_bytes(k: &Candidate, fp: u64, fp_len: usize, pos: u64, marker: Option<u64>) -> bool {
    let Some(f) = open_candidate(k) else {
        return false;
    };
    let same_start = matches!(identity::fingerprint(&f, fp_len), Ok(Some(x)) if x == fp);
    same_start && matches!(identity::marker(&f, pos), Ok(m) if m == marker)
}

/// `initialPosition: END_OF_FILE`: after the last `\n` in the last buffer of the file.
fn end_of_file_position(file: &File, size: u64, window: usize) -> u64 {
    use std::os::unix::fs::FileExt;
    let start = size.saturating_sub(window as u64);
    let mut buf = vec![0u8; (size - start) as usize];
    match file.read_exact_at(&mut buf, start) {
        Ok(()) => end_of_file_start(&buf, start),
        Err(_) => 0,
    }
}
