//! Flow ids, destinations, globs and the effective configuration.

use std::time::Duration;

use firetail_config::{parse_str, Destination, InitialPosition, PartitionKeyOption, REDACTED};
use serde_json::{json, Value};

use crate::{base, err, ok};

#[test]
fn delivery_stream_wins_over_kinesis_stream() {
    let cfg = json!({"flows": [{"filePattern": "/var/log/httpd/access_log*", "kinesisStream": "k", "deliveryStream": "web-logs"}]});
    let loaded = ok(&cfg);
    let flow = &loaded.settings.flows[0];
    assert_eq!(flow.id, "fh:web-logs:/var/log/httpd/access_log*");
    assert!(
        matches!(&flow.destination, Destination::Firehose { delivery_stream } if delivery_stream == "web-logs")
    );
    assert!(loaded
        .warnings
        .iter()
        .any(|w| w.to_string().contains("kinesisStream")));
}

#[test]
fn kinesis_flow_reads_its_keys() {
    let cfg = json!({"flows": [{
        "filePattern": "/var/log//app/*.log", "kinesisStream": "k", "partitionKeyOption": "DETERMINISTIC",
        "initialPosition": "START_OF_FILE", "maxBufferAgeMillis": "5000",
        "firetail.idleFlushMillis": 250, "firetail.pacing.bytesPerSecond": 1000000
    }]});
    let s = ok(&cfg).settings;
    let flow = &s.flows[0];
    assert_eq!(flow.id, "kinesis:k:/var/log/app/*.log");
    assert_eq!(flow.file_pattern, "/var/log/app/*.log");
    assert!(matches!(
        flow.destination,
        Destination::Kinesis {
            partition_key: PartitionKeyOption::Deterministic,
            ..
        }
    ));
    assert_eq!(flow.initial_position, InitialPosition::StartOfFile);
    assert_eq!(flow.max_buffer_age, Duration::from_secs(5));
    assert_eq!(flow.max_buffer_size_bytes, 5_242_880);
    assert_eq!(flow.idle_flush, Some(Duration::from_millis(250)));
    assert_eq!(flow.pacing_bytes_per_second, Some(1_000_000));
    assert_eq!(flow.pacing_records_per_second, None);
    assert_eq!(flow.max_record_size_bytes(), 1_048_576);
}

#[test]
fn globs_in_every_component_and_double_star_are_accepted() {
    for pattern in [
        "/var/log/*/access.log*",
        "/srv/**/logs/*.log",
        "/var/log/{a,b}/x-?.log",
    ] {
        let cfg = json!({"flows": [{"filePattern": pattern, "deliveryStream": "d"}]});
        assert_eq!(ok(&cfg).settings.flows[0].file_pattern, pattern);
    }
}

#[test]
fn comments_and_urls_in_a_real_file() {
    let text = r#"
    // firetail config
    {
      /* endpoints */
      "firehose.endpoint": "https://firehose.eu-west-1.amazonaws.com", // trailing comment
      "flows": [ { "filePattern": "/tmp/a.log", "deliveryStream": "d" /* , "x": 1 */ } ]
    }"#;
    let s = parse_str(text, "c.json").unwrap().settings;
    assert_eq!(
        s.firehose_endpoint.as_deref(),
        Some("https://firehose.eu-west-1.amazonaws.com")
    );
    assert_eq!(s.firehose_region().as_deref(), Some("eu-west-1"));
}

#[test]
fn region_precedence() {
    let mut cfg = base(false);
    let s = ok(&cfg).settings;
    assert_eq!(s.firehose_region(), None, "no silent us-east-1");
    cfg["firetail.region"] = json!("eu-north-1");
    cfg["kinesis.region"] = json!("ap-south-1");
    let s = ok(&cfg).settings;
    assert_eq!(s.firehose_region().as_deref(), Some("eu-north-1"));
    assert_eq!(s.kinesis_region().as_deref(), Some("ap-south-1"));
    cfg["firetail.firehose.region"] = json!("us-west-1");
    assert_eq!(
        ok(&cfg).settings.firehose_region().as_deref(),
        Some("us-west-1")
    );
}

#[test]
fn computed_defaults_resolve() {
    let s = ok(&base(false)).settings;
    assert!(s.max_sending_threads >= 12);
    assert_eq!(s.max_connections, s.max_sending_threads.max(50));
    let mut cfg = base(false);
    cfg["maxSendingThreads"] = json!(80);
    let s = ok(&cfg).settings;
    assert_eq!((s.max_sending_threads, s.max_connections), (80, 80));
}

