//! The log of accepted records, so tests know exactly what was delivered.
//!
//! Two sinks: an in-memory list (record bytes included) bounded by a byte cap, and an optional
//! JSONL file with one line per record (sha256 always, data on request).
//!
//! Invariants: entries appear in acceptance order (one request's records are appended under a
//! single lock, in request order); once the memory cap is reached no further entries are kept
//! and `truncated()` turns true, so a caller never mistakes a partial list for a complete one.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use bytes::Bytes;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::api::push_hex;
use crate::error::Error;

/// Bookkeeping bytes charged per in-memory entry, so metadata alone cannot grow unbounded.
const ENTRY_OVERHEAD: usize = 64;

/// How an accepted record's request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The client got a RecordId for it.
    Answered,
    /// Delivered, but the connection was then closed without an answer (injected reset): the
    /// client cannot know it succeeded and will likely send it again.
    ResetAfterDelivery,
}

/// One accepted record.
#[derive(Debug, Clone)]
pub struct AcceptedRecord {
    /// Delivery stream.
    pub stream: Arc<str>,
    /// The request's `x-amzn-RequestId`.
    pub request_id: Arc<str>,
    /// Position in the request (0-based).
    pub index: usize,
    /// Decoded length.
    pub len: usize,
    /// The decoded bytes.
    pub data: Bytes,
    /// How the request ended.
    pub outcome: Outcome,
}

#[derive(Default)]
struct MemoryLog {
    records: Vec<AcceptedRecord>,
    charged: usize,
    truncated: bool,
}

struct FileLog {
    path: PathBuf,
    out: BufWriter<File>,
    with_data: bool,
    /// Flush after every request, so a reader sees each record the moment it is accepted.
    flush_each: bool,
}

/// Both record sinks.
pub(crate) struct RecordLog {
    memory: Mutex<MemoryLog>,
    cap: usize,
    file: Option<Mutex<FileLog>>,
}

/// One accepted record as the caller hands it over: index in the request and decoded bytes.
pub(crate) struct Accepted<'a> {
    pub(crate) index: usize,
    pub(crate) data: &'a [u8],
}

#[derive(Serialize)]
struct JsonLine<'a> {
    stream: &'a str,
    request_id: &'a str,
    index: usize,
    len: usize,
    sha256: &'a str,
    outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl RecordLog {
    pub(crate) fn new(
        cap: usize,
        file: Option<&Path>,
        with_data: bool,
        flush_each: bool,
    ) -> Result<Self, Error> {
        let file = match file {
            None => None,
            Some(path) => {
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| Error::RecordLog {
                        path: path.to_path_buf(),
                        source,
                    })?;
                Some(Mutex::new(FileLog {
                    path: path.to_path_buf(),
                    out: BufWriter::new(f),
                    with_data,
                    flush_each,
                }))
            }
        };
        Ok(RecordLog {
            memory: Mutex::new(MemoryLog::default()),
            cap,
            file,
        })
    }

    /// Logs one request's accepted records.
    pub(crate) fn append(
        &self,
        stream: &Arc<str>,
        request_id: &Arc<str>,
        outcome: Outcome,
        records: &[Accepted<'_>],
    ) {
        self.append_memory(stream, request_id, outcome, records);
        if let Some(file) = &self.file {
            let mut file = lock(file);
            let written = write_lines(&mut file, stream, request_id, outcome, records);
            let flushed = if file.flush_each {
                written.and_then(|()| file.out.flush())
            } else {
                written
            };
            if let Err(e) = flushed {
                tracing::error!(path = %file.path.display(), error = %e, "cannot write record log");
            }
        }
    }

    fn append_memory(
        &self,
        stream: &Arc<str>,
        request_id: &Arc<str>,
        outcome: Outcome,
        records: &[Accepted<'_>],
    ) {
        let mut memory = lock(&self.memory);
        for record in records {
            let charge = record.data.len() + ENTRY_OVERHEAD;
            if memory.truncated || memory.charged + charge > self.cap {
                memory.truncated = true;
                return;
            }
            memory.charged += charge;
            memory.records.push(AcceptedRecord {
                stream: Arc::clone(stream),
                request_id: Arc::clone(request_id),
                index: record.index,
                len: record.data.len(),
                data: Bytes::copy_from_slice(record.data),
                outcome,
            });
        }
    }

    pub(crate) fn records(&self) -> Vec<AcceptedRecord> {
        lock(&self.memory).records.clone()
    }

    pub(crate) fn truncated(&self) -> bool {
        lock(&self.memory).truncated
    }

    pub(crate) fn flush(&self) {
        if let Some(file) = &self.file {
            let mut file = lock(file);
            if let Err(e) = file.out.flush() {
                tracing::error!(path = %file.path.display(), error = %e, "cannot flush record log");
            }
        }
    }
}

fn write_lines(
    file: &mut FileLog,
    stream: &str,
    request_id: &str,
    outcome: Outcome,
    records: &[Accepted<'_>],
) -> std::io::Result<()> {
    let mut sha = String::with_capacity(64);
    for record in records {
        sha.clear();
        push_hex(&mut sha, &Sha256::digest(record.data));
        let line = JsonLine {
            stream,
            request_id,
            index: record.index,
            len: record.data.len(),
            sha256: &sha,
            outcome,
            data: file
                .with_data
                .then(|| base64::engine::general_purpose::STANDARD.encode(record.data)),
        };
        serde_json::to_writer(&mut file.out, &line)?;
        file.out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_log_stops_at_the_cap_and_says_so() {
        let log = RecordLog::new(2 * (10 + ENTRY_OVERHEAD), None, false, false).unwrap();
        let (s, r): (Arc<str>, Arc<str>) = ("s".into(), "r".into());
        let data = [0u8; 10];
        let recs: Vec<_> = (0..3)
            .map(|index| Accepted { index, data: &data })
            .collect();
        log.append(&s, &r, Outcome::Answered, &recs);
        assert_eq!(log.records().len(), 2);
        assert!(log.truncated());
    }

    #[test]
    fn file_log_has_one_line_per_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let log = RecordLog::new(1 << 20, Some(&path), true, false).unwrap();
        let (s, r): (Arc<str>, Arc<str>) = ("s".into(), "r".into());
        let recs = [
            Accepted {
                index: 0,
                data: b"abc",
            },
            Accepted {
                index: 1,
                data: b"",
            },
        ];
        log.append(&s, &r, Outcome::ResetAfterDelivery, &recs);
        log.flush();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0]["sha256"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(lines[0]["data"], "YWJj");
        assert_eq!(lines[1]["outcome"], "reset_after_delivery");
    }
}
