//! The tail crate's Framer fed in arbitrary pushes, against a whole-input reference
//! framing: see `fuzz/src/frame.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    firetail_fuzz::frame::check(data);
});
