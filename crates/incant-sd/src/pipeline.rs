//! The pipeline: load a diffusers folder once, then turn requests into PNG images.
//!
//! `load` reads every config first (so a bad folder fails before gigabytes of weights are
//! read), checks that the parts fit together (the text encoder's width is the UNet's
//! cross-attention width, the UNet and VAE agree on latent channels), then builds candle's
//! UNet and VAE and this crate's CLIP encoder from the safetensors files, casting fp16
//! weights to f32. `generate` conditions the prompt A1111-style, draws seeded noise, runs the
//! sampler with classifier-free guidance (skipped when `cfg_scale <= 1`, as turbo models
//! are run), decodes with the VAE and encodes each image as PNG.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::stable_diffusion::{
    unet_2d::UNet2DConditionModel, vae::AutoEncoderKL,
};
use incant_tokenize::clip::ClipTokenizer;

use crate::chunks::{SpecialIds, CHUNK_TOKENS};
use crate::conditioning::{encode_chunks, pad_to_same_length, prompt_chunks};
use crate::config::{self, Layout, ModelIndex, TextEncoderConfig, UnetConfig, VaeConfig};
use crate::rng::NoiseRng;
use crate::sampler::{NoiseSchedule, Sampler, SamplerKind};
use crate::text_encoder::{Activation, ClipTextEncoder};
use crate::SdError;

/// One text-to-image request.
#[derive(Debug, Clone, PartialEq)]
pub struct SdRequest {
    /// The weighted prompt (`incant_image_prompt::parse_prompt_attention`'s pairs).
    pub prompt: Vec<(String, f64)>,
    /// The weighted negative prompt (empty for none).
    pub negative: Vec<(String, f64)>,
    /// Image width in pixels (a multiple of the VAE's scale, 8 for SD).
    pub width: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Sampling steps.
    pub steps: usize,
    /// Classifier-free guidance scale; at 1 or below the unconditional pass is skipped.
    pub cfg_scale: f64,
    /// An A1111 sampler name (`DDIM`, `Euler`, `Euler a`); `None` follows the folder's
    /// scheduler config.
    pub sampler: Option<String>,
    /// The seed of the first image; image `i` of a batch uses `seed + i`.
    pub seed: u64,
    /// Images to generate.
    pub batch_size: usize,
}

impl SdRequest {
    /// A request from A1111 prompt text (weights, `BREAK` parsed here) with A1111's
    /// defaults: 512x512, 20 steps, cfg 7, seed 0, one image, the folder's sampler.
    pub fn from_a1111(prompt: &str, negative: &str) -> Self {
        use incant_image_prompt::parse_prompt_attention;
        let parse = |t: &str| {
            if t.is_empty() {
                Vec::new()
            } else {
                parse_prompt_attention(t)
            }
        };
        SdRequest {
            prompt: parse(prompt),
            negative: parse(negative),
            width: 512,
            height: 512,
            steps: 20,
            cfg_scale: 7.0,
            sampler: None,
            seed: 0,
            batch_size: 1,
        }
    }
}

/// A generated image as 8-bit RGB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row-major RGB bytes, `width * height * 3` of them.
    pub pixels: Vec<u8>,
}

impl RgbImage {
    /// The image as PNG bytes.
    pub fn to_png(&self) -> Result<Vec<u8>, SdError> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, self.width as u32, self.height as u32);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut writer = enc.write_header()?;
            writer.write_image_data(&self.pixels)?;
            writer.finish()?;
        }
        Ok(out)
    }
}

/// A loaded Stable Diffusion model.
#[derive(Debug)]
pub struct SdPipeline {
    tokenizer: ClipTokenizer,
    ids: SpecialIds,
    text: ClipTextEncoder,
    unet: UNet2DConditionModel,
    vae: AutoEncoderKL,
    unet_cfg: UnetConfig,
    vae_cfg: VaeConfig,
    schedule: NoiseSchedule,
    device: Device,
}

/// Loads a safetensors file as an f32 var builder (fp16 and bf16 are cast).
fn weights(
    path: &Path,
    config: &Path,
    model: &'static str,
    device: &Device,
) -> Result<VarBuilder<'static>, SdError> {
    if !path.is_file() {
        return Err(SdError::MissingFile {
            path: path.to_path_buf(),
            hint: "the model's weights (diffusers layout, safetensors)",
        });
    }
    let tensors =
        candle_core::safetensors::load(path, device).map_err(|source| SdError::Weights {
            path: path.to_path_buf(),
            config: config.to_path_buf(),
            model,
            source: Box::new(source),
        })?;
    Ok(VarBuilder::from_tensors(tensors, DType::F32, device))
}

