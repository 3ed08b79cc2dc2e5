//! LOGTOJSON `CombinedApache`: see `fuzz/src/logtojson.rs` for the properties checked.
#![no_main]

use firetail_process::logtojson::LogFormat;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    firetail_fuzz::logtojson::check(LogFormat::CombinedApache, data);
});
