//! The diffusers folder's JSON configs, read into the configs candle's models take.
//!
//! candle-transformers ships Stable Diffusion with hard-coded presets (`v1_5`, `v2_1`, ...).
//! A diffusers folder already says everything about its models in `unet/config.json`,
//! `vae/config.json`, `text_encoder/config.json` and `scheduler/scheduler_config.json`, so
//! this module builds the configs from those files instead: SD 1.5, 2.1, turbo and a
//! two-block test model all go through the same code. Fields candle's models cannot honour
//! (class embeddings, dual cross-attention, ...) are refused by name rather than ignored.

use std::path::{Path, PathBuf};

use candle_transformers::models::stable_diffusion::{unet_2d, vae};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::SdError;

/// Reads and parses one JSON config, naming the file (and what it is for) when it is missing.
pub(crate) fn read_json<T: DeserializeOwned>(
    path: &Path,
    hint: &'static str,
) -> Result<T, SdError> {
    if !path.is_file() {
        return Err(SdError::MissingFile {
            path: path.to_path_buf(),
            hint,
        });
    }
    let text = std::fs::read_to_string(path).map_err(|source| SdError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| SdError::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// `model_index.json`: only the pipeline class matters (SDXL has two text encoders, which
/// this pipeline does not run).
#[derive(Debug, Deserialize)]
pub(crate) struct ModelIndex {
    #[serde(rename = "_class_name", default)]
    pub class_name: Option<String>,
}

impl ModelIndex {
    /// Refuses pipelines that are not single-encoder Stable Diffusion.
    pub(crate) fn check(&self, path: &Path) -> Result<(), SdError> {
        match self.class_name.as_deref() {
            Some(name) if name.contains("XL") || name.starts_with("StableDiffusion3") => Err(SdError::config(
                path,
                "_class_name",
                format!("{name} is not supported: only Stable Diffusion 1.x / 2.x / turbo folders (one CLIP text encoder)"),
            )),
            _ => Ok(()),
        }
    }
}

/// A value diffusers writes either once for all blocks or once per block.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum PerBlock {
    One(usize),
    Each(Vec<usize>),
}

impl PerBlock {
    fn expand(&self, n: usize, path: &Path, field: &str) -> Result<Vec<usize>, SdError> {
        match self {
            PerBlock::One(v) => Ok(vec![*v; n]),
            PerBlock::Each(v) if v.len() == n => Ok(v.clone()),
            PerBlock::Each(v) => Err(SdError::config(
                path,
                field,
                format!("has {} entries but block_out_channels has {n}", v.len()),
            )),
        }
    }
}

fn one() -> PerBlock {
    PerBlock::One(1)
}
fn eps_1e5() -> f64 {
    1e-5
}
fn groups_32() -> usize {
    32
}
fn yes() -> bool {
    true
}
fn four() -> usize {
    4
}
fn three() -> usize {
    3
}
fn vae_scaling() -> f64 {
    0.18215
}
fn mid_block_default() -> Option<String> {
    Some("UNetMidBlock2DCrossAttn".to_string())
}
fn time_shift_default() -> String {
    "default".to_string()
}

/// `text_encoder/config.json` (transformers' `CLIPTextConfig`).
#[derive(Debug, Clone, Deserialize)]
pub struct TextEncoderConfig {
    /// Vocabulary size (49,408 for every SD text encoder).
    pub vocab_size: usize,
    /// Width of the hidden states (768 for SD 1.x, 1024 for SD 2.x).
    pub hidden_size: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// Number of encoder layers (SD 2.x folders hold 23 of OpenCLIP's 24: the penultimate
    /// layer is the output, as Stability trained it).
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Positions (77).
    pub max_position_embeddings: usize,
    /// `quick_gelu` (OpenAI CLIP, SD 1.x) or `gelu` (OpenCLIP, SD 2.x).
    pub hidden_act: String,
    /// Layer norm epsilon.
    #[serde(default = "eps_1e5")]
    pub layer_norm_eps: f64,
}

/// `unet/config.json` (diffusers' `UNet2DConditionModel`).
#[derive(Debug, Deserialize)]
struct UnetJson {
    #[serde(default = "four")]
    in_channels: usize,
    #[serde(default = "four")]
    out_channels: usize,
    sample_size: Option<usize>,
    #[serde(default)]
    center_input_sample: bool,
    #[serde(default = "yes")]
    flip_sin_to_cos: bool,
    #[serde(default)]
    freq_shift: f64,
    down_block_types: Vec<String>,
    up_block_types: Vec<String>,
    #[serde(default = "mid_block_default")]
    mid_block_type: Option<String>,
    block_out_channels: Vec<usize>,
    layers_per_block: usize,
    #[serde(default = "one")]
    downsample_padding: PerBlock,
    #[serde(default = "one_f")]
    mid_block_scale_factor: f64,
    #[serde(default = "groups_32")]
    norm_num_groups: usize,
    #[serde(default = "eps_1e5")]
    norm_eps: f64,
    cross_attention_dim: usize,
    #[serde(default = "one")]
    transformer_layers_per_block: PerBlock,
    attention_head_dim: Option<PerBlock>,
    num_attention_heads: Option<PerBlock>,
    #[serde(default)]
    use_linear_projection: bool,
    #[serde(default)]
    only_cross_attention: serde_json::Value,
    #[serde(default)]
    dual_cross_attention: bool,
    class_embed_type: Option<String>,
    addition_embed_type: Option<String>,
    time_cond_proj_dim: Option<usize>,
    encoder_hid_dim: Option<usize>,
    #[serde(default = "time_shift_default")]
    resnet_time_scale_shift: String,
}

fn one_f() -> f64 {
    1.0
}

/// The UNet as candle builds it, plus what the pipeline needs around it.
#[derive(Debug, Clone)]
pub struct UnetConfig {
    /// candle's config, built from the JSON.
    pub model: unet_2d::UNet2DConditionModelConfig,
    /// Latent channels in.
    pub in_channels: usize,
    /// Latent channels out.
    pub out_channels: usize,
    /// The latent size the model was trained at (64 for SD 1.5, 96 for SD 2.1 768).
    pub sample_size: Option<usize>,
}

/// Reads `unet/config.json` into candle's UNet config.
pub fn unet_config(path: &Path) -> Result<UnetConfig, SdError> {
    let j: UnetJson = read_json(path, "the UNet's diffusers config")?;
    let err = |field: &str, message: String| SdError::config(path, field, message);
    let n = j.block_out_channels.len();
    if n == 0 {
        return Err(err("block_out_channels", "is empty".into()));
    }
    if j.down_block_types.len() != n || j.up_block_types.len() != n {
        return Err(err(
            "down_block_types",
            format!(
                "down_block_types ({}) and up_block_types ({}) must both have one entry per block_out_channels ({n})",
                j.down_block_types.len(),
                j.up_block_types.len()
            ),
        ));
    }
    let refuse = |field: &str, what: String| -> Result<(), SdError> {
        Err(err(
            field,
            format!("{what} is not supported by candle's UNet"),
        ))
    };
    if let Some(v) = &j.class_embed_type {
        refuse("class_embed_type", format!("{v:?}"))?;
    }
    if let Some(v) = &j.addition_embed_type {
        refuse("addition_embed_type", format!("{v:?} (an SDXL-style UNet)"))?;
    }
    if let Some(v) = j.time_cond_proj_dim {
        refuse("time_cond_proj_dim", v.to_string())?;
    }
    if let Some(v) = j.encoder_hid_dim {
        refuse("encoder_hid_dim", v.to_string())?;
    }
    if j.dual_cross_attention {
        refuse("dual_cross_attention", "true".into())?;
    }
    if j.only_cross_attention == serde_json::Value::Bool(true)
        || j.only_cross_attention
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == &serde_json::Value::Bool(true)))
    {
        refuse("only_cross_attention", "true".into())?;
    }
    if j.resnet_time_scale_shift != "default" {
        refuse(
            "resnet_time_scale_shift",
            format!("{:?}", j.resnet_time_scale_shift),
        )?;
    }
    // candle's DownBlock2D and UpBlock2D build their resnets with 32 groups whatever the
    // config says (only the attention blocks read it); every SD UNet uses 32.
    if j.norm_num_groups != 32 {
        return Err(err(
            "norm_num_groups",
            format!(
                "{} is not supported: candle's UNet down and up blocks always normalise in 32 groups",
                j.norm_num_groups
            ),
        ));
    }
    if j.mid_block_type.as_deref() != Some("UNetMidBlock2DCrossAttn") {
        refuse("mid_block_type", format!("{:?}", j.mid_block_type))?;
    }
    // diffusers' historical naming: `attention_head_dim` holds the number of heads unless
    // `num_attention_heads` is given.
    let heads = match (&j.num_attention_heads, &j.attention_head_dim) {
        (Some(h), _) => h.expand(n, path, "num_attention_heads")?,
        (None, Some(h)) => h.expand(n, path, "attention_head_dim")?,
        (None, None) => vec![8; n],
    };
    let transformer_layers =
        j.transformer_layers_per_block
            .expand(n, path, "transformer_layers_per_block")?;
    let padding = j.downsample_padding.expand(1, path, "downsample_padding")?[0];
    let mut blocks = Vec::with_capacity(n);
    for i in 0..n {
        let cross = match j.down_block_types[i].as_str() {
            "CrossAttnDownBlock2D" => Some(transformer_layers[i]),
            "DownBlock2D" => None,
            other => {
                return Err(err(
                    "down_block_types",
                    format!("block {i} is {other:?}; only CrossAttnDownBlock2D and DownBlock2D are supported"),
                ))
            }
        };
        let expected_up = if cross.is_some() {
            "CrossAttnUpBlock2D"
        } else {
            "UpBlock2D"
        };
        if j.up_block_types[n - 1 - i] != expected_up {
            return Err(err(
                "up_block_types",
                format!(
                    "entry {} is {:?} but must mirror down block {i} ({expected_up})",
                    n - 1 - i,
                    j.up_block_types[n - 1 - i]
                ),
            ));
        }
        if !j.block_out_channels[i].is_multiple_of(j.norm_num_groups)
            || !j.block_out_channels[i].is_multiple_of(heads[i])
        {
            return Err(err(
                "block_out_channels",
                format!(
                    "{} is not divisible by norm_num_groups ({}) and the head count ({})",
                    j.block_out_channels[i], j.norm_num_groups, heads[i]
                ),
            ));
        }
        blocks.push(unet_2d::BlockConfig {
            out_channels: j.block_out_channels[i],
            use_cross_attn: cross,
            attention_head_dim: heads[i],
        });
    }
    Ok(UnetConfig {
        model: unet_2d::UNet2DConditionModelConfig {
            center_input_sample: j.center_input_sample,
            flip_sin_to_cos: j.flip_sin_to_cos,
            freq_shift: j.freq_shift,
            blocks,
            layers_per_block: j.layers_per_block,
            downsample_padding: padding,
            mid_block_scale_factor: j.mid_block_scale_factor,
            norm_num_groups: j.norm_num_groups,
            norm_eps: j.norm_eps,
            cross_attention_dim: j.cross_attention_dim,
            sliced_attention_size: None,
            use_linear_projection: j.use_linear_projection,
        },
        in_channels: j.in_channels,
        out_channels: j.out_channels,
        sample_size: j.sample_size,
    })
}