impl SdPipeline {
    /// Loads the diffusers folder `dir` on the CPU; `bpe` is OpenAI's
    /// `bpe_simple_vocab_16e6.txt.gz` (the `clip-bpe` model of `incant models fetch`).
    pub fn load(dir: &Path, bpe: &Path) -> Result<Self, SdError> {
        Self::load_on(dir, bpe, &Device::Cpu)
    }

    /// Loads the diffusers folder `dir` on `device`.
    pub fn load_on(dir: &Path, bpe: &Path, device: &Device) -> Result<Self, SdError> {
        if !dir.is_dir() {
            return Err(SdError::MissingFile {
                path: dir.to_path_buf(),
                hint: "a Stable Diffusion folder in diffusers layout (model_index.json, unet/, vae/, text_encoder/, scheduler/)",
            });
        }
        let layout = Layout::new(dir);
        let index: ModelIndex = config::read_json(
            &layout.model_index,
            "diffusers' pipeline index; is this a diffusers-layout folder?",
        )?;
        index.check(&layout.model_index)?;
        let schedule = NoiseSchedule::load(&layout.scheduler)?;
        let text_cfg: TextEncoderConfig = config::read_json(
            &layout.text_config,
            "the CLIP text encoder's transformers config",
        )?;
        let activation = Activation::from_name(&text_cfg.hidden_act).ok_or_else(|| {
            SdError::config(
                &layout.text_config,
                "hidden_act",
                format!(
                    "{:?} is not supported; use quick_gelu, gelu or gelu_new",
                    text_cfg.hidden_act
                ),
            )
        })?;
        if !text_cfg
            .hidden_size
            .is_multiple_of(text_cfg.num_attention_heads)
        {
            return Err(SdError::config(
                &layout.text_config,
                "num_attention_heads",
                format!(
                    "{} does not divide hidden_size {}",
                    text_cfg.num_attention_heads, text_cfg.hidden_size
                ),
            ));
        }
        if text_cfg.max_position_embeddings < CHUNK_TOKENS + 2 {
            return Err(SdError::config(
                &layout.text_config,
                "max_position_embeddings",
                format!(
                    "{} is too small: prompt chunks are {} tokens with their markers",
                    text_cfg.max_position_embeddings,
                    CHUNK_TOKENS + 2
                ),
            ));
        }
        let unet_cfg = config::unet_config(&layout.unet_config)?;
        let vae_cfg = config::vae_config(&layout.vae_config)?;
        if unet_cfg.model.cross_attention_dim != text_cfg.hidden_size {
            return Err(SdError::config(
                &layout.unet_config,
                "cross_attention_dim",
                format!(
                    "is {} but the text encoder's hidden_size ({}) is {}",
                    unet_cfg.model.cross_attention_dim,
                    layout.text_config.display(),
                    text_cfg.hidden_size
                ),
            ));
        }
        if unet_cfg.in_channels != vae_cfg.model.latent_channels
            || unet_cfg.out_channels != vae_cfg.model.latent_channels
        {
            return Err(SdError::config(
                &layout.unet_config,
                "in_channels",
                format!(
                    "the UNet maps {} to {} channels but the VAE's latent_channels is {} (inpainting UNets are not text-to-image)",
                    unet_cfg.in_channels, unet_cfg.out_channels, vae_cfg.model.latent_channels
                ),
            ));
        }
        if vae_cfg.out_channels != 3 {
            return Err(SdError::config(
                &layout.vae_config,
                "out_channels",
                "must be 3 (RGB)",
            ));
        }
        let tokenizer = ClipTokenizer::load(bpe).map_err(|e| match bpe.is_file() {
            true => SdError::Tokenizer(e),
            false => SdError::MissingFile {
                path: bpe.to_path_buf(),
                hint: "OpenAI's CLIP BPE vocabulary bpe_simple_vocab_16e6.txt.gz (`incant models fetch clip-bpe`)",
            },
        })?;
        if tokenizer.vocab_size() > text_cfg.vocab_size {
            return Err(SdError::config(
                &layout.text_config,
                "vocab_size",
                format!(
                    "{} is smaller than the CLIP tokenizer's {}",
                    text_cfg.vocab_size,
                    tokenizer.vocab_size()
                ),
            ));
        }
        let ids = crate::conditioning::special_ids(
            &tokenizer,
            config::pad_token_id(&layout.tokenizer_dir)?,
        );

        let vb = weights(
            &layout.text_weights,
            &layout.text_config,
            "text encoder",
            device,
        )?;
        let text =
            ClipTextEncoder::new(vb, &text_cfg, activation).map_err(|source| SdError::Weights {
                path: layout.text_weights.clone(),
                config: layout.text_config.clone(),
                model: "text encoder",
                source: Box::new(source),
            })?;
        let vb = weights(&layout.unet_weights, &layout.unet_config, "UNet", device)?;
        let unet = UNet2DConditionModel::new(
            vb,
            unet_cfg.in_channels,
            unet_cfg.out_channels,
            false,
            unet_cfg.model.clone(),
        )
        .map_err(|source| SdError::Weights {
            path: layout.unet_weights.clone(),
            config: layout.unet_config.clone(),
            model: "UNet",
            source: Box::new(source),
        })?;
        let vb = weights(&layout.vae_weights, &layout.vae_config, "VAE", device)?;
        let vae = AutoEncoderKL::new(
            vb,
            vae_cfg.in_channels,
            vae_cfg.out_channels,
            vae_cfg.model.clone(),
        )
        .map_err(|source| SdError::Weights {
            path: layout.vae_weights.clone(),
            config: layout.vae_config.clone(),
            model: "VAE",
            source: Box::new(source),
        })?;
        Ok(SdPipeline {
            tokenizer,
            ids,
            text,
            unet,
            vae,
            unet_cfg,
            vae_cfg,
            schedule,
            device: device.clone(),
        })
    }

