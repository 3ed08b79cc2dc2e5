//! Importing the Kinesis Agent's checkpoints, so that replacing the agent with firetail
//! neither re-sends nor skips lines.
//!
//! The agent keeps one SQLite row per `(flow, path)` in `FILE_CHECKPOINTS` (spec §4.7);
//! firetail keeps one JSON entry per `(flow, dev, inode)` with a content fingerprint and
//! an offset marker (`firetail_tail::checkpoint`). This module turns rows into entries.
//!
//! # What is imported, and what is not
//! - A row is matched to a configured flow by its flow id (`fh:<stream>:<pattern>` /
//!   `kinesis:<stream>:<pattern>`, the same format on both sides). Rows of other flows,
//!   and rows the agent itself would delete at startup (older than
//!   `checkpointTimeToLiveDays`), are reported and skipped.
//! - The row's file is the one whose `(dev, ino)` equals the row's `fileId`: at the row's
//!   path, or else under another name in the same directory (the agent checkpoints by
//!   path, so after a rename rotation the inode it meant lives at `app.log.1`). Nothing is
//!   guessed: no such inode, or a file shorter than the offset, is reported and skipped.
//! - Fingerprint and marker are computed from the file now, with the tail crate's own
//!   functions, so the tailer's validation on resume accepts the position.
//! - Several rows naming one inode (before and after a rename) collapse to the highest
//!   offset: the agent's offsets for one file only grow.
//! - **Files older than the agent's position.** After a restart the agent resumes from
//!   its most recently updated row and never reads files older than that row's file
//!   (§4.4, §4.5), whereas firetail reads every file of a flow that has checkpoints and
//!   no entry of its own from 0. So, when a flow's most recent row was imported and
//!   firetail had no entries for the flow, every other file matching the pattern that is
//!   older than that file (the agent's order: mtime, then the larger size is older) is
//!   imported as fully read (offset = its size). Newer files get no entry and are read
//!   from 0, as the agent would.
//! - An entry firetail already has for a file is newer than anything the agent wrote and
//!   is kept, unless `force`. Importing twice yields the same store.
//!
//! # Where the two stores live (`checkpointFile`)
//! In firetail `checkpointFile` names firetail's JSON store (default
//! [`FIRETAIL_CHECKPOINT_FILE`]); in the agent it names its SQLite DB (default
//! [`AGENT_CHECKPOINT_DB`]). An agent.json reused unchanged may therefore point
//! `checkpointFile` at the agent's DB. [`checkpoint_paths`] decides, by the file's
//! content (the SQLite header `SQLite format 3\0`): a SQLite file there is the agent's DB
//! to import from, and firetail's store goes to its own default path; anything else (a
//! JSON store, or no file yet) is firetail's store, and the agent's DB is looked for at
//! its default path. Firetail never writes to the agent's DB: it is opened read-only.
//!
//! # Invariant
//! Every imported entry's offset is a row's offset (or a whole older file) on the same
//! inode, with `size >= offset` checked; nothing else is ever written.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use firetail_config::{FlowSettings, Settings};
use firetail_tail::checkpoint::hash_hex;
use firetail_tail::discover::FilePattern;
use firetail_tail::{identity, CheckpointStore, FileCheckpoint, FlowCheckpoints, TailError};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

/// Where the Kinesis Agent keeps its checkpoint DB by default.
pub const AGENT_CHECKPOINT_DB: &str = "/var/run/aws-kinesis-agent/checkpoints";
/// firetail's default `checkpointFile`.
pub const FIRETAIL_CHECKPOINT_FILE: &str = "/var/lib/firetail/checkpoints.json";
/// The first 16 bytes of every SQLite 3 database file.
pub const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Why an import could not run at all (per-row problems go in the [`ImportReport`]).
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("the Kinesis Agent checkpoint database {path} does not exist")]
    Missing { path: PathBuf },
    #[error("{path} is not a SQLite database (expected the Kinesis Agent's checkpoint store)")]
    NotSqlite { path: PathBuf },
    #[error("cannot open the Kinesis Agent checkpoint database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot read FILE_CHECKPOINTS from {path}: {source}")]
    Query {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot write firetail's checkpoint file: {0}")]
    Store(#[from] TailError),
}

/// How an import behaves.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Replace entries firetail already has for a file.
    pub force: bool,
    /// Report only; the store is not touched.
    pub dry_run: bool,
    /// Rows not updated for this many days are skipped (the agent deletes them at
    /// startup: `checkpointTimeToLiveDays`).
    pub ttl_days: u32,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            force: false,
            dry_run: false,
            ttl_days: 7,
        }
    }
}

