//! `firetail setup`: the AWS side of the pipeline firetail feeds.
//!
//! Two jobs, both safe to repeat:
//!
//! - [`streams`]: create the raw Kinesis Data Firehose delivery stream of every flow in
//!   `agent.json` (Direct PUT, extended S3 destination, date-partitioned, GZIP), wait
//!   until it is ACTIVE and send a test record. A stream that already exists with the
//!   same bucket is reported as existing and left alone; one with another destination is
//!   an error, never modified.
//! - [`render()`]: fill the templates under `config/aws/` (embedded in the binary) with an
//!   account, region and name prefix, so that the rest of the pipeline is a sequence of
//!   `aws <service> <operation> --cli-input-json file://...` commands (docs/pipeline.md).
//!
//! Invariant of rendering: the output holds no `{{` at all; every placeholder is filled
//! or rendering fails, naming the file and line. The rules are those of
//! `scripts/validate-templates.py`, which checks the two renderings agree byte for byte.

pub use render::{render, render_to_dir, RenderError, TemplateSet, Values};
pub use streams::{
    raw_delivery_streams, setup_streams, setup_streams_for, SetupError, SetupOptions,
    StreamOutcome, StreamReport, TestRecord, TEST_RECORD,
};

pub mod render {
    //! Template rendering: `{{Name}}` placeholders, then `{{include:path}}` inlining.
    //!
    //! 1. Values: those given, then each placeholder's default from `manifest.json`
    //!    (defaults may name other placeholders); every value must match its pattern.
    //! 2. Every file but `manifest.json`: `{{Name}}` becomes the value; an unknown name is
    //!    an error.
    //! 3. `{{include:path}}` becomes the step-2 text of that file as the body of a JSON
    //!    string (a `.json` file compacted first), so that policies and SQL, kept
    //!    readable in their own files, sit in the `--cli-input-json` documents as the
    //!    strings the APIs take. Includes do not nest.
    //! 4. Any `{{` left over is an error.

    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use firetail_agent::JavaRegex;
    use serde_json::Value;

    /// Placeholder values by name.
    pub type Values = BTreeMap<String, String>;

    const MANIFEST: &str = "manifest.json";

    /// Errors rendering templates; each names the file or placeholder at fault.
    #[derive(Debug, thiserror::Error)]
    pub enum RenderError {
        #[error("cannot read the templates in {path}: {source}")]
        Read {
            path: PathBuf,
            source: std::io::Error,
        },
        #[error("cannot write {path}: {source}")]
        Write {
            path: PathBuf,
            source: std::io::Error,
        },
        #[error("{MANIFEST}: {0}")]
        Manifest(String),
        #[error("no value for {{{{{name}}}}} ({description}); give it with --set {name}=VALUE")]
        Missing { name: String, description: String },
        #[error("{name}={value:?} does not match {pattern} ({description})")]
        BadValue {
            name: String,
            value: String,
            pattern: String,
            description: String,
        },
        #[error("{name}={value:?} refused: {reason}")]
        Refused {
            name: String,
            value: String,
            reason: String,
        },
        #[error("{name} is not a placeholder of these templates (known: {known})")]
        UnknownValue { name: String, known: String },
        #[error("{file}:{line}: unknown placeholder {{{{{name}}}}}")]
        UnknownPlaceholder {
            file: String,
            line: usize,
            name: String,
        },
        #[error("{file}: {{{{include:{target}}}}}: {reason}")]
        Include {
            file: String,
            target: String,
            reason: String,
        },
        #[error("{file}:{line}: unfilled placeholder in {text:?}")]
        Unfilled {
            file: String,
            line: usize,
            text: String,
        },
    }

    /// Template files by path relative to the template root (`/`-separated).
    #[derive(Clone, Debug)]
    pub struct TemplateSet {
        files: BTreeMap<String, String>,
    }

    impl TemplateSet {
        /// The templates compiled into this binary (`config/aws/` at build time).
        pub fn embedded() -> TemplateSet {
            TemplateSet {
                files: super::embedded::FILES
                    .iter()
                    .map(|(path, text)| (path.to_string(), text.to_string()))
                    .collect(),
            }
        }

        /// Every file under `dir` (a checkout's `config/aws`, or an edited copy).
        pub fn from_dir(dir: &Path) -> Result<TemplateSet, RenderError> {
            let mut files = BTreeMap::new();
            collect_files(dir, dir, &mut files)?;
            Ok(TemplateSet { files })
        }

        /// Paths of the templates, `manifest.json` included.
        pub fn paths(&self) -> impl Iterator<Item = &str> {
            self.files.keys().map(String::as_str)
        }

        /// One template's text.
        pub fn get(&self, path: &str) -> Option<&str> {
            self.files.get(path).map(String::as_str)
        }
    }

