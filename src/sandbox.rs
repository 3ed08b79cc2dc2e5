//! The systemd sandbox of firetail's unit against the paths a configuration needs.
//!
//! The unit runs with `PrivateTmp=yes`, `ProtectHome=yes` and `ProtectSystem=strict`:
//! the service sees its own empty `/tmp`, no `/home`, `/root` or `/run/user`, and a
//! read-only file system except its state directory. The Kinesis Agent ran without a
//! sandbox, and its own example configuration tails `/tmp/app.log*`; under firetail's unit
//! such a flow would silently read nothing, and a checkpoint file outside
//! `/var/lib/firetail` could not be written. So `check-config`, and the daemon at start
//! when it runs under systemd, read the unit's effective settings (`systemctl show`, which
//! includes drop-ins) and warn for every `filePattern` the service cannot read and every
//! checkpoint file it cannot write, naming the key, the setting and the drop-in that
//! opens it (docs/operations.md, "The sandbox and your paths", shows each).

use std::path::{Component, Path, PathBuf};

use firetail_config::Settings;

/// The packaged unit's name, which `check-config` checks against.
pub const UNIT: &str = "firetail.service";

/// The unit's settings that decide what the service can see and write.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UnitSandbox {
    pub unit: String,
    pub private_tmp: bool,
    /// `no`, `yes`, `read-only` or `tmpfs`.
    pub protect_home: String,
    /// `no`, `yes`, `full` or `strict`.
    pub protect_system: String,
    pub read_write_paths: Vec<PathBuf>,
    pub read_only_paths: Vec<PathBuf>,
    pub inaccessible_paths: Vec<PathBuf>,
    /// `StateDirectory=` etc., as absolute paths (always writable).
    pub managed_dirs: Vec<PathBuf>,
}

/// The properties asked of `systemctl show`.
pub const PROPERTIES: &str = "LoadState,PrivateTmp,ProtectHome,ProtectSystem,ReadWritePaths,\
ReadOnlyPaths,InaccessiblePaths,StateDirectory,RuntimeDirectory,LogsDirectory,CacheDirectory";

impl UnitSandbox {
    /// Parses `systemctl show -p …` output; `None` when the unit is not loaded.
    pub fn from_show(unit: &str, text: &str) -> Option<UnitSandbox> {
        let mut s = UnitSandbox {
            unit: unit.to_owned(),
            protect_home: "no".into(),
            protect_system: "no".into(),
            ..UnitSandbox::default()
        };
        let mut loaded = false;
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let paths = || value.split_whitespace().map(strip_prefixes).collect();
            let under = |root: &str| -> Vec<PathBuf> {
                value
                    .split_whitespace()
                    .map(|d| Path::new(root).join(d.split(':').next().unwrap_or(d)))
                    .collect()
            };
            match key {
                "LoadState" => loaded = value == "loaded",
                "PrivateTmp" => s.private_tmp = value == "yes",
                "ProtectHome" => s.protect_home = value.to_owned(),
                "ProtectSystem" => s.protect_system = value.to_owned(),
                "ReadWritePaths" => s.read_write_paths = paths(),
                "ReadOnlyPaths" => s.read_only_paths = paths(),
                "InaccessiblePaths" => s.inaccessible_paths = paths(),
                "StateDirectory" => s.managed_dirs.extend(under("/var/lib")),
                "RuntimeDirectory" => s.managed_dirs.extend(under("/run")),
                "LogsDirectory" => s.managed_dirs.extend(under("/var/log")),
                "CacheDirectory" => s.managed_dirs.extend(under("/var/cache")),
                _ => {}
            }
        }
        loaded.then_some(s)
    }

    /// Why the service cannot read `path`, with the drop-in that opens it.
    fn hides(&self, path: &Path) -> Option<(String, String)> {
        if self.private_tmp && (path.starts_with("/tmp") || path.starts_with("/var/tmp")) {
            return Some((
                "PrivateTmp=yes: the service sees its own, empty /tmp and /var/tmp".into(),
                "PrivateTmp=no".into(),
            ));
        }
        if matches!(self.protect_home.as_str(), "yes" | "tmpfs") && is_home(path) {
            return Some((
                format!(
                    "ProtectHome={}: /home, /root and /run/user are hidden from the service",
                    self.protect_home
                ),
                "ProtectHome=read-only".into(),
            ));
        }
        let blocked = self
            .inaccessible_paths
            .iter()
            .find(|p| path.starts_with(p))?;
        Some((
            format!("InaccessiblePaths={}", blocked.display()),
            format!(
                "InaccessiblePaths= (and list the others again without {})",
                blocked.display()
            ),
        ))
    }

    /// Why the service cannot write `path` (or why writing there is useless), with the
    /// drop-in that opens it.
    fn blocks_write(&self, path: &Path) -> Option<(String, String)> {
        let dir = path.parent().unwrap_or(path);
        let rw = format!("ReadWritePaths={}", dir.display());
        if self.private_tmp && (path.starts_with("/tmp") || path.starts_with("/var/tmp")) {
            return Some((
                "PrivateTmp=yes: it goes to the service's own /tmp, emptied at every restart, so checkpoints would not survive one".into(),
                "PrivateTmp=no".into(),
            ));
        }
        if self.protect_home != "no" && is_home(path) {
            return Some((
                format!(
                    "ProtectHome={}: /home, /root and /run/user are not writable",
                    self.protect_home
                ),
                format!("ProtectHome=read-only and {rw}"),
            ));
        }
        if let Some((why, fix)) = self.hides(path) {
            return Some((why, fix));
        }
        let writable = |p: &Path| {
            self.read_write_paths.iter().any(|w| p.starts_with(w))
                || self.managed_dirs.iter().any(|w| p.starts_with(w))
        };
        if writable(path) {
            return None;
        }
        if let Some(ro) = self.read_only_paths.iter().find(|p| path.starts_with(p)) {
            return Some((format!("ReadOnlyPaths={}", ro.display()), rw));
        }
        let read_only = match self.protect_system.as_str() {
            "strict" => !["/dev", "/proc", "/sys"]
                .iter()
                .any(|p| path.starts_with(p)),
            "full" => ["/usr", "/boot", "/efi", "/etc"]
                .iter()
                .any(|p| path.starts_with(p)),
            "yes" | "true" => ["/usr", "/boot", "/efi"]
                .iter()
                .any(|p| path.starts_with(p)),
            _ => false,
        };
        read_only.then(|| {
            (
                format!(
                    "ProtectSystem={}: the file system is read-only for the service outside its state directory",
                    self.protect_system
                ),
                rw,
            )
        })
    }
}

