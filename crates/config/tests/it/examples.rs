//! Every agent config under the repository's `config/` directory loads (AWS CLI templates
//! under `config/aws/`, `config/grafana/` and `config/prometheus/` are not agent configs
//! and are skipped).

use std::path::{Path, PathBuf};

use firetail_config::{load, Destination, PartitionKeyOption};

use crate::repo_root;

/// Folders under `config/` holding other tools' files (AWS CLI input, dashboards, rules).
const NOT_AGENT_CONFIGS: [&str; 3] = ["aws", "grafana", "prometheus"];

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path
                .file_name()
                .is_some_and(|n| NOT_AGENT_CONFIGS.iter().any(|d| n == *d))
                && path.parent() == Some(&repo_root().join("config"))
            {
                continue;
            }
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

#[test]
fn every_config_in_the_repo_loads() {
    let mut files = Vec::new();
    json_files(&repo_root().join("config"), &mut files);
    assert!(
        files.len() >= 4,
        "expected the example configs, found {files:?}"
    );
    for file in files {
        if let Err(e) = load(&file) {
            panic!("{}:\n{e}", file.display());
        }
    }
}

fn example(name: &str) -> firetail_config::Loaded {
    load(&repo_root().join("config/examples").join(name)).unwrap()
}

#[test]
fn shipped_default_has_one_flow_of_each_type() {
    let loaded = example("kinesis-agent-default.json");
    let s = &loaded.settings;
    assert!(s.cloudwatch_emit_metrics);
    assert_eq!(s.kinesis_endpoint, None, "empty endpoint = unset");
    assert_eq!(s.firehose_endpoint, None);
    assert_eq!(s.flows[0].id, "kinesis:yourkinesisstream:/tmp/app.log*");
    assert!(matches!(
        s.flows[0].destination,
        Destination::Kinesis {
            partition_key: PartitionKeyOption::Random,
            ..
        }
    ));
    assert_eq!(s.flows[1].id, "fh:yourdeliverystream:/tmp/app.log*");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn agent_example_keeps_the_escaped_tab_delimiter() {
    let loaded = example("kinesis-agent-example.json");
    let s = &loaded.settings;
    assert_eq!(
        s.checkpoint_file,
        PathBuf::from("/tmp/aws-kinesis-agent-checkpoints/main.log")
    );
    assert_eq!(s.cloudwatch_region().as_deref(), Some("us-west-2"));
    assert_eq!(s.aws_access_key_id.as_deref(), Some("ACCESSKEY"));
    let options = s.flows[0].data_processing_options.as_ref().unwrap();
    assert_eq!(
        options[0]["delimiter"], "\\t",
        "two characters: backslash, t"
    );
    // The Java credentials provider cannot be honoured: a warning, not an error.
    assert!(loaded.warnings.iter().any(|w| w
        .to_string()
        .contains("userDefinedCredentialsProvider.classname")));
}

#[test]
fn firetail_examples() {
    let apache = example("firetail-apache.json");
    let flow = &apache.settings.flows[0];
    assert_eq!(flow.file_pattern, "/var/log/apache2/access.log*");
    // The stream kinesis/raw-stream.json creates (scripts/validate-templates.py checks it).
    assert!(
        matches!(&flow.destination, Destination::Kinesis { stream, .. } if stream == "firetail-raw")
    );
    let load = example("firetail-loadtest.json");
    assert!(!load.settings.generators.is_empty());
}
