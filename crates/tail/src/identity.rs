//! How a file is recognised across renames, restarts and inode reuse.
//!
//! - **Fingerprint:** a hash of the first `fingerprint_bytes` bytes. A file shorter than
//!   that has none yet and is known by `(dev, inode)` alone until it grows.
//! - **Offset marker:** a hash of the up-to-[`MARKER_BYTES`] bytes just before an offset.
//!   A stored position is only trusted if the bytes before it are still the same; if not
//!   (or the file is shorter than the offset) the file was truncated or replaced.
//!
//! The hash is FNV-1a 64: stable across Rust versions and platforms (it is persisted),
//! cheap for a few hundred bytes, and collision resistance against adversaries is not
//! needed (the inode must match too, or the marker).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Bytes before an offset covered by its marker.
pub const MARKER_BYTES: u64 = 64;

/// FNV-1a, 64 bits.
pub fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Reads exactly `len` bytes at `offset`, or `None` if the file is shorter.
fn read_exact_at(file: &File, offset: u64, len: usize) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; len];
    match file.read_exact_at(&mut buf, offset) {
        Ok(()) => Ok(Some(buf)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// The content fingerprint, or `None` while the file is shorter than `len` bytes.
pub fn fingerprint(file: &File, len: usize) -> io::Result<Option<u64>> {
    if len == 0 {
        return Ok(None);
    }
    Ok(read_exact_at(file, 0, len)?.map(|b| hash(&b)))
}

/// The marker of `offset`: a hash of the bytes just before it (`None` if the file is now
/// shorter than `offset`).
pub fn marker(file: &File, offset: u64) -> io::Result<Option<u64>> {
    let len = offset.min(MARKER_BYTES);
    Ok(read_exact_at(file, offset - len, len as usize)?.map(|b| hash(&b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn hash_is_pinned() {
        // Persisted in checkpoints: must never change.
        assert_eq!(hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn short_files_have_no_fingerprint_and_markers_detect_changes() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"hello\n").unwrap();
        assert_eq!(fingerprint(&f, 256).unwrap(), None);
        assert_eq!(fingerprint(&f, 3).unwrap(), Some(hash(b"hel")));
        let m = marker(&f, 6).unwrap();
        assert_eq!(m, Some(hash(b"hello\n")));
        assert_eq!(marker(&f, 0).unwrap(), Some(hash(b"")));
        f.set_len(2).unwrap();
        assert_eq!(marker(&f, 6).unwrap(), None);
    }
}