fn strip_prefixes(p: &str) -> PathBuf {
    PathBuf::from(p.trim_start_matches(['-', '+']))
}

fn is_home(path: &Path) -> bool {
    ["/home", "/root", "/run/user"]
        .iter()
        .any(|h| path.starts_with(h))
}

/// The directory part of a glob that holds no glob character: what must be visible for
/// the pattern to match anything.
fn literal_dir(pattern: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for c in Path::new(pattern).components() {
        let text = c.as_os_str().to_string_lossy();
        if matches!(c, Component::Normal(_)) && text.contains(['*', '?', '[', '{']) {
            return out;
        }
        out.push(c.as_os_str());
    }
    out.parent().map(Path::to_path_buf).unwrap_or(out)
}

/// One warning per path the unit hides or makes read-only.
pub fn warnings(sandbox: &UnitSandbox, settings: &Settings) -> Vec<String> {
    let mut out = Vec::new();
    let edit = format!("systemctl edit {}", sandbox.unit);
    for f in &settings.flows {
        let dir = literal_dir(&f.file_pattern);
        if let Some((why, fix)) = sandbox.hides(&dir) {
            out.push(format!(
                "{}: flows[{}] ({}): filePattern {} cannot be read under the unit {}: {why}. \
                 The drop-in that opens it ({edit}): [Service] {fix} (docs/operations.md, \"The sandbox and your paths\")",
                f.origin.display(),
                f.index,
                f.id,
                f.file_pattern,
                sandbox.unit
            ));
        }
    }
    let store = crate::migrate::checkpoint_paths(settings).store;
    if let Some((why, fix)) = sandbox.blocks_write(&store) {
        out.push(format!(
            "checkpointFile {} cannot be written under the unit {}: {why}. The drop-in that \
             opens it ({edit}): [Service] {fix} (docs/operations.md, \"The sandbox and your paths\")",
            store.display(),
            sandbox.unit
        ));
    }
    out
}

/// The unit firetail runs in, from its own cgroup (`…/firetail.service`), when it runs
/// under systemd (`INVOCATION_ID` is set by systemd for every service).
pub fn own_unit() -> Option<String> {
    std::env::var_os("INVOCATION_ID")?;
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    cgroup
        .lines()
        .filter_map(|l| l.rsplit('/').next())
        .find(|u| u.ends_with(".service"))
        .map(str::to_owned)
}

