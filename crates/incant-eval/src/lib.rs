//! Evaluation: checking model outputs.
//!
//! [`assertions`] holds the assertion types of a test suite, one Rust enum with an
//! exhaustive `match`, following promptfoo's documented semantics so that a
//! `promptfooconfig.yaml` gets the same verdicts here. The runner, cache and metrics build
//! on it.

pub mod assertions;

pub use assertions::{Assertion, AssertionKind, Context, Grade};
