//! Writing buffered chunks as objects in Firehose's S3 layout under the output directory.
//!
//! Layout: `<dir>/<bucket>/<prefix>YYYY/MM/DD/HH/<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid>[.gz]`,
//! in UTC, timed by the chunk's first record. Each object is written under a hidden temporary
//! name in its final directory and then renamed, so a reader never sees a partial object.
//!
//! One writer task owns all file I/O and handles chunks in the order they were sent; a
//! `WriterMsg::Barrier` is answered only after every chunk sent before it is on disk, which
//! is how `Server::flush` knows it is done.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use flate2::write::GzEncoder;
use tokio::sync::{mpsc, oneshot};

use crate::stats::StatsCell;
use crate::streams::{Chunk, Compression, StreamConfig};

/// What the writer task is asked to do.
#[derive(Debug)]
pub(crate) enum WriterMsg {
    /// Write one object.
    Write(Box<Chunk>),
    /// Answer once everything sent before is written.
    Barrier(oneshot::Sender<()>),
}

/// The object's path relative to the output directory. A prefix with `!{timestamp:...}`
/// expressions is expanded instead of getting the default `YYYY/MM/DD/HH/`, as in Firehose.
pub fn object_path(config: &StreamConfig, first_arrival: DateTime<Utc>, id: uuid::Uuid) -> PathBuf {
    let hour_dir = match expand_prefix(&config.prefix, first_arrival) {
        Some(expanded) => expanded,
        None => format!("{}{}", config.prefix, first_arrival.format("%Y/%m/%d/%H")),
    };
    let stamp = first_arrival.format("%Y-%m-%d-%H-%M-%S");
    let extension = match config.compression {
        Compression::Uncompressed => "",
        Compression::Gzip => ".gz",
    };
    let name = format!("{}-1-{stamp}-{id}{extension}", config.name);
    Path::new(&config.bucket).join(hour_dir).join(name)
}

/// `prefix` with its `!{timestamp:<pattern>}` and `!{firehose:...}` expressions filled in,
/// or None when it has none. The pattern letters are Java's: yyyy, MM, dd, HH, mm, ss.
pub fn expand_prefix(prefix: &str, at: DateTime<Utc>) -> Option<String> {
    if !prefix.contains("!{") {
        return None;
    }
    let mut out = String::with_capacity(prefix.len() + 16);
    let mut rest = prefix;
    while let Some(start) = rest.find("!{") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else {
            out.push_str(&rest[start..]);
            return Some(out);
        };
        let expr = &rest[start + 2..start + len];
        if let Some(pattern) = expr.strip_prefix("timestamp:") {
            let strftime = pattern
                .replace("yyyy", "%Y")
                .replace("MM", "%m")
                .replace("dd", "%d")
                .replace("HH", "%H")
                .replace("mm", "%M")
                .replace("ss", "%S");
            out.push_str(&at.format(&strftime).to_string());
        } else if expr == "firehose:error-output-type" {
            out.push_str("opensearch-failed");
        } else if let Some(other) = expr.strip_prefix("firehose:") {
            out.push_str(other);
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// Writes one chunk as an object; returns its path and size on disk.
pub(crate) fn write_object(dir: &Path, chunk: &Chunk) -> std::io::Result<(PathBuf, u64)> {
    let path = dir.join(object_path(
        &chunk.config,
        chunk.first_arrival,
        uuid::Uuid::new_v4(),
    ));
    let parent = path.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let temp = parent.join(format!(".{file_name}.tmp"));
    let mut file = std::fs::File::create(&temp)?;
    match chunk.config.compression {
        Compression::Uncompressed => file.write_all(&chunk.data)?,
        Compression::Gzip => {
            let mut gz = GzEncoder::new(&mut file, flate2::Compression::default());
            gz.write_all(&chunk.data)?;
            gz.finish()?;
        }
    }
    let size = file.metadata()?.len();
    drop(file);
    std::fs::rename(&temp, &path)?;
    Ok((path, size))
}

/// Runs the writer until the channel closes. Blocking: run it on a blocking thread.
pub(crate) fn run_writer(dir: PathBuf, mut rx: mpsc::Receiver<WriterMsg>, stats: Arc<StatsCell>) {
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            WriterMsg::Write(chunk) => match write_object(&dir, &chunk) {
                Ok((path, size)) => {
                    tracing::debug!(path = %path.display(), size, "object written");
                    let mut stats = stats.lock();
                    stats.objects_written += 1;
                    stats.object_bytes_written += size;
                }
                Err(e) => {
                    tracing::error!(
                        stream = &*chunk.config.name,
                        dir = %dir.display(),
                        error = %e,
                        "cannot write object; its records are lost"
                    );
                    stats.lock().object_write_errors += 1;
                }
            },
            // The flusher may have given up waiting; nothing to do then.
            WriterMsg::Barrier(done) => drop(done.send(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::io::Read;

    fn config(compression: Compression) -> StreamConfig {
        let mut c = StreamConfig::auto_created("web");
        c.bucket = "bkt".into();
        c.prefix = "logs/".into();
        c.compression = compression;
        c
    }

    #[test]
    fn path_follows_the_firehose_layout() {
        let t = Utc.with_ymd_and_hms(2024, 3, 9, 7, 5, 4).unwrap();
        let id = uuid::Uuid::nil();
        let p = object_path(&config(Compression::Gzip), t, id);
        assert_eq!(
            p,
            Path::new("bkt/logs/2024/03/09/07/web-1-2024-03-09-07-05-04-00000000-0000-0000-0000-000000000000.gz")
        );
        let mut c = config(Compression::Uncompressed);
        c.prefix = "raw-".into();
        let p = object_path(&c, t, id);
        assert!(p.starts_with("bkt/raw-2024/03/09/07"), "{}", p.display());
        assert!(!p.to_string_lossy().ends_with(".gz"));
        c.prefix = "opensearch-failed/raw/!{timestamp:yyyy/MM/dd}/".into();
        let p = object_path(&c, t, id);
        assert!(
            p.to_string_lossy()
                .starts_with("bkt/opensearch-failed/raw/2024/03/09/web-1-"),
            "{}",
            p.display()
        );
        assert_eq!(
            expand_prefix("e/!{firehose:error-output-type}/!{timestamp:HH-mm}/", t).as_deref(),
            Some("e/opensearch-failed/07-05/")
        );
        assert_eq!(expand_prefix("plain/", t), None);
    }

    #[test]
    fn gzip_objects_hold_the_concatenation() {
        let dir = tempfile::tempdir().unwrap();
        let chunk = Chunk {
            config: config(Compression::Gzip),
            ends: vec![2, 5],
            data: b"a\nbb\n".to_vec(),
            first_arrival: Utc::now(),
        };
        let (path, _) = write_object(dir.path(), &chunk).unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "a\nbb\n");
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".tmp")
            })
            .collect();
        assert!(leftovers.is_empty());
    }
}