/// `vae/config.json` (diffusers' `AutoencoderKL`).
#[derive(Debug, Deserialize)]
struct VaeJson {
    #[serde(default = "three")]
    in_channels: usize,
    #[serde(default = "three")]
    out_channels: usize,
    block_out_channels: Vec<usize>,
    layers_per_block: usize,
    #[serde(default = "four")]
    latent_channels: usize,
    #[serde(default = "groups_32")]
    norm_num_groups: usize,
    #[serde(default = "vae_scaling")]
    scaling_factor: f64,
    #[serde(default = "yes")]
    use_quant_conv: bool,
    #[serde(default = "yes")]
    use_post_quant_conv: bool,
}

/// The VAE as candle builds it, plus its latent scaling.
#[derive(Debug, Clone)]
pub struct VaeConfig {
    /// candle's config, built from the JSON.
    pub model: vae::AutoEncoderKLConfig,
    /// Image channels in (encoder).
    pub in_channels: usize,
    /// Image channels out (decoder).
    pub out_channels: usize,
    /// Latents are divided by this before decoding (0.18215 for SD 1.x / 2.x).
    pub scaling_factor: f64,
    /// Image pixels per latent pixel: 2^(blocks - 1), 8 for every SD VAE.
    pub scale: usize,
}

/// Reads `vae/config.json` into candle's VAE config.
pub fn vae_config(path: &Path) -> Result<VaeConfig, SdError> {
    let j: VaeJson = read_json(path, "the VAE's diffusers config")?;
    if j.block_out_channels.is_empty() {
        return Err(SdError::config(path, "block_out_channels", "is empty"));
    }
    if let Some(c) = j
        .block_out_channels
        .iter()
        .find(|c| !c.is_multiple_of(j.norm_num_groups))
    {
        return Err(SdError::config(
            path,
            "block_out_channels",
            format!(
                "{c} is not divisible by norm_num_groups ({})",
                j.norm_num_groups
            ),
        ));
    }
    Ok(VaeConfig {
        scale: 1 << (j.block_out_channels.len() - 1),
        model: vae::AutoEncoderKLConfig {
            block_out_channels: j.block_out_channels,
            layers_per_block: j.layers_per_block,
            latent_channels: j.latent_channels,
            norm_num_groups: j.norm_num_groups,
            use_quant_conv: j.use_quant_conv,
            use_post_quant_conv: j.use_post_quant_conv,
        },
        in_channels: j.in_channels,
        out_channels: j.out_channels,
        scaling_factor: j.scaling_factor,
    })
}

