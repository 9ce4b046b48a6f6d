//! The CLIP text transformer, built from `text_encoder/config.json`.
//!
//! candle-transformers has two CLIP text models and neither can be configured from a file:
//! the Stable Diffusion one keeps its config fields private (only the `v1_5`/`v2_1` presets),
//! and the general one knows only `quick_gelu`. SD 2.x's OpenCLIP encoder uses exact (erf)
//! GELU, and a test model has a handful of dimensions, so the encoder is written here with
//! transformers' `CLIPTextModel` key names: token and position embeddings, pre-norm layers
//! with causal self-attention, and the final layer norm applied to the last layer's output
//! (diffusers' `last_hidden_state`; SD 2.x folders keep 23 of OpenCLIP's 24 layers, which
//! makes that the penultimate layer A1111 uses).

use candle_core::{Device, Module, Result, Tensor, D};
use candle_nn::{embedding, layer_norm, linear, Embedding, LayerNorm, Linear, VarBuilder};

use crate::config::TextEncoderConfig;

/// The activation between the MLP's two linear layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `x * sigmoid(1.702 x)` (OpenAI CLIP).
    QuickGelu,
    /// Exact GELU with erf (OpenCLIP; transformers' `gelu`).
    Gelu,
    /// GELU with the tanh approximation (transformers' `gelu_new`).
    GeluTanh,
}

impl Activation {
    /// The activation named by `hidden_act`, if this encoder has it.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "quick_gelu" => Some(Activation::QuickGelu),
            "gelu" => Some(Activation::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" => Some(Activation::GeluTanh),
            _ => None,
        }
    }

    fn apply(self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Activation::QuickGelu => xs * candle_nn::ops::sigmoid(&(xs * 1.702)?)?,
            Activation::Gelu => xs.gelu_erf(),
            Activation::GeluTanh => xs.gelu(),
        }
    }
}

#[derive(Debug)]
struct Layer {
    norm1: LayerNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

/// A CLIP text encoder.
#[derive(Debug)]
pub struct ClipTextEncoder {
    tokens: Embedding,
    positions: Embedding,
    layers: Vec<Layer>,
    final_norm: LayerNorm,
    heads: usize,
    activation: Activation,
    max_positions: usize,
}

impl ClipTextEncoder {
    /// Builds the encoder from `vb` (the root of `model.safetensors`: keys start with
    /// `text_model.`).
    pub fn new(vb: VarBuilder, cfg: &TextEncoderConfig, activation: Activation) -> Result<Self> {
        let vb = vb.pp("text_model");
        let h = cfg.hidden_size;
        let eps = cfg.layer_norm_eps;
        let emb = vb.pp("embeddings");
        let tokens = embedding(cfg.vocab_size, h, emb.pp("token_embedding"))?;
        let positions = embedding(cfg.max_position_embeddings, h, emb.pp("position_embedding"))?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let l = vb.pp("encoder.layers").pp(i.to_string());
                let attn = l.pp("self_attn");
                Ok(Layer {
                    norm1: layer_norm(h, eps, l.pp("layer_norm1"))?,
                    q: linear(h, h, attn.pp("q_proj"))?,
                    k: linear(h, h, attn.pp("k_proj"))?,
                    v: linear(h, h, attn.pp("v_proj"))?,
                    out: linear(h, h, attn.pp("out_proj"))?,
                    norm2: layer_norm(h, eps, l.pp("layer_norm2"))?,
                    fc1: linear(h, cfg.intermediate_size, l.pp("mlp.fc1"))?,
                    fc2: linear(cfg.intermediate_size, h, l.pp("mlp.fc2"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            tokens,
            positions,
            layers,
            final_norm: layer_norm(h, eps, vb.pp("final_layer_norm"))?,
            heads: cfg.num_attention_heads,
            activation,
            max_positions: cfg.max_position_embeddings,
        })
    }

    /// The number of positions (77).
    pub fn max_positions(&self) -> usize {
        self.max_positions
    }

    /// Hidden states `(batch, seq, hidden)` for token ids `(batch, seq)`, after the final
    /// layer norm.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, seq) = ids.dims2()?;
        let pos = Tensor::arange(0u32, seq as u32, ids.device())?;
        let mut xs = self
            .tokens
            .forward(ids)?
            .broadcast_add(&self.positions.forward(&pos)?)?;
        let mask = causal_mask(seq, ids.device())?;
        let h = xs.dim(D::Minus1)?;
        let hd = h / self.heads;
        let scale = (hd as f64).powf(-0.5);
        for l in &self.layers {
            let residual = xs.clone();
            let x = l.norm1.forward(&xs)?;
            let split = |t: Tensor| -> Result<Tensor> {
                t.reshape((b, seq, self.heads, hd))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let q = split((l.q.forward(&x)? * scale)?)?;
            let k = split(l.k.forward(&x)?)?;
            let v = split(l.v.forward(&x)?)?;
            let att = q.matmul(&k.t()?)?.broadcast_add(&mask)?;
            let att = candle_nn::ops::softmax_last_dim(&att)?;
            let x = att
                .matmul(&v)?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((b, seq, h))?;
            xs = (l.out.forward(&x)? + residual)?;
            let residual = xs.clone();
            let x = l.norm2.forward(&xs)?;
            let x = l
                .fc2
                .forward(&self.activation.apply(&l.fc1.forward(&x)?)?)?;
            xs = (x + residual)?;
        }
        self.final_norm.forward(&xs)
    }
}

/// `(seq, seq)` with -inf above the diagonal.
fn causal_mask(seq: usize, device: &Device) -> Result<Tensor> {
    let mask: Vec<f32> = (0..seq)
        .flat_map(|i| (0..seq).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(mask, (seq, seq), device)
}
