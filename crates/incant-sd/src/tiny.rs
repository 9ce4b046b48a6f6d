//! Tiny Stable Diffusion folders written by the tests: diffusers configs, weights from
//! candle's models on a `VarMap` with deterministic values, saved as safetensors with the
//! diffusers key names, and a CLIP merges file with the real layout.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::stable_diffusion::{
    unet_2d::UNet2DConditionModel, vae::AutoEncoderKL,
};
use incant_sd::config::{unet_config, vae_config, TextEncoderConfig};
use incant_sd::rng::NoiseRng;
use incant_sd::text_encoder::{Activation, ClipTextEncoder};

/// Which kind of folder to write.
#[derive(Debug, Clone, Copy)]
pub struct Tiny {
    /// SD 2.x style: OpenCLIP gelu encoder, v-prediction, linear projections, `!` padding.
    pub sd2: bool,
    /// Save the UNet and VAE as fp16.
    pub fp16: bool,
    /// The scheduler config (`None`: SD 1.5's PNDM config).
    pub scheduler: Option<&'static str>,
}

pub const SD15_SCHEDULER: &str = r#"{"_class_name": "PNDMScheduler", "beta_end": 0.012,
  "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
  "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1, "trained_betas": null,
  "clip_sample": false}"#;

pub const TURBO_SCHEDULER: &str = r#"{"_class_name": "EulerDiscreteScheduler", "beta_end": 0.012,
  "beta_schedule": "scaled_linear", "beta_start": 0.00085, "interpolation_type": "linear",
  "num_train_timesteps": 1000, "prediction_type": "epsilon", "steps_offset": 1,
  "timestep_spacing": "trailing", "trained_betas": null, "use_karras_sigmas": false}"#;

pub const SD21_SCHEDULER: &str = r#"{"_class_name": "DDIMScheduler", "beta_end": 0.012,
  "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": false,
  "num_train_timesteps": 1000, "prediction_type": "v_prediction", "set_alpha_to_one": false,
  "steps_offset": 1, "trained_betas": null}"#;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Overwrites every variable with deterministic values of a sensible scale: norms near 1,
/// biases near 0, weights ~ N(0, 1/fan_in).
fn fill(varmap: &VarMap, seed: u64) {
    let data = varmap.data().lock().unwrap();
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut rng = NoiseRng::new(seed);
    for name in names {
        let var = &data[name];
        let dims = var.dims().to_vec();
        let n: usize = dims.iter().product();
        let z = rng.normals(n);
        let is_norm = name.contains("norm") && dims.len() == 1;
        let values: Vec<f32> = if is_norm && name.ends_with("weight") {
            z.iter().map(|x| 1.0 + 0.1 * x).collect()
        } else if dims.len() == 1 {
            z.iter().map(|x| 0.02 * x).collect()
        } else {
            let fan_in: usize = dims[1..].iter().product();
            let scale = 1.0 / (fan_in as f32).sqrt();
            z.iter().map(|x| x * scale).collect()
        };
        let t = Tensor::from_vec(values, dims, &Device::Cpu).unwrap();
        var.set(&t).unwrap();
    }
}

fn save(varmap: &VarMap, path: &Path, fp16: bool) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let data = varmap.data().lock().unwrap();
    let tensors: std::collections::HashMap<String, Tensor> = data
        .iter()
        .map(|(k, v)| {
            let t = v.as_tensor().clone();
            let t = if fp16 {
                t.to_dtype(DType::F16).unwrap()
            } else {
                t
            };
            (k.clone(), t)
        })
        .collect();
    candle_core::safetensors::save(&tensors, path).unwrap();
}

