//! Finding and loading configuration files: the main agent.json, then `agent.d/`.
//!
//! `agent.d` is the directory next to the main file. Every regular file in it is read, in
//! sorted name order (the agent uses `File.listFiles()` order, which is unspecified), and only
//! its `flows` are used. A file that cannot be read or parsed, or whose `flows` is not an
//! array, is skipped with the agent's warning; a file whose flows have bad values is an
//! error, as in the agent.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{ConfigError, ConfigErrors, ConfigWarning, Location};
use crate::jsonc;
use crate::reader::Diagnostics;
use crate::settings::{build_flows, build_global, json_type, FlowSettings, Settings};

/// A loaded configuration: the settings, the warnings to log, and the files read.
#[derive(Debug)]
pub struct Loaded {
    /// The validated settings.
    pub settings: Settings,
    /// Non-fatal remarks (unknown keys, ignored keys, skipped agent.d files, …), in order.
    pub warnings: Vec<ConfigWarning>,
    /// The files that contributed: the main file first, then the agent.d files used.
    pub sources: Vec<PathBuf>,
}

/// The main file's default locations, in lookup order.
pub fn default_config_candidates() -> Vec<PathBuf> {
    vec![
        PathBuf::from("/etc/firetail/agent.json"),
        PathBuf::from("/etc/aws-kinesis/agent.json"),
    ]
}

/// The main configuration file: `explicit` if given (it must exist), else the first
/// candidate that is a file.
pub fn resolve_config_path(
    explicit: Option<&Path>,
    candidates: &[PathBuf],
) -> Result<PathBuf, ConfigError> {
    let tried: Vec<&Path> = match explicit {
        Some(path) => vec![path],
        None => candidates.iter().map(PathBuf::as_path).collect(),
    };
    tried
        .iter()
        .find(|p| p.is_file())
        .map(|p| p.to_path_buf())
        .ok_or_else(|| ConfigError::NotFound {
            tried: tried
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Loads `path` and the `agent.d` directory beside it. All errors are collected.
pub fn load(path: &Path) -> Result<Loaded, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    let origin = path.display().to_string();
    let mut diag = Diagnostics::default();
    let mut sources = vec![path.to_path_buf()];
    let mut settings = parse_main(&text, &origin, &mut diag)?;
    let drop_in_dir = path.parent().unwrap_or(Path::new(".")).join("agent.d");
    if drop_in_dir.is_dir() {
        for file in drop_in_files(&drop_in_dir) {
            if let Some(flows) = read_drop_in(&file, &mut diag) {
                settings.flows.extend(flows);
                sources.push(file);
            }
        }
    }
    finish(settings, diag, sources, &origin)
}

/// Parses one main configuration text; `origin` names it in messages. No agent.d.
pub fn parse_str(text: &str, origin: &str) -> Result<Loaded, ConfigErrors> {
    let mut diag = Diagnostics::default();
    let settings = parse_main(text, origin, &mut diag)?;
    finish(settings, diag, vec![PathBuf::from(origin)], origin)
}

fn parse_main(text: &str, origin: &str, diag: &mut Diagnostics) -> Result<Settings, ConfigErrors> {
    let obj = parse_object(text, origin, &mut diag.warnings)?;
    let mut settings = build_global(&obj, origin, diag);
    settings.flows = build_flows(obj.get("flows").filter(|v| !v.is_null()), origin, diag);
    Ok(settings)
}

fn parse_object(
    text: &str,
    origin: &str,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<Map<String, Value>, ConfigError> {
    match jsonc::parse(text, origin, warnings)? {
        Value::Object(obj) => Ok(obj),
        other => Err(ConfigError::NotAnObject {
            at: Location::top(origin),
            what: "the top level".to_owned(),
            found: json_type(&other),
        }),
    }
}

/// Regular files (following symlinks, as `File.isFile()` does) in name order.
fn drop_in_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// The flows of one agent.d file, or `None` if it was skipped.
///
/// The agent's two log lines name the file by its base name (`File.getName()`), so these do
/// too; errors and notes about the file's content keep the full path, which locates it.
fn read_drop_in(file: &Path, diag: &mut Diagnostics) -> Option<Vec<FlowSettings>> {
    let path = file.display().to_string();
    let base_name = file
        .file_name()
        .map_or_else(|| path.clone(), |n| n.to_string_lossy().into_owned());
    tracing::info!("Reading flow configuration from file: {base_name}");
    let parsed = std::fs::read_to_string(file)
        .map_err(|e| e.to_string())
        .and_then(|text| parse_object(&text, &path, &mut diag.warnings).map_err(|e| e.to_string()))
        .and_then(|obj| match obj.get("flows") {
            // The agent casts `flows` to a List and adds it inside the same `try` as the
            // parse: an object, string or number (ClassCastException) or a null
            // (NullPointerException in `addAll`) skips the file with the same warning.
            Some(flows) if !flows.is_array() => Err(format!(
                "{path}: 'flows' is {}, not an array of flow objects",
                json_type(flows)
            )),
            _ => Ok(obj),
        });
    let obj = match parsed {
        Ok(obj) => obj,
        Err(detail) => {
            diag.warnings.push(ConfigWarning::DropInIgnored {
                name: base_name,
                detail,
            });
            return None;
        }
    };
    let name = path;
    let ignored: Vec<&str> = obj
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "flows")
        .collect();
    if !ignored.is_empty() {
        diag.warnings.push(ConfigWarning::Note {
            at: Location::top(&name),
            message: format!(
                "only \"flows\" is read from agent.d files; ignored: {}",
                ignored.join(", ")
            ),
        });
    }
    Some(build_flows(obj.get("flows"), &name, diag))
}

/// Cross-file checks (no flows, duplicate ids), defaults that depend on global keys,
/// then the result.
fn finish(
    mut settings: Settings,
    mut diag: Diagnostics,
    sources: Vec<PathBuf>,
    origin: &str,
) -> Result<Loaded, ConfigErrors> {
    check_duplicate_ids(&settings.flows, &mut diag);
    for flow in &mut settings.flows {
        if flow.max_requests_in_flight == 0 {
            flow.max_requests_in_flight = settings.max_sending_threads;
        }
    }
    // A flow with bad values is left out of `settings.flows`, so "no flows" is only claimed
    // when nothing else went wrong.
    if settings.flows.is_empty() && diag.errors.is_empty() {
        diag.errors.push(ConfigError::NoFlows {
            file: origin.to_owned(),
        });
    }
    if !diag.errors.is_empty() {
        return Err(ConfigErrors(diag.errors));
    }
    tracing::info!("Found {} configured flow(s)", settings.flows.len());
    Ok(Loaded {
        settings,
        warnings: diag.warnings,
        sources,
    })
}

fn check_duplicate_ids(flows: &[FlowSettings], diag: &mut Diagnostics) {
    let mut seen: HashMap<&str, &FlowSettings> = HashMap::new();
    for flow in flows {
        if let Some(first) = seen.get(flow.id.as_str()) {
            diag.errors.push(ConfigError::DuplicateFlow {
                id: flow.id.clone(),
                first: flow_location(first),
                second: flow_location(flow),
            });
        } else {
            seen.insert(&flow.id, flow);
        }
    }
}

fn flow_location(flow: &FlowSettings) -> Location {
    Location {
        file: flow.origin.display().to_string(),
        section: crate::error::Section::Flow {
            index: flow.index,
            id: None,
        },
    }
}
