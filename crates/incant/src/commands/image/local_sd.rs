//! `local:sd:DIR`: the candle Stable Diffusion pipeline of `incant-sd` behind the
//! [`ImageProvider`] trait, so grids, curves and `generate` treat it like any server.
//!
//! The request arrives in A1111 syntax; weights and `BREAK` become per-token weights on the
//! text embeddings as A1111 applies them, and prompt editing is resolved to the text used
//! for most steps (with a warning), since the pipeline conditions every step the same way.

use crate::report::input_error;
use anyhow::Result;
use incant_image_prompt::{render, Target};
use incant_image_provider::{
    GeneratedImage, ImageError, ImageProvider, ImageRequest, ImageResponse,
};
use incant_models::{resolve, ModelKind};
use incant_sd::{SdPipeline, SdRequest};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A loaded local pipeline.
pub struct LocalSd {
    id: String,
    dir: PathBuf,
    pipeline: SdPipeline,
}

impl LocalSd {
    /// Loads `local:sd:DIR` (or `local:sd`: MODELS/sd) with the CLIP vocabulary from MODELS.
    pub fn load(id: &str, models_dir: &Path) -> Result<Self> {
        let dir = match id.strip_prefix("local:sd:") {
            Some(d) if !d.is_empty() => PathBuf::from(d),
            _ => models_dir.join("sd"),
        };
        let bpe = resolve("clip-bpe", models_dir, ModelKind::Vocabulary).map_err(|e| {
            input_error(
                format!("{id} needs the CLIP vocabulary: {e}"),
                Some("run `incant models fetch clip-bpe`"),
            )
        })?;
        let bpe = if bpe.path.is_dir() {
            bpe.path.join("bpe_simple_vocab_16e6.txt.gz")
        } else {
            bpe.path
        };
        let pipeline = SdPipeline::load(&dir, &bpe).map_err(|e| {
            input_error(
                format!("{id}: {e}"),
                Some("point local:sd:DIR at a diffusers folder (model_index.json, unet/, vae/, text_encoder/, scheduler/)"),
            )
        })?;
        Ok(Self {
            id: id.to_string(),
            dir,
            pipeline,
        })
    }
}

/// A seed for a request without one, from the clock (A1111's range).
fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 4_294_967_294
}

impl ImageProvider for LocalSd {
    fn id(&self) -> &str {
        &self.id
    }

    fn generate(&self, req: &ImageRequest) -> Result<ImageResponse, ImageError> {
        let start = Instant::now();
        let rendered = render(&req.prompt, &req.negative_prompt, Target::Local, req.steps);
        let (prompt, negative) = rendered.weighted.unwrap_or_default();
        let negative = if negative.iter().all(|(t, _)| t.trim().is_empty()) {
            Vec::new()
        } else {
            negative
        };
        let seed = req.seed.unwrap_or_else(fresh_seed);
        let sd = SdRequest {
            prompt,
            negative,
            width: req.width as usize,
            height: req.height as usize,
            steps: req.steps as usize,
            cfg_scale: req.cfg_scale,
            sampler: req.sampler.clone(),
            seed,
            batch_size: req.batch_size.max(1) as usize,
        };
        let pngs = self
            .pipeline
            .generate(&sd, |_, _| {})
            .map_err(|e| ImageError::Call(e.to_string()))?;
        Ok(ImageResponse {
            images: pngs
                .into_iter()
                .enumerate()
                .map(|(i, png)| GeneratedImage {
                    png,
                    seed: Some(seed + i as u64),
                })
                .collect(),
            latency: start.elapsed(),
            cost: Some(0.0),
            metadata: serde_json::json!({
                "model_dir": self.dir.display().to_string(),
                "sampler": req.sampler.clone().unwrap_or_else(|| format!("{:?}", self.pipeline.default_sampler())),
            }),
            warnings: rendered.warnings,
        })
    }

    fn max_concurrency(&self) -> Option<usize> {
        Some(1)
    }
}
