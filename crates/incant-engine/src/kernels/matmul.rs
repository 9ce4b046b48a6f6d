//! Weight matrices times activations: `out[t][r] = W[r] · x[t]`.
//!
//! Q4_1 and Q8_0 weights (what SmolLM2 and most small GGUFs use) run on the vector kernels
//! of [`super::dot`] (the numbers of [`super::quant`]), with activations quantised once per input and shared by every matrix
//! that reads the same input (Q, K and V; gate and up). F32 weights use a plain dot product.
//! Any other GGUF type goes through candle's quantised matmul, so every llama GGUF loads,
//! though only the native types are checked for parity with llama.cpp.
//!
//! Q4_1 and Q8_0 weights are repacked at load time straight from the memory-mapped GGUF
//! file into blocks with f32 scales (what the kernels read without converting), and the
//! file's pages are released after each tensor, so a model costs one copy of its weights.

use super::dot::{self, Isa, PairBlock, MAX_TOKENS};
use super::quant::{self, BlockQ4_1, BlockQ8_0, BlockQ8_1, QK};
use crate::gguf::GgufFile;
use crate::EngineError;
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use rayon::prelude::*;
use std::sync::OnceLock;

/// A batch of activation rows, with its quantised forms computed on first use.
pub struct Input<'a> {
    x: &'a [f32],
    m: usize,
    k: usize,
    q8_1: OnceLock<Vec<BlockQ8_1>>,
    q8_1_pairs: OnceLock<Vec<PairBlock>>,
    q8_1_sums: OnceLock<Vec<[f32; MAX_TOKENS]>>,
    q8_0: OnceLock<Vec<BlockQ8_0>>,
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
            q8_1_pairs: OnceLock::new(),
            q8_1_sums: OnceLock::new(),
            q8_0: OnceLock::new(),
        }
    }

    /// Quantises every row with `f` (rows in parallel when there are many), row-major.
    fn quantize<B: Copy + Send + Sync>(&self, f: impl Fn(&[f32], &mut Vec<B>) + Sync) -> Vec<B> {
        let one = |row: &[f32]| {
            let mut v = Vec::with_capacity(self.k / QK);
            super::simd::run(|| f(row, &mut v));
            v
        };
        if self.m >= 16 {
            let rows: Vec<Vec<B>> = self.x.par_chunks_exact(self.k).map(one).collect();
            rows.concat()
        } else {
            let mut all = Vec::with_capacity(self.m * self.k / QK);
            for row in self.x.chunks_exact(self.k) {
                all.extend(one(row));
            }
            all
        }
    }

    fn q8_1(&self) -> &[BlockQ8_1] {
        self.q8_1
            .get_or_init(|| self.quantize(quant::quantize_q8_1))
    }

    fn q8_1_pairs(&self) -> &[PairBlock] {
        self.q8_1_pairs
            .get_or_init(|| dot::pair_blocks(self.q8_1(), self.k / QK, self.m))
    }

    fn q8_1_sums(&self) -> &[[f32; MAX_TOKENS]] {
        self.q8_1_sums
            .get_or_init(|| dot::group_sums(self.q8_1(), self.k / QK, self.m))
    }

    fn q8_0(&self) -> &[BlockQ8_0] {
        self.q8_0
            .get_or_init(|| self.quantize(quant::quantize_q8_0))
    }
}

enum Storage {
    Q4_1(Vec<BlockQ4_1>),
    Q8_0(Vec<BlockQ8_0>),
    F32(Vec<f32>),
    Candle(QMatMul),
}