    /// The image size the model was trained at (`sample_size` times the VAE scale: 512 for
    /// SD 1.5, 768 for SD 2.1), when the UNet config says.
    pub fn native_size(&self) -> Option<usize> {
        self.unet_cfg.sample_size.map(|s| s * self.vae_cfg.scale)
    }

    /// The sampler a request without one gets (from the scheduler config's class).
    pub fn default_sampler(&self) -> SamplerKind {
        SamplerKind::from_class(self.schedule.class_name.as_deref())
    }

    /// The CLIP text encoder.
    pub fn text_encoder(&self) -> &ClipTextEncoder {
        &self.text
    }

    /// candle's UNet, built from `unet/config.json`.
    pub fn unet(&self) -> &UNet2DConditionModel {
        &self.unet
    }

    /// candle's VAE, built from `vae/config.json`.
    pub fn vae(&self) -> &AutoEncoderKL {
        &self.vae
    }

    /// The VAE's config (scale and latent scaling factor).
    pub fn vae_config(&self) -> &VaeConfig {
        &self.vae_cfg
    }

    /// The noise schedule read from the folder.
    pub fn schedule(&self) -> &NoiseSchedule {
        &self.schedule
    }

    /// The special token ids the prompt chunks use (the pad token from the folder).
    pub fn special_ids(&self) -> SpecialIds {
        self.ids
    }

    /// `(1, 77 * chunks, hidden)` conditioning for a weighted prompt.
    pub fn condition(&self, prompt: &[(String, f64)]) -> Result<Tensor, SdError> {
        let chunks = prompt_chunks(&self.tokenizer, &self.ids, prompt);
        encode_chunks(&self.text, &chunks, &self.device).map_err(SdError::compute("text encoding"))
    }

    /// Generates `req.batch_size` images as PNG bytes; `progress(step, total)` is called
    /// after each sampling step.
    pub fn generate(
        &self,
        req: &SdRequest,
        progress: impl FnMut(usize, usize),
    ) -> Result<Vec<Vec<u8>>, SdError> {
        self.generate_rgb(req, progress)?
            .iter()
            .map(RgbImage::to_png)
            .collect()
    }

