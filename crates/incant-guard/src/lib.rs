//! incant's guard: prompt-injection detection on inputs, leak detection and redaction on
//! outputs, canary tokens, and the red-team attack library.
//!
//! # Input
//! [`Guard::scan_input`] (or [`Guard::scan_inputs`] for batches) returns a [`Scan`]: a
//! score in [0, 1], `flagged` (`score >= threshold`, [`DEFAULT_THRESHOLD`] = 0.5 unless
//! configured) and the [`Reason`]s. The detectors:
//! - **rules** ([`rules`]): weighted phrase patterns (English and Chinese) over the
//!   normalised text ([`normalize`]: NFKC, case folding, look-alike letters mapped to ASCII,
//!   invisible characters dropped, leetspeak and spaced letters read), run again on every
//!   hidden view: Unicode tag characters decoded as ASCII, and base64, hex, URL-encoding and
//!   rot13 decoded with bounded depth and size ([`decode`]);
//! - **obfuscation signals**: tag-character smuggling, words mixing scripts, invisible
//!   characters, decodable runs;
//! - **embedding** (with [`Guard::with_embedder`]): nearest neighbours in the attack and
//!   benign corpus ([`corpus`]) with MiniLM;
//! - **judge** (with [`Guard::with_judge`]): any model behind the [`Judge`] trait, asked only
//!   about uncertain texts.
//!
//! Scores combine by noisy-OR (see [`scan`]).
//!
//! # Output
//! [`Guard::scan_output`] checks an output against a [`Secret`] (the system prompt and its
//! [`Canary`]): the canary, however mangled ([`canary`]); the share of the system prompt's
//! character n-grams in the output ([`leak`]); and with an embedder, their cosine
//! similarity. [`Guard::redact`] replaces the leaked spans and canaries.
//!
//! # Red team
//! [`redteam::AttackLibrary`] loads the attack library (YAML, format in [`redteam`]).
//!
//! Everything returned is `Serialize`, for `--json`. Nothing panics on bad text: empty,
//! huge, or adversarially encoded inputs give bounded-time results.

pub mod canary;
pub mod corpus;
pub mod decode;
pub mod guard;
pub mod leak;
pub mod metrics;
pub mod normalize;
pub mod redteam;
pub mod rules;
pub mod scan;

pub use canary::Canary;
pub use corpus::{Corpus, EmbeddingIndex};
pub use guard::{
    judge_prompt, parse_judge_reply, Guard, GuardConfig, Judge, LeakScan, Redacted, Secret,
};
pub use redteam::{Attack, AttackLibrary, AttemptVerdict, Goal};
pub use rules::Category;
pub use scan::{Reason, Scan, DEFAULT_THRESHOLD};

use std::path::PathBuf;

/// Everything that can go wrong in the guard (scanning itself never fails).
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// A JSON Lines data file has a bad line.
    #[error("{file}:{line}: {reason}")]
    Data {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A red-team YAML file is invalid.
    #[error("{file}: {reason} (see the format in incant_guard::redteam)")]
    Yaml {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A file or folder could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The embedding model could not be found.
    #[error(transparent)]
    Model(#[from] incant_models::ModelError),
    /// The embedding model failed.
    #[error("embedding model: {0}")]
    Engine(#[from] incant_engine::EngineError),
}
