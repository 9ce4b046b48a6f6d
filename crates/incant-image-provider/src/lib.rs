//! Image providers: one trait for everything that turns an image prompt into PNG bytes.
//!
//! A suite or a grid names image providers by id (`a1111:http://127.0.0.1:7860`,
//! `comfyui:http://127.0.0.1:8188`, `openai:image:gpt-image-1`, `local:sd`). Every provider
//! takes the same [`ImageRequest`] (the prompt already rendered for that target's dialect)
//! and returns PNG bytes plus metadata. A failed call is an `Err(ImageError)` that the
//! caller records as a result, never a crash.
//!
//! [`from_spec`] builds the HTTP providers: [`a1111`], [`comfyui`] and [`openai`]. They
//! share the strict config reading of `config` (unknown keys are errors naming the nearest
//! valid key), the HTTP client of `http` (incant-provider's retry policy, `Retry-After`
//! honoured, timeouts) and [`png_check`] (what comes back must be a PNG).

pub mod a1111;
pub mod comfyui;
mod config;
mod http;
pub mod openai;
pub mod png_check;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::Path;
use std::time::Duration;

/// What to draw. Fields a target does not support are ignored by it (and said so in
/// [`ImageResponse::warnings`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRequest {
    /// The positive prompt, already rendered for the target's dialect.
    pub prompt: String,
    /// The negative prompt (empty: none).
    pub negative_prompt: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Sampling steps.
    pub steps: u32,
    /// Classifier-free guidance scale.
    pub cfg_scale: f64,
    /// Sampler name as A1111 spells it (`Euler a`, `DPM++ 2M`, ...); `None`: the target's default.
    pub sampler: Option<String>,
    /// Seed; `None`: random (the response says which seed was used when the target tells).
    pub seed: Option<u64>,
    /// Images per call.
    pub batch_size: u32,
}

impl Default for ImageRequest {
    fn default() -> Self {
        Self {
            prompt: String::new(),
            negative_prompt: String::new(),
            width: 512,
            height: 512,
            steps: 20,
            cfg_scale: 7.0,
            sampler: None,
            seed: None,
            batch_size: 1,
        }
    }
}

/// One generated image.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedImage {
    /// The PNG file's bytes.
    pub png: Vec<u8>,
    /// The seed that produced it, when the target reports it.
    pub seed: Option<u64>,
}

/// What came back from one call.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageResponse {
    /// The images, `batch_size` of them.
    pub images: Vec<GeneratedImage>,
    /// Wall time of the call.
    pub latency: Duration,
    /// Cost in dollars, when known (local: 0).
    pub cost: Option<f64>,
    /// What the target reported about the generation (its `info`, the workflow's history
    /// entry, the revised prompt, ...).
    pub metadata: serde_json::Value,
    /// Things the user should know (ignored fields, truncated prompts).
    pub warnings: Vec<String>,
}

/// A failed call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// The provider id or its configuration is wrong (a suite error, exit code 2).
    #[error("{0}")]
    Config(String),
    /// The call failed (a result row).
    #[error("{0}")]
    Call(String),
    /// The call took longer than allowed.
    #[error("timed out after {0} ms")]
    Timeout(u64),
}

/// An image backend.
pub trait ImageProvider: Send + Sync {
    /// The id as the suite wrote it.
    fn id(&self) -> &str;
    /// Runs one request.
    fn generate(&self, req: &ImageRequest) -> Result<ImageResponse, ImageError>;
    /// Calls that can usefully run at once (`None`: as many as the runner allows). A1111
    /// and ComfyUI work through one job at a time, so more would only wait in their queue
    /// and count that wait as latency.
    fn max_concurrency(&self) -> Option<usize> {
        None
    }
}

/// Builds an image provider from its id and config; `base_dir` (the suite's folder)
/// resolves relative paths such as a ComfyUI `workflow`.
pub fn from_spec(
    id: &str,
    config: &Map<String, Value>,
    base_dir: &Path,
) -> Result<Box<dyn ImageProvider>, ImageError> {
    if let Some(url) = id.strip_prefix("a1111:") {
        return Ok(Box::new(a1111::A1111::new(id, url, config)?));
    }
    if let Some(url) = id.strip_prefix("comfyui:") {
        return Ok(Box::new(comfyui::ComfyUi::new(id, url, config, base_dir)?));
    }
    if let Some(model) = id.strip_prefix("openai:image:") {
        return Ok(Box::new(openai::OpenAiImages::new(id, model, config)?));
    }
    if id == "local:sd" || id.starts_with("local:sd:") {
        return Err(ImageError::Config(format!(
            "{id}: local:sd is wired by the integrator (the candle pipeline lives in incant-sd)"
        )));
    }
    Err(ImageError::Config(format!(
        "unknown image provider `{id}` (known: a1111:URL, comfyui:URL, openai:image:MODEL, \
         local:sd)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_spec_names_the_known_providers() {
        let err = |id: &str| from_spec(id, &Map::new(), Path::new(".")).err().unwrap();
        assert_eq!(
            err("midjourney:v6"),
            ImageError::Config(
                "unknown image provider `midjourney:v6` (known: a1111:URL, comfyui:URL, \
                 openai:image:MODEL, local:sd)"
                    .into()
            )
        );
        assert!(err("local:sd")
            .to_string()
            .contains("wired by the integrator"));
        assert!(err("a1111:127.0.0.1:7860")
            .to_string()
            .contains("must be an http(s) URL"));
        let ok = from_spec("a1111:http://127.0.0.1:7860", &Map::new(), Path::new(".")).unwrap();
        assert_eq!(ok.id(), "a1111:http://127.0.0.1:7860");
    }
}
