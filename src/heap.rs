//! How the C heap gives memory back to the kernel.
//!
//! firetail's live heap swings by megabytes on every batch: a read buffer lives until the
//! last record sliced from it is acknowledged, and a request body until its answer. With
//! glibc's defaults (free memory at the top of the heap is returned once it passes a
//! threshold of 128 KiB, raised only as far as the largest mmapped block freed so far),
//! every swing gave the memory back and the next one faulted it in again, zeroed:
//! 16,000-30,000 minor faults per 256 MiB shipped on 186-byte lines, some 4 % of the
//! daemon's CPU
//! (`perf record -e page-faults`, BENCHMARKS.md). Fixed thresholds keep up to
//! [`TRIM_THRESHOLD`] of free heap for the next swing; peak RSS, which the memory bounds
//! are about, does not change, since the memory was in use at the peak anyway.

/// Free memory at the top of the heap kept before it is returned to the kernel.
pub const TRIM_THRESHOLD: usize = 8 << 20;

/// Blocks at least this large get their own mapping (returned at once when freed). Above
/// the largest record (1 MiB) so records and read buffers stay on the heap; request
/// bodies of a full 4 MiB batch (5.4 MiB as base64 JSON) still map.
pub const MMAP_THRESHOLD: usize = 4 << 20;

/// Sets the thresholds; call once, before the runtime starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn keep_freed_memory() {
    for (param, value) in [
        (libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD),
        (libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD),
    ] {
        let Ok(value) = libc::c_int::try_from(value) else {
            continue;
        };
        // SAFETY: mallopt only changes the allocator's tuning parameters; it takes plain
        // integers and is called before other threads exist. A refused value (it returns
        // 0) leaves glibc's defaults: slower, not wrong, so the result is not checked.
        #[allow(unsafe_code)]
        unsafe {
            libc::mallopt(param, value);
        }
    }
}

/// Other C libraries keep their own policy.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn keep_freed_memory() {}
