//! agent.d merging and main-file lookup, on temporary directories.

use std::fs;
use std::path::PathBuf;

use firetail_config::{load, resolve_config_path, ConfigError};

const MAIN: &str =
    r#"{ "flows": [ { "filePattern": "/var/log/main.log", "deliveryStream": "main" } ] }"#;

fn write(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn agent_d_flows_are_appended_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    let main = write(dir.path(), "agent.json", MAIN);
    let d = dir.path().join("agent.d");
    fs::create_dir(&d).unwrap();
    write(
        &d,
        "b.conf",
        r#"{ "flows": [ { "filePattern": "/var/log/b.log", "kinesisStream": "b" } ] }"#,
    );
    write(
        &d,
        "a.json",
        r#"// comments work here too
        { "cloudwatch.emitMetrics": false, "flows": [ { "filePattern": "/var/log/a.log", "deliveryStream": "a" } ] }"#,
    );
    fs::create_dir(d.join("subdir")).unwrap();
    let loaded = load(&main).unwrap();
    let ids: Vec<&str> = loaded
        .settings
        .flows
        .iter()
        .map(|f| f.id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "fh:main:/var/log/main.log",
            "fh:a:/var/log/a.log",
            "kinesis:b:/var/log/b.log"
        ]
    );
    // Non-flows keys of agent.d files are ignored (with a note).
    assert!(loaded.settings.cloudwatch_emit_metrics);
    assert!(loaded
        .warnings
        .iter()
        .any(|w| w.to_string().contains("ignored: cloudwatch.emitMetrics")));
    assert_eq!(loaded.settings.flows[1].origin, d.join("a.json"));
    assert_eq!(
        loaded.sources,
        vec![main, d.join("a.json"), d.join("b.conf")]
    );
}

#[test]
fn unparsable_agent_d_file_is_skipped_with_the_agent_warning() {
    let dir = tempfile::tempdir().unwrap();
    let main = write(dir.path(), "agent.json", MAIN);
    let d = dir.path().join("agent.d");
    fs::create_dir(&d).unwrap();
    let broken = write(&d, "broken.json", r#"{ "flows": [ }"#);
    write(&d, "list.json", "[]");
    let loaded = load(&main).unwrap();
    assert_eq!(loaded.settings.flows.len(), 1);
    let text: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    // The agent names the file by its base name; the detail still gives the full path.
    let expected = "Error reading configuration file, ignoring - broken.json (";
    assert!(
        text.iter()
            .any(|w| w.starts_with(expected) && w.contains(&broken.display().to_string())),
        "{text:?}"
    );
    assert_eq!(
        text.iter()
            .filter(|w| w.starts_with("Error reading configuration file"))
            .count(),
        2
    );
}

/// The agent casts `flows` to a List inside the `try` that reads the file, so a drop-in whose
/// `flows` is an object, a string, a number or null is skipped with the usual warning, and the
/// other files' flows are kept.
#[test]
fn agent_d_file_with_non_array_flows_is_skipped_with_the_agent_warning() {
    let dir = tempfile::tempdir().unwrap();
    let main = write(dir.path(), "agent.json", MAIN);
    let d = dir.path().join("agent.d");
    fs::create_dir(&d).unwrap();
    write(
        &d,
        "a.json",
        r#"{ "flows": [ { "filePattern": "/var/log/a.log", "deliveryStream": "a" } ] }"#,
    );
    let bad = [
        (
            "b.json",
            r#"{ "flows": { "filePattern": "/var/log/b.log", "deliveryStream": "b" } }"#,
            "an object",
        ),
        ("c.json", r#"{ "flows": "/var/log/c.log" }"#, "a string"),
        ("d.json", r#"{ "flows": 3 }"#, "a number"),
        ("e.json", r#"{ "flows": null }"#, "null"),
    ];
    for (name, text, _) in bad {
        write(&d, name, text);
    }
    let loaded = load(&main).unwrap();
    let ids: Vec<&str> = loaded
        .settings
        .flows
        .iter()
        .map(|f| f.id.as_str())
        .collect();
    assert_eq!(ids, ["fh:main:/var/log/main.log", "fh:a:/var/log/a.log"]);
    assert_eq!(loaded.sources, vec![main, d.join("a.json")]);
    let text: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    for (name, _, found) in bad {
        let expected = format!(
            "Error reading configuration file, ignoring - {name} ({}: 'flows' is {found}, not an array of flow objects)",
            d.join(name).display()
        );
        assert!(text.contains(&expected), "{expected}\n{text:?}");
    }
}

#[test]
fn bad_values_in_agent_d_are_errors_naming_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let main = write(dir.path(), "agent.json", MAIN);
    let d = dir.path().join("agent.d");
    fs::create_dir(&d).unwrap();
    let bad = write(
        &d,
        "x.json",
        r#"{ "flows": [ { "filePattern": "/var/log/x.log", "deliveryStream": "x", "maxBufferSizeRecords": 0 } ] }"#,
    );
    let msg = load(&main).unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!(
            "{}: flows[0] (fh:x:/var/log/x.log): 'maxBufferSizeRecords' value 0",
            bad.display()
        )),
        "{msg}"
    );
}

#[test]
fn flows_may_come_from_agent_d_alone_and_duplicates_span_files() {
    let dir = tempfile::tempdir().unwrap();
    let main = write(dir.path(), "agent.json", "{}");
    let d = dir.path().join("agent.d");
    fs::create_dir(&d).unwrap();
    write(&d, "a.json", MAIN);
    assert_eq!(load(&main).unwrap().settings.flows.len(), 1);
    write(&d, "b.json", MAIN);
    let msg = load(&main).unwrap_err().to_string();
    assert!(
        msg.starts_with("Duplicate flow: fh:main:/var/log/main.log"),
        "{msg}"
    );
}

#[test]
fn unreadable_main_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let msg = load(&dir.path().join("missing.json"))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("missing.json: cannot read configuration file"),
        "{msg}"
    );
}

#[test]
fn lookup_order() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("firetail.json");
    let second = write(dir.path(), "aws.json", MAIN);
    let candidates = vec![first.clone(), second.clone()];
    assert_eq!(resolve_config_path(None, &candidates).unwrap(), second);
    write(dir.path(), "firetail.json", MAIN);
    assert_eq!(resolve_config_path(None, &candidates).unwrap(), first);
    let explicit = write(dir.path(), "explicit.json", MAIN);
    assert_eq!(
        resolve_config_path(Some(&explicit), &candidates).unwrap(),
        explicit
    );
    let missing = dir.path().join("nope.json");
    let e = resolve_config_path(Some(&missing), &candidates).unwrap_err();
    assert!(matches!(e, ConfigError::NotFound { .. }) && e.to_string().contains("nope.json"));
    assert!(resolve_config_path(None, &[missing]).is_err());
    assert_eq!(
        firetail_config::default_config_candidates(),
        [
            PathBuf::from("/etc/firetail/agent.json"),
            PathBuf::from("/etc/aws-kinesis/agent.json")
        ]
    );
}