#[test]
fn effective_config_lists_every_key_and_round_trips() {
    let mut cfg = base(true);
    cfg["awsAccessKeyId"] = json!("AKIA");
    cfg["awsSecretAccessKey"] = json!("shh");
    cfg["flows"].as_array_mut().unwrap().push(json!({
        "filePattern": "/var/log/x.log", "deliveryStream": "d",
        "dataProcessingOptions": [{"optionName": "SINGLELINE"}], "multiLineStartPattern": "^\\d"
    }));
    cfg["flows"].as_array_mut().unwrap().push(json!({
        "filePattern": "/var/log/y.log", "firetail.logGroup": "g", "firetail.logStream": "s"
    }));
    let loaded = ok(&cfg);
    let eff = loaded.settings.to_effective_json();
    assert_eq!(eff["awsSecretAccessKey"], REDACTED);
    assert!(!eff.to_string().contains("shh"));
    for spec in firetail_config::keys::KEYS {
        if spec.support == firetail_config::keys::Support::Ignored {
            continue;
        }
        let present = match spec.scope {
            firetail_config::keys::Scope::Global => eff.get(spec.name).is_some(),
            firetail_config::keys::Scope::Flow => eff["flows"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f.get(spec.name).is_some()),
            firetail_config::keys::Scope::Generator => {
                eff["firetail.generators"][0].get(spec.name).is_some()
            }
        };
        assert!(present, "{} missing from the effective config", spec.name);
    }
    assert_eq!(eff["flows"][0]["id"], "kinesis:ks:/tmp/app.log*");
    // Feed it back (with the real secret): the same settings.
    let mut again: Value = eff.clone();
    again["awsSecretAccessKey"] = json!("shh");
    let reparsed = parse_str(&again.to_string(), "test.json").unwrap().settings;
    assert_eq!(reparsed, loaded.settings);
}

#[test]
fn cloudwatch_logs_flow_reads_its_keys_and_limits() {
    let flow = json!({
        "filePattern": "/var/log/y.log", "firetail.logGroup": "app", "firetail.logStream": "web-1",
        "firetail.logs.createMissing": true
    });
    let loaded =
        ok(&json!({"logs.endpoint": "https://logs.eu-west-1.amazonaws.com", "flows": [flow]}));
    let f = &loaded.settings.flows[0];
    assert_eq!(f.id, "logs:app:/var/log/y.log");
    assert_eq!(
        f.destination,
        firetail_config::Destination::CloudWatchLogs {
            log_group: "app".into(),
            log_stream: "web-1".into(),
            create_missing: true
        }
    );
    assert_eq!(f.destination.label(), "LogGroup:app/web-1");
    assert_eq!(f.max_buffer_size_bytes, 1_048_576);
    assert_eq!(f.max_buffer_size_records, 10_000);
    assert_eq!(f.max_record_size_bytes(), 1_048_550);
    assert_eq!(loaded.settings.logs_region().as_deref(), Some("eu-west-1"));

    // The destination's own limits bound the buffer keys.
    let mut big = flow.clone();
    big["maxBufferSizeBytes"] = json!(1_048_577);
    assert!(err(&json!({"flows": [big]}))
        .to_string()
        .contains("maxBufferSizeBytes"));
    let mut many = flow.clone();
    many["maxBufferSizeRecords"] = json!(10_000);
    ok(&json!({"flows": [many.clone()]}));
    many["maxBufferSizeRecords"] = json!(10_001);
    assert!(err(&json!({"flows": [many]}))
        .to_string()
        .contains("maxBufferSizeRecords"));
    // A log group needs its stream.
    let mut no_stream = flow.clone();
    no_stream
        .as_object_mut()
        .unwrap()
        .remove("firetail.logStream");
    assert!(err(&json!({"flows": [no_stream]}))
        .to_string()
        .contains("firetail.logStream"));
    // deliveryStream wins, and says so.
    let mut both = flow;
    both["deliveryStream"] = json!("ds");
    let loaded = ok(&json!({"flows": [both]}));
    assert!(matches!(
        loaded.settings.flows[0].destination,
        firetail_config::Destination::Firehose { .. }
    ));
    assert!(loaded
        .warnings
        .iter()
        .any(|w| w.to_string().contains("firetail.logGroup")));
}

#[test]
fn half_a_static_credential_is_ignored_with_a_warning() {
    let mut cfg = base(false);
    cfg["awsAccessKeyId"] = json!("AKIA");
    let loaded = ok(&cfg);
    assert_eq!(loaded.settings.aws_access_key_id, None);
    assert!(loaded
        .warnings
        .iter()
        .any(|w| w.to_string().contains("awsSecretAccessKey is not set")));
}

/// The agent accepts an initial backoff above the maximum (every retry waits the
/// maximum); so does firetail, with a warning naming both keys.
#[test]
fn an_initial_backoff_above_the_maximum_is_accepted_with_a_warning() {
    let mut cfg = base(false);
    cfg["flows"][0]["retryInitialBackoffMillis"] = json!(20000);
    cfg["flows"][0]["retryMaxBackoffMillis"] = json!("500");
    let loaded = ok(&cfg);
    let flow = &loaded.settings.flows[0];
    assert_eq!(flow.retry_initial_backoff.as_millis(), 20000);
    assert!(loaded.warnings.iter().any(|w| {
        let w = w.to_string();
        w.contains("retryInitialBackoffMillis") && w.contains("retryMaxBackoffMillis (500)")
    }));
}