/// Fills `out` (m x rows, row-major) with `kernel(r, t0, dst)`, which writes weight row
/// `r` times input rows `t0..t0 + dst.len()` (at most [`MAX_TOKENS`] of them) into `dst`.
///
/// One token (decoding): the output rows are split between the threads. Many tokens
/// (prefill): the tokens are, so each thread writes whole output rows and streams the
/// weights once per group of tokens. A few tokens: rows again, through a transposed buffer.
fn fill(out: &mut [f32], m: usize, rows: usize, kernel: impl Fn(usize, usize, &mut [f32]) + Sync) {
    const ROW_BLOCK: usize = 16;
    if m == 1 {
        out.par_chunks_mut(ROW_BLOCK)
            .enumerate()
            .for_each(|(c, chunk)| {
                for (i, o) in chunk.chunks_mut(1).enumerate() {
                    kernel(c * ROW_BLOCK + i, 0, o);
                }
            });
        return;
    }
    let threads = rayon::current_num_threads().max(1);
    if m >= 4 * MAX_TOKENS * threads {
        // Enough tokens for every thread: about four groups per thread, at most 64 tokens.
        let per = m.div_ceil(4 * threads).next_multiple_of(MAX_TOKENS).min(64);
        out.par_chunks_mut(per * rows)
            .enumerate()
            .for_each(|(c, dst)| {
                let t0 = c * per;
                let n = dst.len() / rows;
                let mut tmp = [0f32; MAX_TOKENS];
                for r in 0..rows {
                    for g in (0..n).step_by(MAX_TOKENS) {
                        let k = (n - g).min(MAX_TOKENS);
                        kernel(r, t0 + g, &mut tmp[..k]);
                        for (j, &v) in tmp[..k].iter().enumerate() {
                            dst[(g + j) * rows + r] = v;
                        }
                    }
                }
            });
        return;
    }
    let mut transposed = vec![0f32; rows * m];
    transposed
        .par_chunks_mut(m * ROW_BLOCK)
        .enumerate()
        .for_each(|(c, block)| {
            for (i, col) in block.chunks_mut(m).enumerate() {
                for (g, dst) in col.chunks_mut(MAX_TOKENS).enumerate() {
                    kernel(c * ROW_BLOCK + i, g * MAX_TOKENS, dst);
                }
            }
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
    /// The tensor `name` of a GGUF file, of shape `(rows, cols)`: Q4_1 and Q8_0 repacked
    /// from the mapped file, any other type through candle.
    pub fn from_gguf(file: &GgufFile, name: &str) -> Result<Self, EngineError> {
        let info = file.tensor_info(name)?;
        let bad =
            |reason: String| crate::bad_model(&file.path, format!("tensor `{name}`: {reason}"));
        let (rows, cols) = info.shape.dims2().map_err(|e| bad(e.to_string()))?;
        let storage = match info.ggml_dtype {
            GgmlDType::Q4_1 if cols % QK == 0 => {
                Storage::Q4_1(file.with_tensor_bytes(name, quant::parse_q4_1)?)
            }
            GgmlDType::Q8_0 if cols % QK == 0 => {
                Storage::Q8_0(file.with_tensor_bytes(name, quant::parse_q8_0)?)
            }
            _ => return Ok(Self::from_qtensor(file.qtensor(name)?)?),
        };
        Ok(Self {
            rows,
            cols,
            storage,
        })
    }

    /// Takes a GGUF tensor of shape `(rows, cols)` (a copy of its blocks).
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

    /// The kernel of a native weight type: `f(r, t0, dst)` writes row `r` times input rows
    /// `t0..t0 + dst.len()` into `dst`. `None` for types that run on candle.
    fn kernel<'s>(&'s self, input: &'s Input<'_>) -> Option<RowKernel<'s>> {
        let (m, cols) = (input.m, self.cols);
        let nb = cols / QK;
        let isa = Isa::detected();
        Some(match &self.storage {
            Storage::Q4_1(w) if m > 1 && isa.reads_pairs() => {
                let (xs, ps, sums) = (input.q8_1(), input.q8_1_pairs(), input.q8_1_sums());
                Box::new(move |r, t0, dst| {
                    let x: [&[BlockQ8_1]; MAX_TOKENS] =
                        std::array::from_fn(|j| &xs[(t0 + j).min(m - 1) * nb..][..nb]);
                    let n = dst.len();
                    // `fill` starts groups at multiples of MAX_TOKENS: whole pairs and sums.
                    if t0 % MAX_TOKENS != 0 {
                        return dot::q4_1_q8_1(isa, &w[r * nb..(r + 1) * nb], &x[..n], dst);
                    }
                    let p: [&[PairBlock]; MAX_TOKENS / 2] = std::array::from_fn(|j| {
                        &ps[(t0 / 2 + j).min(m.div_ceil(2) - 1) * nb..][..nb]
                    });
                    dot::q4_1_q8_1_paired(
                        isa,
                        &w[r * nb..(r + 1) * nb],
                        &p[..n.div_ceil(2)],
                        &sums[t0 / MAX_TOKENS * nb..][..nb],
                        &x[..n],
                        dst,
                    );
                })
            }
            Storage::Q4_1(w) => {
                let xs = input.q8_1();
                Box::new(move |r, t0, dst| {
                    let x: [&[BlockQ8_1]; MAX_TOKENS] =
                        std::array::from_fn(|j| &xs[(t0 + j).min(m - 1) * nb..][..nb]);
                    dot::q4_1_q8_1(isa, &w[r * nb..(r + 1) * nb], &x[..dst.len()], dst);
                })
            }
            Storage::Q8_0(w) => {
                let xs = input.q8_0();
                Box::new(move |r, t0, dst| {
                    let x: [&[BlockQ8_0]; MAX_TOKENS] =
                        std::array::from_fn(|j| &xs[(t0 + j).min(m - 1) * nb..][..nb]);
                    dot::q8_0_q8_0(isa, &w[r * nb..(r + 1) * nb], &x[..dst.len()], dst);
                })
            }
            Storage::F32(w) => {
                let x = input.x;
                Box::new(move |r, t0, dst| {
                    super::simd::run(|| {
                        for (j, o) in dst.iter_mut().enumerate() {
                            let t = t0 + j;
                            let (w, x) =
                                (&w[r * cols..(r + 1) * cols], &x[t * cols..(t + 1) * cols]);
                            *o = w.iter().zip(x).map(|(a, b)| a * b).sum();
                        }
                    })
                })
            }
            Storage::Candle(_) => return None,
        })
    }

    fn check(&self, input: &Input<'_>, out: &[f32]) {
        assert_eq!(
            input.k, self.cols,
            "matmul: input has {} columns, weight {}",
            input.k, self.cols
        );
        assert_eq!(out.len(), input.m * self.rows, "matmul: output buffer size");
    }

    /// `out` (m x rows, row-major) = input (m x cols) times this matrix transposed.
    pub fn matmul(&self, input: &Input<'_>, out: &mut [f32]) -> candle_core::Result<()> {
        self.check(input, out);
        match (self.kernel(input), &self.storage) {
            (Some(k), _) => fill(out, input.m, self.rows, k),
            (None, Storage::Candle(mm)) => {
                let x = Tensor::from_slice(input.x, (input.m, self.cols), &Device::Cpu)?;
                let y: Vec<f32> = mm.forward(&x)?.flatten_all()?.to_vec1()?;
                out.copy_from_slice(&y);
            }
            (None, _) => unreachable!("every native type has a kernel"),
        }
        Ok(())
    }
}

