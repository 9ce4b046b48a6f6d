//! Tiny Stable Diffusion folders for tests: real diffusers configs, weights from the very
//! models the pipeline runs (candle's UNet and VAE, this crate's CLIP encoder) built on a
//! `VarMap`, filled with deterministic values and saved as safetensors with diffusers' key
//! names, and a CLIP merges file with OpenAI's layout.
//!
//! The hubs are out of reach in tests, so anything that runs `local:sd` (this crate, the
//! image provider, the CLI) writes one of these folders and goes through the real loader.
//! The weights are the same on every run, which is what lets
//! `scripts/reference/make_sd_reference.py` check the forward passes against diffusers and
//! transformers on the very same folder.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::{unet_config, vae_config, TextEncoderConfig};
use crate::rng::NoiseRng;
use crate::text_encoder::{Activation, ClipTextEncoder};
use crate::SdError;
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::stable_diffusion::{
    unet_2d::UNet2DConditionModel, vae::AutoEncoderKL,
};

/// Which kind of folder to write.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tiny {
    /// SD 2.x style: OpenCLIP gelu encoder, v-prediction, linear projections, `!` padding.
    pub sd2: bool,
    /// Save the UNet and VAE as fp16.
    pub fp16: bool,
    /// The scheduler config (`None`: SD 1.5's PNDM config).
    pub scheduler: Option<&'static str>,
}

/// SD 1.5's `scheduler_config.json` (PNDM; runs DDIM here).
pub const SD15_SCHEDULER: &str = r#"{"_class_name": "PNDMScheduler", "beta_end": 0.012,
  "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
  "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1, "trained_betas": null,
  "clip_sample": false}"#;

/// SD-Turbo's `scheduler_config.json` (Euler, trailing spacing).
pub const TURBO_SCHEDULER: &str = r#"{"_class_name": "EulerDiscreteScheduler", "beta_end": 0.012,
  "beta_schedule": "scaled_linear", "beta_start": 0.00085, "interpolation_type": "linear",
  "num_train_timesteps": 1000, "prediction_type": "epsilon", "steps_offset": 1,
  "timestep_spacing": "trailing", "trained_betas": null, "use_karras_sigmas": false}"#;

/// SD 2.1's `scheduler_config.json` (DDIM, v-prediction).
pub const SD21_SCHEDULER: &str = r#"{"_class_name": "DDIMScheduler", "beta_end": 0.012,
  "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": false,
  "num_train_timesteps": 1000, "prediction_type": "v_prediction", "set_alpha_to_one": false,
  "steps_offset": 1, "trained_betas": null}"#;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SdError + '_ {
    move |source| SdError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write(path: &Path, text: &str) -> Result<(), SdError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::write(path, text).map_err(io(path))
}

const STAGE: &str = "writing the tiny model";

/// Overwrites every variable with deterministic values of a sensible scale: norms near 1,
/// biases near 0, weights ~ N(0, 1/fan_in).
fn fill(varmap: &VarMap, seed: u64) -> candle_core::Result<()> {
    let data = varmap
        .data()
        .lock()
        .expect("the VarMap lock is not poisoned");
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut rng = NoiseRng::new(seed);
    for name in names {
        let var = &data[name];
        let dims = var.dims().to_vec();
        let n: usize = dims.iter().product();
        let z = rng.normals(n);
        let values: Vec<f32> =
            if dims.len() == 1 && name.contains("norm") && name.ends_with("weight") {
                z.iter().map(|x| 1.0 + 0.1 * x).collect()
            } else if dims.len() == 1 {
                z.iter().map(|x| 0.02 * x).collect()
            } else {
                let fan_in: usize = dims[1..].iter().product();
                let scale = 1.0 / (fan_in as f32).sqrt();
                z.iter().map(|x| x * scale).collect()
            };
        var.set(&Tensor::from_vec(values, dims, &Device::Cpu)?)?;
    }
    Ok(())
}

/// diffusers' current names for the VAE's attention (candle creates the legacy
/// `query`/`key`/`value`/`proj_attn` names on an empty `VarMap`, and reads either).
fn current_attention_name(key: &str) -> String {
    [
        (".query.", ".to_q."),
        (".key.", ".to_k."),
        (".value.", ".to_v."),
        (".proj_attn.", ".to_out.0."),
    ]
    .iter()
    .fold(key.to_string(), |k, (old, new)| k.replace(old, new))
}

fn save(varmap: &VarMap, path: &Path, fp16: bool) -> Result<(), SdError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let data = varmap
        .data()
        .lock()
        .expect("the VarMap lock is not poisoned");
    let tensors = data
        .iter()
        .map(|(k, v)| {
            let t = v.as_tensor().clone();
            let t = if fp16 { t.to_dtype(DType::F16)? } else { t };
            Ok((current_attention_name(k), t))
        })
        .collect::<candle_core::Result<HashMap<String, Tensor>>>()
        .map_err(SdError::compute(STAGE))?;
    candle_core::safetensors::save(&tensors, path).map_err(SdError::compute(STAGE))
}

/// Builds a model with `build` on a fresh `VarMap`, fills it from `seed` and saves it.
fn build_and_save(
    path: &Path,
    seed: u64,
    fp16: bool,
    build: impl FnOnce(VarBuilder) -> candle_core::Result<()>,
) -> Result<(), SdError> {
    let vm = VarMap::new();
    build(VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu))
        .and_then(|()| fill(&vm, seed))
        .map_err(SdError::compute(STAGE))?;
    save(&vm, path, fp16)
}