/// One `FILE_CHECKPOINTS` row, as read (columns the agent wrote may be NULL or odd).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentRow {
    pub flow: String,
    pub path: String,
    pub file_id: String,
    pub offset: Option<i64>,
    pub last_updated: String,
    /// The agent would delete it at its next start.
    pub expired: bool,
}

/// How an imported entry was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportKind {
    /// The row's inode is still at the row's path.
    AtRowPath,
    /// The row's inode now lives under another name in the same directory.
    Renamed,
    /// No row: a file older than the agent's position, which the agent would never read.
    OlderThanAgentPosition,
}

/// One entry put (or, in a dry run, that would be put) into firetail's store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    pub flow: String,
    /// The row's path (for [`ImportKind::OlderThanAgentPosition`], the file's path).
    pub row_path: String,
    /// Where the file is now.
    pub path: PathBuf,
    pub dev: u64,
    pub inode: u64,
    pub offset: u64,
    pub size: u64,
    pub kind: ImportKind,
    /// The offset of the firetail entry this one replaced (`force`).
    pub replaced: Option<u64>,
}

/// Why a row was not imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkipReason {
    FlowNotConfigured,
    /// Older than `checkpointTimeToLiveDays`: the agent itself would drop it.
    Expired,
    BadFileId,
    BadOffset,
    /// Nothing at the row's path, and the inode is nowhere in the directory.
    FileMissing,
    /// The row's path holds another inode, and the row's inode is nowhere in the directory.
    InodeMismatch {
        found_dev: u64,
        found_inode: u64,
    },
    FileShorterThanOffset {
        size: u64,
    },
    /// A later row names the same file with a higher offset.
    Superseded {
        by_path: String,
        by_offset: u64,
    },
    /// firetail already has an entry for this file (newer than the agent's); see `force`.
    AlreadyCheckpointed {
        offset: u64,
    },
    Unreadable {
        error: String,
    },
}

/// A row that was not imported, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub flow: String,
    pub path: String,
    pub file_id: String,
    pub offset: Option<i64>,
    pub reason: SkipReason,
}

/// What an import did, printable for the CLI.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub source: PathBuf,
    pub dry_run: bool,
    pub rows_read: usize,
    pub imported: Vec<Imported>,
    pub skipped: Vec<Skipped>,
    /// Flow-level remarks (e.g. the agent's latest position could not be imported).
    pub notes: Vec<String>,
}

/// Where firetail's own store is and where the agent's DB is looked for; see the module
/// docs on `checkpointFile`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointPaths {
    /// firetail's JSON store: open the [`CheckpointStore`] here.
    pub store: PathBuf,
    /// The agent's SQLite DB to import from (it may not exist).
    pub agent_db: PathBuf,
}

/// The store and agent DB paths for `settings` (see the module docs).
pub fn checkpoint_paths(settings: &Settings) -> CheckpointPaths {
    checkpoint_paths_with(
        settings,
        Path::new(FIRETAIL_CHECKPOINT_FILE),
        Path::new(AGENT_CHECKPOINT_DB),
    )
}

/// [`checkpoint_paths`] with explicit defaults (for tests).
pub fn checkpoint_paths_with(
    settings: &Settings,
    firetail_default: &Path,
    agent_default: &Path,
) -> CheckpointPaths {
    if is_sqlite(&settings.checkpoint_file) {
        CheckpointPaths {
            store: firetail_default.to_owned(),
            agent_db: settings.checkpoint_file.clone(),
        }
    } else {
        CheckpointPaths {
            store: settings.checkpoint_file.clone(),
            agent_db: agent_default.to_owned(),
        }
    }
}

/// True if `path` is a file starting with the SQLite 3 header.
pub fn is_sqlite(path: &Path) -> bool {
    let mut head = [0u8; 16];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == SQLITE_MAGIC)
}