/// The paths of a diffusers folder's parts.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `model_index.json`.
    pub model_index: PathBuf,
    /// `scheduler/scheduler_config.json`.
    pub scheduler: PathBuf,
    /// `text_encoder/config.json`.
    pub text_config: PathBuf,
    /// `text_encoder/model.safetensors`.
    pub text_weights: PathBuf,
    /// `tokenizer/` (optional: only its pad token is read).
    pub tokenizer_dir: PathBuf,
    /// `unet/config.json`.
    pub unet_config: PathBuf,
    /// `unet/diffusion_pytorch_model.safetensors`.
    pub unet_weights: PathBuf,
    /// `vae/config.json`.
    pub vae_config: PathBuf,
    /// `vae/diffusion_pytorch_model.safetensors`.
    pub vae_weights: PathBuf,
}

impl Layout {
    /// The standard diffusers file names under `dir`; a `.fp16.safetensors` variant is used
    /// when the plain file is absent.
    pub fn new(dir: &Path) -> Self {
        let weights = |sub: &str, stem: &str| {
            let plain = dir.join(sub).join(format!("{stem}.safetensors"));
            let fp16 = dir.join(sub).join(format!("{stem}.fp16.safetensors"));
            if !plain.is_file() && fp16.is_file() {
                fp16
            } else {
                plain
            }
        };
        Layout {
            model_index: dir.join("model_index.json"),
            scheduler: dir.join("scheduler").join("scheduler_config.json"),
            text_config: dir.join("text_encoder").join("config.json"),
            text_weights: weights("text_encoder", "model"),
            tokenizer_dir: dir.join("tokenizer"),
            unet_config: dir.join("unet").join("config.json"),
            unet_weights: weights("unet", "diffusion_pytorch_model"),
            vae_config: dir.join("vae").join("config.json"),
            vae_weights: weights("vae", "diffusion_pytorch_model"),
        }
    }
}

