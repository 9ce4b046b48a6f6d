//! `incant.lock`: what a suite ran against, pinned, so that a change cannot slip in unseen.
//!
//! A prompt edited without a version bump, a model file swapped under the same short name or
//! a provider's temperature nudged in the suite all change outputs without anyone saying so.
//! This is the failure incant exists to prevent (a model update silently breaking tuned
//! prompts), so incant treats these inputs the way cargo treats dependencies: `incant lock`
//! records them, `incant check` compares the present against the record, and
//! `incant eval --locked` refuses to run when they differ.
//!
//! The lock holds, per suite:
//! - the suite file's path (relative to the lock) and sha256;
//! - per prompt (sorted by name): its file (relative), version, the sha256 of its text and of
//!   its normalised templates, so a front-matter edit can be told from a template edit;
//! - per provider (in suite order): id, label, the sha256 of its canonical config JSON and the
//!   config itself when small, and for `local:` models the model's path (relative to the models
//!   folder for registry models) and the sha256 of its file(s).
//!
//! Modules: [`compute`] (hashing a suite's inputs into a [`Lock`]), [`format`] (the TOML
//! writer and reader, with located errors), [`drift`] (lock vs. present, as [`Finding`]s).

pub mod compute;
pub mod drift;
pub mod format;

pub use compute::{compute, compute_present};
pub use drift::{compare, Finding, FindingKind};
pub use format::{parse, render};

use std::path::{Path, PathBuf};

/// The lock file's name; it sits next to the suite file.
pub const LOCK_FILE: &str = "incant.lock";
/// The format version this build writes and reads.
pub const LOCK_VERSION: u32 = 1;

/// Everything a lock pins.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// The lock format version ([`LOCK_VERSION`]).
    pub version: u32,
    /// The suite file.
    pub suite: SuiteEntry,
    /// Prompts, sorted by name (then file).
    #[serde(default, rename = "prompt")]
    pub prompts: Vec<PromptEntry>,
    /// Providers, in suite order.
    #[serde(default, rename = "provider")]
    pub providers: Vec<ProviderEntry>,
}

/// The suite file as locked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteEntry {
    /// Relative to the lock file's folder, `/`-separated.
    pub path: String,
    /// sha256 of the file's bytes.
    pub sha256: String,
}

/// One prompt as locked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptEntry {
    /// The prompt's name.
    pub name: String,
    /// Its file, relative to the suite's folder, `/`-separated.
    pub file: String,
    /// Its declared semver version, if any.
    #[serde(default)]
    pub version: Option<String>,
    /// sha256 of the prompt's text (front matter and body).
    pub sha256: String,
    /// sha256 of its normalised templates (role and trimmed text of each section).
    pub template_sha256: String,
}

/// One provider as locked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderEntry {
    /// `local:smollm2`, `echo`, ...
    pub id: String,
    /// Display name, if the suite gives one.
    #[serde(default)]
    pub label: Option<String>,
    /// sha256 of the canonical config JSON (keys sorted, no spaces).
    pub config_sha256: String,
    /// The canonical config JSON itself, when it is small enough to keep.
    #[serde(default)]
    pub config: Option<String>,
    /// For `local:` providers: the model file or folder (relative to the models folder for
    /// registry models, else as the suite names it).
    #[serde(default)]
    pub model: Option<String>,
    /// sha256 of the model file, or of a folder's file list with each file's digest.
    #[serde(default)]
    pub model_sha256: Option<String>,
}

impl ProviderEntry {
    /// How findings name the provider: its label when it has one, else its id.
    pub fn display_name(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.id)
    }
}