    fn collect_files(
        root: &Path,
        dir: &Path,
        out: &mut BTreeMap<String, String>,
    ) -> Result<(), RenderError> {
        let read_err = |source| RenderError::Read {
            path: dir.to_path_buf(),
            source,
        };
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(read_err)?
            .collect::<Result<_, _>>()
            .map_err(read_err)?;
        entries.sort_by_key(|e| e.path());
        for entry in entries {
            let path = entry.path();
            // Build outputs, not templates: bytecode, and the Flink connector jar that
            // pom.xml builds into target/ and scripts/test-pipeline copies into lib/.
            let built = ["__pycache__", "lib", "target"];
            if path.is_dir()
                && path
                    .file_name()
                    .is_some_and(|n| built.iter().any(|b| n == *b))
            {
                continue;
            }
            if path.is_dir() {
                collect_files(root, &path, out)?;
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|source| RenderError::Read {
                path: path.clone(),
                source,
            })?;
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.insert(rel, text);
        }
        Ok(())
    }

    /// One placeholder as `manifest.json` declares it.
    struct Placeholder {
        description: String,
        pattern: String,
        default: Option<String>,
        /// A rule beyond the pattern (`ipv4-cidr-not-open`).
        check: Option<String>,
    }

    fn placeholders(set: &TemplateSet) -> Result<BTreeMap<String, Placeholder>, RenderError> {
        let text = set
            .get(MANIFEST)
            .ok_or_else(|| RenderError::Manifest("missing".into()))?;
        let manifest: Value =
            serde_json::from_str(text).map_err(|e| RenderError::Manifest(e.to_string()))?;
        let table = manifest
            .get("placeholders")
            .and_then(Value::as_object)
            .ok_or_else(|| RenderError::Manifest("no \"placeholders\" object".into()))?;
        let field =
            |spec: &Value, key: &str| spec.get(key).and_then(Value::as_str).map(String::from);
        table
            .iter()
            .map(|(name, spec)| {
                let pattern = field(spec, "pattern").ok_or_else(|| {
                    RenderError::Manifest(format!("placeholder {name} has no pattern"))
                })?;
                Ok((
                    name.clone(),
                    Placeholder {
                        description: field(spec, "description").unwrap_or_default(),
                        pattern,
                        default: field(spec, "default"),
                        check: field(spec, "check"),
                    },
                ))
            })
            .collect()
    }

    /// Given values, then defaults; every value checked against its pattern.
    fn resolve(
        table: &BTreeMap<String, Placeholder>,
        given: &Values,
    ) -> Result<Values, RenderError> {
        if let Some(name) = given.keys().find(|n| !table.contains_key(*n)) {
            return Err(RenderError::UnknownValue {
                name: name.clone(),
                known: table.keys().cloned().collect::<Vec<_>>().join(", "),
            });
        }
        let mut values = given.clone();
        // Defaults may name other placeholders: fill until nothing changes.
        loop {
            let mut progressed = false;
            for (name, spec) in table {
                let Some(default) = &spec.default else {
                    continue;
                };
                if values.contains_key(name) {
                    continue;
                }
                if let Ok(filled) = fill_names(default, &values) {
                    values.insert(name.clone(), filled);
                    progressed = true;
                }
            }
            if !progressed {
                break;
            }
        }
        // Placeholders without a default first: a missing one is the cause of any
        // default that could not be filled.
        let mut order: Vec<_> = table.iter().collect();
        order.sort_by_key(|(_, spec)| spec.default.is_some());
        for (name, spec) in order {
            let value = values.get(name).ok_or_else(|| RenderError::Missing {
                name: name.clone(),
                description: spec.description.clone(),
            })?;
            let pattern = JavaRegex::new(&spec.pattern).map_err(|e| {
                RenderError::Manifest(format!("pattern of {name} does not compile: {e}"))
            })?;
            if !pattern.matches(value).unwrap_or(false) {
                return Err(RenderError::BadValue {
                    name: name.clone(),
                    value: value.clone(),
                    pattern: spec.pattern.clone(),
                    description: spec.description.clone(),
                });
            }
            if let Some(check) = &spec.check {
                check_value(name, value, check)?;
            }
        }
        Ok(values)
    }

    /// The rules a pattern cannot say (scripts/validate-templates.py applies the same).
    fn check_value(name: &str, value: &str, check: &str) -> Result<(), RenderError> {
        let refused = match check {
            "ipv4-cidr-not-open" => open_or_invalid_cidr(value),
            other => {
                return Err(RenderError::Manifest(format!(
                    "placeholder {name}: unknown check {other:?}"
                )))
            }
        };
        match refused {
            None => Ok(()),
            Some(reason) => Err(RenderError::Refused {
                name: name.to_string(),
                value: value.to_string(),
                reason,
            }),
        }
    }

    /// Why `text` is not an IPv4 network that may be let in unsigned, or `None`. Anything
    /// wider than a /8 (0.0.0.0/0 above all) would open the domain to the internet.
    pub(crate) fn open_or_invalid_cidr(text: &str) -> Option<String> {
        let Some((address, prefix)) = text.split_once('/') else {
            return Some("not an IPv4 CIDR (a.b.c.d/n)".into());
        };
        let Ok(address) = address.parse::<std::net::Ipv4Addr>() else {
            return Some("not an IPv4 address before the /".into());
        };
        let Ok(prefix) = prefix.parse::<u32>() else {
            return Some("the prefix length is not a number".into());
        };
        if prefix > 32 {
            return Some("prefixes go up to /32".into());
        }
        if prefix < 8 {
            return Some(format!(
                "/{prefix} opens the domain to a large part of the internet (at least /8)"
            ));
        }
        let host_bits = u32::MAX.checked_shr(prefix).unwrap_or(0);
        if u32::from(address) & host_bits != 0 {
            return Some("host bits are set (write the network address)".into());
        }
        None
    }

