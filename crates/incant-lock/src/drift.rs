//! Drift: what differs between a lock and the present, one [`Finding`] per difference.
//!
//! Each finding has a kind (for `--json` and for tools) and a message that says exactly what
//! changed in words a reviewer can act on: "prompt `capital` changed but its version did not
//! (1.0.0)", "model file for local:smollm2 changed since the lock", "provider parameters
//! changed for local:smollm2: temperature 0 -> 0.7". Findings come in a fixed order: the
//! suite, then prompts by name, then providers in suite order.

use crate::{Lock, PromptEntry, ProviderEntry};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What kind of drift a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// The suite file's bytes differ (or the lock is for another suite file).
    SuiteChanged,
    /// A prompt that the lock does not have.
    PromptAdded,
    /// A locked prompt that is gone.
    PromptRemoved,
    /// A prompt's template changed and its version stayed the same.
    PromptChangedWithoutVersion,
    /// Only a prompt's front matter or whitespace changed, and its version stayed the same.
    PromptMetadataChanged,
    /// A prompt changed along with its version.
    PromptVersionChanged,
    /// A prompt with the same text now lives in another file.
    PromptMoved,
    /// A provider that the lock does not have.
    ProviderAdded,
    /// A locked provider that is gone.
    ProviderRemoved,
    /// A provider's config changed.
    ProviderParamsChanged,
    /// A local model's file(s) changed, or the reference resolves elsewhere.
    ModelChanged,
}

/// One difference between the lock and the present.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// What kind of drift.
    pub kind: FindingKind,
    /// The file it is about: the prompt file, the model file or the suite file.
    pub path: String,
    /// What changed, in words.
    pub message: String,
}

/// Compares a lock with a freshly computed one. `suite_dir` and `models_dir` turn the lock's
/// relative paths into the paths findings show.
pub fn compare(locked: &Lock, current: &Lock, suite_dir: &Path, models_dir: &Path) -> Vec<Finding> {
    let show = |rel: &str| display(&suite_dir.join(rel));
    let suite_path = show(&current.suite.path);
    let mut out = Vec::new();
    if locked.suite.path != current.suite.path {
        out.push(Finding {
            kind: FindingKind::SuiteChanged,
            path: suite_path.clone(),
            message: format!(
                "the lock was written for suite file `{}`, not `{}`",
                locked.suite.path, current.suite.path
            ),
        });
    } else if locked.suite.sha256 != current.suite.sha256 {
        out.push(Finding {
            kind: FindingKind::SuiteChanged,
            path: suite_path.clone(),
            message: "suite file changed".into(),
        });
    }

    let old = keyed_prompts(&locked.prompts);
    let new = keyed_prompts(&current.prompts);
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for name in names {
        match (old.get(name), new.get(name)) {
            (Some(o), Some(n)) => {
                if let Some((kind, message)) = prompt_drift(name, o, n) {
                    out.push(Finding {
                        kind,
                        path: show(&n.file),
                        message,
                    });
                }
            }
            (Some(o), None) => out.push(Finding {
                kind: FindingKind::PromptRemoved,
                path: show(&o.file),
                message: format!("prompt `{name}` removed"),
            }),
            (None, Some(n)) => out.push(Finding {
                kind: FindingKind::PromptAdded,
                path: show(&n.file),
                message: format!("prompt `{name}` added"),
            }),
            (None, None) => {}
        }
    }

    let old = keyed_providers(&locked.providers);
    let new = keyed_providers(&current.providers);
    let model_path = |p: &ProviderEntry| match p.model.as_deref() {
        Some(m) if p.id.strip_prefix("local:") != Some(m) => display(&models_dir.join(m)),
        Some(m) => m.to_string(),
        None => suite_path.clone(),
    };
    for (key, n) in &new {
        let Some((_, o)) = old.iter().find(|(k, _)| k == key) else {
            out.push(Finding {
                kind: FindingKind::ProviderAdded,
                path: suite_path.clone(),
                message: format!("provider {key} added"),
            });
            continue;
        };
        if o.config_sha256 != n.config_sha256 {
            let details = match (&o.config, &n.config) {
                (Some(a), Some(b)) => param_changes(a, b),
                _ => String::new(),
            };
            let sep = if details.is_empty() { "" } else { ": " };
            out.push(Finding {
                kind: FindingKind::ProviderParamsChanged,
                path: suite_path.clone(),
                message: format!("provider parameters changed for {key}{sep}{details}"),
            });
        }
        if o.model != n.model {
            out.push(Finding {
                kind: FindingKind::ModelChanged,
                path: model_path(n),
                message: format!(
                    "model for {key} changed: {} -> {}",
                    o.model.as_deref().unwrap_or("(none)"),
                    n.model.as_deref().unwrap_or("(none)")
                ),
            });
        } else if o.model_sha256 != n.model_sha256 {
            let what = if n.model_sha256.is_none() {
                "is gone"
            } else {
                "changed"
            };
            out.push(Finding {
                kind: FindingKind::ModelChanged,
                path: model_path(n),
                message: format!("model file for {key} {what} since the lock"),
            });
        }
    }
    for (key, _) in &old {
        if !new.iter().any(|(k, _)| k == key) {
            out.push(Finding {
                kind: FindingKind::ProviderRemoved,
                path: suite_path.clone(),
                message: format!("provider {key} removed"),
            });
        }
    }
    out
}

