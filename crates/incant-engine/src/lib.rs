//! incant's local inference engine.
//!
//! Everything that runs a model on this machine sits behind this crate's boundary, so the
//! kernels underneath can change without touching any caller. Two kinds of model are supported:
//!
//! - [`ChatModel`]: any llama-family GGUF chat model. The tokenizer comes from the GGUF's own
//!   metadata ([`incant_tokenize`]), the chat template from `tokenizer.chat_template`
//!   rendered with minijinja ([`chat_template`]), the transformer runs on incant's own
//!   kernels ([`llama`], [`kernels`]) split between the threads of [`pool`], and decoding is
//!   done by [`sampling`] with streaming, stop strings and log-probabilities ([`generate`]).
//! - [`SentenceEmbedder`]: BERT sentence embedders such as all-MiniLM-L6-v2, with the mean
//!   pooling, normalisation and truncation of sentence-transformers ([`embed`]).
//!
//! Errors are data: a corrupt file, an unsupported architecture or a prompt that does not
//! fit the context window come back as an [`EngineError`] with the path and the reason,
//! never as a panic.

pub mod bert;
pub mod chat_template;
pub mod embed;
pub mod generate;
pub mod gguf;
pub mod kernels;
pub mod llama;
pub mod pool;
pub mod rng;
pub mod sampling;

pub use chat_template::{ChatMessage, ChatTemplate};
pub use embed::{EmbedOptions, SentenceEmbedder};
pub use generate::{ChatModel, FinishReason, Generation, Timings};
pub use sampling::SamplingParams;

use std::path::PathBuf;

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a usable model (truncated, corrupt, unsupported).
    #[error("{}: {reason}", path.display())]
    BadModel {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The tokenizer could not be built or used.
    #[error(transparent)]
    Tokenizer(#[from] incant_tokenize::TokenizeError),
    /// The chat template failed to compile or render.
    #[error("chat template: {0}")]
    Template(String),
    /// The prompt plus the requested tokens do not fit the model's context window.
    #[error(
        "the prompt has {prompt_tokens} tokens and {max_tokens} more were requested, \
         but the model's context window is {context} tokens"
    )]
    ContextOverflow {
        /// Tokens in the prompt.
        prompt_tokens: usize,
        /// Requested new tokens.
        max_tokens: usize,
        /// The context length.
        context: usize,
    },
    /// A parameter outside its range.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParam {
        /// The parameter.
        name: &'static str,
        /// Why.
        reason: String,
    },
    /// A failure inside candle while computing.
    #[error("inference failed: {0}")]
    Compute(#[from] candle_core::Error),
}

impl EngineError {
    /// A one-line suggestion of what to do about the error.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Self::BadModel { .. } => Some(
                "the file may be truncated or corrupt: run `incant models fetch` again, \
                 or re-download it",
            ),
            Self::ContextOverflow { .. } => Some("shorten the prompt or lower --max-tokens"),
            Self::Template(_) => {
                Some("check the conversation's roles and the model's chat template, or use --raw")
            }
            _ => None,
        }
    }
}

pub(crate) fn bad_model(path: &std::path::Path, reason: impl Into<String>) -> EngineError {
    EngineError::BadModel {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}
