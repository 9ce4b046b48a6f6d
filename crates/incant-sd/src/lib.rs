//! Stable Diffusion 1.x / 2.x / turbo on candle, from a local diffusers-layout folder.
//!
//! incant's `local:sd` image provider runs here. The folder is read the way diffusers reads
//! it: every model is built from its own `config.json` (nothing is a hard-coded preset, so a
//! two-block test model and SD 2.1 go through the same code) and fp16 weights are cast to
//! f32 on load. Prompts are conditioned as AUTOMATIC1111 does: per-token attention weights,
//! 75-token chunks with comma backtracking and `BREAK`, mean restored after weighting, the
//! negative and positive prompts padded to the same number of chunks. Sampling is DDIM,
//! Euler or Euler ancestral with seeded noise, so a seed always gives the same picture.
//!
//! - [`pipeline`]: [`SdPipeline::load`] and [`SdPipeline::generate`] (PNG bytes out).
//! - [`config`]: the folder's JSON configs read into candle's model configs.
//! - [`text_encoder`]: the CLIP text transformer (quick_gelu or gelu, from its config).
//! - [`chunks`]: A1111's 75-token chunking as a pure function.
//! - [`conditioning`]: weighted prompts to text-encoder hidden states.
//! - [`sampler`]: the noise schedule and the DDIM / Euler / Euler a steps.
//! - [`rng`]: the seeded Gaussian noise.
//! - [`tiny`]: tiny deterministic model folders for tests (this crate's and its users').

pub mod chunks;
pub mod conditioning;
pub mod config;
mod error;
pub mod pipeline;
pub mod rng;
pub mod sampler;
pub mod text_encoder;
pub mod tiny;

pub use error::SdError;
pub use pipeline::{RgbImage, SdPipeline, SdRequest};
pub use sampler::SamplerKind;
