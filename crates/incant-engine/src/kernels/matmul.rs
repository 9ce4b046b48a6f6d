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

use super::dot::{self, Isa, PairBlock, Strides, MAX_TOKENS};
use super::prepared::{Format, Quantised};
use super::quant::{self, BlockQ4_1, BlockQ8_0, BlockQ8_1, QK};
use crate::gguf::GgufFile;
use crate::EngineError;
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
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
    q8_0_pairs: OnceLock<Vec<PairBlock>>,
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
            q8_0_pairs: OnceLock::new(),
        }
    }

    /// Rows whose quantised form the step that wrote them already made (see
    /// [`super::prepared`]); any other form is still made on first use.
    pub fn prepared(x: &'a [f32], q: Quantised) -> Self {
        let input = Self::new(x, q.m);
        assert_eq!(
            q.k, input.k,
            "prepared rows: {} columns, input {}",
            q.k, input.k
        );
        let paired = !q.pairs.is_empty();
        match q.format {
            Format::Q8_1 => {
                let _ = input.q8_1.set(q.q8_1);
                if paired {
                    let _ = input.q8_1_pairs.set(q.pairs);
                }
            }
            Format::Q8_0 => {
                let _ = input.q8_0.set(q.q8_0);
                if paired {
                    let _ = input.q8_0_pairs.set(q.pairs);
                }
            }
        }
        input
    }

    /// Quantises every row with `f` (rows in parallel when there are many), row-major.
    fn quantize<B: Copy + Send + Sync>(&self, f: impl Fn(&[f32], &mut Vec<B>) + Sync) -> Vec<B> {
        let one = |row: &[f32]| {
            let mut v = Vec::with_capacity(self.k / QK);
            super::simd::run(|| f(row, &mut v));
            v
        };
        if self.m >= 16 {
            let mut rows: Vec<Vec<B>> = vec![Vec::new(); self.m];
            crate::pool::for_each_mut(&mut rows, |t, row| {
                *row = one(&self.x[t * self.k..(t + 1) * self.k]);
            });
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
            .get_or_init(|| self.quantize(|x, out| dot::quantize_q8_1(Isa::detected(), x, out)))
    }

    fn q8_1_pairs(&self) -> &[PairBlock] {
        self.q8_1_pairs
            .get_or_init(|| dot::pair_blocks(self.q8_1(), self.k / QK, self.m))
    }

    fn q8_1_sums(&self) -> &[[f32; MAX_TOKENS]] {
        self.q8_1_sums
            .get_or_init(|| dot::group_sums(self.q8_1(), self.k / QK, self.m))
    }

    fn q8_0_pairs(&self) -> &[PairBlock] {
        self.q8_0_pairs
            .get_or_init(|| dot::pair_blocks_offset(self.q8_0(), self.k / QK, self.m))
    }

    fn q8_0(&self) -> &[BlockQ8_0] {
        self.q8_0
            .get_or_init(|| self.quantize(|x, out| dot::quantize_q8_0(Isa::detected(), x, out)))
    }
}

enum Storage {
    Q4_1(Vec<BlockQ4_1>),
    Q8_0(Vec<BlockQ8_0>),
    F32(Vec<f32>),
    Candle(QMatMul),
}

/// Rows per task when decoding one token: one contiguous share per thread. Each thread
/// then streams its share of the weights from memory in order; finer tasks (16 rows handed
/// out in turn) measured 25-60% slower per token here, however cheap the hand-off.
fn decode_block(rows: usize) -> usize {
    rows.div_ceil(crate::pool::Pool::global().threads())
        .next_multiple_of(16)
}

/// Whether `m` input rows are enough to split by tokens (about four groups of
/// [`MAX_TOKENS`] per thread) rather than by weight rows.
fn many_tokens(m: usize) -> bool {
    m >= 4 * MAX_TOKENS * crate::pool::Pool::global().threads()
}

