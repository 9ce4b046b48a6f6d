//! The one error type of the crate: every failure names the file, the config field or the
//! request parameter at fault, with a hint where the fix is not obvious.

use std::path::PathBuf;

/// Everything that can go wrong loading a Stable Diffusion folder or generating with it.
#[derive(Debug, thiserror::Error)]
pub enum SdError {
    /// A file the diffusers layout requires is not there.
    #[error("{} is missing (hint: {hint})", path.display())]
    MissingFile {
        /// The file that was looked for.
        path: PathBuf,
        /// What the file is for, or where it usually comes from.
        hint: &'static str,
    },
    /// A file exists but could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON config is not valid JSON or does not have the expected shape.
    #[error("{} is not a valid config: {message}", path.display())]
    Json {
        /// The config file.
        path: PathBuf,
        /// What serde said.
        message: String,
    },
    /// A config field has a value this pipeline cannot run.
    #[error("{}: field `{field}`: {message}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// The field (a JSON key).
        field: String,
        /// What is wrong and what would work.
        message: String,
    },
    /// Weights could not be loaded into the model a config describes.
    #[error("{}: cannot build the {model} from these weights: {source} (hint: the weights must match {} and use diffusers key names)", path.display(), config.display())]
    Weights {
        /// The safetensors file.
        path: PathBuf,
        /// The config the model was built from.
        config: PathBuf,
        /// Which model ("UNet", "VAE", "text encoder").
        model: &'static str,
        /// candle's error.
        #[source]
        source: Box<candle_core::Error>,
    },
    /// The CLIP BPE vocabulary could not be loaded.
    #[error("cannot load the CLIP tokenizer: {0}")]
    Tokenizer(#[from] incant_tokenize::TokenizeError),
    /// A request parameter is out of range.
    #[error("request parameter `{field}`: {message}")]
    Request {
        /// The parameter (`width`, `steps`, `sampler`, ...).
        field: &'static str,
        /// What is wrong and what would work.
        message: String,
    },
    /// A tensor operation failed while generating.
    #[error("{stage} failed: {source}")]
    Compute {
        /// What was running (text encoding, denoising, decoding).
        stage: &'static str,
        /// candle's error.
        #[source]
        source: Box<candle_core::Error>,
    },
    /// The decoded image could not be encoded as PNG.
    #[error("cannot encode the PNG: {0}")]
    Png(#[from] png::EncodingError),
}

impl SdError {
    /// Wraps a candle error raised during `stage`.
    pub(crate) fn compute(stage: &'static str) -> impl FnOnce(candle_core::Error) -> Self {
        move |source| SdError::Compute {
            stage,
            source: Box::new(source),
        }
    }

    /// A config error for `field` of `path`.
    pub(crate) fn config(path: &std::path::Path, field: &str, message: impl Into<String>) -> Self {
        SdError::Config {
            path: path.to_path_buf(),
            field: field.to_string(),
            message: message.into(),
        }
    }
}
