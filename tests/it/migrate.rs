//! Importing the Kinesis Agent's SQLite checkpoints: real files, a real SQLite DB in the
//! agent's schema, and the daemon shipping to an in-process Firehose afterwards.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use firetail::migrate::{
    self, format_file_id, CheckpointPaths, ImportKind, ImportOptions, ImportReport, SkipReason,
};
use firetail_tail::CheckpointStore;
use tokio_util::sync::CancellationToken;

const STREAM: &str = "web";

/// The agent's table, as `SQLiteFileCheckpointStore` creates it.
const AGENT_SCHEMA: &str = "create table if not exists FILE_CHECKPOINTS(\
    flow text, path text, fileId text, lastModifiedTime bigint, size bigint, offset bigint, \
    lastUpdated datetime, primary key (flow, path))";

struct Row<'a> {
    flow: &'a str,
    path: PathBuf,
    file_id: String,
    offset: i64,
    /// How long before now the agent wrote it (orders rows; old rows expire).
    age: Duration,
}

fn agent_db(path: &Path, rows: &[Row<'_>]) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute(AGENT_SCHEMA, []).unwrap();
    for r in rows {
        let meta = fs::metadata(&r.path).ok();
        conn.execute(
            "insert or ignore into FILE_CHECKPOINTS values(?1, ?2, ?3, ?4, ?5, ?6, \
             strftime('%Y-%m-%d %H:%M:%f', 'now', ?7))",
            rusqlite::params![
                r.flow,
                r.path.to_str().unwrap(),
                r.file_id,
                meta.as_ref().map_or(0, |m| m.mtime() * 1000),
                meta.as_ref().map_or(0, |m| m.len() as i64),
                r.offset,
                format!("-{} seconds", r.age.as_secs_f64()),
            ],
        )
        .unwrap();
    }
}

/// The agent's `fileId` of the file at `path`.
fn file_id(path: &Path) -> String {
    let m = fs::metadata(path).unwrap();
    format_file_id(m.dev(), m.ino())
}

/// Writes `n` distinct lines; returns the byte offset after each line.
fn write_log(path: &Path, tag: &str, n: usize) -> Vec<u64> {
    let mut text = String::new();
    let mut ends = Vec::new();
    for i in 0..n {
        text.push_str(&format!(
            "10.0.0.{} - - [02/Jan/2024:03:04:05 +0000] \"GET /{tag}/{i} HTTP/1.1\" 200 512\n",
            i % 250
        ));
        ends.push(text.len() as u64);
    }
    fs::write(path, text).unwrap();
    ends
}

fn set_age(path: &Path, age: Duration) {
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - age)
        .unwrap();
}

fn lines_after(path: &Path, offset: u64) -> Vec<Vec<u8>> {
    let bytes = fs::read(path).unwrap();
    split_lines(&bytes[offset as usize..])
}

fn split_lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn agent_json(dir: &Path, pattern: &Path, endpoint: &str) -> String {
    serde_json::to_string_pretty(&serde_json::json!({
        "checkpointFile": dir.join("firetail-checkpoints.json"),
        "firehose.endpoint": endpoint,
        "awsAccessKeyId": "test",
        "awsSecretAccessKey": "test",
        "cloudwatch.emitMetrics": false,
        "firetail.metrics.listen": "",
        "flows": [{
            "filePattern": pattern,
            "deliveryStream": STREAM,
            "initialPosition": "START_OF_FILE",
            "maxBufferAgeMillis": 1000
        }]
    }))
    .unwrap()
}

fn settings_for(dir: &Path, pattern: &Path, endpoint: &str) -> firetail_config::Settings {
    let config = dir.join("agent.json");
    fs::write(&config, agent_json(dir, pattern, endpoint)).unwrap();
    firetail_config::load(&config).unwrap().settings
}

fn flow_id(pattern: &Path) -> String {
    format!("fh:{STREAM}:{}", pattern.display())
}

fn open_store(path: &Path) -> CheckpointStore {
    CheckpointStore::open(path, Duration::from_secs(1)).unwrap()
}