/// Fills `out` (m x rows, row-major) with `kernel(rows, t0, n, dst, strides)`, which writes
/// weight rows `rows` times input rows `t0..t0 + n` (at most [`MAX_TOKENS`], `t0` a
/// multiple of it) into `dst` through `strides`.
///
/// Many tokens (prefill): the tokens are split between the threads, so each thread writes
/// whole output rows; it runs 64 weight rows at a time over all its token groups, so those
/// rows stay in cache. A few tokens (a batch of sequences): the rows are split, into a
/// transposed buffer that a second parallel step turns around. One token goes through
/// [`decode`] instead.
fn fill(out: &mut [f32], m: usize, rows: usize, kernel: BlockKernel<'_>) {
    if !many_tokens(m) {
        return few_tokens(m, &mut [(kernel, out)]);
    }
    const ROWS_AT_ONCE: usize = 64;
    let threads = crate::pool::Pool::global().threads();
    // About four groups of tokens per thread, at most 64 tokens each.
    let per = m.div_ceil(4 * threads).next_multiple_of(MAX_TOKENS).min(64);
    crate::pool::for_each_chunk_mut(out, per * rows, |c, dst| {
        let n = dst.len() / rows;
        for r0 in (0..rows).step_by(ROWS_AT_ONCE) {
            let r1 = (r0 + ROWS_AT_ONCE).min(rows);
            for g in (0..n).step_by(MAX_TOKENS) {
                let k = (n - g).min(MAX_TOKENS);
                let strides = Strides {
                    row: 1,
                    token: rows,
                };
                kernel(r0..r1, c * per + g, k, &mut dst[g * rows + r0..], strides);
            }
        }
    });
}