/// Everything that can go wrong while locking or checking.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The suite or one of its prompts is invalid.
    #[error(transparent)]
    Prompt(#[from] incant_prompt::PromptError),
    /// A local model could not be found or read.
    #[error("provider `{provider}`: {source}")]
    Model {
        /// The provider id.
        provider: String,
        /// What went wrong.
        #[source]
        source: incant_models::ModelError,
    },
    /// The lock file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// There is no lock file yet.
    #[error("{}: no lock file", path.display())]
    Missing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The lock file is not valid TOML or not a lock.
    #[error("{}:{line}:{column}: corrupt lock file: {message}", path.display())]
    Corrupt {
        /// The lock file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The lock was written by another format version.
    #[error("{}: lock format version {found}, this incant reads version {LOCK_VERSION}", path.display())]
    Version {
        /// The lock file.
        path: PathBuf,
        /// The version it declares.
        found: u32,
    },
}

impl LockError {
    /// A one-line suggestion of what to do about the error.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Prompt(e) => e.hint.clone(),
            Self::Model { source, .. } => source.hint(),
            Self::Io { .. } => None,
            Self::Missing { .. } => Some("run `incant lock` to write one".into()),
            Self::Corrupt { .. } => Some(
                "the lock is written by `incant lock`: fix the line or delete the file and run \
                 `incant lock` again (then review the diff)"
                    .into(),
            ),
            Self::Version { .. } => {
                Some("run `incant lock` to rewrite the lock in this version's format".into())
            }
        }
    }
}

/// Where the lock of the suite file `suite` lives: next to it.
pub fn lock_path(suite: &Path) -> PathBuf {
    match suite.parent() {
        Some(dir) if dir != Path::new(".") => dir.join(LOCK_FILE),
        _ => PathBuf::from(LOCK_FILE),
    }
}

/// Reads and parses a lock file.
pub fn read(path: &Path) -> Result<Lock, LockError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LockError::Missing {
                path: path.to_path_buf(),
            })
        }
        Err(source) => {
            return Err(LockError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    parse(path, &text)
}

/// Writes `lock` to `path` through a temporary file and a rename, so a reader never sees half
/// a lock. Returns whether the file's bytes changed.
pub fn write(path: &Path, lock: &Lock) -> Result<bool, LockError> {
    let text = render(lock);
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(false);
    }
    let io = |source| LockError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("lock.tmp");
    std::fs::write(&tmp, &text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })?;
    Ok(true)
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suite(dir: &Path) -> incant_prompt::Suite {
        incant_prompt::Suite::load(dir).unwrap()
    }

    #[test]
    fn a_written_lock_reads_back_and_checks_clean_until_a_prompt_changes() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("p")).unwrap();
        std::fs::write(
            d.join("p/capital.prompt"),
            "---\nname: capital\nversion: 1.0.0\n---\nCapital of {{ country }}?",
        )
        .unwrap();
        std::fs::write(d.join("m.gguf"), "not really a model").unwrap();
        std::fs::write(
            d.join("incant.yaml"),
            format!(
                "prompts: [p/*.prompt]\nproviders:\n  - echo\n  - id: 'local:{}'\n    config: {{temperature: 0}}\ntests:\n  - vars: {{country: France}}\n",
                d.join("m.gguf").display()
            ),
        )
        .unwrap();
        let models = d.join("models");
        let lock = compute(&suite(d), &models).unwrap();
        assert_eq!(lock.prompts[0].file, "p/capital.prompt");
        assert_eq!(lock.prompts[0].version.as_deref(), Some("1.0.0"));
        assert_eq!(
            lock.providers[1].config.as_deref(),
            Some(r#"{"temperature":0}"#)
        );
        let path = lock_path(&suite(d).path);
        assert!(write(&path, &lock).unwrap());
        assert!(
            !write(&path, &lock).unwrap(),
            "an unchanged lock is not rewritten"
        );
        let read_back = read(&path).unwrap();
        assert_eq!(read_back, lock);
        assert!(compare(
            &read_back,
            &compute(&suite(d), &models).unwrap(),
            d,
            &models
        )
        .is_empty());

        std::fs::write(
            d.join("p/capital.prompt"),
            "---\nname: capital\nversion: 1.0.0\n---\nWhat is the capital of {{ country }}?",
        )
        .unwrap();
        std::fs::write(d.join("m.gguf"), "not really a model!").unwrap();
        let found = compare(
            &read_back,
            &compute(&suite(d), &models).unwrap(),
            d,
            &models,
        );
        let kinds: Vec<FindingKind> = found.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            [
                FindingKind::PromptChangedWithoutVersion,
                FindingKind::ModelChanged
            ]
        );
    }

    #[test]
    fn a_missing_lock_says_to_run_incant_lock() {
        let err = read(Path::new("no/such/incant.lock")).unwrap_err();
        assert!(matches!(err, LockError::Missing { .. }));
        assert_eq!(err.hint().unwrap(), "run `incant lock` to write one");
    }
}
