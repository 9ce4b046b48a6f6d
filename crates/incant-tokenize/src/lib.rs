//! Tokenizers for incant.
//!
//! A local model is only as reproducible as its tokenizer: if incant split a prompt into
//! different token ids than llama.cpp does, every logit, every greedy output and every
//! perplexity figure would differ too. So this crate re-implements the byte-level BPE that
//! GGUF files describe in their `tokenizer.ggml.*` metadata, following llama.cpp's algorithm
//! step by step (special-token partitioning, the pre-tokenizer regexes, ranked merges, byte
//! fallback), and checks it against llama.cpp's own ids in the parity tests.
//!
//! The crate knows nothing about GGUF files as such: the engine reads the metadata and hands
//! over a [`BpeVocab`]. It also has the [`Utf8Stream`] used when streaming generated text,
//! which never cuts a multi-byte character in half.
//!
//! Modules:
//! - [`bpe`]: the tokenizer (vocabulary, merges, encode/decode).
//! - [`pretokenize`]: the regex-equivalent splitters llama.cpp applies before BPE.
//! - [`bytes`]: GPT-2's reversible byte-to-unicode table.
//! - [`stream`]: incremental UTF-8 decoding for streamed output.
//! - [`clip`]: OpenAI CLIP's BPE tokenizer (same ids as `simple_tokenizer`).
//! - [`clip_clean`]: the ftfy-style text cleaning CLIP applies first.

pub mod bpe;
pub mod bytes;
pub mod clip;
pub mod clip_clean;
pub mod pretokenize;
pub mod stream;

pub use bpe::{BpeTokenizer, BpeVocab, TokenType};
pub use stream::Utf8Stream;

/// Everything that can go wrong while building or using a tokenizer.
#[derive(Debug, thiserror::Error)]
pub enum TokenizeError {
    /// The GGUF names a tokenizer model this crate cannot run.
    #[error("tokenizer model `{0}` is not supported (supported: gpt2-style byte-level BPE)")]
    UnsupportedModel(String),
    /// The GGUF names a pre-tokenizer this crate cannot run.
    #[error("pre-tokenizer `{found}` is not supported (supported: {supported})")]
    UnsupportedPreTokenizer {
        /// The name found in `tokenizer.ggml.pre`.
        found: String,
        /// The names this crate knows.
        supported: String,
    },
    /// The vocabulary metadata is inconsistent.
    #[error("invalid tokenizer vocabulary: {0}")]
    InvalidVocab(String),
    /// A token id outside the vocabulary was given to `decode`.
    #[error("token id {id} is out of range (vocabulary has {size} tokens)")]
    UnknownId {
        /// The offending id.
        id: u32,
        /// The vocabulary size.
        size: usize,
    },
}
