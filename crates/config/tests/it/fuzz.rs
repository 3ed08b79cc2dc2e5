//! Random input never panics the parser (design invariant 5).

use proptest::prelude::*;
use serde_json::{json, Value};

use firetail_config::keys::{Scope, KEYS};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::from),
        Just(json!("/tmp/a*")),
        Just(json!("010")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key_name(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Mostly real key names, so values reach the validators.
fn key_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(KEYS.iter().map(|k| k.name.to_owned()).collect::<Vec<_>>()),
        1 => "[a-zA-Z.]{1,10}",
    ]
}

/// A config whose flows and generators hold random values under real key names.
fn config_like() -> impl Strategy<Value = Value> {
    let flow_keys: Vec<String> = KEYS
        .iter()
        .filter(|k| k.scope == Scope::Flow)
        .map(|k| k.name.to_owned())
        .collect();
    let flow = prop::collection::vec((prop::sample::select(flow_keys), json_value()), 0..8)
        .prop_map(|kv| Value::Object(kv.into_iter().collect()));
    (
        prop::collection::vec(flow, 0..3),
        prop::collection::vec((key_name(), json_value()), 0..6),
    )
        .prop_map(|(flows, top)| {
            let mut obj: serde_json::Map<String, Value> = top.into_iter().collect();
            obj.insert("flows".to_owned(), Value::Array(flows));
            Value::Object(obj)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_json_never_panics(v in json_value()) {
        let _ = firetail_config::parse_str(&v.to_string(), "fuzz.json");
    }

    #[test]
    fn random_configs_never_panic(v in config_like()) {
        if let Ok(loaded) = firetail_config::parse_str(&v.to_string(), "fuzz.json") {
            let _ = loaded.settings.to_effective_json();
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = firetail_config::parse_str(&text, "fuzz.json");
    }

    #[test]
    fn random_comment_soup_never_panics(text in "[{}\\[\\]\"/*,:\\\\ \n\ta-z0-9]{0,80}") {
        let _ = firetail_config::parse_str(&text, "fuzz.json");
    }
}
