//! Evaluation: checking model outputs.
//!
//! [`assertions`] holds the assertion types of a test suite, one Rust enum with an
//! exhaustive `match`, following promptfoo's documented semantics so that a
//! `promptfooconfig.yaml` gets the same verdicts here. [`runner`] runs a suite's matrix
//! (prompts x providers x tests x repeats) with bounded concurrency and grades each case.
//! [`grader`] gives model-graded assertions (`similar`, `llm-rubric`, `factuality`) their
//! embedding model and judge, loaded once per run. [`snapshot`] keeps the accepted and
//! pending outputs of `snapshot` assertions in the suite's `__snapshots__` folder.

pub mod assertions;
pub mod grader;
pub mod runner;
pub mod schedule;
pub mod snapshot;

pub use assertions::{needs_grader, Assertion, AssertionKind, Context, Grade, Grader};
pub use grader::ProviderGrader;