/// The pad token id from `tokenizer/special_tokens_map.json` or `tokenizer_config.json`
/// looked up in `tokenizer/vocab.json`: SD 1.x pads with `<|endoftext|>`, SD 2.x with `!`
/// (id 0). `None` when the folder does not say.
pub(crate) fn pad_token_id(tokenizer_dir: &Path) -> Result<Option<u32>, SdError> {
    let mut pad: Option<String> = None;
    for name in ["special_tokens_map.json", "tokenizer_config.json"] {
        let path = tokenizer_dir.join(name);
        if !path.is_file() {
            continue;
        }
        let v: serde_json::Value = read_json(&path, "the tokenizer's special tokens")?;
        pad = match v.get("pad_token") {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(obj) => obj
                .get("content")
                .and_then(|c| c.as_str())
                .map(str::to_string),
            None => None,
        };
        if pad.is_some() {
            break;
        }
    }
    let Some(pad) = pad else { return Ok(None) };
    if pad == "<|endoftext|>" {
        return Ok(Some(incant_tokenize::clip::END_OF_TEXT));
    }
    let vocab_path = tokenizer_dir.join("vocab.json");
    let vocab: serde_json::Value = read_json(
        &vocab_path,
        "the tokenizer vocabulary, needed to look up the pad token",
    )?;
    match vocab.get(&pad).and_then(|v| v.as_u64()) {
        Some(id) => Ok(Some(id as u32)),
        None => Err(SdError::config(
            &vocab_path,
            &pad,
            "the pad token named in the tokenizer config is not in the vocabulary",
        )),
    }
}
