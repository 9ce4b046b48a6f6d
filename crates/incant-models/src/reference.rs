//! Model references: what a user may write after `-m`, and where it points on disk.
//!
//! A reference is a short name from the registry (`smollm2`, `minilm`), a path to a `.gguf`
//! file, or a path to a folder holding `config.json`, `model.safetensors` and
//! `tokenizer.json` (a sentence-transformers or HF BERT folder). Short names resolve inside
//! the models folder: `--models-dir`, else `INCANT_MODELS`, else `./models`.

use crate::registry::{self, KnownModel};
use crate::ModelError;
use std::fmt;
use std::path::{Path, PathBuf};

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// A chat/completion language model (GGUF).
    Chat,
    /// A sentence embedder (BERT folder).
    Embedding,
    /// A tokenizer vocabulary only.
    Vocabulary,
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Chat => "chat",
            Self::Embedding => "embedding",
            Self::Vocabulary => "vocabulary",
        })
    }
}

/// A reference resolved to files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    /// The reference as the user wrote it.
    pub reference: String,
    /// The registry entry, for short names.
    pub known: Option<&'static str>,
    /// What the model is.
    pub kind: ModelKind,
    /// The `.gguf` file or the model folder.
    pub path: PathBuf,
}

/// The models folder: an explicit override, else `INCANT_MODELS`, else `./models`.
pub fn models_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    match std::env::var_os("INCANT_MODELS") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from("models"),
    }
}

/// The install path of a registry model.
pub fn installed_path(models_dir: &Path, model: &KnownModel) -> PathBuf {
    models_dir.join(model.location)
}

/// Resolves a reference and checks that it is a model of the wanted kind.
pub fn resolve(
    reference: &str,
    models_dir: &Path,
    wanted: ModelKind,
) -> Result<ResolvedModel, ModelError> {
    let resolved = resolve_any(reference, models_dir)?;
    if resolved.kind != wanted {
        return Err(ModelError::WrongKind {
            name: reference.to_string(),
            actual: resolved.kind,
            wanted,
        });
    }
    Ok(resolved)
}

fn resolve_any(reference: &str, models_dir: &Path) -> Result<ResolvedModel, ModelError> {
    if let Some(known) = registry::find(reference) {
        let path = installed_path(models_dir, known);
        let complete = known
            .files
            .iter()
            .all(|f| models_dir.join(known.dest(f)).is_file());
        if !complete {
            return Err(ModelError::NotInstalled {
                name: reference.to_string(),
                path,
            });
        }
        return Ok(ResolvedModel {
            reference: reference.to_string(),
            known: Some(known.name),
            kind: known.kind,
            path,
        });
    }
    let path = PathBuf::from(reference);
    let looks_like_path = reference.contains(std::path::MAIN_SEPARATOR)
        || reference.contains('/')
        || reference.ends_with(".gguf")
        || path.exists();
    if !looks_like_path {
        return Err(ModelError::UnknownName {
            name: reference.to_string(),
            known: registry::names(),
        });
    }
    let bad = |reason: &str| ModelError::BadPath {
        path: path.clone(),
        reason: reason.to_string(),
    };
    if path.is_file() {
        if path.extension().is_some_and(|e| e == "gguf") {
            return Ok(ResolvedModel {
                reference: reference.to_string(),
                known: None,
                kind: ModelKind::Chat,
                path,
            });
        }
        return Err(bad("not a .gguf file"));
    }
    if path.is_dir() {
        let missing: Vec<&str> = ["config.json", "model.safetensors", "tokenizer.json"]
            .into_iter()
            .filter(|f| !path.join(f).is_file())
            .collect();
        if missing.is_empty() {
            return Ok(ResolvedModel {
                reference: reference.to_string(),
                known: None,
                kind: ModelKind::Embedding,
                path,
            });
        }
        return Err(bad(&format!(
            "not a model folder (missing {})",
            missing.join(", ")
        )));
    }
    Err(bad("no such file or folder"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_name_lists_the_known_ones() {
        let err = resolve("gpt-9", Path::new("nowhere"), ModelKind::Chat).unwrap_err();
        assert!(matches!(err, ModelError::UnknownName { .. }));
        assert!(err.hint().unwrap().contains("smollm2"));
    }

    #[test]
    fn known_but_missing_says_fetch() {
        let err = resolve("smollm2", Path::new("nowhere"), ModelKind::Chat).unwrap_err();
        assert!(matches!(err, ModelError::NotInstalled { .. }));
        assert!(err.hint().unwrap().contains("incant models fetch"));
    }

    #[test]
    fn gguf_path_and_model_folder() {
        let dir = tempfile::tempdir().unwrap();
        let gguf = dir.path().join("m.gguf");
        std::fs::write(&gguf, b"GGUF").unwrap();
        let r = resolve(gguf.to_str().unwrap(), dir.path(), ModelKind::Chat).unwrap();
        assert_eq!(r.kind, ModelKind::Chat);

        let folder = dir.path().join("bert");
        std::fs::create_dir(&folder).unwrap();
        let err = resolve(folder.to_str().unwrap(), dir.path(), ModelKind::Embedding).unwrap_err();
        assert!(err.to_string().contains("missing config.json"));
        for f in ["config.json", "model.safetensors", "tokenizer.json"] {
            std::fs::write(folder.join(f), b"{}").unwrap();
        }
        let r = resolve(folder.to_str().unwrap(), dir.path(), ModelKind::Embedding).unwrap();
        assert_eq!(r.kind, ModelKind::Embedding);
        let err = resolve(folder.to_str().unwrap(), dir.path(), ModelKind::Chat).unwrap_err();
        assert!(matches!(err, ModelError::WrongKind { .. }));
    }
}
