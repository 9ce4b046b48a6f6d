//! Hand-written CPU kernels that reproduce ggml's numerics.
//!
//! A 135M-parameter 4-bit model is sensitive: two implementations that are each "correct"
//! in f32 disagree on the greedy token after a few steps, because llama.cpp does not compute
//! in f32. It quantises activations to 8 bits before each quantised matmul (Q8_1 for Q4_1
//! weights, Q8_0 for Q8_0 weights, rounding half to even as its AVX2 path does), keeps the
//! KV cache in f16, and rounds the query and the attention weights to f16 before the two
//! attention products. To give the same tokens as llama.cpp, incant does the same:
//!
//! - [`quant`]: GGUF block formats, activation quantisation, block dot products (the
//!   definitions every faster path must reproduce bit for bit).
//! - [`dot`]: the same dot products on AVX2 and AVX-512 VNNI, chosen at run time: one row
//!   against one token (decoding), and blocks of rows against up to eight tokens (prefill,
//!   batches of sequences).
//! - [`matmul`]: weight matrices (native Q4_1/Q8_0/F32, or candle's kernels for any other
//!   GGUF type) times activation rows, split between the threads of [`crate::pool`].
//! - [`prepared`]: activation rows quantised by the parallel step that writes them.
//! - [`ops`]: RMSNorm, rotary embeddings, SwiGLU, f16-rounded attention; [`scores`]: the
//!   softmax of one head's scores, with an AVX-512 path.
//! - [`expf`]: ggml's `exp`, scalar and AVX-512, for SiLU and softmax.
//! - [`mod@f16`]: f32 to f16 and back, eight values per instruction.
//! - [`gemm`], [`encoder`]: the f32/bf16 products, GELU and attention of the BERT encoder.
//! - [`simd`]: runs the same code compiled for AVX2/FMA when the CPU has them.

pub mod dot;
pub mod encoder;
pub mod expf;
pub mod f16;
pub mod gemm;
pub mod matmul;
pub mod ops;
pub mod prepared;
pub mod quant;
pub mod scores;
pub mod simd;

/// Seeded test inputs, drawn from incant's one generator ([`crate::rng`]).
#[cfg(test)]
pub(crate) mod test_data {
    use crate::rng::Rng;

    /// A draw in `[-scale / 2, scale / 2)` each call.
    pub fn uniform_draws(seed: u64, scale: f32) -> impl FnMut() -> f32 {
        let mut rng = Rng::new(seed);
        move || (rng.next_f64() as f32 - 0.5) * scale
    }

    /// `n` draws in `[-scale / 2, scale / 2)`.
    pub fn uniform(n: usize, seed: u64, scale: f32) -> Vec<f32> {
        let mut draw = uniform_draws(seed, scale);
        (0..n).map(|_| draw()).collect()
    }
}
