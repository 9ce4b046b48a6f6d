//! The served prompts: every `.prompt`/`.prompty` file under the folder, grouped by name
//! and version, with a default version per name (a pin, else the highest). The registry
//! is rebuilt whole on reload and swapped in, so a request sees one consistent set.
//!
//! Each version carries its leak index: the n-grams of its hidden text (every section's
//! template, system messages and examples included), computed once per load.

use crate::config::{LeakConfig, ServeFile};
use incant_guard::leak::LeakIndex;
use incant_prompt::{PromptFile, PromptKind};
use semver::Version;
use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// One served prompt version.
pub struct Served {
    /// The parsed file.
    pub file: PromptFile,
    /// Its version (`0.0.0` when the file declares none).
    pub version: Version,
    /// A hash of the file text (cache keys change when the file does).
    pub source_hash: u64,
    /// The hidden text's n-grams.
    pub leak: LeakIndex,
    /// Prefixes of the hidden text's n-grams, for streams.
    pub prefixes: crate::leak::Prefixes,
    /// The hidden text itself (never sent; tests scan answers for it).
    pub hidden: String,
}

/// Names the prompt and version only: a `Debug` print must not leak the hidden text.
impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Served({}@{})", self.file.name, self.version)
    }
}

/// All versions of one prompt name.
pub struct PromptVersions {
    /// Versions, ascending.
    pub versions: BTreeMap<Version, Arc<Served>>,
    /// The pin from `serve.yaml`, if any (admin pins live in the app state).
    pub file_pin: Option<Version>,
}

/// A problem with one file, reported and skipped (the rest is still served).
#[derive(Debug, Clone)]
pub struct LoadIssue {
    /// The file.
    pub path: PathBuf,
    /// What is wrong (never the prompt's body).
    pub message: String,
}

/// The prompts being served.
#[derive(Default)]
pub struct Registry {
    /// By name.
    pub prompts: BTreeMap<String, PromptVersions>,
    /// Files that could not be served.
    pub issues: Vec<LoadIssue>,
}

/// Folders never searched for prompts.
const SKIP_DIRS: &[&str] = &["node_modules", "target", "__snapshots__"];

