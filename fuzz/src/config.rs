//! `firetail_config::parse_str` on arbitrary text.
//!
//! Properties: no panic; the result is deterministic (same settings, warnings, effective
//! JSON or same errors on a second run); every error and warning renders with `Display`
//! and names the file (the crate's documented invariant); an accepted configuration has
//! at least one flow with unique ids, and its effective JSON serialises.

use firetail_config::parse_str;

const ORIGIN: &str = "/fuzz/agent.json";

pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let first = parse_str(&text, ORIGIN);
    let second = parse_str(&text, ORIGIN);
    match (first, second) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.settings, b.settings, "deterministic settings");
            assert_eq!(a.warnings, b.warnings, "deterministic warnings");
            assert_eq!(a.sources, b.sources);
            for w in &a.warnings {
                let shown = w.to_string();
                assert!(shown.contains(ORIGIN), "warning names the file: {shown}");
            }
            assert!(
                !a.settings.flows.is_empty(),
                "accepted means at least one flow"
            );
            let mut ids: Vec<&str> = a.settings.flows.iter().map(|f| f.id.as_str()).collect();
            ids.sort_unstable();
            let n = ids.len();
            ids.dedup();
            assert_eq!(ids.len(), n, "flow ids are unique");
            let effective = a.settings.to_effective_json();
            assert_eq!(effective, b.settings.to_effective_json());
            let rendered = serde_json::to_string(&effective).unwrap();
            let _: serde_json::Value = serde_json::from_str(&rendered).unwrap();
        }
        (Err(a), Err(b)) => {
            assert!(!a.is_empty(), "an error result holds at least one error");
            let (shown_a, shown_b) = (a.to_string(), b.to_string());
            assert_eq!(shown_a, shown_b, "deterministic errors");
            for e in a.iter() {
                let shown = e.to_string();
                assert!(shown.contains(ORIGIN), "error names the file: {shown}");
            }
        }
        (a, b) => panic!(
            "parse_str is not deterministic: {:?} then {:?}",
            a.is_ok(),
            b.is_ok()
        ),
    }
}