    /// Generates `req.batch_size` images as RGB pixels.
    pub fn generate_rgb(
        &self,
        req: &SdRequest,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Vec<RgbImage>, SdError> {
        self.check(req)?;
        let kind = match &req.sampler {
            Some(name) => SamplerKind::from_name(name)?,
            None => self.default_sampler(),
        };
        let sampler = Sampler::new(kind, &self.schedule, req.steps)?;
        let guidance = (req.cfg_scale > 1.0).then_some(req.cfg_scale);
        let context = self.context(req, guidance.is_some())?;
        let shape = (
            req.batch_size,
            self.vae_cfg.model.latent_channels,
            req.height / self.vae_cfg.scale,
            req.width / self.vae_cfg.scale,
        );
        let mut rngs: Vec<NoiseRng> = (0..req.batch_size as u64)
            .map(|i| NoiseRng::new(req.seed.wrapping_add(i)))
            .collect();
        let initial = draw_noise(&mut rngs, shape, &self.device)
            .map_err(SdError::compute("drawing noise"))?;
        let latents = self
            .denoise(
                &sampler,
                &context,
                initial,
                guidance,
                &mut rngs,
                &mut progress,
            )
            .map_err(SdError::compute("denoising"))?;
        self.decode(&latents, req)
            .map_err(SdError::compute("VAE decoding"))
    }

    /// The UNet's `encoder_hidden_states`: the prompt's conditioning per image, preceded by
    /// the negative prompt's when guiding (both padded to the same number of chunks).
    fn context(&self, req: &SdRequest, guided: bool) -> Result<Tensor, SdError> {
        let b = req.batch_size;
        let cond = self.condition(&req.prompt)?;
        if !guided {
            return repeat(&cond, b).map_err(SdError::compute("text encoding"));
        }
        let uncond = self.condition(&req.negative)?;
        let empty = self.condition(&[])?;
        pad_to_same_length(cond, uncond, &empty)
            .and_then(|(cond, uncond)| Tensor::cat(&[repeat(&uncond, b)?, repeat(&cond, b)?], 0))
            .map_err(SdError::compute("text encoding"))
    }

    /// The sampling loop from standard-normal `latents`; with `guidance`, each step runs the
    /// unconditional and conditional halves of `context` in one batch and mixes them as
    /// `uncond + scale * (cond - uncond)`.
    fn denoise(
        &self,
        sampler: &Sampler,
        context: &Tensor,
        latents: Tensor,
        guidance: Option<f64>,
        rngs: &mut [NoiseRng],
        progress: &mut dyn FnMut(usize, usize),
    ) -> candle_core::Result<Tensor> {
        let b = latents.dim(0)?;
        let mut latents = (latents * sampler.init_noise_sigma())?;
        let total = sampler.timesteps().len();
        for (i, &t) in sampler.timesteps().iter().enumerate() {
            let input = sampler.scale_model_input(&latents, i)?;
            let out = match guidance {
                Some(scale) => {
                    let both = Tensor::cat(&[&input, &input], 0)?;
                    let out = self.unet.forward(&both, t, context)?;
                    let uncond = out.narrow(0, 0, b)?;
                    let cond = out.narrow(0, b, b)?;
                    (&uncond + ((cond - &uncond)? * scale)?)?
                }
                None => self.unet.forward(&input, t, context)?,
            };
            let fresh = match sampler.needs_noise() {
                true => Some(draw_noise(rngs, latents.dims4()?, &self.device)?),
                false => None,
            };
            latents = sampler.step(&out, i, &latents, fresh.as_ref())?;
            progress(i + 1, total);
        }
        Ok(latents)
    }

    fn decode(&self, latents: &Tensor, req: &SdRequest) -> candle_core::Result<Vec<RgbImage>> {
        let images = self.vae.decode(&(latents / self.vae_cfg.scaling_factor)?)?;
        let images = ((((images / 2.0)? + 0.5)?.clamp(0.0, 1.0)? * 255.0)?.round()?)
            .to_dtype(DType::U8)?
            .permute((0, 2, 3, 1))?;
        (0..req.batch_size)
            .map(|i| {
                let pixels = images.get(i)?.flatten_all()?.to_vec1::<u8>()?;
                Ok(RgbImage {
                    width: req.width,
                    height: req.height,
                    pixels,
                })
            })
            .collect()
    }

    fn check(&self, req: &SdRequest) -> Result<(), SdError> {
        let bad = |field, message: String| Err(SdError::Request { field, message });
        let scale = self.vae_cfg.scale;
        for (field, v) in [("width", req.width), ("height", req.height)] {
            if v == 0 || !v.is_multiple_of(scale) {
                return bad(
                    field,
                    format!("{v} must be a positive multiple of {scale} (the VAE's scale)"),
                );
            }
        }
        if req.batch_size == 0 {
            return bad("batch_size", "must be at least 1".into());
        }
        if !req.cfg_scale.is_finite() {
            return bad("cfg_scale", format!("{} is not a number", req.cfg_scale));
        }
        Ok(())
    }
}

/// Standard normal noise of `shape`, image `i` of the batch drawn from `rngs[i]`.
fn draw_noise(
    rngs: &mut [NoiseRng],
    shape: (usize, usize, usize, usize),
    device: &Device,
) -> candle_core::Result<Tensor> {
    let (_, c, h, w) = shape;
    let data: Vec<f32> = rngs.iter_mut().flat_map(|r| r.normals(c * h * w)).collect();
    Tensor::from_vec(data, shape, device)
}

/// `t` (batch 1) repeated `n` times along the batch.
fn repeat(t: &Tensor, n: usize) -> candle_core::Result<Tensor> {
    if n == 1 {
        Ok(t.clone())
    } else {
        Tensor::cat(&vec![t; n], 0)
    }
}