fn display(path: &Path) -> String {
    super::compute::relative(Path::new(""), path)
}

/// Prompts by name; a name that two files share is told apart by its file.
fn keyed_prompts(prompts: &[PromptEntry]) -> BTreeMap<String, &PromptEntry> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for p in prompts {
        *counts.entry(&p.name).or_default() += 1;
    }
    prompts
        .iter()
        .map(|p| {
            let key = if counts[p.name.as_str()] > 1 {
                format!("{} ({})", p.name, p.file)
            } else {
                p.name.clone()
            };
            (key, p)
        })
        .collect()
}

/// Providers in order, each named by its id (and label); repeats get `#2`, `#3` ...
fn keyed_providers(providers: &[ProviderEntry]) -> Vec<(String, &ProviderEntry)> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    providers
        .iter()
        .map(|p| {
            let base = match p.label.as_deref() {
                Some(l) if l != p.id => format!("{l} ({})", p.id),
                _ => p.id.clone(),
            };
            let n = seen.entry(base.clone()).or_default();
            *n += 1;
            let key = if *n > 1 { format!("{base} #{n}") } else { base };
            (key, p)
        })
        .collect()
}

fn prompt_drift(name: &str, o: &PromptEntry, n: &PromptEntry) -> Option<(FindingKind, String)> {
    let version = |v: &Option<String>| v.clone().unwrap_or_else(|| "unversioned".into());
    if o.sha256 == n.sha256 {
        return (o.file != n.file).then(|| {
            (
                FindingKind::PromptMoved,
                format!("prompt `{name}` moved ({} -> {})", o.file, n.file),
            )
        });
    }
    if o.version != n.version {
        return Some((
            FindingKind::PromptVersionChanged,
            format!(
                "prompt `{name}` changed ({} -> {})",
                version(&o.version),
                version(&n.version)
            ),
        ));
    }
    let since = match &n.version {
        Some(v) => format!("but its version did not ({v})"),
        None => "and has no version to bump".into(),
    };
    Some(if o.template_sha256 != n.template_sha256 {
        (
            FindingKind::PromptChangedWithoutVersion,
            format!("prompt `{name}` changed {since}"),
        )
    } else {
        (
            FindingKind::PromptMetadataChanged,
            format!("prompt `{name}` front matter or whitespace changed {since}"),
        )
    })
}