    /// A `{{...}}` occurrence: its byte range in the text and what is between the braces.
    struct Marker<'a> {
        start: usize,
        end: usize,
        inner: &'a str,
    }

    fn markers(text: &str) -> impl Iterator<Item = Marker<'_>> {
        let mut from = 0;
        std::iter::from_fn(move || loop {
            let start = from + text.get(from..)?.find("{{")?;
            let Some(len) = text[start + 2..].find("}}") else {
                from = text.len();
                return None;
            };
            let inner = &text[start + 2..start + 2 + len];
            // Not a marker: look again one byte on, so `{{{Name}}` still finds `{{Name}}`.
            from = start + 1;
            if is_name(inner) || inner.starts_with("include:") {
                from = start + 4 + len;
                return Some(Marker {
                    start,
                    end: start + 4 + len,
                    inner,
                });
            }
        })
    }

    fn is_name(s: &str) -> bool {
        let mut chars = s.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric())
    }

    /// Replaces `{{Name}}` markers; `Err(name)` for the first name without a value.
    fn fill_names(text: &str, values: &Values) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for m in markers(text).filter(|m| is_name(m.inner)) {
            let value = values.get(m.inner).ok_or_else(|| m.inner.to_string())?;
            out.push_str(&text[last..m.start]);
            out.push_str(value);
            last = m.end;
        }
        out.push_str(&text[last..]);
        Ok(out)
    }

    fn line_of(text: &str, offset: usize) -> usize {
        text[..offset].matches('\n').count() + 1
    }

    /// Renders every template but the manifest: path → text.
    pub fn render(
        set: &TemplateSet,
        given: &Values,
    ) -> Result<BTreeMap<String, String>, RenderError> {
        let values = resolve(&placeholders(set)?, given)?;
        let mut filled = BTreeMap::new();
        for (path, text) in set.files.iter().filter(|(p, _)| *p != MANIFEST) {
            let out = fill_names(text, &values).map_err(|name| {
                let offset = text.find(&format!("{{{{{name}}}}}")).unwrap_or(0);
                RenderError::UnknownPlaceholder {
                    file: path.clone(),
                    line: line_of(text, offset),
                    name,
                }
            })?;
            filled.insert(path.clone(), out);
        }
        let mut rendered = BTreeMap::new();
        for (path, text) in &filled {
            let out = inline_includes(path, text, &filled)?;
            if let Some(offset) = out.find("{{") {
                let line = line_of(&out, offset);
                return Err(RenderError::Unfilled {
                    file: path.clone(),
                    line,
                    text: out
                        .lines()
                        .nth(line - 1)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                });
            }
            rendered.insert(path.clone(), out);
        }
        Ok(rendered)
    }

    fn inline_includes(
        path: &str,
        text: &str,
        filled: &BTreeMap<String, String>,
    ) -> Result<String, RenderError> {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for m in markers(text) {
            let Some(target) = m.inner.strip_prefix("include:") else {
                continue;
            };
            let err = |reason: String| RenderError::Include {
                file: path.to_string(),
                target: target.to_string(),
                reason,
            };
            let body = filled
                .get(target)
                .ok_or_else(|| err("no such template".into()))?;
            if markers(body).any(|m| m.inner.starts_with("include:")) {
                return Err(err("includes do not nest".into()));
            }
            let body = if target.ends_with(".json") {
                let doc: Value = serde_json::from_str(body).map_err(|e| err(e.to_string()))?;
                serde_json::to_string(&doc).map_err(|e| err(e.to_string()))?
            } else {
                body.clone()
            };
            let quoted = serde_json::to_string(&body).map_err(|e| err(e.to_string()))?;
            out.push_str(&text[last..m.start]);
            out.push_str(&quoted[1..quoted.len() - 1]);
            last = m.end;
        }
        out.push_str(&text[last..]);
        Ok(out)
    }

    /// Renders and writes every file under `out` (directories created); returns the
    /// paths written.
    pub fn render_to_dir(
        set: &TemplateSet,
        given: &Values,
        out: &Path,
    ) -> Result<Vec<PathBuf>, RenderError> {
        let rendered = render(set, given)?;
        let mut written = Vec::with_capacity(rendered.len());
        for (rel, text) in rendered {
            let path = out.join(&rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|source| RenderError::Write {
                    path: parent.to_path_buf(),
                    source,
                })?;
            }
            std::fs::write(&path, text).map_err(|source| RenderError::Write {
                path: path.clone(),
                source,
            })?;
            written.push(path);
        }
        Ok(written)
    }

    #[cfg(test)]
    #[allow(clippy::unwrap_used, clippy::expect_used)]
    mod tests {
        use super::*;

        fn set(files: &[(&str, &str)]) -> TemplateSet {
            TemplateSet {
                files: files
                    .iter()
                    .map(|(p, t)| (p.to_string(), t.to_string()))
                    .collect(),
            }
        }

        const MANIFEST_TEXT: &str = r#"{"placeholders": {
            "Prefix": {"pattern": "^[a-z][a-z0-9-]{1,19}$", "description": "names"},
            "Bucket": {"pattern": "^[a-z0-9.-]{3,63}$", "default": "{{Prefix}}-raw"}}}"#;

        fn values(pairs: &[(&str, &str)]) -> Values {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        }

        #[test]
        fn fills_names_defaults_and_includes() {
            let s = set(&[
                ("manifest.json", MANIFEST_TEXT),
                (
                    "a.json",
                    "{\"Doc\": \"{{include:p.json}}\", \"Sql\": \"{{include:q.sql}}\"}\n",
                ),
                ("p.json", "{\n  \"Bucket\": \"{{Bucket}}\"\n}\n"),
                ("q.sql", "SELECT \"x\"\nFROM t;\n"),
            ]);
            let out = render(&s, &values(&[("Prefix", "demo")])).unwrap();
            assert!(!out.contains_key("manifest.json"));
            assert_eq!(
                out["a.json"],
                "{\"Doc\": \"{\\\"Bucket\\\":\\\"demo-raw\\\"}\", \"Sql\": \"SELECT \\\"x\\\"\\nFROM t;\\n\"}\n"
            );
            let doc: Value = serde_json::from_str(&out["a.json"]).unwrap();
            assert_eq!(doc["Sql"], "SELECT \"x\"\nFROM t;\n");
        }

        #[test]
        fn refuses_missing_bad_and_unknown_values() {
            let s = set(&[("manifest.json", MANIFEST_TEXT), ("a.txt", "{{Prefix}}")]);
            assert!(
                matches!(render(&s, &Values::new()), Err(RenderError::Missing { name, .. }) if name == "Prefix")
            );
            assert!(matches!(
                render(&s, &values(&[("Prefix", "Bad_Name")])),
                Err(RenderError::BadValue { .. })
            ));
            assert!(matches!(
                render(&s, &values(&[("Prefix", "ok"), ("Nope", "x")])),
                Err(RenderError::UnknownValue { .. })
            ));
        }

        #[test]
        fn refuses_unknown_placeholders_and_leftover_braces() {
            let s = set(&[
                ("manifest.json", MANIFEST_TEXT),
                ("a.txt", "x\n{{Other}}\n"),
            ]);
            let err = render(&s, &values(&[("Prefix", "ok")])).unwrap_err();
            assert!(
                matches!(&err, RenderError::UnknownPlaceholder { line: 2, name, .. } if name == "Other"),
                "{err}"
            );
            let s = set(&[
                ("manifest.json", MANIFEST_TEXT),
                ("a.txt", "ok\n{{ not a name }}\n"),
            ]);
            let err = render(&s, &values(&[("Prefix", "ok")])).unwrap_err();
            assert!(
                matches!(err, RenderError::Unfilled { line: 2, .. }),
                "{err}"
            );
        }

        #[test]
        fn includes_must_exist_and_not_nest() {
            let s = set(&[
                ("manifest.json", MANIFEST_TEXT),
                ("a.txt", "\"{{include:b.txt}}\""),
            ]);
            assert!(matches!(
                render(&s, &values(&[("Prefix", "ok")])),
                Err(RenderError::Include { .. })
            ));
            let s = set(&[
                ("manifest.json", MANIFEST_TEXT),
                ("a.txt", "\"{{include:b.txt}}\""),
                ("b.txt", "{{include:c.txt}}"),
                ("c.txt", "x"),
            ]);
            assert!(matches!(
                render(&s, &values(&[("Prefix", "ok")])),
                Err(RenderError::Include { .. })
            ));
        }

        #[test]
        fn embedded_templates_render_with_the_required_values() {
            let given = values(&[
                ("AccountId", "123456789012"),
                ("Region", "eu-west-1"),
                ("Prefix", "firetail"),
                ("DashboardsCidr", "198.51.100.0/24"),
                ("AdminRoleArn", "arn:aws:iam::123456789012:role/Admin"),
            ]);
            let out = render(&TemplateSet::embedded(), &given).unwrap();
            assert!(out.values().all(|t| !t.contains("{{")));
            let stream: Value = serde_json::from_str(&out["firehose/raw-direct-put.json"]).unwrap();
            assert_eq!(stream["DeliveryStreamName"], "firetail-raw");
        }

        #[test]
        fn the_admin_role_has_no_default_and_open_networks_are_refused() {
            let mut given = values(&[
                ("AccountId", "123456789012"),
                ("Region", "eu-west-1"),
                ("Prefix", "firetail"),
                ("DashboardsCidr", "198.51.100.0/24"),
            ]);
            let missing = render(&TemplateSet::embedded(), &given).unwrap_err();
            assert!(
                matches!(&missing, RenderError::Missing { name, .. } if name == "AdminRoleArn"),
                "{missing}"
            );
            given.insert(
                "AdminRoleArn".into(),
                "arn:aws:iam::123456789012:role/Admin".into(),
            );
            for bad in [
                "0.0.0.0/0",
                "10.0.0.0/7",
                "198.51.100.0/33",
                "300.1.2.0/24",
                "198.51.100.7/24",
            ] {
                given.insert("DashboardsCidr".into(), bad.into());
                let err = render(&TemplateSet::embedded(), &given).unwrap_err();
                assert!(
                    matches!(
                        &err,
                        RenderError::Refused { .. } | RenderError::BadValue { .. }
                    ),
                    "{bad}: {err}"
                );
            }
            for good in ["198.51.100.0/24", "203.0.113.9/32", "10.0.0.0/8"] {
                assert_eq!(open_or_invalid_cidr(good), None, "{good}");
            }
        }
    }
}

