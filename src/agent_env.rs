//! The Kinesis Agent's environment file (`/etc/sysconfig/aws-kinesis-agent` on RHEL and
//! Amazon Linux, `/etc/default/aws-kinesis-agent` on Debian and Ubuntu), read when
//! firetail runs from the agent's configuration.
//!
//! The agent's init script sources that file as shell and exports what it sets to the
//! JVM: users keep credentials, `AWS_REGION` and the JVM's proxy flags there
//! (`JVM_ARGS="-Dhttps.proxyHost=… -Dhttps.proxyPort=… -Dhttp.nonProxyHosts=…"`, which
//! the agent's AWS SDK reads). firetail never runs the file: it reads plain assignments
//! (`KEY=value`, `export KEY="value"`, `KEY+=…`), takes the variables the AWS SDK reads
//! and turns the JVM proxy flags into `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`, which
//! firetail's AWS clients honour (see `aws::load_base`). A variable already in
//! firetail's own environment wins. The start log says what was taken, never a secret's
//! value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the agent's packages put the file, in the order firetail looks.
pub const AGENT_ENV_FILES: &[&str] = &[
    "/etc/sysconfig/aws-kinesis-agent",
    "/etc/default/aws-kinesis-agent",
];

/// Names another file to read (or, empty, none), whatever configuration is used.
pub const AGENT_ENV_FILE_VAR: &str = "FIRETAIL_AGENT_ENV_FILE";

/// The directory of the agent's configuration: running from a file there means
/// running from the agent's configuration.
const AGENT_CONFIG_DIR: &str = "/etc/aws-kinesis";

/// Variables taken as they are (the AWS SDK reads them, as the agent's did).
const TAKEN: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
];

/// Names the agent's AWS SDK for Java also read, and the standard names they become.
const RENAMED: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID"),
    ("AWS_SECRET_KEY", "AWS_SECRET_ACCESS_KEY"),
];

/// Variables whose values are secrets: named in the log, never shown.
const SECRET: &[&str] = &["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"];

/// What reading the file decided: the variables to set, and what to say about it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AgentEnv {
    /// The file read.
    pub path: PathBuf,
    /// Variables to set, with where each came from (`AWS_REGION`, `JVM_ARGS -Dhttps.proxyHost`).
    pub set: BTreeMap<String, (String, String)>,
    /// Notes for the start log: what was not taken, and why.
    pub notes: Vec<String>,
}

/// Which file to read for a configuration at `config`: the one `FIRETAIL_AGENT_ENV_FILE`
/// names (empty: none), else, when `config` is the agent's, the first of
/// [`AGENT_ENV_FILES`] that exists.
pub fn file_for(config: &Path, override_var: Option<&str>) -> Option<PathBuf> {
    match override_var {
        Some("") => None,
        Some(path) => Some(PathBuf::from(path)),
        None if config.starts_with(AGENT_CONFIG_DIR) => AGENT_ENV_FILES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file()),
        None => None,
    }
}

/// Reads `text` (the file at `path`) into what firetail takes from it.
pub fn read(path: &Path, text: &str) -> AgentEnv {
    let vars = parse_assignments(text);
    let mut env = AgentEnv {
        path: path.to_owned(),
        ..AgentEnv::default()
    };
    for (name, value) in &vars {
        if value.is_empty() {
            continue;
        }
        if TAKEN.contains(&name.as_str()) {
            env.set.insert(name.clone(), (value.clone(), name.clone()));
        } else if let Some((_, standard)) = RENAMED.iter().find(|(old, _)| old == name) {
            env.set
                .entry((*standard).to_owned())
                .or_insert_with(|| (value.clone(), name.clone()));
        } else if name == "AWS_DEFAULT_REGION" {
            env.notes.push(format!(
                "AWS_DEFAULT_REGION={value} not used: the agent's AWS SDK did not read it either; set AWS_REGION or firetail.region"
            ));
        }
    }
    if let Some(jvm) = vars.get("JVM_ARGS") {
        jvm_proxy(jvm, &mut env);
    }
    env
}

/// Applies `env` to the process environment (variables already set win) and returns
/// the start log's lines about it. Call before any thread starts: setting the
/// environment is not thread-safe.
pub fn apply(env: &AgentEnv) -> Vec<String> {
    let (to_set, lines) = plan(env, |k| std::env::var(k).ok());
    for (name, value) in to_set {
        std::env::set_var(name, value);
    }
    lines
}

