//! local-firehose request routing and body parsing: see `fuzz/src/local_firehose.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    firetail_fuzz::local_firehose::check(data);
});
