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