/// Parses the agent's file id, `(dev=<hex st_dev>,ino=<decimal st_ino>)`.
pub fn parse_file_id(text: &str) -> Option<(u64, u64)> {
    let inner = text.trim().strip_prefix("(dev=")?.strip_suffix(')')?;
    let (dev, ino) = inner.split_once(",ino=")?;
    let dev = u64::from_str_radix(dev, 16).ok()?;
    let ino = ino.parse().ok()?;
    Some((dev, ino))
}

/// Formats a file id as the agent does (Java's `UnixFileKey.toString()`).
pub fn format_file_id(dev: u64, inode: u64) -> String {
    format!("(dev={dev:x},ino={inode})")
}

/// Imports every row of the agent's DB at `agent_db` into `store` for `flows`, and
/// flushes the store. See the module docs for the rules.
pub fn import(
    agent_db: &Path,
    store: &CheckpointStore,
    flows: &[FlowSettings],
) -> Result<ImportReport, MigrateError> {
    import_with(agent_db, store, flows, &ImportOptions::default())
}

/// [`import`] with options (`force`, `dry_run`, TTL). A dry run does not touch the store.
pub fn import_with(
    agent_db: &Path,
    store: &CheckpointStore,
    flows: &[FlowSettings],
    opts: &ImportOptions,
) -> Result<ImportReport, MigrateError> {
    let rows = read_rows(agent_db, opts.ttl_days)?;
    let mut report = ImportReport {
        source: agent_db.to_owned(),
        dry_run: opts.dry_run,
        rows_read: rows.len(),
        ..ImportReport::default()
    };
    let mut by_flow: BTreeMap<String, Vec<AgentRow>> = BTreeMap::new();
    for row in rows {
        by_flow.entry(row.flow.clone()).or_default().push(row);
    }
    for (flow_id, rows) in by_flow {
        match flows.iter().find(|f| f.id == flow_id) {
            Some(flow) => import_flow(flow, rows, store, opts, &mut report),
            None => report.skipped.extend(
                rows.into_iter()
                    .map(|r| skipped(&r, SkipReason::FlowNotConfigured)),
            ),
        }
    }
    if !opts.dry_run {
        store.flush_now()?;
    }
    Ok(report)
}

/// Imports on the daemon's first start: when firetail's store file does not exist yet
/// and the agent's DB does (see [`checkpoint_paths`]). Call it right after opening the
/// store, before any flow starts. Logs what it did; `None` when there was nothing to do
/// or the DB could not be read (logged as a warning: the daemon starts anyway).
pub fn import_on_first_start(settings: &Settings, store: &CheckpointStore) -> Option<ImportReport> {
    import_on_first_start_at(&checkpoint_paths(settings), settings, store)
}

/// [`import_on_first_start`] with the paths given (for tests).
pub fn import_on_first_start_at(
    paths: &CheckpointPaths,
    settings: &Settings,
    store: &CheckpointStore,
) -> Option<ImportReport> {
    if paths.store.exists() {
        return None;
    }
    if !is_sqlite(&paths.agent_db) {
        tracing::debug!(path = %paths.agent_db.display(), "no Kinesis Agent checkpoint database to import");
        return None;
    }
    tracing::info!(
        "first start: importing the Kinesis Agent's checkpoints from {}",
        paths.agent_db.display()
    );
    let opts = ImportOptions {
        ttl_days: settings.checkpoint_time_to_live_days,
        ..ImportOptions::default()
    };
    match import_with(&paths.agent_db, store, &settings.flows, &opts) {
        Ok(report) => {
            report.log();
            Some(report)
        }
        Err(e) => {
            tracing::warn!("Kinesis Agent checkpoints not imported: {e}");
            None
        }
    }
}

