//! Rotation as a tailer meets it: a follower thread reads the live file while the generator
//! writes it, and must see every line exactly once, in order, with no line split across files.
//!
//! The follower reads like a real tailer: it holds the file descriptor, and on a rotation it
//! reads the renamed file to its end (rename), reads the copy from its own offset after seeing
//! the live file shrink (copytruncate), or discovers the next dated file in the directory
//! (dated). To make the test deterministic without timing, the generator's rotation hook waits
//! until the follower has dealt with the rotation before writing on (as if the tailer polled
//! faster than files rotate); the writes within a file still race with the reads.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use firetail_generate::{spawn, GeneratorConfig, RotateMode, Rotation};

use crate::args;

const LINES: u64 = 30_000;

/// Rotations announced by the generator and handled by the follower.
#[derive(Default)]
struct Handshake {
    counts: Mutex<(u64, u64)>,
    changed: Condvar,
}

impl Handshake {
    fn announce_and_wait(&self, count: u64) {
        let mut c = self.counts.lock().unwrap();
        c.0 = count;
        self.changed.notify_all();
        let (c, timeout) = self
            .changed
            .wait_timeout_while(c, Duration::from_secs(30), |c| c.1 < count)
            .unwrap();
        assert!(
            !timeout.timed_out(),
            "follower never handled rotation {count}: {c:?}"
        );
    }

    fn announced(&self) -> u64 {
        self.counts.lock().unwrap().0
    }

    fn handled(&self) {
        let mut c = self.counts.lock().unwrap();
        c.1 += 1;
        self.changed.notify_all();
    }
}

struct Follower {
    dir: PathBuf,
    base: PathBuf,
    mode: RotateMode,
    file: File,
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
    sequences: Vec<u64>,
    opened: HashSet<PathBuf>,
    rotations: u64,
}

impl Follower {
    fn open(dir: &Path, base: &Path, mode: RotateMode) -> Follower {
        let path = loop {
            if let Some(p) = first_file(dir, base, mode) {
                break p;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        Follower {
            dir: dir.to_path_buf(),
            base: base.to_path_buf(),
            mode,
            file: File::open(&path).unwrap(),
            opened: HashSet::from([path.clone()]),
            path,
            offset: 0,
            partial: Vec::new(),
            sequences: Vec::new(),
            rotations: 0,
        }
    }

    /// Reads whatever the held descriptor has past our offset.
    fn read_available(&mut self) -> usize {
        let mut chunk = Vec::new();
        self.file.seek(SeekFrom::Start(self.offset)).unwrap();
        let n = self.file.read_to_end(&mut chunk).unwrap();
        self.offset += n as u64;
        self.take_lines(&chunk);
        n
    }

    fn take_lines(&mut self, chunk: &[u8]) {
        self.partial.extend_from_slice(chunk);
        while let Some(pos) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=pos).collect();
            let text = std::str::from_utf8(&line).unwrap();
            let user = text.split(' ').nth(2).unwrap();
            let seq = user.strip_prefix("seq").unwrap().parse().unwrap();
            self.sequences.push(seq);
        }
    }

    fn switch_to(&mut self, path: PathBuf) {
        assert!(
            self.partial.is_empty(),
            "a line was split across files at {}",
            self.path.display()
        );
        self.file = File::open(&path).unwrap();
        self.opened.insert(path.clone());
        self.path = path;
        self.offset = 0;
    }

    fn handle_rotation(&mut self) {
        match self.mode {
            RotateMode::Rename => {
                // The live name now points to a new inode; finish the old one first.
                let held = self.file.metadata().unwrap().ino();
                assert_ne!(std::fs::metadata(&self.base).unwrap().ino(), held);
                self.read_available();
                self.switch_to(self.base.clone());
            }
            RotateMode::Copytruncate => {
                // Same inode, but it shrank below our offset: the rest is in the copy.
                let size = self.file.metadata().unwrap().len();
                assert!(size < self.offset || self.offset == 0, "no shrink seen");
                let mut copy = File::open(self.base.with_extension("log.1")).unwrap();
                copy.seek(SeekFrom::Start(self.offset)).unwrap();
                let mut rest = Vec::new();
                copy.read_to_end(&mut rest).unwrap();
                self.take_lines(&rest);
                assert!(self.partial.is_empty(), "torn line at copytruncate");
                self.offset = 0;
            }
            RotateMode::Dated => {
                self.read_available();
                let fresh: Vec<PathBuf> = dated_files(&self.dir, &self.base)
                    .into_iter()
                    .filter(|p| !self.opened.contains(p))
                    .collect();
                assert_eq!(fresh.len(), 1, "expected one new dated file: {fresh:?}");
                self.switch_to(fresh[0].clone());
            }
        }
        self.rotations += 1;
    }
}