mod embedded {
    //! `config/aws/` as compiled in; `tests/it/templates.rs` checks this list against the
    //! directory, so a template added there and not here fails the tests.
    pub const FILES: &[(&str, &str)] = &[
        (
            "cloudwatch/alarm-firehose-aggregates-delivery.json",
            include_str!("../config/aws/cloudwatch/alarm-firehose-aggregates-delivery.json"),
        ),
        (
            "cloudwatch/alarm-firehose-aggregates-freshness.json",
            include_str!("../config/aws/cloudwatch/alarm-firehose-aggregates-freshness.json"),
        ),
        (
            "cloudwatch/alarm-firehose-raw-archive-freshness.json",
            include_str!("../config/aws/cloudwatch/alarm-firehose-raw-archive-freshness.json"),
        ),
        (
            "cloudwatch/alarm-flink-downtime.json",
            include_str!("../config/aws/cloudwatch/alarm-flink-downtime.json"),
        ),
        (
            "cloudwatch/alarm-flink-millis-behind.json",
            include_str!("../config/aws/cloudwatch/alarm-flink-millis-behind.json"),
        ),
        (
            "cloudwatch/alarm-kinesis-iterator-age.json",
            include_str!("../config/aws/cloudwatch/alarm-kinesis-iterator-age.json"),
        ),
        (
            "cloudwatch/alarm-opensearch-cluster-red.json",
            include_str!("../config/aws/cloudwatch/alarm-opensearch-cluster-red.json"),
        ),
        (
            "cloudwatch/alarm-opensearch-free-storage.json",
            include_str!("../config/aws/cloudwatch/alarm-opensearch-free-storage.json"),
        ),
        (
            "cloudwatch/alarm-opensearch-writes-blocked.json",
            include_str!("../config/aws/cloudwatch/alarm-opensearch-writes-blocked.json"),
        ),
        (
            "firehose/aggregates-to-opensearch.json",
            include_str!("../config/aws/firehose/aggregates-to-opensearch.json"),
        ),
        (
            "firehose/raw-archive-from-kinesis.json",
            include_str!("../config/aws/firehose/raw-archive-from-kinesis.json"),
        ),
        (
            "firehose/raw-direct-put.json",
            include_str!("../config/aws/firehose/raw-direct-put.json"),
        ),
        (
            "firehose/raw-index-from-kinesis.json",
            include_str!("../config/aws/firehose/raw-index-from-kinesis.json"),
        ),
        (
            "flink/aggregate.sql",
            include_str!("../config/aws/flink/aggregate.sql"),
        ),
        (
            "flink/application_properties.json",
            include_str!("../config/aws/flink/application_properties.json"),
        ),
        (
            "flink/flink-application.json",
            include_str!("../config/aws/flink/flink-application.json"),
        ),
        ("flink/main.py", include_str!("../config/aws/flink/main.py")),
        ("flink/pom.xml", include_str!("../config/aws/flink/pom.xml")),
        (
            "flink/start-flink-application.json",
            include_str!("../config/aws/flink/start-flink-application.json"),
        ),
        (
            "iam/analytics-flink-policy.json",
            include_str!("../config/aws/iam/analytics-flink-policy.json"),
        ),
        (
            "iam/analytics-flink-role-policy.json",
            include_str!("../config/aws/iam/analytics-flink-role-policy.json"),
        ),
        (
            "iam/analytics-role.json",
            include_str!("../config/aws/iam/analytics-role.json"),
        ),
        (
            "iam/analytics-sql-policy.json",
            include_str!("../config/aws/iam/analytics-sql-policy.json"),
        ),
        (
            "iam/analytics-sql-role-policy.json",
            include_str!("../config/aws/iam/analytics-sql-role-policy.json"),
        ),
        (
            "iam/analytics-trust.json",
            include_str!("../config/aws/iam/analytics-trust.json"),
        ),
        (
            "iam/firehose-delivery-policy.json",
            include_str!("../config/aws/iam/firehose-delivery-policy.json"),
        ),
        (
            "iam/firehose-delivery-role-policy.json",
            include_str!("../config/aws/iam/firehose-delivery-role-policy.json"),
        ),
        (
            "iam/firehose-delivery-role.json",
            include_str!("../config/aws/iam/firehose-delivery-role.json"),
        ),
        (
            "iam/firehose-delivery-trust.json",
            include_str!("../config/aws/iam/firehose-delivery-trust.json"),
        ),
        (
            "iam/firetail-instance-policy.json",
            include_str!("../config/aws/iam/firetail-instance-policy.json"),
        ),
        (
            "iam/firetail-instance-profile-role.json",
            include_str!("../config/aws/iam/firetail-instance-profile-role.json"),
        ),
        (
            "iam/firetail-instance-profile.json",
            include_str!("../config/aws/iam/firetail-instance-profile.json"),
        ),
        (
            "iam/firetail-instance-role-policy.json",
            include_str!("../config/aws/iam/firetail-instance-role-policy.json"),
        ),
        (
            "iam/firetail-instance-role.json",
            include_str!("../config/aws/iam/firetail-instance-role.json"),
        ),
        (
            "iam/firetail-instance-trust.json",
            include_str!("../config/aws/iam/firetail-instance-trust.json"),
        ),
        (
            "kda/aggregate.sql",
            include_str!("../config/aws/kda/aggregate.sql"),
        ),
        (
            "kda/sql-application.json",
            include_str!("../config/aws/kda/sql-application.json"),
        ),
        (
            "kda/start-sql-application.json",
            include_str!("../config/aws/kda/start-sql-application.json"),
        ),
        (
            "kinesis/raw-stream.json",
            include_str!("../config/aws/kinesis/raw-stream.json"),
        ),
        ("manifest.json", include_str!("../config/aws/manifest.json")),
        (
            "opensearch/access-policy.json",
            include_str!("../config/aws/opensearch/access-policy.json"),
        ),
        (
            "opensearch/dashboards-import.sh",
            include_str!("../config/aws/opensearch/dashboards-import.sh"),
        ),
        (
            "opensearch/dashboards.ndjson",
            include_str!("../config/aws/opensearch/dashboards.ndjson"),
        ),
        (
            "opensearch/domain.json",
            include_str!("../config/aws/opensearch/domain.json"),
        ),
        (
            "opensearch/index-template-aggregates.json",
            include_str!("../config/aws/opensearch/index-template-aggregates.json"),
        ),
        (
            "opensearch/index-template-raw.json",
            include_str!("../config/aws/opensearch/index-template-raw.json"),
        ),
        (
            "opensearch/ingest-pipeline-aggregates.json",
            include_str!("../config/aws/opensearch/ingest-pipeline-aggregates.json"),
        ),
        (
            "opensearch/ism-policy-aggregates.json",
            include_str!("../config/aws/opensearch/ism-policy-aggregates.json"),
        ),
        (
            "opensearch/ism-policy-raw.json",
            include_str!("../config/aws/opensearch/ism-policy-raw.json"),
        ),
        (
            "s3/raw-bucket-lifecycle.json",
            include_str!("../config/aws/s3/raw-bucket-lifecycle.json"),
        ),
        (
            "s3/raw-bucket-public-access-block.json",
            include_str!("../config/aws/s3/raw-bucket-public-access-block.json"),
        ),
        (
            "sns/alarm-topic.json",
            include_str!("../config/aws/sns/alarm-topic.json"),
        ),
    ];
}