/// Reads every row, most recently updated first within a flow.
pub fn read_rows(agent_db: &Path, ttl_days: u32) -> Result<Vec<AgentRow>, MigrateError> {
    if !agent_db.exists() {
        return Err(MigrateError::Missing {
            path: agent_db.to_owned(),
        });
    }
    if !is_sqlite(agent_db) {
        return Err(MigrateError::NotSqlite {
            path: agent_db.to_owned(),
        });
    }
    let conn = Connection::open_with_flags(
        agent_db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| MigrateError::Open {
        path: agent_db.to_owned(),
        source,
    })?;
    let query_err = |source| MigrateError::Query {
        path: agent_db.to_owned(),
        source,
    };
    // The expiry test is the agent's own startup DELETE condition.
    let mut stmt = conn
        .prepare(
            "select flow, path, fileId, offset, lastUpdated, \
             datetime(lastUpdated, ?1) < CURRENT_TIMESTAMP \
             from FILE_CHECKPOINTS order by flow, lastUpdated desc, path",
        )
        .map_err(query_err)?;
    let ttl = format!("+{ttl_days} days");
    let rows = stmt
        .query_map([ttl], |row| {
            Ok(AgentRow {
                flow: text(row.get_ref(0)?),
                path: text(row.get_ref(1)?),
                file_id: text(row.get_ref(2)?),
                offset: int(row.get_ref(3)?),
                last_updated: text(row.get_ref(4)?),
                expired: int(row.get_ref(5)?) == Some(1),
            })
        })
        .map_err(query_err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(query_err)
}

fn text(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(r) => r.to_string(),
        ValueRef::Null => String::new(),
    }
}

fn int(v: ValueRef<'_>) -> Option<i64> {
    match v {
        ValueRef::Integer(i) => Some(i),
        ValueRef::Text(t) => std::str::from_utf8(t).ok()?.trim().parse().ok(),
        _ => None,
    }
}

fn skipped(row: &AgentRow, reason: SkipReason) -> Skipped {
    Skipped {
        flow: row.flow.clone(),
        path: row.path.clone(),
        file_id: row.file_id.clone(),
        offset: row.offset,
        reason,
    }
}

/// A row whose file was found and is long enough.
struct Located {
    row: AgentRow,
    path: PathBuf,
    dev: u64,
    inode: u64,
    offset: u64,
    kind: ImportKind,
}

fn import_flow(
    flow: &FlowSettings,
    rows: Vec<AgentRow>,
    store: &CheckpointStore,
    opts: &ImportOptions,
    report: &mut ImportReport,
) {
    let handle = store.flow(&flow.id);
    let existing: HashMap<(u64, u64), u64> = handle
        .entries()
        .into_iter()
        .map(|e| ((e.dev, e.inode), e.offset))
        .collect();
    // Rows come most recent first: the first live one is where the agent would resume.
    let latest_path = rows.iter().find(|r| !r.expired).map(|r| r.path.clone());
    let (located, latest_key) = locate_rows(flow, rows, latest_path.as_deref(), report);
    let mut anchor = None;
    for found in located {
        let key = (found.dev, found.inode);
        let is_latest = latest_key == Some(key);
        let prior = existing.get(&key).copied();
        if let Some(done) = put_located(flow, &handle, found, prior, opts, report) {
            if is_latest {
                anchor = Some(done);
            }
        }
    }
    let imported_any = report.imported.iter().any(|i| i.flow == flow.id);
    match (anchor, latest_path) {
        _ if !existing.is_empty() => report.notes.push(format!(
            "{}: firetail already has checkpoints for this flow; \
             files without one are left to it (read from their start)",
            flow.id
        )),
        (Some(anchor), _) => settle_older_files(flow, &handle, &anchor, opts, report),
        (None, Some(path)) if imported_any => report.notes.push(format!(
            "{}: the agent's latest checkpoint ({path}) was not imported; \
             other matching files without a checkpoint will be read from their start",
            flow.id
        )),
        (None, Some(path)) => report.notes.push(format!(
            "{}: nothing imported (latest checkpoint: {path}); \
             the flow starts as a new one (initialPosition)",
            flow.id
        )),
        (None, None) => {}
    }
}

/// Finds each row's file; rows naming one inode collapse to the highest offset. Returns
/// the files in row order and the inode of the row at `latest_path`, if found.
fn locate_rows(
    flow: &FlowSettings,
    rows: Vec<AgentRow>,
    latest_path: Option<&str>,
    report: &mut ImportReport,
) -> (Vec<Located>, Option<(u64, u64)>) {
    let mut latest_key = None;
    let mut best: HashMap<(u64, u64), Located> = HashMap::new();
    let mut order = Vec::new();
    for row in rows {
        let found = match locate(&row, flow) {
            Ok(found) => found,
            Err(reason) => {
                report.skipped.push(skipped(&row, reason));
                continue;
            }
        };
        let key = (found.dev, found.inode);
        if latest_path == Some(row.path.as_str()) {
            latest_key = Some(key);
        }
        match best.remove(&key) {
            Some(prev) if prev.offset >= found.offset => {
                report.skipped.push(superseded(&found.row, &prev));
                best.insert(key, prev);
            }
            Some(prev) => {
                report.skipped.push(superseded(&prev.row, &found));
                best.insert(key, found);
            }
            None => {
                order.push(key);
                best.insert(key, found);
            }
        }
    }
    let located = order.iter().filter_map(|k| best.remove(k)).collect();
    (located, latest_key)
}