/// `temperature 0 -> 0.7, stop (unset) -> ["\n"]`: each top-level key whose value differs.
fn param_changes(old: &str, new: &str) -> String {
    let parse = |s: &str| match serde_json::from_str::<Value>(s) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let (a, b) = (parse(old), parse(new));
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let show = |v: Option<&Value>| v.map_or_else(|| "(unset)".to_string(), Value::to_string);
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{k} {} -> {}", show(a.get(k)), show(b.get(k))))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SuiteEntry, LOCK_VERSION};

    fn prompt(name: &str, version: Option<&str>, sha: &str, tpl: &str) -> PromptEntry {
        PromptEntry {
            name: name.into(),
            file: format!("p/{name}.prompt"),
            version: version.map(str::to_string),
            sha256: sha.into(),
            template_sha256: tpl.into(),
        }
    }

    fn provider(id: &str, config: &str, model: Option<(&str, &str)>) -> ProviderEntry {
        ProviderEntry {
            id: id.into(),
            label: None,
            config_sha256: crate::sha256_hex(config.as_bytes()),
            config: Some(config.into()),
            model: model.map(|m| m.0.to_string()),
            model_sha256: model.map(|m| m.1.to_string()),
        }
    }

    fn lock() -> Lock {
        Lock {
            version: LOCK_VERSION,
            suite: SuiteEntry {
                path: "incant.yaml".into(),
                sha256: "s1".into(),
            },
            prompts: vec![
                prompt("capital", Some("1.0.0"), "a1", "t1"),
                prompt("greet", None, "b1", "u1"),
            ],
            providers: vec![
                provider(
                    "local:smollm2",
                    r#"{"temperature":0}"#,
                    Some(("SmolLM2.gguf", "m1")),
                ),
                provider("echo", "{}", None),
            ],
        }
    }

    fn drift(current: &Lock) -> Vec<Finding> {
        compare(&lock(), current, Path::new("suite"), Path::new("models"))
    }

    fn messages(current: &Lock) -> Vec<String> {
        drift(current).into_iter().map(|f| f.message).collect()
    }

    #[test]
    fn identical_locks_have_no_drift() {
        assert!(drift(&lock()).is_empty());
    }

    #[test]
    fn suite_file_changed() {
        let mut now = lock();
        now.suite.sha256 = "s2".into();
        let f = drift(&now);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingKind::SuiteChanged);
        assert_eq!(f[0].path, "suite/incant.yaml");
        assert_eq!(f[0].message, "suite file changed");
    }

    #[test]
    fn prompt_changed_without_a_version_bump() {
        let mut now = lock();
        now.prompts[0].sha256 = "a2".into();
        now.prompts[0].template_sha256 = "t2".into();
        now.prompts[1].sha256 = "b2".into();
        now.prompts[1].template_sha256 = "u2".into();
        let f = drift(&now);
        assert_eq!(f[0].kind, FindingKind::PromptChangedWithoutVersion);
        assert_eq!(f[0].path, "suite/p/capital.prompt");
        assert_eq!(
            f[0].message,
            "prompt `capital` changed but its version did not (1.0.0)"
        );
        assert_eq!(
            f[1].message,
            "prompt `greet` changed and has no version to bump"
        );
    }

    #[test]
    fn front_matter_only_edits_are_told_apart() {
        let mut now = lock();
        now.prompts[0].sha256 = "a2".into();
        let f = drift(&now);
        assert_eq!(f[0].kind, FindingKind::PromptMetadataChanged);
        assert_eq!(
            f[0].message,
            "prompt `capital` front matter or whitespace changed but its version did not (1.0.0)"
        );
    }

    #[test]
    fn prompt_changed_with_its_version() {
        let mut now = lock();
        now.prompts[0] = prompt("capital", Some("1.1.0"), "a2", "t2");
        let f = drift(&now);
        assert_eq!(f[0].kind, FindingKind::PromptVersionChanged);
        assert_eq!(f[0].message, "prompt `capital` changed (1.0.0 -> 1.1.0)");
    }

    #[test]
    fn prompts_added_removed_and_moved() {
        let mut now = lock();
        now.prompts[1] = prompt("x", None, "c1", "v1");
        now.prompts[0].file = "q/capital.prompt".into();
        assert_eq!(
            messages(&now),
            [
                "prompt `capital` moved (p/capital.prompt -> q/capital.prompt)",
                "prompt `greet` removed",
                "prompt `x` added",
            ]
        );
        let kinds: Vec<_> = drift(&now).into_iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            [
                FindingKind::PromptMoved,
                FindingKind::PromptRemoved,
                FindingKind::PromptAdded
            ]
        );
    }

    #[test]
    fn model_file_changed() {
        let mut now = lock();
        now.providers[0].model_sha256 = Some("m2".into());
        let f = drift(&now);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingKind::ModelChanged);
        assert_eq!(f[0].path, "models/SmolLM2.gguf");
        assert_eq!(
            f[0].message,
            "model file for local:smollm2 changed since the lock"
        );
    }

    #[test]
    fn model_file_gone() {
        let mut now = lock();
        now.providers[0].model_sha256 = None;
        assert_eq!(
            messages(&now),
            ["model file for local:smollm2 is gone since the lock"]
        );
    }

    #[test]
    fn provider_parameters_changed_names_each_key() {
        let mut now = lock();
        now.providers[0] = provider(
            "local:smollm2",
            r#"{"max_tokens":32,"temperature":0.7}"#,
            Some(("SmolLM2.gguf", "m1")),
        );
        let f = drift(&now);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingKind::ProviderParamsChanged);
        assert_eq!(
            f[0].message,
            "provider parameters changed for local:smollm2: max_tokens (unset) -> 32, \
             temperature 0 -> 0.7"
        );
        // Without the stored config (too large to keep) only the fact is reported.
        let mut locked = lock();
        locked.providers[0].config = None;
        let f = compare(&locked, &now, Path::new(""), Path::new("models"));
        assert_eq!(
            f[0].message,
            "provider parameters changed for local:smollm2"
        );
    }

    #[test]
    fn providers_added_and_removed() {
        let mut now = lock();
        now.providers.remove(1);
        let mut labelled = provider("echo", "{}", None);
        labelled.label = Some("parrot".into());
        now.providers.push(labelled);
        assert_eq!(
            messages(&now),
            ["provider parrot (echo) added", "provider echo removed"]
        );
    }
}