fn first_file(dir: &Path, base: &Path, mode: RotateMode) -> Option<PathBuf> {
    match mode {
        RotateMode::Dated => dated_files(dir, base).into_iter().next(),
        _ => base.exists().then(|| base.to_path_buf()),
    }
}

fn dated_files(dir: &Path, base: &Path) -> Vec<PathBuf> {
    let prefix = format!("{}-", base.file_name().unwrap().to_str().unwrap());
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(&prefix)
        })
        .collect();
    v.sort();
    v
}

fn follow_while_generating(
    mode: &str,
    extra: &[&str],
) -> (Vec<u64>, u64, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("access.log");
    let mut flags = vec![
        "--rate",
        "max",
        "--count",
        "30000",
        "--seed",
        "5",
        "--sequence",
        "--start-time",
        "2026-11-25T13:55:36Z",
        "--rotate-mode",
        mode,
        "-o",
        base.to_str().unwrap(),
    ];
    flags.extend_from_slice(extra);
    let mut cfg = GeneratorConfig::from_args(&args(&flags)).unwrap();
    let handshake = Arc::new(Handshake::default());
    let hs = handshake.clone();
    cfg.on_rotate = Some(Arc::new(move |r: &Rotation| hs.announce_and_wait(r.count)));
    let mode = cfg.rotation.as_ref().unwrap().mode;
    // The follower must hold the first file before the first rotation, or a slow start
    // (a loaded CI machine) makes it open the second file and miss the first. The
    // generator appends, so an empty file created here is the one it writes.
    let early = if mode == RotateMode::Dated {
        None
    } else {
        File::create(&base).unwrap();
        Some(Follower::open(dir.path(), &base, mode))
    };
    let generator = spawn(cfg, Arc::new(AtomicBool::new(false)));

    let mut follower = early.unwrap_or_else(|| Follower::open(dir.path(), &base, mode));
    loop {
        let got = follower.read_available();
        if handshake.announced() > follower.rotations {
            follower.handle_rotation();
            handshake.handled();
            continue;
        }
        if generator.is_finished() {
            break;
        }
        if got == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let summary = generator.join().unwrap().unwrap();
    follower.read_available();
    assert!(follower.partial.is_empty(), "file ends with a partial line");
    assert_eq!(summary.lines, LINES);
    (follower.sequences, follower.rotations, base, dir)
}

fn assert_exactly_once_in_order(seqs: &[u64]) {
    assert_eq!(seqs.len() as u64, LINES, "lines seen");
    for (i, &s) in seqs.iter().enumerate() {
        assert_eq!(s, i as u64, "line {i} out of order or duplicated");
    }
}

#[test]
fn rename_rotation_loses_nothing() {
    let (seqs, rotations, base, _dir) =
        follow_while_generating("rename", &["--rotate-size", "200K", "--keep", "3"]);
    assert_exactly_once_in_order(&seqs);
    assert!(rotations >= 10, "only {rotations} rotations");
    // keep 3: .1 .2 .3 remain, .4 was deleted.
    assert!(base.with_extension("log.3").exists());
    assert!(!base.with_extension("log.4").exists());
}

#[test]
fn copytruncate_rotation_loses_nothing() {
    let (seqs, rotations, _base, _dir) =
        follow_while_generating("copytruncate", &["--rotate-size", "200K", "--keep", "2"]);
    assert_exactly_once_in_order(&seqs);
    assert!(rotations >= 10, "only {rotations} rotations");
}

#[test]
fn dated_rotation_loses_nothing() {
    // 1000 simulated lines per second of log time, a new file every 5 s of log time.
    let (seqs, rotations, base, dir) =
        follow_while_generating("dated", &["--rotate-interval", "5s", "--keep", "0"]);
    assert_exactly_once_in_order(&seqs);
    assert!(rotations >= 4, "only {rotations} rotations");
    assert!(!base.exists(), "dated mode leaves the base name free");
    assert!(dated_files(dir.path(), &base).iter().all(|p| p
        .to_str()
        .unwrap()
        .contains("access.log-20261125-1355")
        || p.to_str().unwrap().contains("access.log-20261125-1356")));
}