pub mod streams {
    //! The raw delivery streams: create if absent, accept if identical, wait, test.

    use std::time::{Duration, Instant};

    use aws_sdk_firehose::error::{DisplayErrorContext, SdkError};
    use aws_sdk_firehose::primitives::Blob;
    use aws_sdk_firehose::types::{
        BufferingHints, CompressionFormat, DeliveryStreamDescription, DeliveryStreamStatus,
        DeliveryStreamType, ExtendedS3DestinationConfiguration, Record,
    };
    use firetail_config::{Destination, Settings};

    use crate::aws::{self, AwsSettings, ServiceEndpoint};

    /// The record sent to a new stream to prove the path to S3.
    pub const TEST_RECORD: &[u8] = b"firetail setup test record\n";

    /// When to send [`TEST_RECORD`].
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum TestRecord {
        /// Only to streams this run created (a re-run adds nothing to the bucket).
        OnCreate,
        /// To every stream, existing ones too.
        Always,
        Never,
    }

    /// What to create and how long to wait.
    #[derive(Clone, Debug)]
    pub struct SetupOptions {
        /// The bucket name (not its ARN).
        pub bucket: String,
        /// The role Firehose assumes to write the bucket.
        pub role_arn: String,
        /// S3 key prefix; Firehose expressions allowed.
        pub prefix: String,
        /// S3 key prefix of records Firehose could not deliver.
        pub error_prefix: String,
        pub buffer_size_mib: i32,
        pub buffer_interval: Duration,
        pub wait_timeout: Duration,
        pub poll_interval: Duration,
        pub test_record: TestRecord,
        /// Describe and print, change nothing.
        pub dry_run: bool,
    }

