//! inotify (through `notify`) on the pattern's base directory, for low latency. It only
//! wakes the tailer; what changed is always found by a scan, so a lost or coalesced
//! event costs latency (bounded by the reconcile interval), never data.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::Notify;

use crate::discover::FilePattern;

pub(crate) struct DirWatcher {
    /// Dropping it stops the inotify thread.
    watcher: Option<notify::RecommendedWatcher>,
    /// Set by the notify thread on every relevant event; taken by the tailer.
    event: Arc<AtomicBool>,
    watching: Option<PathBuf>,
}

impl DirWatcher {
    /// Starts watching; on failure (no inotify, too many watches) the tailer polls.
    pub fn start(pattern: &FilePattern, wake: Arc<Notify>) -> DirWatcher {
        let event = Arc::new(AtomicBool::new(false));
        let flag = event.clone();
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let relevant = match res {
                // Our own reads would otherwise wake us.
                Ok(ev) => !matches!(ev.kind, EventKind::Access(_)),
                Err(_) => true, // e.g. queue overflow: rescan
            };
            if relevant {
                flag.store(true, Ordering::Release);
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
            event,
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

    /// True if an event arrived since the last call.
    pub fn take_event(&self) -> bool {
        self.event.swap(false, Ordering::AcqRel)
    }

    /// True while notifications are being received for the base directory.
    pub fn is_active(&self) -> bool {
        self.watching.is_some()
    }
}