fn superseded(loser: &AgentRow, winner: &Located) -> Skipped {
    skipped(
        loser,
        SkipReason::Superseded {
            by_path: winner.row.path.clone(),
            by_offset: winner.offset,
        },
    )
}

/// Finds the row's file: its inode at its path, or in the same directory.
fn locate(row: &AgentRow, flow: &FlowSettings) -> Result<Located, SkipReason> {
    if row.expired {
        return Err(SkipReason::Expired);
    }
    let (dev, inode) = parse_file_id(&row.file_id).ok_or(SkipReason::BadFileId)?;
    let offset = row
        .offset
        .and_then(|o| u64::try_from(o).ok())
        .ok_or(SkipReason::BadOffset)?;
    let row_path = PathBuf::from(&row.path);
    let at_path = std::fs::metadata(&row_path).ok();
    let (path, meta, kind) = match at_path {
        Some(m) if m.is_file() && (m.dev(), m.ino()) == (dev, inode) => {
            (row_path, m, ImportKind::AtRowPath)
        }
        other => match find_inode_nearby(&row_path, dev, inode, flow) {
            Some((p, m)) => (p, m, ImportKind::Renamed),
            None => {
                return Err(match other {
                    Some(m) => SkipReason::InodeMismatch {
                        found_dev: m.dev(),
                        found_inode: m.ino(),
                    },
                    None => SkipReason::FileMissing,
                })
            }
        },
    };
    if meta.len() < offset {
        return Err(SkipReason::FileShorterThanOffset { size: meta.len() });
    }
    Ok(Located {
        row: row.clone(),
        path,
        dev,
        inode,
        offset,
        kind,
    })
}

/// A regular file with `(dev, inode)` in `row_path`'s directory; a name matching the
/// flow's pattern wins over one that does not (hard links), then the first by name.
fn find_inode_nearby(
    row_path: &Path,
    dev: u64,
    inode: u64,
    flow: &FlowSettings,
) -> Option<(PathBuf, std::fs::Metadata)> {
    let dir = row_path.parent()?;
    let pattern = FilePattern::new(&flow.file_pattern).ok();
    let mut hits: Vec<(bool, PathBuf, std::fs::Metadata)> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let path = e.path();
            let m = std::fs::metadata(&path).ok()?;
            let same = m.is_file() && (m.dev(), m.ino()) == (dev, inode);
            let unmatched = !pattern.as_ref().is_some_and(|p| p.matches(&path));
            same.then_some((unmatched, path, m))
        })
        .collect();
    hits.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    hits.into_iter().next().map(|(_, p, m)| (p, m))
}

/// What was put for the agent's latest row: the anchor for older files.
struct Anchor {
    path: PathBuf,
    inode_key: (u64, u64),
    mtime_ms: u64,
    size: u64,
}

fn put_located(
    flow: &FlowSettings,
    handle: &FlowCheckpoints,
    found: Located,
    existing: Option<u64>,
    opts: &ImportOptions,
    report: &mut ImportReport,
) -> Option<Anchor> {
    if let (Some(offset), false) = (existing, opts.force) {
        report.skipped.push(skipped(
            &found.row,
            SkipReason::AlreadyCheckpointed { offset },
        ));
        return None;
    }
    let cp = match checkpoint_for(flow, &found.path, found.offset) {
        Ok(cp) => cp,
        Err(reason) => {
            report.skipped.push(skipped(&found.row, reason));
            return None;
        }
    };
    let anchor = Anchor {
        path: found.path.clone(),
        inode_key: (cp.dev, cp.inode),
        mtime_ms: cp.mtime_ms,
        size: cp.size,
    };
    if (cp.dev, cp.inode) != (found.dev, found.inode) {
        // Renamed or replaced between the lookup and the open: do not guess.
        report.skipped.push(skipped(
            &found.row,
            SkipReason::Unreadable {
                error: "the file changed while it was being imported".into(),
            },
        ));
        return None;
    }
    report.imported.push(Imported {
        flow: flow.id.clone(),
        row_path: found.row.path.clone(),
        path: found.path,
        dev: cp.dev,
        inode: cp.inode,
        offset: cp.offset,
        size: cp.size,
        kind: found.kind,
        replaced: existing,
    });
    if !opts.dry_run {
        handle.put(cp);
    }
    Some(anchor)
}

