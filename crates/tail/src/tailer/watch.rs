//! inotify (through `notify`) on the pattern's base directory, for low latency and low
//! idle cost. Events are sorted into two kinds:
//!
//! - **a file grew** (`IN_MODIFY`): its path is noted, and the tailer reads that file;
//!   no directory is scanned, so a busy file costs nothing for the quiet ones beside it;
//! - **the namespace changed** (create, rename, delete, attributes, queue overflow,
//!   anything unknown): the tailer rescans the pattern soon.
//!
//! What changed is always confirmed by reading the file or scanning: a lost or coalesced
//! event costs latency (bounded by the full-scan interval), never data.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use notify::event::ModifyKind;
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::Notify;

use crate::discover::FilePattern;

/// Beyond this many distinct grown paths between two looks, the set is dropped for a
/// rescan instead (bounds the set when a huge tree is busy).
const MAX_GROWN_PATHS: usize = 4096;

pub(crate) struct DirWatcher {
    /// Dropping it stops the inotify thread.
    watcher: Option<notify::RecommendedWatcher>,
    /// Written by the notify thread; taken by the tailer.
    seen: Arc<Seen>,
    watching: Option<PathBuf>,
}

/// What the notify thread saw since the tailer last looked.
#[derive(Default)]
struct Seen {
    rescan: AtomicBool,
    grown: Mutex<HashSet<PathBuf>>,
}

/// What changed since the last look.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    /// Files created, renamed or deleted (or events were lost): scan the pattern.
    pub rescan: bool,
    /// Files written to.
    pub grown: Vec<PathBuf>,
}

impl Seen {
    fn note(&self, res: notify::Result<notify::Event>) -> bool {
        let event = match res {
            // Our own reads (and close-after-write, which follows a modify) would
            // otherwise wake us.
            Ok(ev) if matches!(ev.kind, EventKind::Access(_)) => return false,
            Ok(ev) => ev,
            Err(_) => {
                // e.g. the queue overflowed: events were lost.
                self.rescan.store(true, Ordering::Release);
                return true;
            }
        };
        let grew = matches!(event.kind, EventKind::Modify(ModifyKind::Data(_)));
        if !grew || event.need_rescan() {
            self.rescan.store(true, Ordering::Release);
            return true;
        }
        // A poisoned lock only means the tailer panicked while holding it; the set of
        // paths is still sound.
        let mut grown = self.grown.lock().unwrap_or_else(|p| p.into_inner());
        if grown.len() + event.paths.len() > MAX_GROWN_PATHS {
            grown.clear();
            self.rescan.store(true, Ordering::Release);
        } else {
            grown.extend(event.paths);
        }
        true
    }
}

impl DirWatcher {
    /// Starts watching; on failure (no inotify, too many watches) the tailer polls.
    pub fn start(pattern: &FilePattern, wake: Arc<Notify>) -> DirWatcher {
        let seen = Arc::new(Seen::default());
        let sink = seen.clone();
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if sink.note(res) {
                wake.notify_one();
            }
        });
        let watcher = match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "file notifications unavailable; polling");
                None
            }
        };
        let mut this = DirWatcher {
            watcher,
            seen,
            watching: None,
        };
        this.ensure_watching(pattern);
        this
    }

    /// (Re)installs the watch if the base directory exists now.
    pub fn ensure_watching(&mut self, pattern: &FilePattern) {
        if let Some(dir) = &self.watching {
            if dir.is_dir() {
                return;
            }
            self.watching = None;
        }
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        let base = pattern.base();
        if !base.is_dir() {
            return;
        }
        let mode = if pattern.is_recursive() {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        match watcher.watch(base, mode) {
            Ok(()) => self.watching = Some(base.to_owned()),
            Err(e) => {
                tracing::warn!(dir = %base.display(), error = %e, "cannot watch directory; polling")
            }
        }
    }

    /// What changed since the last call.
    pub fn take_changes(&self) -> Changes {
        let rescan = self.seen.rescan.swap(false, Ordering::AcqRel);
        let grown = {
            let mut set = self.seen.grown.lock().unwrap_or_else(|p| p.into_inner());
            if set.is_empty() {
                Vec::new()
            } else {
                set.drain().collect()
            }
        };
        Changes { rescan, grown }
    }

    /// True while notifications are being received for the base directory.
    pub fn is_active(&self) -> bool {
        self.watching.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, RenameMode};

    fn event(kind: EventKind, path: &str) -> notify::Result<notify::Event> {
        Ok(notify::Event::new(kind).add_path(PathBuf::from(path)))
    }

    #[test]
    fn writes_name_the_file_and_everything_else_asks_for_a_scan() {
        let seen = Seen::default();
        let modify = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        assert!(seen.note(event(modify, "/l/a.log")));
        assert!(seen.note(event(modify, "/l/a.log")));
        assert!(seen.note(event(modify, "/l/b.log")));
        assert!(
            !seen.rescan.load(Ordering::Acquire),
            "a write is no namespace change"
        );
        assert_eq!(seen.grown.lock().unwrap().len(), 2);
        let access = EventKind::Access(notify::event::AccessKind::Any);
        assert!(
            !seen.note(event(access, "/l/a.log")),
            "our own reads do not wake us"
        );

        for kind in [
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Name(RenameMode::From)),
            EventKind::Remove(notify::event::RemoveKind::File),
            EventKind::Modify(ModifyKind::Metadata(notify::event::MetadataKind::Any)),
            EventKind::Any,
        ] {
            let seen = Seen::default();
            assert!(seen.note(event(kind, "/l/a.log")));
            assert!(seen.rescan.load(Ordering::Acquire), "{kind:?}");
        }
        let seen = Seen::default();
        assert!(seen.note(Err(notify::Error::generic("overflow"))));
        assert!(seen.rescan.load(Ordering::Acquire));
    }

    #[test]
    fn too_many_grown_paths_become_a_rescan() {
        let seen = Seen::default();
        let modify = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        for i in 0..=MAX_GROWN_PATHS {
            seen.note(event(modify, &format!("/l/{i}.log")));
        }
        assert!(seen.rescan.load(Ordering::Acquire));
        assert!(seen.grown.lock().unwrap().len() <= MAX_GROWN_PATHS);
    }
}
