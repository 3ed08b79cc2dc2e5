//! Counters of everything the endpoint did, served at `GET /stats` and by `Server::stats()`.
//!
//! Invariant: each request updates the counters under one short lock, so a snapshot is always
//! consistent with itself (e.g. `records_accepted` matches the delivered log's length).

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::faults::RecordFault;
use crate::record_log::Accepted;

/// A snapshot of the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// API calls received, by operation name (`Unknown` for unroutable ones).
    pub requests: BTreeMap<String, u64>,
    /// Calls answered with an error, by error code.
    pub requests_rejected: BTreeMap<String, u64>,
    /// Records accepted (answered with a RecordId, or delivered before an injected reset).
    pub records_accepted: u64,
    /// Decoded bytes of the accepted records.
    pub bytes_accepted: u64,
    /// Records refused individually inside a successful PutRecordBatch, by error code.
    pub records_rejected: BTreeMap<String, u64>,
    /// Objects written to the output directory.
    pub objects_written: u64,
    /// Bytes written to objects (after compression).
    pub object_bytes_written: u64,
    /// Objects that could not be written.
    pub object_write_errors: u64,
    /// Documents the OpenSearch destination indexed.
    pub opensearch_documents_indexed: u64,
    /// Documents that failed for good (written to the S3 backup).
    pub opensearch_documents_failed: u64,
    /// Bulk requests sent to OpenSearch.
    pub opensearch_bulk_requests: u64,
    /// Retries of failed documents or requests.
    pub opensearch_retries: u64,
    /// Data calls refused with 503 because the stream's quota was used up, by the quota
    /// that refused them (`requests`, `records`, `bytes`).
    #[serde(default)]
    pub requests_over_quota: BTreeMap<String, u64>,
    /// Faults injected, by kind: `throttle`, `error`, `reset_delivered`, `reset_dropped`,
    /// `partial_failure` (records), `outage`, `latency`.
    pub faults: BTreeMap<String, u64>,
}

/// The live counters behind [`Stats`].
#[derive(Default)]
pub(crate) struct StatsCell(Mutex<Stats>);

impl StatsCell {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Stats> {
        // Counters stay meaningful even if a holder panicked mid-update.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn snapshot(&self) -> Stats {
        self.lock().clone()
    }

    /// The records of a put (`records`: ranges of `data`) that no fault refused, counted
    /// here with the refused ones (by the code `error_code` gives each record fault) in
    /// one update.
    pub(crate) fn count_put<'a>(
        &self,
        records: &[Range<usize>],
        data: &'a [u8],
        faults: &[Option<RecordFault>],
        error_code: impl Fn(RecordFault) -> &'static str,
    ) -> Vec<Accepted<'a>> {
        let accepted: Vec<Accepted<'a>> = records
            .iter()
            .zip(faults)
            .enumerate()
            .filter(|(_, (_, fault))| fault.is_none())
            .map(|(index, (range, _))| Accepted {
                index,
                data: &data[range.clone()],
            })
            .collect();
        let mut stats = self.lock();
        stats.records_accepted += accepted.len() as u64;
        stats.bytes_accepted += accepted.iter().map(|a| a.data.len() as u64).sum::<u64>();
        for fault in faults.iter().flatten() {
            Stats::bump(&mut stats.records_rejected, error_code(*fault), 1);
            Stats::bump(&mut stats.faults, "partial_failure", 1);
        }
        accepted
    }
}

impl Stats {
    /// Adds `n` to `map[key]`.
    pub(crate) fn bump(map: &mut BTreeMap<String, u64>, key: &str, n: u64) {
        if n == 0 {
            return;
        }
        match map.get_mut(key) {
            Some(count) => *count += n,
            None => {
                map.insert(key.to_string(), n);
            }
        }
    }

    /// The count of injected faults of one kind.
    pub fn fault_count(&self, kind: &str) -> u64 {
        self.faults.get(kind).copied().unwrap_or(0)
    }
}
