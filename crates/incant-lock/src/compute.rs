//! Hashing a suite's inputs into a [`Lock`]: the suite file, its prompts, its providers'
//! parameters and local model files.
//!
//! Everything recorded is relative (to the suite's folder, or to the models folder for
//! registry models) so a lock written on one machine checks on another. Nothing here loads a
//! model: model files are only hashed, which for a 100 MB GGUF takes a fraction of a second.

use crate::{Lock, LockError, PromptEntry, ProviderEntry, SuiteEntry, LOCK_VERSION};
use incant_models::registry;
use incant_prompt::{PromptFile, Suite};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Configs whose canonical JSON is at most this long are kept in the lock, so drift can
/// name the parameter that changed; larger ones are kept as a digest only.
pub const MAX_INLINE_CONFIG: usize = 1024;

/// Computes the lock of a loaded suite. `models_dir` is where registry models live.
pub fn compute(suite: &Suite, models_dir: &Path) -> Result<Lock, LockError> {
    compute_with(suite, models_dir, false)
}

/// Like [`compute`], but a `local:` model path that no longer exists is recorded without a
/// digest instead of failing, so that checking a lock reports it as drift.
pub fn compute_present(suite: &Suite, models_dir: &Path) -> Result<Lock, LockError> {
    compute_with(suite, models_dir, true)
}

fn compute_with(suite: &Suite, models_dir: &Path, allow_missing: bool) -> Result<Lock, LockError> {
    let suite_bytes = std::fs::read(&suite.path).map_err(|source| LockError::Io {
        path: suite.path.clone(),
        source,
    })?;
    let dir = suite.path.parent().unwrap_or(Path::new(""));
    let mut prompts = Vec::new();
    for p in load_prompts(suite)? {
        prompts.push(PromptEntry {
            file: relative(dir, &p.path),
            version: p.version.as_ref().map(ToString::to_string),
            sha256: crate::sha256_hex(p.source.as_bytes()),
            template_sha256: template_sha256(&p),
            name: p.name,
        });
    }
    prompts.sort_by(|a, b| (&a.name, &a.file).cmp(&(&b.name, &b.file)));
    let providers = suite
        .providers
        .iter()
        .map(|spec| {
            let config = canonical_json(&Value::Object(spec.config.clone()));
            let (model, model_sha256) = match spec.id.strip_prefix("local:") {
                Some(reference) => match model_digest(reference, models_dir) {
                    Ok((m, d)) => (Some(m), Some(d)),
                    Err(incant_models::ModelError::BadPath { .. }) if allow_missing => {
                        (Some(reference.to_string()), None)
                    }
                    Err(source) => {
                        return Err(LockError::Model {
                            provider: spec.id.clone(),
                            source,
                        })
                    }
                },
                None => (None, None),
            };
            Ok(ProviderEntry {
                id: spec.id.clone(),
                label: spec.label.clone(),
                config_sha256: crate::sha256_hex(config.as_bytes()),
                config: (config.len() <= MAX_INLINE_CONFIG).then_some(config),
                model,
                model_sha256,
            })
        })
        .collect::<Result<Vec<_>, LockError>>()?;
    Ok(Lock {
        version: LOCK_VERSION,
        suite: SuiteEntry {
            path: suite
                .path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            sha256: crate::sha256_hex(&suite_bytes),
        },
        prompts,
        providers,
    })
}

/// The suite's prompts as `incant eval` loads them: prompt files in order, then inline ones.
pub fn load_prompts(suite: &Suite) -> Result<Vec<PromptFile>, LockError> {
    let mut prompts = Vec::new();
    for p in &suite.prompt_files {
        prompts.extend(incant_prompt::load_prompts(p)?);
    }
    for (i, text) in suite.inline_prompts.iter().enumerate() {
        let label = format!("{}#inline-{}", suite.path.display(), i + 1);
        prompts.push(PromptFile::parse(Path::new(&label), text)?);
    }
    Ok(prompts)
}

/// sha256 of a prompt's templates, each as its role and its text with trailing whitespace
/// dropped from every line and blank lines trimmed at both ends: a whitespace-only or
/// front-matter edit leaves it as it was, a change to what the model is sent does not.
pub fn template_sha256(prompt: &PromptFile) -> String {
    let mut buf = String::new();
    for s in &prompt.sections {
        buf.push_str(s.role.as_deref().unwrap_or(""));
        buf.push('\0');
        let lines: Vec<&str> = s.template.lines().map(str::trim_end).collect();
        buf.push_str(lines.join("\n").trim_matches('\n'));
        buf.push('\0');
    }
    crate::sha256_hex(buf.as_bytes())
}

