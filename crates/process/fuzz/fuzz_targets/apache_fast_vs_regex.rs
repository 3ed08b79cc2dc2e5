//! The hand-written Apache parsers must agree with the agent's regex on any input.
#![no_main]

use firetail_process::json::JsonFormat;
use firetail_process::logtojson::{LogFormat, LogToJson};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = firetail_process::utf8::decode(data);
    let line = text.strip_suffix('\n').unwrap_or(&text);
    for format in [LogFormat::CommonApache, LogFormat::CombinedApache] {
        let conv = LogToJson::build(0, format, None, None, JsonFormat::Compact, false)
            .expect("built-in pattern compiles");
        let (mut fast_out, mut regex_out) = (Vec::new(), Vec::new());
        let fast = conv.convert_fast_only(line, &mut fast_out).expect("fast parser exists");
        let regex = conv.convert_regex(line, &mut regex_out);
        assert_eq!(fast, regex, "{line:?}");
        assert_eq!(fast_out, regex_out, "{line:?}");
    }
});