/// The entry the tailer will accept for `path` at `offset`: identity from an open
/// descriptor, fingerprint and marker with the tail crate's functions.
fn checkpoint_for(
    flow: &FlowSettings,
    path: &Path,
    offset: u64,
) -> Result<FileCheckpoint, SkipReason> {
    let unreadable = |e: std::io::Error| SkipReason::Unreadable {
        error: e.to_string(),
    };
    let file = File::open(path).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if meta.len() < offset {
        return Err(SkipReason::FileShorterThanOffset { size: meta.len() });
    }
    let fingerprint =
        identity::fingerprint(&file, flow.fingerprint_bytes as usize).map_err(unreadable)?;
    let marker = identity::marker(&file, offset)
        .map_err(unreadable)?
        .ok_or(SkipReason::FileShorterThanOffset { size: meta.len() })?;
    Ok(FileCheckpoint {
        flow: flow.id.clone(),
        fingerprint: fingerprint.map(hash_hex),
        dev: meta.dev(),
        inode: meta.ino(),
        path: path.to_string_lossy().into_owned(),
        offset,
        marker: Some(hash_hex(marker)),
        size: meta.len(),
        mtime_ms: firetail_tail::discover::mtime_ms(&meta),
        updated_ms: 0,
        gone_since_ms: None,
    })
}

/// Imports every file of the flow older than the anchor as fully read (module docs).
fn settle_older_files(
    flow: &FlowSettings,
    handle: &FlowCheckpoints,
    anchor: &Anchor,
    opts: &ImportOptions,
    report: &mut ImportReport,
) {
    let Ok(pattern) = FilePattern::new(&flow.file_pattern) else {
        return;
    };
    let taken: HashSet<(u64, u64)> = report
        .imported
        .iter()
        .filter(|i| i.flow == flow.id)
        .map(|i| (i.dev, i.inode))
        .collect();
    let mut candidates = pattern.scan();
    candidates.sort_by(|a, b| a.path.cmp(&b.path));
    for c in candidates {
        let key = (c.dev, c.inode);
        if key == anchor.inode_key || taken.contains(&key) || !older(&c, anchor) {
            continue;
        }
        let cp = match checkpoint_for(flow, &c.path, c.size) {
            Ok(cp) if (cp.dev, cp.inode) == key => cp,
            _ => continue, // changed or vanished since the scan: leave it to the tailer
        };
        report.imported.push(Imported {
            flow: flow.id.clone(),
            row_path: c.path.to_string_lossy().into_owned(),
            path: c.path.clone(),
            dev: cp.dev,
            inode: cp.inode,
            offset: cp.offset,
            size: cp.size,
            kind: ImportKind::OlderThanAgentPosition,
            replaced: None,
        });
        if !opts.dry_run {
            handle.put(cp);
        }
    }
    tracing::debug!(flow = %flow.id, anchor = %anchor.path.display(), "settled files older than the agent's position");
}

