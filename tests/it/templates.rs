//! The pipeline templates under config/aws: the copy compiled into firetail is the
//! directory's, and a rendering made by `firetail::setup::render` passes
//! `scripts/validate-templates.py` (botocore's models, policies, schemas, mappings,
//! dashboards) and equals the script's own rendering byte for byte.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use firetail::setup::{render_to_dir, TemplateSet, Values};

fn templates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/aws")
}

/// The Python with botocore: `FIRETAIL_PYTHON` (set by scripts/test), else the venv
/// scripts/test creates.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("FIRETAIL_PYTHON") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").expect("HOME is set");
    let p = PathBuf::from(home).join(".cache/firetail/venv/bin/python");
    assert!(
        p.exists(),
        "{} not found (run the suite with ./scripts/test, which installs botocore)",
        p.display()
    );
    p
}

/// Every placeholder's test value from the manifest.
fn test_values() -> Values {
    let manifest: serde_json::Value =
        serde_json::from_str(TemplateSet::embedded().get("manifest.json").unwrap()).unwrap();
    manifest["placeholders"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, spec)| (name.clone(), spec["test"].as_str().unwrap().to_string()))
        .collect::<BTreeMap<_, _>>()
}

#[test]
fn the_embedded_templates_are_the_directory() {
    let on_disk = TemplateSet::from_dir(&templates_dir()).unwrap();
    let embedded = TemplateSet::embedded();
    let disk_paths: Vec<&str> = on_disk.paths().collect();
    let embedded_paths: Vec<&str> = embedded.paths().collect();
    assert_eq!(
        disk_paths, embedded_paths,
        "add new config/aws files to src/setup.rs (mod embedded)"
    );
    for path in disk_paths {
        assert_eq!(on_disk.get(path), embedded.get(path), "{path}");
    }
}

#[test]
fn rendered_templates_validate_against_botocore() {
    let out = tempfile::tempdir().unwrap();
    let written = render_to_dir(&TemplateSet::embedded(), &test_values(), out.path()).unwrap();
    assert!(written.len() > 20, "{written:?}");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/validate-templates.py");
    let result = Command::new(python())
        .arg(&script)
        .arg("--templates")
        .arg(templates_dir())
        .arg("--rendered")
        .arg(out.path())
        .output()
        .expect("run scripts/validate-templates.py");
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        result.status.success(),
        "validate-templates.py failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("OK"), "{stdout}");
}

#[test]
fn rendering_needs_the_required_values() {
    let mut values = test_values();
    values.remove("AccountId");
    let err = firetail::setup::render(&TemplateSet::embedded(), &values).unwrap_err();
    assert!(err.to_string().contains("AccountId"), "{err}");
    let mut values = test_values();
    values.insert("Prefix".into(), "Not_Valid".into());
    let err = firetail::setup::render(&TemplateSet::embedded(), &values).unwrap_err();
    assert!(err.to_string().contains("Prefix"), "{err}");
}

/// Copies `from` into `to`, recursively.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// Each class of defect found when the pipeline was first stood up, put back into a copy
/// of the templates: the validator must name it.
#[test]
fn the_validator_finds_each_class_of_defect_found_before() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("scripts/validate-templates.py");
    // (file, from, to, what the report must say)
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "aws/iam/firehose-delivery-policy.json",
            "/aws/kinesisfirehose/{{Prefix}}:log-stream",
            "/aws/kinesisfirehose/{{Prefix}}-*:log-stream",
            "outside the logs:PutLogEvents resources",
        ),
        (
            "aws/iam/firehose-delivery-trust.json",
            "sts:ExternalId",
            "aws:SourceAccount",
            "firehose.amazonaws.com does not send this key",
        ),
        (
            "aws/kda/aggregate.sql",
            "    COUNT(*)\nFROM (",
            "    COUNT(DISTINCT \"d\".\"client\")\nFROM (",
            "COUNT(DISTINCT ...) in a streaming query",
        ),
        (
            "examples/firetail-apache.json",
            "\"kinesisStream\": \"firetail-raw\"",
            "\"kinesisStream\": \"apache-access-logs\"",
            "'apache-access-logs' is created by no template",
        ),
        (
            "aws/manifest.json",
            "\"test\": \"198.51.100.0/24\"",
            "\"test\": \"0.0.0.0/0\"",
            "/0 opens the domain",
        ),
        (
            "aws/opensearch/access-policy.json",
            "\"es:ESHttpHead\"\n      ],",
            "\"es:ESHttpHead\",\n        \"es:ESHttpPut\"\n      ],",
            "es:ESHttpPut for unsigned requests",
        ),
        (
            "aws/flink/flink-application.json",
            "\"scan.stream.recordpublisher\": \"EFO\"",
            "\"scan.stream.recordpublisher\": \"POLLING\"",
            "the limit is 5",
        ),
        (
            "aws/flink/flink-application.json",
            "\"jarfile\": \"lib/firetail-flink-connectors.jar\"",
            "\"jarfile\": \"lib/a.jar,lib/b.jar\"",
            "name the one uber jar",
        ),
    ];
    for (file, from, to, expected) in cases {
        let tmp = tempfile::tempdir().unwrap();
        copy_dir(&root.join("config/aws"), &tmp.path().join("aws"));
        copy_dir(&root.join("config/examples"), &tmp.path().join("examples"));
        let path = tmp.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} no longer contains {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        let result = Command::new(python())
            .arg(&script)
            .arg("--templates")
            .arg(tmp.path().join("aws"))
            .arg("--examples")
            .arg(tmp.path().join("examples"))
            .output()
            .expect("run scripts/validate-templates.py");
        let stdout = String::from_utf8_lossy(&result.stdout);
        assert!(!result.status.success(), "{file}: {to:?} passed:\n{stdout}");
        assert!(
            stdout.contains(expected),
            "{file}: wanted {expected:?} in:\n{stdout}"
        );
    }
}