/// Several products over the same few input rows (a batch of sequences): the rows of
/// every matrix are split between the threads in one parallel step. A thread runs its share
/// a piece at a time into a small buffer with the tokens side by side (what the kernels
/// write fastest), and turns each piece around into the output rows while it is still in
/// cache: no second step, no large buffer to clear.
fn few_tokens(m: usize, jobs: &mut [(BlockKernel<'_>, &mut [f32])]) {
    /// Floats in a thread's piece buffer (16 KB: the piece stays in the first-level cache).
    const PIECE: usize = 4096;
    struct Task<'k, 'o> {
        kernel: &'k BlockKernel<'k>,
        r0: usize,
        /// The task's columns of every output row (one slice per token).
        cols: Vec<&'o mut [f32]>,
    }
    let mut tasks: Vec<Task<'_, '_>> = Vec::new();
    for (kernel, out) in jobs.iter_mut() {
        let rows = out.len() / m;
        let block = decode_block(rows);
        let first = tasks.len();
        for c in 0..rows.div_ceil(block) {
            tasks.push(Task {
                kernel: &*kernel,
                r0: c * block,
                cols: Vec::with_capacity(m),
            });
        }
        for row in out.chunks_mut(rows) {
            for (c, cols) in row.chunks_mut(block).enumerate() {
                tasks[first + c].cols.push(cols);
            }
        }
    }
    let piece_rows = (PIECE / m).max(1);
    crate::pool::for_each_mut(&mut tasks, |_, task| {
        let mut buffer = [0f32; PIECE];
        let n = task.cols[0].len();
        for p0 in (0..n).step_by(piece_rows) {
            let p1 = (p0 + piece_rows).min(n);
            let piece = &mut buffer[..(p1 - p0) * m];
            for g in (0..m).step_by(MAX_TOKENS) {
                let k = (m - g).min(MAX_TOKENS);
                let rows = task.r0 + p0..task.r0 + p1;
                (task.kernel)(rows, g, k, &mut piece[g..], Strides { row: m, token: 1 });
            }
            for (t, dst) in task.cols.iter_mut().enumerate() {
                for (o, r) in dst[p0..p1].iter_mut().zip(0..) {
                    *o = piece[r * m + t];
                }
            }
        }
    });
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

    /// The 8-bit form this matrix reads its input in (`None`: it reads f32).
    pub fn format(&self) -> Option<Format> {
        match self.storage {
            Storage::Q4_1(_) => Some(Format::Q8_1),
            Storage::Q8_0(_) => Some(Format::Q8_0),
            Storage::F32(_) | Storage::Candle(_) => None,
        }
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

    /// The kernel of a native weight type over a few input rows (see [`fill`]). `None` for
    /// types that run on candle.
    fn block_kernel<'s>(&'s self, input: &'s Input<'_>) -> Option<BlockKernel<'s>> {
        let (m, cols) = (input.m, self.cols);
        let nb = cols / QK;
        let isa = Isa::detected();
        // The input rows `t0..t0 + n` of a quantised input (`[row][block]`).
        fn group<B>(all: &[B], nb: usize, t0: usize, n: usize) -> [&[B]; MAX_TOKENS] {
            std::array::from_fn(|j| &all[(t0 + j.min(n - 1)) * nb..][..nb])
        }
        Some(match &self.storage {
            Storage::Q4_1(w) => {
                let xs = input.q8_1();
                let paired = isa
                    .reads_pairs()
                    .then(|| (input.q8_1_pairs(), input.q8_1_sums()));
                Box::new(move |rows, t0, n, dst, strides| {
                    let x = group(xs, nb, t0, n);
                    let w = &w[rows.start * nb..rows.end * nb];
                    // Groups start at multiples of MAX_TOKENS: whole pairs and sums.
                    let p = paired.map(|(ps, sums)| {
                        let pairs: [&[PairBlock]; MAX_TOKENS / 2] = std::array::from_fn(|j| {
                            &ps[(t0 / 2 + j).min(m.div_ceil(2) - 1) * nb..][..nb]
                        });
                        (pairs, &sums[t0 / MAX_TOKENS * nb..][..nb])
                    });
                    let p = p
                        .as_ref()
                        .map(|(pairs, sums)| (&pairs[..n.div_ceil(2)], *sums));
                    dot::q4_1_q8_1_block(isa, w, &x[..n], p, dst, strides);
                })
            }
            Storage::Q8_0(w) => {
                let xs = input.q8_0();
                let pairs = isa.reads_pairs().then(|| input.q8_0_pairs());
                Box::new(move |rows, t0, n, dst, strides| {
                    let x = group(xs, nb, t0, n);
                    let w = &w[rows.start * nb..rows.end * nb];
                    let p = pairs.map(|ps| -> [&[PairBlock]; MAX_TOKENS / 2] {
                        std::array::from_fn(|j| {
                            &ps[(t0 / 2 + j).min(m.div_ceil(2) - 1) * nb..][..nb]
                        })
                    });
                    let p = p.as_ref().map(|p| &p[..n.div_ceil(2)]);
                    dot::q8_0_q8_0_block(isa, w, &x[..n], p, dst, strides);
                })
            }
            Storage::F32(w) => {
                let x = input.x;
                Box::new(move |rows, t0, n, dst, strides| {
                    super::simd::run(|| {
                        for (i, r) in rows.enumerate() {
                            for j in 0..n {
                                let t = t0 + j;
                                let (w, x) =
                                    (&w[r * cols..(r + 1) * cols], &x[t * cols..(t + 1) * cols]);
                                dst[i * strides.row + j * strides.token] =
                                    w.iter().zip(x).map(|(a, b)| a * b).sum();
                            }
                        }
                    })
                })
            }
            Storage::Candle(_) => return None,
        })
    }

    /// For one input row (decoding): `f(r0, dst)` writes rows `r0..r0 + dst.len()` times
    /// it into `dst`. `None` for several rows or a type that runs on candle.
    fn decode_kernel<'s>(&'s self, input: &'s Input<'_>) -> Option<RowsKernel<'s>> {
        if input.m != 1 {
            return None;
        }
        let nb = self.cols / QK;
        let isa = Isa::detected();
        Some(match &self.storage {
            Storage::Q4_1(w) => {
                let x = input.q8_1();
                Box::new(move |r0, dst| {
                    dot::q4_1_q8_1_rows(isa, &w[r0 * nb..(r0 + dst.len()) * nb], x, dst)
                })
            }
            Storage::Q8_0(w) => {
                let x = input.q8_0();
                Box::new(move |r0, dst| {
                    dot::q8_0_q8_0_rows(isa, &w[r0 * nb..(r0 + dst.len()) * nb], x, dst)
                })
            }
            _ => {
                let k = self.block_kernel(input)?;
                Box::new(move |r0, dst| {
                    let strides = Strides { row: 1, token: 1 };
                    k(r0..r0 + dst.len(), 0, 1, dst, strides)
                })
            }
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
        if let Some(k) = self.decode_kernel(input) {
            decode(&mut [(k, out)]);
            return Ok(());
        }
        match (self.block_kernel(input), &self.storage) {
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

type BlockKernel<'s> =
    Box<dyn Fn(std::ops::Range<usize>, usize, usize, &mut [f32], Strides) + Sync + 's>;
type RowsKernel<'s> = Box<dyn Fn(usize, &mut [f32]) + Sync + 's>;

/// Several matrices over the same input (query, key and value; gate and up). Decoding one
/// token, they run as one parallel step over all their rows: one hand-off between the
/// threads instead of one per matrix.
pub fn matmul_many(
    input: &Input<'_>,
    jobs: &mut [(&Weight, &mut [f32])],
) -> candle_core::Result<()> {
    let kernels: Option<Vec<RowsKernel<'_>>> =
        jobs.iter().map(|(w, _)| w.decode_kernel(input)).collect();
    let Some(kernels) = kernels else {
        let blocks: Option<Vec<BlockKernel<'_>>> =
            jobs.iter().map(|(w, _)| w.block_kernel(input)).collect();
        match blocks {
            // A batch of sequences: every matrix in one parallel step.
            Some(blocks) if input.m > 1 && !many_tokens(input.m) => {
                let mut parts = Vec::with_capacity(jobs.len());
                for ((w, out), k) in jobs.iter_mut().zip(blocks) {
                    w.check(input, out);
                    parts.push((k, &mut **out));
                }
                few_tokens(input.m, &mut parts);
            }
            _ => {
                for (w, out) in jobs.iter_mut() {
                    w.matmul(input, out)?;
                }
            }
        }
        return Ok(());
    };
    let mut parts = Vec::with_capacity(jobs.len());
    for ((w, out), k) in jobs.iter_mut().zip(kernels) {
        w.check(input, out);
        parts.push((k, &mut **out));
    }
    decode(&mut parts);
    Ok(())
}

/// Runs decoding kernels (one input row) over their outputs as one parallel step, each
/// output split into one contiguous share per thread.
fn decode(parts: &mut [(RowsKernel<'_>, &mut [f32])]) {
    let mut tasks = Vec::new();
    for (k, out) in parts.iter_mut() {
        let block = decode_block(out.len());
        for (c, chunk) in out.chunks_mut(block).enumerate() {
            tasks.push((&*k, c * block, chunk));
        }
    }
    crate::pool::for_each_mut(&mut tasks, |_, (k, r0, chunk)| k(*r0, chunk));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::dot::tests::{q4_1_row, q8_0_row, Draws};

    /// Panics at the first output whose bits differ, naming its token and row.
    fn same_bits(got: &[f32], want: &[f32], tokens: usize, what: &str) {
        let rows = got.len() / tokens;
        if let Some(i) = (0..got.len()).find(|&i| got[i].to_bits() != want[i].to_bits()) {
            panic!(
                "{what}: token {} row {}: {} != {}",
                i / rows,
                i % rows,
                got[i],
                want[i]
            );
        }
    }

    /// Rows quantised a pair at a time by a step's tasks are the blocks and pairs that the
    /// input makes on its own.
    #[test]
    fn prepared_rows_equal_the_inputs_own_quantisation() {
        let k = 96;
        for m in [1usize, 2, 3, 8, 9] {
            let x = crate::kernels::test_data::uniform(m * k, 40 + m as u64, 6.0);
            for format in [Format::Q8_1, Format::Q8_0] {
                let mut q = Quantised::new(format, m, k);
                for (slot, rows) in q.slots().iter_mut().zip(x.chunks(2 * k)) {
                    slot.quantise(rows);
                }
                let (own, prepared) = (Input::new(&x, m), Input::prepared(&x, q));
                // The step's blocks are in place: nothing is left to make on first use.
                let paired = m > 1 && Isa::detected().reads_pairs();
                let (rows, pairs) = match format {
                    Format::Q8_1 => (
                        prepared.q8_1.get().is_some(),
                        prepared.q8_1_pairs.get().is_some(),
                    ),
                    Format::Q8_0 => (
                        prepared.q8_0.get().is_some(),
                        prepared.q8_0_pairs.get().is_some(),
                    ),
                };
                assert!(rows && pairs == paired, "{format:?}, {m} rows");
                let text = |v: &dyn std::fmt::Debug| format!("{v:?}");
                if format == Format::Q8_1 {
                    assert_eq!(text(&prepared.q8_1()), text(&own.q8_1()), "{m} rows");
                    if paired {
                        let (a, b) = (prepared.q8_1_pairs(), own.q8_1_pairs());
                        assert_eq!(text(&a), text(&b), "{m} rows, pairs");
                    }
                } else {
                    assert_eq!(text(&prepared.q8_0()), text(&own.q8_0()), "{m} rows");
                    if paired {
                        let (a, b) = (prepared.q8_0_pairs(), own.q8_0_pairs());
                        assert_eq!(text(&a), text(&b), "{m} rows, pairs");
                    }
                }
            }
        }
    }

    /// Every number of input rows (one token, a batch of sequences in pieces, a prompt
    /// split by tokens) gives each output the scalar dot product of its weight row and
    /// quantised input row, bit for bit, alone and beside a second matrix.
    #[test]
    fn every_batch_size_gives_the_scalar_products() {
        // More rows than one thread's piece holds at eight tokens, and not a multiple of 16.
        let (rows, cols) = (1100, 64);
        let nb = cols / QK;
        let mut draws = Draws::new(11);
        let q4: Vec<BlockQ4_1> = (0..rows).flat_map(|_| q4_1_row(&mut draws, nb)).collect();
        let q8: Vec<BlockQ8_0> = (0..rows).flat_map(|_| q8_0_row(&mut draws, nb)).collect();
        let weight = |storage| Weight {
            rows,
            cols,
            storage,
        };
        let (w4, w8) = (
            weight(Storage::Q4_1(q4.clone())),
            weight(Storage::Q8_0(q8.clone())),
        );
        for m in [1usize, 2, 3, 7, 8, 9, 16, 17, 63, 64, 65, 100] {
            let x = crate::kernels::test_data::uniform(m * cols, m as u64, 4.0);
            let (mut want4, mut want8) = (vec![0f32; m * rows], vec![0f32; m * rows]);
            for (t, xt) in x.chunks_exact(cols).enumerate() {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                quant::quantize_q8_1(xt, &mut a);
                quant::quantize_q8_0(xt, &mut b);
                for r in 0..rows {
                    let w = r * nb..(r + 1) * nb;
                    want4[t * rows + r] = quant::dot_q4_1_q8_1(&q4[w.clone()], &a);
                    want8[t * rows + r] = quant::dot_q8_0_q8_0(&q8[w], &b);
                }
            }
            let input = Input::new(&x, m);
            let (mut got4, mut got8) = (vec![f32::NAN; m * rows], vec![f32::NAN; m * rows]);
            w4.matmul(&input, &mut got4).unwrap();
            w8.matmul(&input, &mut got8).unwrap();
            same_bits(&got4, &want4, m, &format!("q4_1, {m} rows"));
            same_bits(&got8, &want8, m, &format!("q8_0, {m} rows"));
            let (mut both4, mut both8) = (vec![f32::NAN; m * rows], vec![f32::NAN; m * rows]);
            matmul_many(&input, &mut [(&w4, &mut both4), (&w8, &mut both8)]).unwrap();
            same_bits(&both4, &want4, m, &format!("q4_1 beside q8_0, {m} rows"));
            same_bits(&both8, &want8, m, &format!("q8_0 beside q4_1, {m} rows"));
        }
    }
}
