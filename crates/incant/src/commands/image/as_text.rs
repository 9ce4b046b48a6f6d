//! Image providers inside `incant eval`: an adapter that gives an [`ImageProvider`] the text
//! [`Provider`] interface the runner drives, so image prompts run in suites, are stored,
//! cached and compared like text prompts.
//!
//! The rendered prompt becomes the image prompt (rendered again for the provider's dialect),
//! the prompt's `params` (width, height, steps, cfg_scale, sampler, seed, batch_size) and its
//! `negative_prompt` become the request, and the output is a JSON object naming the PNG files
//! written under `.incant/images/` (content-addressed), their seeds and the provider's
//! metadata, so `is-json`, `contains`, `latency` and `cost` assertions apply and a run keeps a
//! pointer to every image.

use super::prepare::{for_provider, provider_with_config};
use incant_image_provider::{ImageProvider, ImageRequest};
use incant_provider::{Provider, ProviderError, Request, Response};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Whether a suite's provider id names an image provider.
pub fn is_image_provider(id: &str) -> bool {
    id.starts_with("a1111:")
        || id.starts_with("comfyui:")
        || id.starts_with("openai:image:")
        || id == "local:sd"
        || id.starts_with("local:sd:")
}

/// An image provider driven as a text provider.
pub struct ImageAsText {
    inner: Box<dyn ImageProvider>,
    images_dir: PathBuf,
}

impl ImageAsText {
    /// Builds the image provider `id` with its suite config (paths relative to `base_dir`);
    /// images go to `images_dir`.
    pub fn new(
        id: &str,
        config: &serde_json::Map<String, Value>,
        models_dir: &Path,
        base_dir: &Path,
        images_dir: PathBuf,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            inner: provider_with_config(id, config, models_dir, base_dir)?,
            images_dir,
        })
    }
}

fn uint(req: &Request, key: &str) -> Option<u32> {
    req.params
        .get(key)
        .and_then(Value::as_u64)
        .map(|v| v as u32)
}

impl Provider for ImageAsText {
    fn id(&self) -> &str {
        self.inner.id()
    }

    fn call(&self, req: &Request) -> Result<Response, ProviderError> {
        let base = ImageRequest {
            prompt: req.text(),
            negative_prompt: req
                .params
                .get("negative_prompt")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            width: uint(req, "width").unwrap_or(512),
            height: uint(req, "height").unwrap_or(512),
            steps: uint(req, "steps").unwrap_or(20),
            cfg_scale: req
                .params
                .get("cfg_scale")
                .and_then(Value::as_f64)
                .unwrap_or(7.0),
            sampler: req
                .params
                .get("sampler")
                .and_then(Value::as_str)
                .map(str::to_string),
            seed: req
                .params
                .get("seed")
                .and_then(Value::as_i64)
                .filter(|s| *s >= 0)
                .map(|s| s as u64),
            batch_size: uint(req, "batch_size").unwrap_or(1),
        };
        let (image_req, mut warnings) = for_provider(&base, self.inner.id());
        let resp = self.inner.generate(&image_req).map_err(|e| match e {
            incant_image_provider::ImageError::Config(m) => ProviderError::Config(m),
            incant_image_provider::ImageError::Call(m) => ProviderError::Call(m),
            incant_image_provider::ImageError::Timeout(ms) => ProviderError::Timeout(ms),
        })?;
        warnings.extend(resp.warnings.iter().cloned());
        std::fs::create_dir_all(&self.images_dir).map_err(|e| {
            ProviderError::Call(format!("cannot create {}: {e}", self.images_dir.display()))
        })?;
        let mut files = Vec::new();
        for img in &resp.images {
            let name = format!("{:x}.png", Sha256::digest(&img.png));
            let path = self.images_dir.join(&name);
            if !path.is_file() {
                std::fs::write(&path, &img.png).map_err(|e| {
                    ProviderError::Call(format!("cannot write {}: {e}", path.display()))
                })?;
            }
            files.push(path.display().to_string());
        }
        let output = json!({
            "images": files,
            "seeds": resp.images.iter().map(|i| i.seed.or(image_req.seed)).collect::<Vec<_>>(),
            "prompt": image_req.prompt,
            "negative_prompt": image_req.negative_prompt,
            "warnings": warnings,
            "metadata": resp.metadata,
        });
        Ok(Response {
            output: output.to_string(),
            usage: None,
            cost: resp.cost,
            logprobs: None,
        })
    }

    fn max_concurrency(&self) -> Option<usize> {
        self.inner.max_concurrency()
    }
}