/// Writes a tiny model folder under `dir`: a 2-layer, 32-wide CLIP text encoder, a
/// two-block UNet (32 and 64 channels, cross-attention in the first) and a four-block VAE
/// (scale 8, so 64x64 images have 8x8 latents).
pub fn write_model(dir: &Path, tiny: Tiny) -> Result<(), SdError> {
    write(
        &dir.join("model_index.json"),
        r#"{"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.30.0"}"#,
    )?;
    let scheduler = tiny.scheduler.unwrap_or(if tiny.sd2 {
        SD21_SCHEDULER
    } else {
        SD15_SCHEDULER
    });
    write(&dir.join("scheduler/scheduler_config.json"), scheduler)?;

    let act = if tiny.sd2 { "gelu" } else { "quick_gelu" };
    let text_json = format!(
        r#"{{"architectures": ["CLIPTextModel"], "model_type": "clip_text_model",
  "vocab_size": 49408, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
  "num_attention_heads": 4, "max_position_embeddings": 77, "hidden_act": "{act}",
  "layer_norm_eps": 1e-05, "projection_dim": 32, "bos_token_id": 49406,
  "eos_token_id": 49407, "pad_token_id": 1, "torch_dtype": "float32"}}"#
    );
    let text_path = dir.join("text_encoder/config.json");
    write(&text_path, &text_json)?;
    let text_cfg: TextEncoderConfig =
        serde_json::from_str(&text_json).map_err(|e| SdError::Json {
            path: text_path,
            message: e.to_string(),
        })?;
    let activation = Activation::from_name(act).expect("both activations are known");
    build_and_save(
        &dir.join("text_encoder/model.safetensors"),
        1,
        false,
        |vb| ClipTextEncoder::new(vb, &text_cfg, activation).map(|_| ()),
    )?;

    if tiny.sd2 {
        write(
            &dir.join("tokenizer/special_tokens_map.json"),
            r#"{"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "!", "unk_token": "<|endoftext|>"}"#,
        )?;
        write(
            &dir.join("tokenizer/vocab.json"),
            r#"{"!": 0, "\"": 1, "<|startoftext|>": 49406, "<|endoftext|>": 49407}"#,
        )?;
    }

    let unet_json = format!(
        r#"{{"_class_name": "UNet2DConditionModel", "act_fn": "silu", "attention_head_dim": [2, 4],
  "block_out_channels": [32, 64], "center_input_sample": false, "cross_attention_dim": 32,
  "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"], "downsample_padding": 1,
  "flip_sin_to_cos": true, "freq_shift": 0, "in_channels": 4, "layers_per_block": 1,
  "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32, "out_channels": 4,
  "sample_size": 8, "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
  "use_linear_projection": {}, "upcast_attention": {}}}"#,
        tiny.sd2, tiny.sd2
    );
    let unet_path = dir.join("unet/config.json");
    write(&unet_path, &unet_json)?;
    let cfg = unet_config(&unet_path)?;
    build_and_save(
        &dir.join("unet/diffusion_pytorch_model.safetensors"),
        2,
        tiny.fp16,
        |vb| {
            UNet2DConditionModel::new(vb, cfg.in_channels, cfg.out_channels, false, cfg.model)
                .map(|_| ())
        },
    )?;

    let vae_json = r#"{"_class_name": "AutoencoderKL", "act_fn": "silu",
  "block_out_channels": [8, 16, 16, 16],
  "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
  "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
  "in_channels": 3, "latent_channels": 4, "layers_per_block": 1, "norm_num_groups": 8,
  "out_channels": 3, "sample_size": 64, "scaling_factor": 0.18215}"#;
    let vae_path = dir.join("vae/config.json");
    write(&vae_path, vae_json)?;
    let cfg = vae_config(&vae_path)?;
    build_and_save(
        &dir.join("vae/diffusion_pytorch_model.safetensors"),
        3,
        tiny.fp16,
        |vb| AutoEncoderKL::new(vb, cfg.in_channels, cfg.out_channels, cfg.model).map(|_| ()),
    )
}

/// The number of merge lines OpenAI's tokenizer reads.
const MERGES: usize = 49152 - 256 - 2;

/// Writes `bpe_simple_vocab_16e6.txt.gz` under `dir` with OpenAI's layout: a header, a few
/// real merges (so "cat", "dog" and "red" are single tokens) and filler pairs up to the full
/// count, so ids and the special tokens sit where the real vocabulary has them.
pub fn write_bpe(dir: &Path) -> Result<PathBuf, SdError> {
    let mut text = String::from("#version: 0.2\n");
    let real = ["c a", "ca t</w>", "d o", "do g</w>", "r e", "re d</w>"];
    for m in real {
        text.push_str(m);
        text.push('\n');
    }
    for i in 0..MERGES - real.len() {
        text.push_str(&format!("q{i} z\n"));
    }
    let path = dir.join("bpe_simple_vocab_16e6.txt.gz");
    let file = std::fs::File::create(&path).map_err(io(&path))?;
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    gz.write_all(text.as_bytes()).map_err(io(&path))?;
    gz.finish().map_err(io(&path))?;
    Ok(path)
}
