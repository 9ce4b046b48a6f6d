//! Shared by the engine's integration tests: where the real models and the reference data are.

#![allow(dead_code)]

use std::path::PathBuf;

/// The models folder: `INCANT_MODELS`, else `<workspace>/models`.
pub fn models_dir() -> PathBuf {
    match std::env::var_os("INCANT_MODELS") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"),
    }
}

/// A model file or folder under the models folder; panics with the fix when absent.
pub fn model(rel: &str) -> PathBuf {
    let p = models_dir().join(rel);
    assert!(
        p.exists(),
        "{} is missing: run `cargo run -p incant -- models fetch` (the test script does this)",
        p.display()
    );
    p
}

pub fn smollm2() -> PathBuf {
    model("SmolLM2-135M-Instruct.Q4_1.gguf")
}

pub fn minilm() -> PathBuf {
    model("all-MiniLM-L6-v2")
}

/// A reference file written by `scripts/reference/*.py`.
pub fn reference(name: &str) -> serde_json::Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference")
        .join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap()
}