/// Runs the daemon until `expected` records arrived (and a little longer, to catch
/// extras), returns every delivered record.
async fn ship(
    settings: firetail_config::Settings,
    server: &firetail_local_firehose::Server,
    expected: usize,
) -> Vec<Vec<u8>> {
    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(firetail::daemon::run(
        settings,
        shutdown.clone(),
        firetail::daemon::Hooks::default(),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while server.delivered(STREAM).len() < expected && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Extras (lines before an imported offset) would be in the same buffers or the next
    // ones: give the buffer age another round before stopping.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    shutdown.cancel();
    daemon.await.unwrap().unwrap();
    server
        .delivered(STREAM)
        .iter()
        .flat_map(|r| split_lines(r))
        .collect()
}

/// Sorted, as text: a failure shows readable lines.
fn sorted(v: Vec<Vec<u8>>) -> Vec<String> {
    let mut v: Vec<String> = v
        .into_iter()
        .map(|l| String::from_utf8_lossy(&l).into_owned())
        .collect();
    v.sort();
    v
}

async fn firehose(dir: &Path) -> firetail_local_firehose::Server {
    firetail_local_firehose::start(firetail_local_firehose::Options {
        dir: dir.join("s3"),
        auto_create: true,
        ..Default::default()
    })
    .await
    .unwrap()
}

/// The agent checkpointed the current file and a rotated one mid-file; an older rotated
/// file has no row. After the import the daemon sends exactly the bytes after each
/// offset, and nothing of the older file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_resumes_exactly_where_the_agent_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    fs::create_dir(&logs).unwrap();
    let (current, rotated, older) = (
        logs.join("access.log"),
        logs.join("access.log.1"),
        logs.join("access.log.2"),
    );
    write_log(&older, "older", 30);
    let rotated_ends = write_log(&rotated, "rotated", 40);
    let current_ends = write_log(&current, "current", 50);
    set_age(&older, Duration::from_secs(7200));
    set_age(&rotated, Duration::from_secs(3600));
    let (rotated_offset, current_offset) = (rotated_ends[24], current_ends[9]);

    let pattern = logs.join("access.log*");
    let flow = flow_id(&pattern);
    let db = dir.path().join("checkpoints");
    agent_db(
        &db,
        &[
            Row {
                flow: &flow,
                path: rotated.clone(),
                file_id: file_id(&rotated),
                offset: rotated_offset as i64,
                age: Duration::from_secs(60),
            },
            Row {
                flow: &flow,
                path: current.clone(),
                file_id: file_id(&current),
                offset: current_offset as i64,
                age: Duration::from_secs(1),
            },
        ],
    );

    let server = firehose(dir.path()).await;
    let settings = settings_for(dir.path(), &pattern, &server.endpoint_url());
    let store = open_store(&settings.checkpoint_file);
    let report = migrate::import(&db, &store, &settings.flows).unwrap();
    drop(store);
    assert!(report.skipped.is_empty(), "{report}");
    let kinds: BTreeMap<PathBuf, (ImportKind, u64)> = report
        .imported
        .iter()
        .map(|i| (i.path.clone(), (i.kind, i.offset)))
        .collect();
    assert_eq!(
        kinds[&current],
        (ImportKind::AtRowPath, current_offset),
        "{report}"
    );
    assert_eq!(
        kinds[&rotated],
        (ImportKind::AtRowPath, rotated_offset),
        "{report}"
    );
    assert_eq!(
        kinds[&older].0,
        ImportKind::OlderThanAgentPosition,
        "{report}"
    );

    let mut expected = lines_after(&rotated, rotated_offset);
    expected.extend(lines_after(&current, current_offset));
    let delivered = ship(settings, &server, expected.len()).await;
    assert_eq!(sorted(delivered), sorted(expected));
}

/// The agent's row names `access.log`, but logrotate renamed that inode to
/// `access.log.1` and created a new `access.log` while the agent was stopped. The row's
/// inode is found under its new name; the new file is read from its start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_whose_inode_was_renamed_resumes_under_the_new_name() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    fs::create_dir(&logs).unwrap();
    let current = logs.join("access.log");
    let ends = write_log(&current, "before-rotation", 40);
    let offset = ends[29];
    let pattern = logs.join("access.log*");
    let flow = flow_id(&pattern);
    let db = dir.path().join("checkpoints");
    agent_db(
        &db,
        &[Row {
            flow: &flow,
            path: current.clone(),
            file_id: file_id(&current),
            offset: offset as i64,
            age: Duration::from_secs(1),
        }],
    );
    let rotated = logs.join("access.log.1");
    fs::rename(&current, &rotated).unwrap();
    set_age(&rotated, Duration::from_secs(60));
    write_log(&current, "after-rotation", 20);

    let server = firehose(dir.path()).await;
    let settings = settings_for(dir.path(), &pattern, &server.endpoint_url());
    let store = open_store(&settings.checkpoint_file);
    let report = migrate::import(&db, &store, &settings.flows).unwrap();
    drop(store);
    assert_eq!(report.imported.len(), 1, "{report}");
    let imported = &report.imported[0];
    assert_eq!(
        (imported.kind, &imported.path, imported.offset),
        (ImportKind::Renamed, &rotated, offset)
    );

    let mut expected = lines_after(&rotated, offset);
    expected.extend(lines_after(&current, 0));
    let delivered = ship(settings, &server, expected.len()).await;
    assert_eq!(sorted(delivered), sorted(expected));
}