type RowKernel<'s> = Box<dyn Fn(usize, usize, &mut [f32]) + Sync + 's>;

/// Several matrices over the same input (query, key and value; gate and up). Decoding one
/// token, they run as one parallel pass over all their rows: one hand-off between the
/// threads instead of one per matrix, which is most of the cost of a small model's step.
pub fn matmul_many(
    input: &Input<'_>,
    jobs: &mut [(&Weight, &mut [f32])],
) -> candle_core::Result<()> {
    let kernels: Option<Vec<RowKernel<'_>>> = jobs.iter().map(|(w, _)| w.kernel(input)).collect();
    let kernels = match kernels {
        Some(k) if input.m == 1 => k,
        _ => {
            for (w, out) in jobs.iter_mut() {
                w.matmul(input, out)?;
            }
            return Ok(());
        }
    };
    const ROW_BLOCK: usize = 16;
    let mut tasks = Vec::new();
    for ((w, out), k) in jobs.iter_mut().zip(&kernels) {
        w.check(input, out);
        for (c, chunk) in out.chunks_mut(ROW_BLOCK).enumerate() {
            tasks.push((k, c * ROW_BLOCK, chunk));
        }
    }
    tasks.into_par_iter().for_each(|(k, r0, chunk)| {
        for (i, o) in chunk.chunks_mut(1).enumerate() {
            k(r0 + i, 0, o);
        }
    });
    Ok(())
}
