//! `--print-agent-config`: a Kinesis Agent `agent.json` that ships what this generator writes.
//! One flow per virtual host, because an agent flow tails only the newest file matching its
//! pattern (kinesis-agent.md §4.4): one glob over several hosts' files would follow just one.
//! The pattern covers the rotated names: `log*` for rename/copytruncate, `log-*` for dated.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::config::{Destination, GeneratorConfig};
use crate::output::RotateMode;

/// The agent.json text (pretty-printed, trailing newline) for `cfg`, naming `stream`.
pub fn agent_config_json(cfg: &GeneratorConfig, stream: &str) -> String {
    let flows: Vec<Value> = cfg
        .vhosts
        .iter()
        .filter_map(|v| match &v.destination {
            Destination::File(path) => Some(json!({
                "filePattern": file_pattern(&absolute(path), cfg),
                "deliveryStream": stream,
                "initialPosition": "START_OF_FILE",
            })),
            Destination::Stdout => None,
        })
        .collect();
    let doc = json!({
        "cloudwatch.emitMetrics": false,
        "firehose.endpoint": "",
        "flows": flows,
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

fn file_pattern(path: &Path, cfg: &GeneratorConfig) -> String {
    let base = path.to_string_lossy();
    match cfg.rotation.as_ref().map(|r| r.mode) {
        None => base.into_owned(),
        Some(RotateMode::Rename | RotateMode::Copytruncate) => format!("{base}*"),
        Some(RotateMode::Dated) => format!("{base}-*"),
    }
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir()
        .map(|d| d.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Rate;
    use crate::config::virtual_hosts;
    use crate::output::RotationPolicy;

    #[test]
    fn one_flow_per_vhost_with_rotation_globs() {
        let mut cfg = GeneratorConfig::new("/var/log/web/access.log", Rate::Max);
        cfg.vhosts = virtual_hosts(Path::new("/var/log/web/access.log"), 2);
        cfg.rotation = Some(RotationPolicy {
            mode: RotateMode::Rename,
            max_bytes: Some(1 << 20),
            interval: None,
            keep: 5,
        });
        let v: Value = serde_json::from_str(&agent_config_json(&cfg, "demo")).unwrap();
        let flows = v["flows"].as_array().unwrap();
        assert_eq!(flows.len(), 2);
        assert_eq!(flows[0]["filePattern"], "/var/log/web/access-www.log*");
        assert_eq!(flows[1]["filePattern"], "/var/log/web/access-shop.log*");
        assert_eq!(flows[1]["deliveryStream"], "demo");

        cfg.rotation.as_mut().unwrap().mode = RotateMode::Dated;
        let v: Value = serde_json::from_str(&agent_config_json(&cfg, "demo")).unwrap();
        assert_eq!(
            v["flows"][0]["filePattern"],
            "/var/log/web/access-www.log-*"
        );
    }
}