/// A directory with one log file and a flow configured for it.
struct Fixture {
    dir: tempfile::TempDir,
    log: PathBuf,
    ends: Vec<u64>,
    settings: firetail_config::Settings,
    flow: String,
    db: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let ends = write_log(&log, "app", 20);
    let pattern = dir.path().join("app.log*");
    let settings = settings_for(dir.path(), &pattern, "http://127.0.0.1:9");
    Fixture {
        flow: flow_id(&pattern),
        db: dir.path().join("agent-checkpoints"),
        dir,
        log,
        ends,
        settings,
    }
}

impl Fixture {
    fn row(&self, path: &Path, file_id: String, offset: i64) -> Row<'_> {
        Row {
            flow: &self.flow,
            path: path.to_owned(),
            file_id,
            offset,
            age: Duration::from_secs(1),
        }
    }

    fn store(&self) -> CheckpointStore {
        open_store(&self.settings.checkpoint_file)
    }

    fn import(&self, opts: &ImportOptions) -> ImportReport {
        migrate::import_with(&self.db, &self.store(), &self.settings.flows, opts).unwrap()
    }

    fn only_skip(&self, report: &ImportReport) -> SkipReason {
        assert!(report.imported.is_empty(), "{report}");
        assert_eq!(report.skipped.len(), 1, "{report}");
        report.skipped[0].reason.clone()
    }
}

#[test]
fn a_path_holding_another_inode_is_reported_not_imported() {
    let f = fixture();
    let m = fs::metadata(&f.log).unwrap();
    let stale = format_file_id(m.dev(), m.ino() + 1_000_003);
    agent_db(&f.db, &[f.row(&f.log, stale, 10)]);
    let report = f.import(&ImportOptions::default());
    assert_eq!(
        f.only_skip(&report),
        SkipReason::InodeMismatch {
            found_dev: m.dev(),
            found_inode: m.ino()
        }
    );
    assert!(
        report.to_string().contains("inode no longer matches"),
        "{report}"
    );
    assert!(f.store().flow(&f.flow).entries().is_empty());
}

#[test]
fn a_missing_file_is_reported_not_imported() {
    let f = fixture();
    let gone = f.dir.path().join("app.log.9");
    let id = file_id(&f.log).replace(",ino=", ",ino=9");
    agent_db(&f.db, &[f.row(&gone, id, 10)]);
    let report = f.import(&ImportOptions::default());
    assert_eq!(f.only_skip(&report), SkipReason::FileMissing);
    assert!(report.to_string().contains("file missing"), "{report}");
}

