//! CLIP ViT text and image embeddings on candle, and CLIP score.
//!
//! Half of incant's story is text-to-image, and the number everyone trusts there is CLIP
//! score: how well an image matches its prompt according to a CLIP model (OpenAI ViT-L/14 for
//! Stable Diffusion 1.x, OpenCLIP ViT-H/14 for 2.x). This crate computes it locally from a
//! model folder in transformers' layout, with the same numbers as the Python stack:
//!
//! - [`ClipModel`] (`clip`): loads `config.json` + `model.safetensors` (+
//!   `preprocessor_config.json`, tokenizer files) and embeds captions and images; captions
//!   over 77 tokens are truncated with a [`TruncationWarning`];
//! - `config`: `CLIPConfig` with transformers' defaults and legacy keys, the activation
//!   (`quick_gelu` for OpenAI, exact `gelu` for OpenCLIP) and the text pooling rule;
//! - `model`: both towers layer for layer as transformers' `CLIPModel` (candle-transformers'
//!   CLIP cannot run OpenCLIP configs; the module doc says why);
//! - `processor` and `resample`: `CLIPImageProcessor`'s preprocessing with Pillow's bicubic
//!   resize reproduced byte for byte;
//! - `score`: torchmetrics' CLIP score, `max(mean(100 * cos), 0)`, the clamp on the mean.
//!
//! Checked against transformers' `CLIPModel` and `CLIPImageProcessorPil` and torchmetrics'
//! `clip_score` on tiny random models (`scripts/reference/make_clip_model_reference.py`,
//! data under `tests/data/`).

pub mod clip;
pub mod config;
mod model;
pub mod processor;
pub mod resample;
pub mod score;

use std::path::{Path, PathBuf};

pub use clip::{ClipModel, TruncationWarning};
pub use config::{Activation, ClipConfig, Pooling, TextConfig, VisionConfig};
pub use processor::ImageProcessor;
pub use score::{clip_score_from_embeddings, cosine_score, ClipScore};

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    /// A file that could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A folder that is not a CLIP model in transformers' layout.
    #[error("{} is not a CLIP model folder: {reason}\n  hint: point at a folder in transformers' layout (config.json, model.safetensors, preprocessor_config.json, merges.txt), e.g. a download of openai/clip-vit-large-patch14", path.display())]
    NotAModel { path: PathBuf, reason: String },
    /// A config file with a missing or wrong value.
    #[error("{}: {message}", path.display())]
    Config { path: PathBuf, message: String },
    /// Weights that are missing a tensor or have the wrong shape for the config.
    #[error("{}: the weights do not fit config.json: {source}\n  hint: the folder's config.json and model.safetensors must come from the same model", path.display())]
    Weights {
        path: PathBuf,
        #[source]
        source: candle_core::Error,
    },
    /// A tokenizer file that could not be read.
    #[error("{}: {source}", path.display())]
    Tokenizer {
        path: PathBuf,
        #[source]
        source: incant_tokenize::TokenizeError,
    },
    /// Captions given to a model loaded without a tokenizer.
    #[error("this CLIP model has no tokenizer\n  hint: put merges.txt (transformers) or bpe_simple_vocab_16e6.txt.gz (`incant models fetch clip-bpe`) in the model folder, or call ClipModel::with_tokenizer")]
    NoTokenizer,
    /// A token id sequence the text tower cannot take.
    #[error("token sequence {index}: {reason}")]
    BadSequence { index: usize, reason: String },
    /// An image that cannot be decoded or preprocessed.
    #[error("{0}")]
    BadImage(String),
    /// A PNG that could not be decoded.
    #[error("cannot decode PNG: {source}\n  hint: CLIP score reads PNG images")]
    Decode {
        #[source]
        source: image::ImageError,
    },
    /// Different numbers of images and captions.
    #[error("{images} images but {captions} captions: CLIP score pairs them one to one")]
    CountMismatch { images: usize, captions: usize },
    /// Embeddings that cannot be scored.
    #[error("{0}")]
    Embedding(String),
    /// A setting this crate does not implement.
    #[error("unsupported setting: {0}")]
    Unsupported(String),
    /// A tensor operation failed (a bug or an out-of-memory).
    #[error("CLIP model computation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Decodes PNG bytes to 8-bit RGB (an alpha channel is dropped and grey is widened, as
/// PIL's `convert("RGB")` does; 16-bit samples are reduced to 8 bits).
pub fn decode_png(bytes: &[u8]) -> Result<image::RgbImage, ClipError> {
    let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)
        .map_err(|source| ClipError::Decode { source })?;
    Ok(img.to_rgb8())
}

/// Reads and decodes a PNG file.
pub fn load_png(path: &Path) -> Result<image::RgbImage, ClipError> {
    let bytes = std::fs::read(path).map_err(|source| ClipError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode_png(&bytes).map_err(|e| match e {
        ClipError::Decode { source } => {
            ClipError::BadImage(format!("{}: cannot decode PNG: {source}", path.display()))
        }
        other => other,
    })
}