/// JSON with every object's keys sorted and no whitespace: the same config always gives the
/// same text, whatever order the suite wrote its keys in.
pub fn canonical_json(value: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = Map::new();
                for k in keys {
                    out.insert(k.clone(), sorted(&m[k]));
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string(&sorted(value)).unwrap_or_default()
}

/// `path` relative to `dir`, `/`-separated; `path` itself when it is not inside `dir`.
pub fn relative(dir: &Path, path: &Path) -> String {
    let rel = if dir.as_os_str().is_empty() {
        path
    } else {
        path.strip_prefix(dir).unwrap_or(path)
    };
    let text = rel.to_string_lossy().replace('\\', "/");
    text.strip_prefix("./").map(str::to_string).unwrap_or(text)
}

/// The model a `local:` reference names and the digest of its file(s).
///
/// A registry model is recorded by its location inside the models folder and hashed file by
/// file; a file that is not installed counts with its pinned digest (it will be fetched and
/// verified against that digest before any run), so a lock can be written before
/// `incant models fetch`. Other references are paths, recorded as written.
pub fn model_digest(
    reference: &str,
    models_dir: &Path,
) -> Result<(String, String), incant_models::ModelError> {
    if let Some(known) = registry::find(reference) {
        let mut files = Vec::new();
        for f in known.files {
            let path = models_dir.join(known.dest(f));
            let digest = if path.is_file() {
                incant_models::fetch::sha256_file(&path)?
            } else {
                f.sha256.to_string()
            };
            files.push((f.path.to_string(), digest));
        }
        let digest = if known.is_single_file() {
            files.remove(0).1
        } else {
            folder_digest(files)
        };
        return Ok((known.location.to_string(), digest));
    }
    let path = PathBuf::from(reference);
    let digest = if path.is_file() {
        incant_models::fetch::sha256_file(&path)?
    } else if path.is_dir() {
        let mut files = Vec::new();
        for f in walk(&path)? {
            let digest = incant_models::fetch::sha256_file(&f)?;
            files.push((relative(&path, &f), digest));
        }
        folder_digest(files)
    } else {
        return Err(incant_models::ModelError::BadPath {
            path,
            reason: "no such model file or folder".into(),
        });
    };
    Ok((reference.to_string(), digest))
}

/// One digest for a folder: sha256 of `sha256sum`-style lines sorted by path.
fn folder_digest(mut files: Vec<(String, String)>) -> String {
    files.sort();
    let listing: String = files
        .iter()
        .map(|(path, digest)| format!("{digest}  {path}\n"))
        .collect();
    crate::sha256_hex(listing.as_bytes())
}

/// Every file under `dir`, recursively.
fn walk(dir: &Path) -> Result<Vec<PathBuf>, incant_models::ModelError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| incant_models::ModelError::Io { path, source }
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path.is_dir() {
            out.extend(walk(&path)?);
        } else {
            out.push(path);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let v: Value =
            serde_json::from_str(r#"{"b": {"y": 1, "x": [ {"d": 0, "c": 1} ]}, "a": 2}"#).unwrap();
        assert_eq!(
            canonical_json(&v),
            r#"{"a":2,"b":{"x":[{"c":1,"d":0}],"y":1}}"#
        );
    }

    #[test]
    fn relative_paths_use_slashes_and_drop_the_suite_folder() {
        let dir = Path::new("suites/a");
        assert_eq!(relative(dir, &dir.join("p/x.prompt")), "p/x.prompt");
        assert_eq!(relative(Path::new(""), Path::new("./x.prompt")), "x.prompt");
        assert_eq!(relative(dir, Path::new("other/y.prompt")), "other/y.prompt");
    }

    #[test]
    fn template_hash_ignores_trailing_whitespace_but_not_text() {
        let a =
            PromptFile::parse(Path::new("a.prompt"), "---\nname: a\n---\nHello {{ x }}").unwrap();
        let b = PromptFile::parse(
            Path::new("a.prompt"),
            "---\nname: a\nversion: 1.0.0\n---\nHello {{ x }}   \n\n",
        )
        .unwrap();
        let c = PromptFile::parse(Path::new("a.prompt"), "---\nname: a\n---\nHi {{ x }}").unwrap();
        assert_eq!(template_sha256(&a), template_sha256(&b));
        assert_ne!(template_sha256(&a), template_sha256(&c));
    }

    #[test]
    fn folder_models_hash_every_file_in_path_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("b.bin"), "b").unwrap();
        std::fs::write(dir.path().join("sub/a.bin"), "a").unwrap();
        let reference = dir.path().to_str().unwrap();
        let (_, first) = model_digest(reference, Path::new("models")).unwrap();
        let (_, again) = model_digest(reference, Path::new("models")).unwrap();
        assert_eq!(first, again);
        std::fs::write(dir.path().join("sub/a.bin"), "A").unwrap();
        let (_, changed) = model_digest(reference, Path::new("models")).unwrap();
        assert_ne!(first, changed);
    }

    #[test]
    fn registry_models_not_installed_count_with_their_pinned_digest() {
        let (path, digest) = model_digest("smollm2", Path::new("no-such-models-dir")).unwrap();
        let known = registry::find("smollm2").unwrap();
        assert_eq!(path, known.location);
        assert_eq!(digest, known.files[0].sha256);
    }
}