#[test]
fn a_file_shorter_than_the_offset_is_reported_not_imported() {
    let f = fixture();
    let size = *f.ends.last().unwrap();
    agent_db(&f.db, &[f.row(&f.log, file_id(&f.log), size as i64 + 1)]);
    let report = f.import(&ImportOptions::default());
    assert_eq!(
        f.only_skip(&report),
        SkipReason::FileShorterThanOffset { size }
    );
}

#[test]
fn rows_of_unconfigured_flows_and_expired_rows_are_reported() {
    let f = fixture();
    let mut expired = f.row(&f.log, file_id(&f.log), 10);
    expired.age = Duration::from_secs(8 * 24 * 3600);
    let other = Row {
        flow: "fh:other:/var/log/x*",
        ..f.row(&f.log, file_id(&f.log), 10)
    };
    agent_db(&f.db, &[expired, other]);
    let report = f.import(&ImportOptions::default());
    let reasons: Vec<_> = report
        .skipped
        .iter()
        .map(|s| (s.flow.as_str(), s.reason.clone()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("fh:other:/var/log/x*", SkipReason::FlowNotConfigured),
            (f.flow.as_str(), SkipReason::Expired)
        ],
        "{report}"
    );
    assert!(report.imported.is_empty());
    assert!(
        report.to_string().contains("flow not configured"),
        "{report}"
    );
}

#[test]
fn importing_twice_gives_the_same_store_and_firetail_entries_win_unless_forced() {
    let f = fixture();
    let older = f.dir.path().join("app.log.1");
    write_log(&older, "old", 5);
    set_age(&older, Duration::from_secs(600));
    agent_db(&f.db, &[f.row(&f.log, file_id(&f.log), f.ends[4] as i64)]);

    let first = f.import(&ImportOptions::default());
    assert_eq!(first.imported.len(), 2, "{first}");
    let bytes = fs::read(&f.settings.checkpoint_file).unwrap();
    let entries = f.store().flow(&f.flow).entries();

    let second = f.import(&ImportOptions::default());
    assert!(second.imported.is_empty(), "{second}");
    assert_eq!(
        second.skipped[0].reason,
        SkipReason::AlreadyCheckpointed { offset: f.ends[4] }
    );
    assert_eq!(fs::read(&f.settings.checkpoint_file).unwrap(), bytes);

    // firetail moved on; the agent's older position must not overwrite it...
    let store = f.store();
    let mut moved = entries
        .iter()
        .find(|e| e.path == f.log.to_str().unwrap())
        .unwrap()
        .clone();
    moved.offset = f.ends[10];
    moved.marker = None;
    store.flow(&f.flow).put(moved);
    store.flush_now().unwrap();
    let after_firetail = fs::read(&f.settings.checkpoint_file).unwrap();
    f.import(&ImportOptions::default());
    assert_eq!(
        fs::read(&f.settings.checkpoint_file).unwrap(),
        after_firetail
    );

    // ...unless forced, which puts back exactly the first import's entry, twice alike.
    let forced = f.import(&ImportOptions {
        force: true,
        ..Default::default()
    });
    assert_eq!(forced.imported[0].replaced, Some(f.ends[10]), "{forced}");
    let strip = |mut v: Vec<firetail_tail::FileCheckpoint>| {
        v.iter_mut().for_each(|e| e.updated_ms = 0);
        v
    };
    assert_eq!(strip(f.store().flow(&f.flow).entries()), strip(entries));
    let forced_bytes = fs::read(&f.settings.checkpoint_file).unwrap();
    f.import(&ImportOptions {
        force: true,
        ..Default::default()
    });
    assert_eq!(fs::read(&f.settings.checkpoint_file).unwrap(), forced_bytes);
}

#[test]
fn a_dry_run_writes_nothing() {
    let f = fixture();
    agent_db(&f.db, &[f.row(&f.log, file_id(&f.log), f.ends[4] as i64)]);
    let report = f.import(&ImportOptions {
        dry_run: true,
        ..Default::default()
    });
    assert_eq!(report.imported.len(), 1, "{report}");
    assert!(report.to_string().contains("dry run"));
    assert!(!f.settings.checkpoint_file.exists());
}