/// The effective sandbox of `unit` from `systemctl show` (drop-ins included).
pub fn query(unit: &str) -> Result<Option<UnitSandbox>, String> {
    let out = std::process::Command::new("systemctl")
        .args(["show", unit, "--property", PROPERTIES])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("systemctl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "systemctl show {unit}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(UnitSandbox::from_show(
        unit,
        &String::from_utf8_lossy(&out.stdout),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// `systemctl show` for the packaged unit (systemd 252).
    const SHOWN: &str = "LoadState=loaded\nPrivateTmp=yes\nProtectHome=yes\nProtectSystem=strict\n\
ReadWritePaths=\nReadOnlyPaths=-/var/log\nInaccessiblePaths=\nStateDirectory=firetail\n\
RuntimeDirectory=\nLogsDirectory=\nCacheDirectory=\n";

    fn settings(extra: &str, flows: &str) -> Settings {
        let text = format!(r#"{{ {extra} "flows": [{flows}] }}"#);
        firetail_config::parse_str(&text, "agent.json")
            .unwrap()
            .settings
    }

    #[test]
    fn the_agents_example_paths_are_named_with_key_setting_and_drop_in() {
        let unit = UnitSandbox::from_show("firetail.service", SHOWN).unwrap();
        let s = settings(
            r#""checkpointFile": "/tmp/aws-kinesis-agent-checkpoints/main.log","#,
            r#"{"filePattern": "/tmp/app.log*", "deliveryStream": "a"},
               {"filePattern": "/home/ec2-user/logs/*.log", "deliveryStream": "b"},
               {"filePattern": "/var/log/httpd/access_log*", "deliveryStream": "c"}"#,
        );
        let w = warnings(&unit, &s);
        assert_eq!(w.len(), 3, "{w:#?}");
        assert!(
            w[0].contains("filePattern /tmp/app.log*")
                && w[0].contains("PrivateTmp=yes")
                && w[0].contains("[Service] PrivateTmp=no"),
            "{}",
            w[0]
        );
        assert!(
            w[1].contains("filePattern /home/ec2-user/logs/*.log")
                && w[1].contains("ProtectHome=yes")
                && w[1].contains("ProtectHome=read-only"),
            "{}",
            w[1]
        );
        assert!(
            w[2].contains("checkpointFile /tmp/aws-kinesis-agent-checkpoints/main.log")
                && w[2].contains("PrivateTmp=yes"),
            "{}",
            w[2]
        );
    }

    #[test]
    fn checkpoints_outside_the_state_directory_are_read_only_under_strict() {
        let unit = UnitSandbox::from_show("firetail.service", SHOWN).unwrap();
        let flow = r#"{"filePattern": "/var/log/app.log", "deliveryStream": "a"}"#;
        let w = warnings(
            &unit,
            &settings(r#""checkpointFile": "/opt/firetail/cp.json","#, flow),
        );
        assert!(
            w[0].contains("ProtectSystem=strict") && w[0].contains("ReadWritePaths=/opt/firetail"),
            "{w:?}"
        );
        let w = warnings(
            &unit,
            &settings(r#""checkpointFile": "/var/log/firetail/cp.json","#, flow),
        );
        assert!(w[0].contains("ReadOnlyPaths=/var/log"), "{w:?}");
        assert!(warnings(&unit, &settings("", flow)).is_empty());
        // Once the drop-in opens it, no warning.
        let opened = format!("{SHOWN}ReadWritePaths=-/opt/firetail\n");
        let unit = UnitSandbox::from_show("firetail.service", &opened).unwrap();
        assert!(warnings(
            &unit,
            &settings(r#""checkpointFile": "/opt/firetail/cp.json","#, flow)
        )
        .is_empty());
    }

    #[test]
    fn drop_ins_that_open_a_path_silence_its_warning() {
        let relaxed = SHOWN
            .replace("PrivateTmp=yes", "PrivateTmp=no")
            .replace("ProtectHome=yes", "ProtectHome=read-only");
        let unit = UnitSandbox::from_show("firetail.service", &relaxed).unwrap();
        let s = settings(
            "",
            r#"{"filePattern": "/tmp/app.log*", "deliveryStream": "a"},
               {"filePattern": "/home/u/*.log", "deliveryStream": "b"}"#,
        );
        assert!(warnings(&unit, &s).is_empty());
        assert_eq!(UnitSandbox::from_show("x", "LoadState=not-found\n"), None);
    }

    #[test]
    fn the_literal_directory_of_a_glob() {
        assert_eq!(literal_dir("/tmp/app.log*"), PathBuf::from("/tmp"));
        assert_eq!(literal_dir("/home/*/logs/a.log"), PathBuf::from("/home"));
        assert_eq!(literal_dir("/var/log/app.log"), PathBuf::from("/var/log"));
    }
}
