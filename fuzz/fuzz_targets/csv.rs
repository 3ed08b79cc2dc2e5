//! CSVTOJSON with field names and delimiter chosen by the input: see `fuzz/src/csv.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    firetail_fuzz::csv::check(data);
});