/// Prompt files under `dir`, sorted, with their modification times and sizes.
pub fn scan(dir: &Path) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                if !name.starts_with('.') && !SKIP_DIRS.contains(&name.as_str()) {
                    stack.push(path);
                }
            } else if path
                .extension()
                .is_some_and(|x| x == "prompt" || x == "prompty")
            {
                out.push((path, meta.modified().ok(), meta.len()));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A fingerprint of the folder's prompt files and `serve.yaml` (paths, times, sizes):
/// a change means reload.
pub fn fingerprint(dir: &Path) -> u64 {
    let mut h = DefaultHasher::new();
    scan(dir).hash(&mut h);
    let serve = std::fs::metadata(dir.join(crate::config::SERVE_FILE)).ok();
    serve.map(|m| (m.modified().ok(), m.len())).hash(&mut h);
    h.finish()
}

fn hash_str(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

impl Served {
    /// Prepares a parsed file for serving.
    pub fn new(file: PromptFile, leak: &LeakConfig) -> Self {
        let hidden: String = file
            .sections
            .iter()
            .map(|s| s.template.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        Self {
            version: file.version.clone().unwrap_or(Version::new(0, 0, 0)),
            source_hash: hash_str(&file.source),
            leak: LeakIndex::new(&hidden, leak.ngram),
            prefixes: crate::leak::Prefixes::new(&hidden, leak.ngram),
            hidden,
            file,
        }
    }
}

impl Registry {
    /// Loads every prompt under `dir` with `settings`' pins and leak n-gram length.
    pub fn load(dir: &Path, settings: &ServeFile) -> Self {
        let mut reg = Registry::default();
        for (path, _, _) in scan(dir) {
            let issue = |message: String| LoadIssue {
                path: path.clone(),
                message,
            };
            let file = match PromptFile::load(&path) {
                Ok(f) => f,
                Err(e) => {
                    let at = match (e.line, e.column) {
                        (Some(l), Some(c)) => format!("line {l}, column {c}: "),
                        _ => String::new(),
                    };
                    reg.issues.push(issue(format!("{at}{}", e.message)));
                    continue;
                }
            };
            if file.kind == PromptKind::Image {
                reg.issues.push(issue(
                    "image prompts are not served over the text API".into(),
                ));
                continue;
            }
            let served = Served::new(file, &settings.leak);
            let entry = reg
                .prompts
                .entry(served.file.name.clone())
                .or_insert_with(|| PromptVersions {
                    versions: BTreeMap::new(),
                    file_pin: None,
                });
            if let Some(prev) = entry.versions.get(&served.version) {
                reg.issues.push(issue(format!(
                    "prompt `{}` version {} is already served from {}; this file is skipped",
                    served.file.name,
                    served.version,
                    prev.file.path.display()
                )));
                continue;
            }
            entry
                .versions
                .insert(served.version.clone(), Arc::new(served));
        }
        for (name, v) in &settings.pins {
            let Ok(v) = Version::parse(v) else { continue };
            match reg.prompts.get_mut(name) {
                Some(p) if p.versions.contains_key(&v) => p.file_pin = Some(v),
                _ => reg.issues.push(LoadIssue {
                    path: dir.join(crate::config::SERVE_FILE),
                    message: format!("pin {name}@{v}: no such prompt version is served"),
                }),
            }
        }
        reg
    }

    /// Resolves `name` or `name@version` with admin pins taking precedence over file pins.
    pub fn resolve(
        &self,
        spec: &str,
        admin_pins: &BTreeMap<String, Version>,
    ) -> Result<Arc<Served>, ResolveError> {
        let (name, version) = match spec.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (spec, None),
        };
        let Some(p) = self.prompts.get(name) else {
            let names: Vec<&str> = self.prompts.keys().map(String::as_str).collect();
            return Err(ResolveError::UnknownPrompt {
                name: name.to_string(),
                suggestion: incant_prompt::nearest(name, &names).map(str::to_string),
            });
        };
        let available = || {
            p.versions
                .keys()
                .map(Version::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match version {
            Some(v) => {
                let parsed = Version::parse(v).map_err(|_| ResolveError::BadVersion {
                    name: name.to_string(),
                    version: v.to_string(),
                })?;
                p.versions
                    .get(&parsed)
                    .cloned()
                    .ok_or_else(|| ResolveError::UnknownVersion {
                        name: name.to_string(),
                        version: v.to_string(),
                        available: available(),
                    })
            }
            None => {
                let pinned = admin_pins
                    .get(name)
                    .or(p.file_pin.as_ref())
                    .and_then(|v| p.versions.get(v));
                Ok(pinned
                    .or_else(|| p.versions.values().next_back())
                    .cloned()
                    .expect("a served name has at least one version"))
            }
        }
    }

    /// The default version of `name` under `admin_pins`.
    pub fn default_version(
        &self,
        name: &str,
        admin_pins: &BTreeMap<String, Version>,
    ) -> Option<Version> {
        self.resolve(name, admin_pins)
            .ok()
            .map(|s| s.version.clone())
    }
}

/// Why a prompt reference did not resolve (these texts are safe to send: names only).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// No prompt of that name.
    #[error("unknown prompt `{name}`{}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownPrompt {
        /// The name asked for.
        name: String,
        /// A close served name.
        suggestion: Option<String>,
    },
    /// The version is not semver.
    #[error("`{version}` is not a semver version (prompt `{name}`)")]
    BadVersion {
        /// The prompt.
        name: String,
        /// What was asked.
        version: String,
    },
    /// No such version.
    #[error("prompt `{name}` has no version {version} (served: {available})")]
    UnknownVersion {
        /// The prompt.
        name: String,
        /// What was asked.
        version: String,
        /// Served versions.
        available: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn prompt(version: &str) -> String {
        format!("---\nname: greet\nversion: {version}\nmodel: echo\n---\nsystem:\nSecret v{version}.\n\nuser:\nHi {{{{ who }}}}\n")
    }

    #[test]
    fn versions_pins_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a/greet.prompt", &prompt("1.0.0"));
        write(dir.path(), "b/c/greet2.prompt", &prompt("1.2.0"));
        write(dir.path(), "dup.prompt", &prompt("1.2.0"));
        write(dir.path(), "bad.prompt", "---\nname: [\n---\nx\n");
        write(dir.path(), ".hidden/x.prompt", &prompt("9.0.0"));
        let mut settings = ServeFile::default();
        let reg = Registry::load(dir.path(), &settings);
        assert_eq!(reg.prompts["greet"].versions.len(), 2);
        assert_eq!(reg.issues.len(), 2, "{:?}", reg.issues);
        let pins = BTreeMap::new();
        assert_eq!(
            reg.resolve("greet", &pins).unwrap().version.to_string(),
            "1.2.0"
        );
        assert_eq!(
            reg.resolve("greet@1.0.0", &pins)
                .unwrap()
                .version
                .to_string(),
            "1.0.0"
        );
        let e = reg.resolve("greet@2.0.0", &pins).unwrap_err().to_string();
        assert_eq!(
            e,
            "prompt `greet` has no version 2.0.0 (served: 1.0.0, 1.2.0)"
        );
        let e = reg.resolve("gret", &pins).unwrap_err().to_string();
        assert!(e.contains("did you mean `greet`"), "{e}");
        assert!(matches!(
            reg.resolve("greet@x", &pins),
            Err(ResolveError::BadVersion { .. })
        ));
        settings.pins.insert("greet".into(), "1.0.0".into());
        let reg = Registry::load(dir.path(), &settings);
        assert_eq!(
            reg.resolve("greet", &pins).unwrap().version.to_string(),
            "1.0.0"
        );
        let admin = BTreeMap::from([("greet".to_string(), Version::new(1, 2, 0))]);
        assert_eq!(
            reg.resolve("greet", &admin).unwrap().version.to_string(),
            "1.2.0"
        );
        let fp = fingerprint(dir.path());
        write(dir.path(), "a/greet.prompt", &prompt("1.0.1"));
        assert_ne!(fp, fingerprint(dir.path()));
    }
}