    impl SetupOptions {
        /// The layout the pipeline templates use (raw/ by hour, errors/ by type and day,
        /// GZIP, 64 MiB or 300 s).
        pub fn new(bucket: impl Into<String>, role_arn: impl Into<String>) -> SetupOptions {
            SetupOptions {
                bucket: bucket.into(),
                role_arn: role_arn.into(),
                prefix: "raw/!{timestamp:yyyy/MM/dd/HH}/".into(),
                error_prefix: "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/"
                    .into(),
                buffer_size_mib: 64,
                buffer_interval: Duration::from_secs(300),
                wait_timeout: Duration::from_secs(300),
                poll_interval: Duration::from_secs(5),
                test_record: TestRecord::OnCreate,
                dry_run: false,
            }
        }

        fn bucket_arn(&self) -> String {
            format!("arn:aws:s3:::{}", self.bucket)
        }

        /// Whether `arn` names this bucket, whatever the partition.
        fn is_our_bucket(&self, arn: &str) -> bool {
            arn.strip_prefix("arn:")
                .and_then(|rest| rest.split_once(":s3:::"))
                .is_some_and(|(_, bucket)| bucket == self.bucket)
        }
    }

    /// What happened to one stream.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum StreamOutcome {
        Created,
        /// Already there, ACTIVE, writing to the same bucket.
        Exists,
        /// `--dry-run`: it would be created.
        WouldCreate,
    }

    /// One stream's result.
    #[derive(Clone, Debug)]
    pub struct StreamReport {
        pub name: String,
        pub outcome: StreamOutcome,
        /// The RecordId of the test record, when one was sent.
        pub test_record_id: Option<String>,
    }

    impl std::fmt::Display for StreamReport {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            let what = match self.outcome {
                StreamOutcome::Created => "created",
                StreamOutcome::Exists => "exists",
                StreamOutcome::WouldCreate => "would be created (dry run)",
            };
            write!(f, "{}: {what}", self.name)?;
            if let Some(id) = &self.test_record_id {
                write!(f, "; test record {id}")?;
            }
            Ok(())
        }
    }

    /// Errors of `firetail setup`; each names the stream.
    #[derive(Debug, thiserror::Error)]
    pub enum SetupError {
        #[error("no flow in the configuration sends to a Firehose delivery stream (deliveryStream); nothing to set up")]
        NoFirehoseFlows,
        #[error(transparent)]
        Aws(#[from] aws::AwsError),
        #[error("{stream}: {operation} failed: {message}")]
        Api {
            stream: String,
            operation: &'static str,
            message: String,
        },
        #[error("{stream} exists but does not deliver to s3://{bucket} ({found}); firetail setup leaves it alone: delete it or pick another name")]
        DifferentDestination {
            stream: String,
            bucket: String,
            found: String,
        },
        #[error("{stream} is {status}, not ACTIVE")]
        Unusable { stream: String, status: String },
        #[error("{stream} is still {status} after {waited:?}")]
        Timeout {
            stream: String,
            status: String,
            waited: Duration,
        },
    }

    fn api_error<E, R>(stream: &str, operation: &'static str, err: &SdkError<E, R>) -> SetupError
    where
        E: std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        SetupError::Api {
            stream: stream.to_string(),
            operation,
            message: DisplayErrorContext(err).to_string(),
        }
    }

    /// The distinct delivery streams the flows send to, in flow order.
    pub fn raw_delivery_streams(settings: &Settings) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for flow in &settings.flows {
            if let Destination::Firehose { delivery_stream } = &flow.destination {
                if !names.contains(delivery_stream) {
                    names.push(delivery_stream.clone());
                }
            }
        }
        names
    }

    /// Sets up every raw stream of `settings` with a client built as the daemon builds
    /// it (credentials, `firehose.endpoint`, regions).
    pub async fn setup_streams_for(
        settings: &Settings,
        opts: &SetupOptions,
    ) -> Result<Vec<StreamReport>, SetupError> {
        let names = raw_delivery_streams(settings);
        if names.is_empty() {
            return Err(SetupError::NoFirehoseFlows);
        }
        let base = aws::load_base(&AwsSettings::from_settings(settings)).await;
        let client =
            aws_sdk_firehose::Client::new(&ServiceEndpoint::firehose(settings).sdk_config(&base)?);
        setup_streams(&client, &names, opts).await
    }

    /// Sets up each named stream in turn; stops at the first failure.
    pub async fn setup_streams(
        client: &aws_sdk_firehose::Client,
        names: &[String],
        opts: &SetupOptions,
    ) -> Result<Vec<StreamReport>, SetupError> {
        let mut reports = Vec::with_capacity(names.len());
        for name in names {
            let report = setup_stream(client, name, opts).await?;
            tracing::debug!("{report}");
            reports.push(report);
        }
        Ok(reports)
    }

    async fn setup_stream(
        client: &aws_sdk_firehose::Client,
        name: &str,
        opts: &SetupOptions,
    ) -> Result<StreamReport, SetupError> {
        let outcome = match describe(client, name).await? {
            Some(existing) => {
                check_destination(name, &existing, opts)?;
                StreamOutcome::Exists
            }
            None if opts.dry_run => StreamOutcome::WouldCreate,
            None => create(client, name, opts).await?,
        };
        if opts.dry_run {
            return Ok(StreamReport {
                name: name.to_string(),
                outcome,
                test_record_id: None,
            });
        }
        wait_active(client, name, opts).await?;
        let send = match opts.test_record {
            TestRecord::Always => true,
            TestRecord::OnCreate => outcome == StreamOutcome::Created,
            TestRecord::Never => false,
        };
        let test_record_id = if send {
            Some(send_test_record(client, name).await?)
        } else {
            None
        };
        Ok(StreamReport {
            name: name.to_string(),
            outcome,
            test_record_id,
        })
    }

    async fn describe(
        client: &aws_sdk_firehose::Client,
        name: &str,
    ) -> Result<Option<DeliveryStreamDescription>, SetupError> {
        match client
            .describe_delivery_stream()
            .delivery_stream_name(name)
            .send()
            .await
        {
            Ok(out) => Ok(out.delivery_stream_description),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(api_error(name, "DescribeDeliveryStream", &e)),
        }
    }

    /// An existing stream is ours when some destination writes our bucket.
    fn check_destination(
        name: &str,
        existing: &DeliveryStreamDescription,
        opts: &SetupOptions,
    ) -> Result<(), SetupError> {
        let buckets: Vec<&str> = existing
            .destinations()
            .iter()
            .filter_map(|d| {
                d.extended_s3_destination_description()
                    .map(|s| s.bucket_arn())
                    .or_else(|| d.s3_destination_description().map(|s| s.bucket_arn()))
            })
            .collect();
        if buckets.iter().any(|arn| opts.is_our_bucket(arn)) {
            return Ok(());
        }
        let found = if buckets.is_empty() {
            "no S3 destination".to_string()
        } else {
            buckets.join(", ")
        };
        Err(SetupError::DifferentDestination {
            stream: name.to_string(),
            bucket: opts.bucket.clone(),
            found,
        })
    }

    async fn create(
        client: &aws_sdk_firehose::Client,
        name: &str,
        opts: &SetupOptions,
    ) -> Result<StreamOutcome, SetupError> {
        let invalid = |message: String| SetupError::Api {
            stream: name.to_string(),
            operation: "CreateDeliveryStream",
            message,
        };
        let hints = BufferingHints::builder()
            .size_in_mbs(opts.buffer_size_mib)
            .interval_in_seconds(i32::try_from(opts.buffer_interval.as_secs()).unwrap_or(i32::MAX))
            .build();
        let destination = ExtendedS3DestinationConfiguration::builder()
            .role_arn(&opts.role_arn)
            .bucket_arn(opts.bucket_arn())
            .prefix(&opts.prefix)
            .error_output_prefix(&opts.error_prefix)
            .buffering_hints(hints)
            .compression_format(CompressionFormat::Gzip)
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        let result = client
            .create_delivery_stream()
            .delivery_stream_name(name)
            .delivery_stream_type(DeliveryStreamType::DirectPut)
            .extended_s3_destination_configuration(destination)
            .send()
            .await;
        match result {
            Ok(_) => Ok(StreamOutcome::Created),
            // Created between our describe and our create (another run): same check as
            // for a stream found by describe.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) =>
            {
                match describe(client, name).await? {
                    Some(existing) => {
                        check_destination(name, &existing, opts)?;
                        Ok(StreamOutcome::Exists)
                    }
                    None => Err(api_error(name, "CreateDeliveryStream", &e)),
                }
            }
            Err(e) => Err(api_error(name, "CreateDeliveryStream", &e)),
        }
    }

    async fn wait_active(
        client: &aws_sdk_firehose::Client,
        name: &str,
        opts: &SetupOptions,
    ) -> Result<(), SetupError> {
        let started = Instant::now();
        loop {
            let status = describe(client, name)
                .await?
                .map(|d| d.delivery_stream_status().clone());
            let status_name = status
                .as_ref()
                .map_or("absent".to_string(), |s| s.as_str().to_string());
            match status {
                Some(DeliveryStreamStatus::Active) => return Ok(()),
                Some(DeliveryStreamStatus::Creating) | None => {}
                Some(_) => {
                    return Err(SetupError::Unusable {
                        stream: name.to_string(),
                        status: status_name,
                    })
                }
            }
            if started.elapsed() >= opts.wait_timeout {
                return Err(SetupError::Timeout {
                    stream: name.to_string(),
                    status: status_name,
                    waited: started.elapsed(),
                });
            }
            tracing::info!("{name}: {status_name}, waiting for ACTIVE");
            tokio::time::sleep(opts.poll_interval).await;
        }
    }

    async fn send_test_record(
        client: &aws_sdk_firehose::Client,
        name: &str,
    ) -> Result<String, SetupError> {
        let record = Record::builder()
            .data(Blob::new(TEST_RECORD))
            .build()
            .map_err(|e| SetupError::Api {
                stream: name.to_string(),
                operation: "PutRecord",
                message: e.to_string(),
            })?;
        let out = client
            .put_record()
            .delivery_stream_name(name)
            .record(record)
            .send()
            .await
            .map_err(|e| api_error(name, "PutRecord", &e))?;
        Ok(out.record_id().to_string())
    }

    #[cfg(test)]
    #[allow(clippy::unwrap_used, clippy::expect_used)]
    mod tests {
        use super::*;

        #[test]
        fn bucket_matching_ignores_the_partition() {
            let opts = SetupOptions::new("logs", "arn:aws:iam::123456789012:role/r");
            assert!(opts.is_our_bucket("arn:aws:s3:::logs"));
            assert!(opts.is_our_bucket("arn:aws-cn:s3:::logs"));
            assert!(!opts.is_our_bucket("arn:aws:s3:::logs2"));
            assert!(!opts.is_our_bucket("logs"));
        }

        #[test]
        fn streams_are_listed_once_in_flow_order() {
            let loaded = firetail_config::parse_str(
                r#"{"flows": [
                    {"filePattern": "/var/log/a/*.log", "deliveryStream": "b"},
                    {"filePattern": "/var/log/b/*.log", "kinesisStream": "k"},
                    {"filePattern": "/var/log/c/*.log", "deliveryStream": "a"},
                    {"filePattern": "/var/log/d/*.log", "deliveryStream": "b"}]}"#,
                "test",
            )
            .unwrap();
            assert_eq!(raw_delivery_streams(&loaded.settings), ["b", "a"]);
        }
    }
}