/// Writes a tiny model folder under `dir`.
pub fn write_model(dir: &Path, tiny: Tiny) {
    let dev = Device::Cpu;
    write(
        &dir.join("model_index.json"),
        r#"{"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.30.0"}"#,
    );
    let scheduler = tiny.scheduler.unwrap_or(if tiny.sd2 {
        SD21_SCHEDULER
    } else {
        SD15_SCHEDULER
    });
    write(&dir.join("scheduler/scheduler_config.json"), scheduler);

    let act = if tiny.sd2 { "gelu" } else { "quick_gelu" };
    let text_json = format!(
        r#"{{"architectures": ["CLIPTextModel"], "vocab_size": 49408, "hidden_size": 32,
        "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "max_position_embeddings": 77, "hidden_act": "{act}", "layer_norm_eps": 1e-05,
        "projection_dim": 32, "torch_dtype": "float32"}}"#
    );
    write(&dir.join("text_encoder/config.json"), &text_json);
    let text_cfg: TextEncoderConfig = serde_json::from_str(&text_json).unwrap();
    let vm = VarMap::new();
    let activation = Activation::from_name(act).unwrap();
    ClipTextEncoder::new(
        VarBuilder::from_varmap(&vm, DType::F32, &dev),
        &text_cfg,
        activation,
    )
    .unwrap();
    fill(&vm, 1);
    save(&vm, &dir.join("text_encoder/model.safetensors"), false);

    if tiny.sd2 {
        write(
            &dir.join("tokenizer/special_tokens_map.json"),
            r#"{"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "!", "unk_token": "<|endoftext|>"}"#,
        );
        write(
            &dir.join("tokenizer/vocab.json"),
            r#"{"!": 0, "\"": 1, "<|endoftext|>": 49407}"#,
        );
    }

    let unet_json = format!(
        r#"{{"_class_name": "UNet2DConditionModel", "act_fn": "silu", "attention_head_dim": [2, 4],
        "block_out_channels": [32, 64], "center_input_sample": false, "cross_attention_dim": 32,
        "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"], "downsample_padding": 1,
        "flip_sin_to_cos": true, "freq_shift": 0, "in_channels": 4, "layers_per_block": 1,
        "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 8, "out_channels": 4,
        "sample_size": 8, "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
        "use_linear_projection": {}, "upcast_attention": {}}}"#,
        tiny.sd2, tiny.sd2
    );
    write(&dir.join("unet/config.json"), &unet_json);
    let cfg = unet_config(&dir.join("unet/config.json")).unwrap();
    let vm = VarMap::new();
    UNet2DConditionModel::new(
        VarBuilder::from_varmap(&vm, DType::F32, &dev),
        4,
        4,
        false,
        cfg.model,
    )
    .unwrap();
    fill(&vm, 2);
    save(
        &vm,
        &dir.join("unet/diffusion_pytorch_model.safetensors"),
        tiny.fp16,
    );

    let vae_json = r#"{"_class_name": "AutoencoderKL", "act_fn": "silu",
        "block_out_channels": [8, 16, 16, 16],
        "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
        "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
        "in_channels": 3, "latent_channels": 4, "layers_per_block": 1, "norm_num_groups": 8,
        "out_channels": 3, "sample_size": 64, "scaling_factor": 0.18215}"#;
    write(&dir.join("vae/config.json"), vae_json);
    let cfg = vae_config(&dir.join("vae/config.json")).unwrap();
    let vm = VarMap::new();
    AutoEncoderKL::new(
        VarBuilder::from_varmap(&vm, DType::F32, &dev),
        3,
        3,
        cfg.model,
    )
    .unwrap();
    fill(&vm, 3);
    save(
        &vm,
        &dir.join("vae/diffusion_pytorch_model.safetensors"),
        tiny.fp16,
    );
}

/// The number of merge lines OpenAI's tokenizer reads.
const MERGES: usize = 49152 - 256 - 2;

/// Writes a gzipped CLIP merges file with OpenAI's layout: a header, a few real merges
/// (so "cat", "dog" and "red" are single tokens) and filler pairs up to the full count.
pub fn write_bpe(dir: &Path) -> PathBuf {
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
    let file = std::fs::File::create(&path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap();
    path
}

/// Decodes PNG bytes into (width, height, RGB pixels).
pub fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}
