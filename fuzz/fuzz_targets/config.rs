//! `firetail_config::parse_str` on arbitrary text: see `fuzz/src/config.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    firetail_fuzz::config::check(data);
});
