//! Weight matrices times activations: `out[t][r] = W[r] · x[t]`.
//!
//! Q4_1 and Q8_0 weights (what SmolLM2 and most small GGUFs use) run on the kernels in
//! [`super::quant`], with activations quantised once per input and shared by every matrix
//! that reads the same input (Q, K and V; gate and up). F32 weights use a plain dot product.
//! Any other GGUF type goes through candle's quantised matmul, so every llama GGUF loads,
//! though only the native types are checked for parity with llama.cpp.

use super::quant::{self, BlockQ4_1, BlockQ8_0, BlockQ8_1, QK};
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use rayon::prelude::*;
use std::sync::OnceLock;

/// A batch of activation rows, with its quantised forms computed on first use.
pub struct Input<'a> {
    x: &'a [f32],
    m: usize,
    k: usize,
    q8_1: OnceLock<Vec<Vec<BlockQ8_1>>>,
    q8_0: OnceLock<Vec<Vec<BlockQ8_0>>>,
}

impl<'a> Input<'a> {
    /// `m` rows of `k` values, row-major.
    pub fn new(x: &'a [f32], m: usize) -> Self {
        let k = x.len().checked_div(m).unwrap_or(0);
        Self {
            x,
            m,
            k,
            q8_1: OnceLock::new(),
            q8_0: OnceLock::new(),
        }
    }

    fn q8_1(&self) -> &[Vec<BlockQ8_1>] {
        self.q8_1.get_or_init(|| {
            self.x
                .chunks_exact(self.k)
                .map(|row| {
                    let mut v = Vec::with_capacity(self.k / QK);
                    super::simd::run(|| quant::quantize_q8_1(row, &mut v));
                    v
                })
                .collect()
        })
    }

    fn q8_0(&self) -> &[Vec<BlockQ8_0>] {
        self.q8_0.get_or_init(|| {
            self.x
                .chunks_exact(self.k)
                .map(|row| {
                    let mut v = Vec::with_capacity(self.k / QK);
                    super::simd::run(|| quant::quantize_q8_0(row, &mut v));
                    v
                })
                .collect()
        })
    }
}

enum Storage {
    Q4_1(Vec<BlockQ4_1>),
    Q8_0(Vec<BlockQ8_0>),
    F32(Vec<f32>),
    Candle(QMatMul),
}

/// Fills `out` (m x rows, row-major) with `f(r, t)`, in parallel over blocks of output rows;
/// each block runs with the CPU's vector instructions ([`super::simd`]) and computes one
/// weight row for every input row while that weight row is in cache.
#[inline(always)]
fn fill_rows(out: &mut [f32], m: usize, rows: usize, f: impl Fn(usize, usize) -> f32 + Sync) {
    const BLOCK: usize = 16;
    if m == 1 {
        out.par_chunks_mut(BLOCK)
            .enumerate()
            .for_each(|(c, chunk)| {
                super::simd::run(|| {
                    for (i, o) in chunk.iter_mut().enumerate() {
                        *o = f(c * BLOCK + i, 0);
                    }
                })
            });
        return;
    }
    let mut transposed = vec![0f32; rows * m];
    transposed
        .par_chunks_mut(m * BLOCK)
        .enumerate()
        .for_each(|(c, block)| {
            super::simd::run(|| {
                for (i, dst) in block.chunks_mut(m).enumerate() {
                    for (t, d) in dst.iter_mut().enumerate() {
                        *d = f(c * BLOCK + i, t);
                    }
                }
            })
        });
    for (r, col) in transposed.chunks_exact(m).enumerate() {
        for (t, &v) in col.iter().enumerate() {
            out[t * rows + r] = v;
        }
    }
}

/// A `rows x cols` weight matrix.
pub struct Weight {
    rows: usize,
    cols: usize,
    storage: Storage,
}

impl Weight {
    /// Takes a GGUF tensor of shape `(rows, cols)`.
    pub fn from_qtensor(t: QTensor) -> candle_core::Result<Self> {
        let (rows, cols) = t.shape().dims2()?;
        let storage = match t.dtype() {
            GgmlDType::Q4_1 if cols % QK == 0 => Storage::Q4_1(quant::parse_q4_1(&t.data()?)),
            GgmlDType::Q8_0 if cols % QK == 0 => Storage::Q8_0(quant::parse_q8_0(&t.data()?)),
            GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16 => {
                Storage::F32(t.dequantize(&Device::Cpu)?.flatten_all()?.to_vec1()?)
            }
            _ => Storage::Candle(QMatMul::from_qtensor(t)?),
        };
        Ok(Self {
            rows,
            cols,
            storage,
        })
    }

    /// Output features.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input features.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The native storage type, for diagnostics.
    pub fn kind(&self) -> &'static str {
        match self.storage {
            Storage::Q4_1(_) => "q4_1",
            Storage::Q8_0(_) => "q8_0",
            Storage::F32(_) => "f32",
            Storage::Candle(_) => "candle",
        }
    }

    /// Row `r` dequantised into `out` (embedding lookups).
    pub fn row_f32(&self, r: usize, out: &mut [f32]) -> candle_core::Result<()> {
        let nb = self.cols / QK;
        match &self.storage {
            Storage::Q4_1(b) => quant::dequantize_q4_1(&b[r * nb..(r + 1) * nb], out),
            Storage::Q8_0(b) => quant::dequantize_q8_0(&b[r * nb..(r + 1) * nb], out),
            Storage::F32(d) => out.copy_from_slice(&d[r * self.cols..(r + 1) * self.cols]),
            Storage::Candle(_) => candle_core::bail!("row lookup needs a native weight type"),
        }
        Ok(())
    }

    /// `out` (m x rows, row-major) = input (m x cols) times this matrix transposed.
    pub fn matmul(&self, input: &Input<'_>, out: &mut [f32]) -> candle_core::Result<()> {
        let (m, rows, cols) = (input.m, self.rows, self.cols);
        assert_eq!(
            input.k, cols,
            "matmul: input has {} columns, weight {}",
            input.k, cols
        );
        assert_eq!(out.len(), m * rows, "matmul: output buffer size");
        let nb = cols / QK;
        match &self.storage {
            Storage::Q4_1(w) => {
                let xs = input.q8_1();
                fill_rows(out, m, rows, |r, t| {
                    quant::dot_q4_1_q8_1(&w[r * nb..(r + 1) * nb], &xs[t])
                });
            }
            Storage::Q8_0(w) => {
                let xs = input.q8_0();
                fill_rows(out, m, rows, |r, t| {
                    quant::dot_q8_0_q8_0(&w[r * nb..(r + 1) * nb], &xs[t])
                });
            }
            Storage::F32(w) => {
                let x = input.x;
                fill_rows(out, m, rows, |r, t| {
                    let (w, x) = (&w[r * cols..(r + 1) * cols], &x[t * cols..(t + 1) * cols]);
                    w.iter().zip(x).map(|(a, b)| a * b).sum()
                });
            }
            Storage::Candle(mm) => {
                let x = Tensor::from_slice(input.x, (m, cols), &Device::Cpu)?;
                let y: Vec<f32> = mm.forward(&x)?.flatten_all()?.to_vec1()?;
                out.copy_from_slice(&y);
            }
        }
        Ok(())
    }
}