/// The agent's snapshot order: newer mtime first; for equal mtimes the smaller file is
/// the newer one.
fn older(c: &firetail_tail::discover::Candidate, anchor: &Anchor) -> bool {
    (c.mtime_ms, std::cmp::Reverse(c.size)) < (anchor.mtime_ms, std::cmp::Reverse(anchor.size))
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::FlowNotConfigured => write!(f, "flow not configured"),
            SkipReason::Expired => write!(
                f,
                "older than checkpointTimeToLiveDays (the agent would delete it)"
            ),
            SkipReason::BadFileId => write!(f, "fileId is not (dev=<hex>,ino=<decimal>)"),
            SkipReason::BadOffset => write!(f, "offset is missing or negative"),
            SkipReason::FileMissing => write!(f, "file missing"),
            SkipReason::InodeMismatch {
                found_dev,
                found_inode,
            } => write!(
                f,
                "inode no longer matches (the path now holds {})",
                format_file_id(*found_dev, *found_inode)
            ),
            SkipReason::FileShorterThanOffset { size } => {
                write!(f, "file shorter than offset (size {size})")
            }
            SkipReason::Superseded { by_path, by_offset } => write!(
                f,
                "same file as the row for {by_path}, which is further (offset {by_offset})"
            ),
            SkipReason::AlreadyCheckpointed { offset } => write!(
                f,
                "firetail already has a checkpoint for this file (offset {offset}); --force replaces it"
            ),
            SkipReason::Unreadable { error } => write!(f, "file unreadable: {error}"),
        }
    }
}

impl fmt::Display for Imported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} @ {} of {}",
            self.flow,
            self.path.display(),
            self.offset,
            self.size
        )?;
        match self.kind {
            ImportKind::AtRowPath => {}
            ImportKind::Renamed => write!(
                f,
                " (checkpointed as {}; the inode now lives under this name)",
                self.row_path
            )?,
            ImportKind::OlderThanAgentPosition => write!(
                f,
                " (whole file: older than the agent's position, the agent would not read it)"
            )?,
        }
        if let Some(old) = self.replaced {
            write!(f, " (replaced firetail's offset {old})")?;
        }
        Ok(())
    }
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let offset = self
            .offset
            .map_or_else(|| "?".to_owned(), |o| o.to_string());
        write!(
            f,
            "{} {} @ {} {}: {}",
            self.flow, self.path, offset, self.file_id, self.reason
        )
    }
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Kinesis Agent checkpoints from {}: {} rows; {} entries imported, {} rows not imported{}",
            self.source.display(),
            self.rows_read,
            self.imported.len(),
            self.skipped.len(),
            if self.dry_run {
                " (dry run: nothing written)"
            } else {
                ""
            }
        )?;
        for i in &self.imported {
            writeln!(f, "  imported      {i}")?;
        }
        for s in &self.skipped {
            writeln!(f, "  not imported  {s}")?;
        }
        for n in &self.notes {
            writeln!(f, "  note: {n}")?;
        }
        Ok(())
    }
}

impl ImportReport {
    /// Logs the report: a summary and each entry at INFO, each skipped row at WARN.
    pub fn log(&self) {
        tracing::info!(
            "imported {} checkpoint entries from {} ({} rows, {} not imported)",
            self.imported.len(),
            self.source.display(),
            self.rows_read,
            self.skipped.len()
        );
        for i in &self.imported {
            tracing::info!("checkpoint imported: {i}");
        }
        for s in &self.skipped {
            tracing::warn!("checkpoint not imported: {s}");
        }
        for n in &self.notes {
            tracing::warn!("checkpoint import: {n}");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn file_ids_parse_as_the_agent_prints_them() {
        assert_eq!(
            parse_file_id("(dev=ca01,ino=409751)"),
            Some((0xca01, 409_751))
        );
        assert_eq!(
            parse_file_id("(dev=fe00,ino=10013463)"),
            Some((0xfe00, 10_013_463))
        );
        assert_eq!(
            parse_file_id("(dev=ffffffffffffffff,ino=18446744073709551615)"),
            Some((u64::MAX, u64::MAX))
        );
        assert_eq!(format_file_id(0xca01, 409_751), "(dev=ca01,ino=409751)");
        for bad in [
            "",
            "(dev=ca01)",
            "(ino=1,dev=2)",
            "(dev=xyz,ino=1)",
            "(dev=ca01,ino=0x10)",
            "(dev=ca01,ino=-1)",
            "dev=ca01,ino=1",
            "(dev=ca01,ino=1",
        ] {
            assert_eq!(parse_file_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn sqlite_files_are_recognised_by_their_header() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        Connection::open(&db)
            .unwrap()
            .execute("create table t(x)", [])
            .unwrap();
        assert!(is_sqlite(&db));
        let json = dir.path().join("cp.json");
        std::fs::write(&json, b"{\"version\":1,\"checkpoints\":[]}").unwrap();
        assert!(!is_sqlite(&json));
        assert!(!is_sqlite(&dir.path().join("missing")));
    }
}