#[test]
fn two_rows_naming_one_inode_import_the_further_offset() {
    let f = fixture();
    let renamed = f.dir.path().join("app.log.1");
    agent_db(
        &f.db,
        &[
            Row {
                age: Duration::from_secs(30),
                ..f.row(&f.log, file_id(&f.log), f.ends[3] as i64)
            },
            f.row(&renamed, file_id(&f.log), f.ends[7] as i64),
        ],
    );
    fs::rename(&f.log, &renamed).unwrap();
    let report = f.import(&ImportOptions::default());
    assert_eq!(report.imported.len(), 1, "{report}");
    assert_eq!(
        (report.imported[0].offset, report.imported[0].kind),
        (f.ends[7], ImportKind::AtRowPath)
    );
    assert!(
        matches!(report.skipped[0].reason, SkipReason::Superseded { by_offset, .. } if by_offset == f.ends[7])
    );
}

#[test]
fn the_imported_entry_carries_the_tailers_fingerprint_and_marker() {
    let f = fixture();
    let offset = f.ends[4];
    agent_db(&f.db, &[f.row(&f.log, file_id(&f.log), offset as i64)]);
    f.import(&ImportOptions::default());
    let entry = f.store().flow(&f.flow).entries().remove(0);
    let file = File::open(&f.log).unwrap();
    let hex = firetail_tail::checkpoint::hash_hex;
    assert_eq!(
        entry.fingerprint,
        firetail_tail::identity::fingerprint(&file, 256)
            .unwrap()
            .map(hex)
    );
    assert_eq!(
        entry.marker,
        firetail_tail::identity::marker(&file, offset)
            .unwrap()
            .map(hex)
    );
    assert_eq!(
        (entry.offset, entry.path.as_str()),
        (offset, f.log.to_str().unwrap())
    );
}

#[test]
fn unreadable_databases_are_errors() {
    let f = fixture();
    let err = migrate::import(&f.db, &f.store(), &f.settings.flows).unwrap_err();
    assert!(
        matches!(err, migrate::MigrateError::Missing { .. }),
        "{err}"
    );
    fs::write(&f.db, b"{\"version\":1,\"checkpoints\":[]}").unwrap();
    let err = migrate::import(&f.db, &f.store(), &f.settings.flows).unwrap_err();
    assert!(
        matches!(err, migrate::MigrateError::NotSqlite { .. }),
        "{err}"
    );
}

#[test]
fn first_start_imports_only_without_a_firetail_store() {
    let f = fixture();
    agent_db(&f.db, &[f.row(&f.log, file_id(&f.log), f.ends[4] as i64)]);
    let paths = CheckpointPaths {
        store: f.settings.checkpoint_file.clone(),
        agent_db: f.db.clone(),
    };
    let store = f.store();
    let report = migrate::import_on_first_start_at(&paths, &f.settings, &store).unwrap();
    assert_eq!(report.imported.len(), 1, "{report}");
    assert!(paths.store.exists());
    assert!(migrate::import_on_first_start_at(&paths, &f.settings, &f.store()).is_none());
}

#[test]
fn checkpoint_file_naming_the_agents_sqlite_db_is_read_as_the_import_source() {
    let f = fixture();
    agent_db(&f.db, &[]);
    let (fire, agent) = (
        Path::new("/firetail/default.json"),
        Path::new("/agent/default"),
    );
    let mut settings = f.settings.clone();
    settings.checkpoint_file = f.db.clone();
    assert_eq!(
        migrate::checkpoint_paths_with(&settings, fire, agent),
        CheckpointPaths {
            store: fire.to_owned(),
            agent_db: f.db.clone()
        }
    );
    let json = f.dir.path().join("store.json");
    for present in [false, true] {
        if present {
            fs::write(&json, b"{\"version\":1,\"checkpoints\":[]}\n").unwrap();
        }
        settings.checkpoint_file = json.clone();
        assert_eq!(
            migrate::checkpoint_paths_with(&settings, fire, agent),
            CheckpointPaths {
                store: json.clone(),
                agent_db: agent.to_owned()
            }
        );
    }
}
