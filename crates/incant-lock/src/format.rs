//! The lock's text: TOML written by hand in a fixed order, read back with the `toml` crate.
//!
//! The writer is hand-rolled rather than derived so the file reads well in a diff: a header
//! saying what the file is, one table per prompt and per provider, one `key = value` per
//! line, fields always in the same order, absent fields left out. The same lock always gives
//! the same bytes. The reader reports a broken file at its line and column.

use crate::{Lock, LockError, LOCK_VERSION};
use std::fmt::Write as _;
use std::path::Path;

const HEADER: &str = "\
# incant.lock: written by `incant lock`. Do not edit by hand; commit it with the suite.
# `incant check` reports what changed since; `incant eval --locked` refuses to run then.
";

/// The lock as TOML text.
pub fn render(lock: &Lock) -> String {
    let mut out = String::from(HEADER);
    let _ = writeln!(out, "version = {}", lock.version);
    out.push_str("\n[suite]\n");
    field(&mut out, "path", Some(&lock.suite.path));
    field(&mut out, "sha256", Some(&lock.suite.sha256));
    for p in &lock.prompts {
        out.push_str("\n[[prompt]]\n");
        field(&mut out, "name", Some(&p.name));
        field(&mut out, "file", Some(&p.file));
        field(&mut out, "version", p.version.as_deref());
        field(&mut out, "sha256", Some(&p.sha256));
        field(&mut out, "template_sha256", Some(&p.template_sha256));
    }
    for p in &lock.providers {
        out.push_str("\n[[provider]]\n");
        field(&mut out, "id", Some(&p.id));
        field(&mut out, "label", p.label.as_deref());
        field(&mut out, "config_sha256", Some(&p.config_sha256));
        field(&mut out, "config", p.config.as_deref());
        field(&mut out, "model", p.model.as_deref());
        field(&mut out, "model_sha256", p.model_sha256.as_deref());
    }
    out
}

fn field(out: &mut String, key: &str, value: Option<&str>) {
    if let Some(v) = value {
        let quoted = toml::Value::String(v.to_string()).to_string();
        let _ = writeln!(out, "{key} = {quoted}");
    }
}

/// Parses lock text; `path` is only for error messages.
pub fn parse(path: &Path, text: &str) -> Result<Lock, LockError> {
    // The version is read first, so a lock from another format says so rather than
    // failing on a field this build does not know.
    #[derive(serde::Deserialize)]
    struct Versioned {
        version: Option<u32>,
    }
    let corrupt = |e: toml::de::Error| {
        let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
        LockError::Corrupt {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().trim().to_string(),
        }
    };
    let versioned: Versioned = toml::from_str(text).map_err(corrupt)?;
    match versioned.version {
        Some(LOCK_VERSION) => {}
        Some(found) => {
            return Err(LockError::Version {
                path: path.to_path_buf(),
                found,
            })
        }
        None => {
            return Err(LockError::Corrupt {
                path: path.to_path_buf(),
                line: 1,
                column: 1,
                message: "missing field `version`".into(),
            })
        }
    }
    toml::from_str(text).map_err(corrupt)
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PromptEntry, ProviderEntry, SuiteEntry};

    fn sample() -> Lock {
        Lock {
            version: LOCK_VERSION,
            suite: SuiteEntry {
                path: "incant.yaml".into(),
                sha256: "aa".into(),
            },
            prompts: vec![PromptEntry {
                name: "capital".into(),
                file: "prompts/capital.prompt".into(),
                version: Some("1.0.0".into()),
                sha256: "bb".into(),
                template_sha256: "cc".into(),
            }],
            providers: vec![
                ProviderEntry {
                    id: "local:smollm2".into(),
                    label: None,
                    config_sha256: "dd".into(),
                    config: Some(r#"{"temperature":0,"stop":["\n","\"q\""]}"#.into()),
                    model: Some("SmolLM2-135M-Instruct.Q4_1.gguf".into()),
                    model_sha256: Some("ee".into()),
                },
                ProviderEntry {
                    id: "echo".into(),
                    label: Some("parrot".into()),
                    config_sha256: "ff".into(),
                    config: Some("{}".into()),
                    model: None,
                    model_sha256: None,
                },
            ],
        }
    }

    #[test]
    fn round_trip() {
        let lock = sample();
        let text = render(&lock);
        assert_eq!(parse(Path::new("incant.lock"), &text).unwrap(), lock);
    }

    #[test]
    fn output_is_stable_and_reads_well() {
        let text = render(&sample());
        assert_eq!(text, render(&sample()));
        assert!(text.starts_with("# incant.lock: written by `incant lock`"));
        assert!(text.contains("\n[suite]\npath = \"incant.yaml\"\n"));
        assert!(text.contains(
            "[[prompt]]\nname = \"capital\"\nfile = \"prompts/capital.prompt\"\nversion = \"1.0.0\"\n"
        ));
        // An absent label is left out rather than written empty.
        assert!(text.contains("[[provider]]\nid = \"local:smollm2\"\nconfig_sha256"));
        assert!(text.contains("id = \"echo\"\nlabel = \"parrot\"\n"));
    }

    #[test]
    fn corrupt_lock_names_line_and_column() {
        let mut text = render(&sample());
        text = text.replace("name = \"capital\"", "name = capital");
        let err = parse(Path::new("x/incant.lock"), &text).unwrap_err();
        let line = text
            .lines()
            .position(|l| l.starts_with("name = capital"))
            .unwrap()
            + 1;
        match &err {
            LockError::Corrupt {
                line: l, column, ..
            } => {
                assert_eq!((*l, *column), (line, 8));
            }
            other => panic!("{other:?}"),
        }
        assert!(err
            .to_string()
            .starts_with(&format!("x/incant.lock:{line}:8: corrupt lock file")));
        assert!(err.hint().unwrap().contains("incant lock"));
    }

    #[test]
    fn wrong_shape_and_missing_version_are_corrupt() {
        let err = parse(Path::new("incant.lock"), "[suite]\npath = 1\n").unwrap_err();
        assert!(matches!(err, LockError::Corrupt { .. }), "{err:?}");
        let text = render(&sample()).replace("template_sha256", "template_sha");
        let err = parse(Path::new("incant.lock"), &text).unwrap_err();
        assert!(
            matches!(err, LockError::Corrupt { line, .. } if line > 1),
            "{err:?}"
        );
    }

    #[test]
    fn another_format_version_is_its_own_error() {
        let err = parse(Path::new("incant.lock"), "version = 99\n").unwrap_err();
        assert!(matches!(err, LockError::Version { found: 99, .. }));
    }
}