/// What [`apply`] would set given the `current` environment, and what it says about it.
pub fn plan(
    env: &AgentEnv,
    current: impl Fn(&str) -> Option<String>,
) -> (Vec<(String, String)>, Vec<String>) {
    let mut to_set = Vec::new();
    let mut taken = Vec::new();
    let mut kept = Vec::new();
    for (name, (value, from)) in &env.set {
        if current(name).is_some_and(|v| !v.is_empty()) {
            kept.push(name.clone());
            continue;
        }
        to_set.push((name.clone(), value.clone()));
        let shown = if SECRET.contains(&name.as_str()) {
            name.clone()
        } else {
            format!("{name}={value}")
        };
        taken.push(if from == name {
            shown
        } else {
            format!("{shown} (from {from})")
        });
    }
    let mut lines = vec![format!(
        "read the Kinesis Agent's environment file {}: took {}",
        env.path.display(),
        if taken.is_empty() {
            "nothing".to_owned()
        } else {
            taken.join(", ")
        }
    )];
    if !kept.is_empty() {
        lines.push(format!(
            "{}: firetail's own environment already sets {}, which win",
            env.path.display(),
            kept.join(", ")
        ));
    }
    lines.extend(
        env.notes
            .iter()
            .map(|n| format!("{}: {n}", env.path.display())),
    );
    (to_set, lines)
}

/// `-Dhttps.proxyHost`/`Port`/`User`/`Password`, `-Dhttp.proxyHost`/`Port` and
/// `-Dhttp.nonProxyHosts`, as the agent's AWS SDK for Java reads them, become
/// `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`.
fn jvm_proxy(jvm_args: &str, env: &mut AgentEnv) {
    let props: BTreeMap<&str, &str> = jvm_args
        .split_whitespace()
        .filter_map(|a| a.strip_prefix("-D"))
        .filter_map(|a| a.split_once('='))
        .collect();
    for (scheme, var, default_port) in [
        ("https", "HTTPS_PROXY", "443"),
        ("http", "HTTP_PROXY", "80"),
    ] {
        let Some(host) = props.get(format!("{scheme}.proxyHost").as_str()) else {
            continue;
        };
        let port = props
            .get(format!("{scheme}.proxyPort").as_str())
            .copied()
            .unwrap_or(default_port);
        let auth = match (
            props.get(format!("{scheme}.proxyUser").as_str()),
            props.get(format!("{scheme}.proxyPassword").as_str()),
        ) {
            (Some(u), Some(p)) => format!("{u}:{p}@"),
            (Some(u), None) => format!("{u}@"),
            _ => String::new(),
        };
        let from = format!("JVM_ARGS -D{scheme}.proxyHost");
        env.set
            .entry(var.to_owned())
            .or_insert((format!("http://{auth}{host}:{port}"), from));
    }
    if let Some(hosts) = props.get("http.nonProxyHosts") {
        let mut rules = Vec::new();
        for h in hosts.split('|').map(str::trim).filter(|h| !h.is_empty()) {
            match h.strip_prefix('*') {
                // `*.example.com` is a suffix rule, which NO_PROXY writes `.example.com`.
                Some(suffix) => rules.push(suffix.to_owned()),
                None if h.ends_with('*') => env.notes.push(format!(
                    "-Dhttp.nonProxyHosts entry {h:?} not taken: NO_PROXY has no prefix wildcards"
                )),
                None => rules.push(h.to_owned()),
            }
        }
        if !rules.is_empty() {
            env.set
                .entry("NO_PROXY".to_owned())
                .or_insert((rules.join(","), "JVM_ARGS -Dhttp.nonProxyHosts".to_owned()));
        }
    }
}

/// Plain shell assignments, without running anything: `[export ]NAME=value` or
/// `NAME+=value`, the value bare (up to whitespace or `#`), 'single-quoted' or
/// "double-quoted" (with `\"` and `\\`). `$VAR` is not expanded, except `$NAME` for a
/// variable assigned earlier in the file as the whole of a `+=` prefix is kept.
fn parse_assignments(text: &str) -> BTreeMap<String, String> {
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some(eq) = line.find('=') else { continue };
        let (name, append) = match line[..eq].strip_suffix('+') {
            Some(n) => (n, true),
            None => (&line[..eq], false),
        };
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            continue;
        }
        let value = shell_value(&line[eq + 1..]);
        let entry = vars.entry(name.to_owned()).or_default();
        if append {
            entry.push_str(&value);
        } else {
            *entry = value;
        }
    }
    vars
}

