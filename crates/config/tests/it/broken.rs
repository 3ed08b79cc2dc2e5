//! Broken configurations: a clear, located message, every error reported, no panic.

use firetail_config::{parse_str, ConfigError};
use serde_json::json;

use crate::{base, err, ok};

fn parse_err(text: &str) -> String {
    match parse_str(text, "/etc/firetail/agent.json") {
        Ok(_) => panic!("expected an error for {text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_json_is_located() {
    let msg = parse_err("{\n  \"flows\": [\n    { \"filePattern\" \"/tmp/a\" }\n  ]\n}");
    assert!(
        msg.starts_with("/etc/firetail/agent.json:3:21: invalid JSON"),
        "{msg}"
    );
}

#[test]
fn trailing_comma_is_located() {
    let msg = parse_err("{\n  \"flows\": [\n    { \"filePattern\": \"/tmp/a\", \"deliveryStream\": \"s\" },\n  ]\n}");
    assert!(
        msg.starts_with("/etc/firetail/agent.json:4:3: invalid JSON: trailing comma"),
        "{msg}"
    );
}

#[test]
fn top_level_must_be_an_object() {
    assert!(parse_err("[1, 2]").contains("the top level must be a JSON object, found an array"));
    assert!(parse_err("").contains("invalid JSON"));
}

#[test]
fn wrong_type_names_file_flow_id_key_value_and_range() {
    let mut cfg = base(false);
    cfg["flows"][0]["maxBufferAgeMillis"] = json!("soon");
    let msg = err(&cfg).to_string();
    assert_eq!(
        msg,
        "test.json: flows[0] (fh:ds:/tmp/app.log*): 'maxBufferAgeMillis': \"soon\" is not an integer (Java long) in [1000..900000]"
    );
}

#[test]
fn out_of_range_uses_the_agent_wording() {
    let mut cfg = base(true);
    cfg["flows"][0]["maxBufferSizeBytes"] = json!(5_242_881);
    assert_eq!(
        err(&cfg).to_string(),
        "test.json: flows[0] (kinesis:ks:/tmp/app.log*): 'maxBufferSizeBytes' value 5242881 is outside of valid range [1..5242880]"
    );
}

#[test]
fn unknown_enum_value_lists_legal_values() {
    let mut cfg = base(false);
    cfg["flows"][0]["initialPosition"] = json!("BEGINNING");
    assert_eq!(
        err(&cfg).to_string(),
        "test.json: flows[0] (fh:ds:/tmp/app.log*): Value(BEGINNING) is not legally accepted by key: initialPosition. Legal values are START_OF_FILE,END_OF_FILE"
    );
}

#[test]
fn missing_file_pattern() {
    let cfg = json!({"flows": [{"deliveryStream": "ds"}]});
    assert_eq!(
        err(&cfg).to_string(),
        "test.json: flows[0]: required key 'filePattern' is missing"
    );
}

#[test]
fn both_streams_missing() {
    let cfg = json!({"flows": [{"filePattern": "/tmp/a.log"}]});
    let msg = err(&cfg).to_string();
    assert!(
        msg.starts_with("test.json: flows[0]: Could not recognize flow type"),
        "{msg}"
    );
}

#[test]
fn empty_or_null_stream_name() {
    let cfg = json!({"flows": [{"filePattern": "/tmp/a.log", "deliveryStream": ""}]});
    assert!(err(&cfg).to_string().contains("'deliveryStream'"));
    let cfg = json!({"flows": [{"filePattern": "/tmp/a.log", "kinesisStream": null}]});
    assert!(err(&cfg).to_string().contains("'kinesisStream'"));
    let cfg = json!({"flows": [{"filePattern": "/tmp/a.log", "kinesisStream": {}}]});
    assert_eq!(err(&cfg).len(), 1);
}

#[test]
fn bad_file_patterns() {
    for (pattern, reason) in [
        ("var/log/a.log", "absolute"),
        ("/var/log/", "must not end with '/'"),
        ("/var/log/[a.log", "not a valid glob"),
    ] {
        let cfg = json!({"flows": [{"filePattern": pattern, "deliveryStream": "ds"}]});
        let msg = err(&cfg).to_string();
        assert!(
            msg.contains("'filePattern'") && msg.contains(reason),
            "{pattern}: {msg}"
        );
    }
}

#[test]
fn no_flows() {
    assert_eq!(
        err(&json!({"cloudwatch.emitMetrics": false})).to_string(),
        "test.json: There are no flows configured in configuration file."
    );
    assert!(matches!(
        err(&json!({"flows": []})).iter().next(),
        Some(ConfigError::NoFlows { .. })
    ));
}

#[test]
fn flows_of_the_wrong_shape() {
    assert!(err(&json!({"flows": {"filePattern": "/a"}}))
        .to_string()
        .contains("'flows'"));
    assert!(err(&json!({"flows": [42]}))
        .to_string()
        .contains("flows[0]: a flow must be a JSON object, found a number"));
    assert!(err(&json!({"flows": null})).to_string().contains("'flows'"));
}

#[test]
fn duplicate_flow_id() {
    let flow = json!({"filePattern": "/tmp//app.log*", "deliveryStream": "ds"});
    let cfg = json!({"flows": [flow, {"filePattern": "/tmp/app.log*", "deliveryStream": "ds"}]});
    let msg = err(&cfg).to_string();
    assert!(msg.starts_with("Duplicate flow: fh:ds:/tmp/app.log* (defined in test.json: flows[0] and test.json: flows[1])"), "{msg}");
    // Same pattern, other destination type: different ids, fine.
    ok(&json!({"flows": [flow, {"filePattern": "/tmp/app.log*", "kinesisStream": "ds"}]}));
}

#[test]
fn three_bad_values_give_three_errors() {
    let mut cfg = base(false);
    cfg["cloudwatch.emitMetrics"] = json!("perhaps");
    cfg["flows"][0]["maxBufferSizeRecords"] = json!(501);
    cfg["flows"][0]["initialPosition"] = json!("start_of_file");
    let errors = err(&cfg);
    assert_eq!(errors.len(), 3, "{errors}");
    let text = errors.to_string();
    assert_eq!(text.lines().count(), 3);
    for key in [
        "cloudwatch.emitMetrics",
        "maxBufferSizeRecords",
        "initialPosition",
    ] {
        assert!(text.contains(key), "{key} missing from {text}");
    }
}

#[test]
fn errors_in_several_flows_and_generators_are_all_reported() {
    let cfg = json!({
        "flows": [
            {"filePattern": "/a/*", "deliveryStream": "x", "maxBufferAgeMillis": 1},
            {"filePattern": "relative", "kinesisStream": "y"},
            {"filePattern": "/b/*"}
        ],
        "firetail.generators": [{"rate": 0}, "nope"]
    });
    let errors = err(&cfg);
    // age, pattern, flow type, generator path missing, generator rate, generator not an object
    assert_eq!(errors.len(), 6, "{errors}");
}

#[test]
fn terminator_longer_than_a_record_is_rejected() {
    let mut cfg = base(false);
    cfg["flows"][0]["truncatedRecordTerminator"] = json!("x".repeat(1_024_000));
    assert!(err(&cfg).to_string().contains("truncatedRecordTerminator"));
    cfg["flows"][0]["truncatedRecordTerminator"] = json!("x".repeat(1_023_999));
    ok(&cfg);
}

#[test]
fn unknown_keys_warn_with_suggestions_and_never_fail() {
    let mut cfg = base(false);
    cfg["flows"][0]["maxBufferAgeMilis"] = json!(1000);
    cfg["cloudwatch.emitMetric"] = json!(true);
    cfg["completelyUnknown"] = json!(1);
    cfg["maxBufferAgeMillis"] = json!(5000);
    cfg["firetail.generators"][0]["rat"] = json!(5);
    let warnings: Vec<String> = ok(&cfg).warnings.iter().map(ToString::to_string).collect();
    let all = warnings.join("\n");
    assert!(all.contains("test.json: flows[0] (fh:ds:/tmp/app.log*): unknown key 'maxBufferAgeMilis' ignored (did you mean 'maxBufferAgeMillis'?)"), "{all}");
    assert!(
        all.contains(
            "unknown key 'cloudwatch.emitMetric' ignored (did you mean 'cloudwatch.emitMetrics'?)"
        ),
        "{all}"
    );
    assert!(
        all.contains("unknown key 'completelyUnknown' ignored\n")
            || all.ends_with("unknown key 'completelyUnknown' ignored")
            || all.contains("'completelyUnknown' ignored"),
        "{all}"
    );
    assert!(
        all.contains("'maxBufferAgeMillis' is a flow key and has no effect at the top level"),
        "{all}"
    );
    assert!(
        all.contains("firetail.generators[0]: unknown key 'rat' ignored (did you mean 'rate'?)"),
        "{all}"
    );
}

/// The agent converts every item of the array and does not catch a failure: a string item
/// ("Failed to convert list item") or a `null` item (a NullPointerException in the chain's
/// `toString()`) stops it at startup, so firetail must not ship the flow unconverted.
#[test]
fn data_processing_options_array_with_a_non_object_item_is_a_located_error() {
    for (bad, item) in [
        (json!(["SINGLELINE"]), "item 0 is a string"),
        (
            json!([{"optionName": "SINGLELINE"}, null]),
            "item 1 is null",
        ),
        (
            json!([{"optionName": "SINGLELINE"}, [1]]),
            "item 1 is an array",
        ),
    ] {
        let mut cfg = base(false);
        cfg["flows"][0]["dataProcessingOptions"] = bad.clone();
        let msg = err(&cfg).to_string();
        assert_eq!(
            msg,
            format!(
                "test.json: flows[0] (fh:ds:/tmp/app.log*): 'dataProcessingOptions': {bad} is not an array of objects: {item} (the Kinesis Agent refuses to start on it)"
            )
        );
    }
}

#[test]
fn data_processing_options_not_an_array_falls_back_with_a_warning() {
    for bad in [
        json!({"optionName": "SINGLELINE"}),
        json!({}),
        json!("x"),
        json!(7),
    ] {
        let mut cfg = base(false);
        cfg["flows"][0]["dataProcessingOptions"] = bad;
        let loaded = ok(&cfg);
        assert_eq!(loaded.settings.flows[0].data_processing_options, None);
        assert!(loaded.warnings.iter().any(|w| w.to_string().contains(
            "'dataProcessingOptions' is not an array; ignored and the default (no converters) used"
        )));
    }
    let mut cfg = base(false);
    cfg["flows"][0]["dataProcessingOptions"] =
        json!([{"optionName": "LOGTOJSON", "logFormat": "COMBINEDAPACHELOG"}]);
    let loaded = ok(&cfg);
    assert_eq!(
        loaded.settings.flows[0].data_processing_options,
        Some(json!([{"optionName": "LOGTOJSON", "logFormat": "COMBINEDAPACHELOG"}]))
    );
}
