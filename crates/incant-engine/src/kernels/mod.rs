//! Hand-written CPU kernels that reproduce ggml's numerics.
//!
//! A 135M-parameter 4-bit model is sensitive: two implementations that are each "correct"
//! in f32 disagree on the greedy token after a few steps, because llama.cpp does not compute
//! in f32. It quantises activations to 8 bits before each quantised matmul (Q8_1 for Q4_1
//! weights, Q8_0 for Q8_0 weights, rounding half to even as its AVX2 path does), keeps the
//! KV cache in f16, and rounds the query and the attention weights to f16 before the two
//! attention products. To give the same tokens as llama.cpp, incant does the same:
//!
//! - [`quant`]: GGUF block formats, activation quantisation, block dot products.
//! - [`matmul`]: weight matrices (native Q4_1/Q8_0/F32, or candle's kernels for any other
//!   GGUF type) times a batch of activation rows, parallel over output rows.
//! - [`ops`]: RMSNorm, rotary embeddings, SwiGLU, f16-rounded attention.
//!
//! - [`simd`]: runs the same code compiled for AVX2/FMA when the CPU has them.
//!
//! The kernels are portable Rust that the compiler vectorises; hand-written intrinsics are
//! the next step (issue "the local engine faster than llama.cpp").

pub mod dot;
pub mod encoder;
pub mod expf;
pub mod gemm;
pub mod matmul;
pub mod ops;
pub mod quant;
pub mod simd;

pub use half::f16;