fn shell_value(raw: &str) -> String {
    let mut out = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => out.extend(chars.by_ref().take_while(|&c| c != '\'')),
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' if matches!(chars.peek(), Some('"' | '\\' | '$' | '`')) => {
                            out.extend(chars.next());
                        }
                        c => out.push(c),
                    }
                }
            }
            c if c.is_whitespace() || c == '#' => break,
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SYSCONFIG: &str = r#"# Generated by the agent's package
AWS_ACCESS_KEY_ID=AKIAEXAMPLE
export AWS_SECRET_ACCESS_KEY="se cret"
AWS_DEFAULT_REGION=eu-west-1
AWS_REGION='eu-west-1'   # the region
AGENT_ARGS=""
JVM_ARGS="-Dhttps.proxyHost=proxy.internal -Dhttps.proxyPort=3128"
JVM_ARGS+=" -Dhttp.nonProxyHosts=169.254.169.254|localhost|*.internal|10.*"
JAVA_MAX_HEAP=1g
"#;

    #[test]
    fn credentials_region_and_jvm_proxy_flags_are_taken() {
        let env = read(Path::new("/etc/sysconfig/aws-kinesis-agent"), SYSCONFIG);
        let get = |k: &str| env.set.get(k).map(|(v, _)| v.as_str());
        assert_eq!(get("AWS_ACCESS_KEY_ID"), Some("AKIAEXAMPLE"));
        assert_eq!(get("AWS_SECRET_ACCESS_KEY"), Some("se cret"));
        assert_eq!(get("AWS_REGION"), Some("eu-west-1"));
        assert_eq!(get("HTTPS_PROXY"), Some("http://proxy.internal:3128"));
        assert_eq!(get("HTTP_PROXY"), None);
        assert_eq!(get("NO_PROXY"), Some("169.254.169.254,localhost,.internal"));
        assert!(env.notes.iter().any(|n| n.contains("AWS_DEFAULT_REGION")));
        assert!(env.notes.iter().any(|n| n.contains("10.*")));
        assert_eq!(env.set.len(), 5);
    }

    #[test]
    fn legacy_names_proxy_auth_and_default_ports() {
        let env = read(
            Path::new("f"),
            "AWS_ACCESS_KEY=a\nAWS_SECRET_KEY=b\nJVM_ARGS='-Dhttps.proxyHost=p -Dhttps.proxyUser=u -Dhttps.proxyPassword=pw -Dhttp.proxyHost=q'\n",
        );
        let get = |k: &str| env.set.get(k).map(|(v, f)| (v.as_str(), f.as_str()));
        assert_eq!(get("AWS_ACCESS_KEY_ID"), Some(("a", "AWS_ACCESS_KEY")));
        assert_eq!(get("AWS_SECRET_ACCESS_KEY"), Some(("b", "AWS_SECRET_KEY")));
        assert_eq!(get("HTTPS_PROXY").unwrap().0, "http://u:pw@p:443");
        assert_eq!(get("HTTP_PROXY").unwrap().0, "http://q:80");
    }

    #[test]
    fn only_the_agents_configuration_reads_the_agents_file() {
        assert_eq!(file_for(Path::new("/etc/firetail/agent.json"), None), None);
        assert_eq!(
            file_for(Path::new("/etc/aws-kinesis/agent.json"), Some("")),
            None
        );
        assert_eq!(
            file_for(Path::new("/etc/firetail/agent.json"), Some("/x/env")),
            Some(PathBuf::from("/x/env"))
        );
    }

    #[test]
    fn the_log_names_secrets_without_their_values_and_own_variables_win() {
        let env = read(Path::new("f"), SYSCONFIG);
        let (to_set, lines) = plan(&env, |k| {
            (k == "AWS_REGION").then(|| "us-west-2".to_owned())
        });
        assert!(!to_set.iter().any(|(k, _)| k == "AWS_REGION"));
        assert_eq!(to_set.len(), 4);
        let all = lines.join("\n");
        assert!(
            all.contains("AWS_SECRET_ACCESS_KEY") && !all.contains("se cret"),
            "{all}"
        );
        assert!(all.contains("AWS_ACCESS_KEY_ID=AKIAEXAMPLE"), "{all}");
        assert!(
            all.contains(
                "HTTPS_PROXY=http://proxy.internal:3128 (from JVM_ARGS -Dhttps.proxyHost)"
            ),
            "{all}"
        );
        assert!(all.contains("already sets AWS_REGION"), "{all}");
    }
}
