//! Activation rows quantised by the parallel step that writes them.
//!
//! A quantised product reads its input as 8-bit blocks ([`super::matmul::Input`] makes them
//! on first use). For a batch of sequences that first use came between two parallel steps,
//! on one thread, while the others waited: with the norms, the residual additions and the
//! pairing of rows for the 512-bit kernels, about a sixth of a batched decoding step ran on
//! the caller alone. Here the step that produces the rows (a norm, SwiGLU) takes them a pair
//! at a time and quantises each pair as soon as it is written, while it is in cache; the
//! numbers are the ones [`super::matmul::Input`] would make, bit for bit.

use super::dot::{self, Isa, PairBlock};
use super::quant::{BlockQ8_0, BlockQ8_1, QK};

/// The 8-bit form a weight type reads its activations in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// For Q4_1 weights.
    Q8_1,
    /// For Q8_0 weights.
    Q8_0,
}

/// `m` rows of `k` activations quantised to one [`Format`], with the rows paired up for the
/// 512-bit kernels when the CPU runs them and there are several rows.
pub struct Quantised {
    pub(super) format: Format,
    pub(super) m: usize,
    pub(super) k: usize,
    pub(super) q8_1: Vec<BlockQ8_1>,
    pub(super) q8_0: Vec<BlockQ8_0>,
    pub(super) pairs: Vec<PairBlock>,
}

/// What one task fills: a pair of rows (the last may be alone).
pub struct PairSlot<'a> {
    format: Format,
    k: usize,
    q8_1: &'a mut [BlockQ8_1],
    q8_0: &'a mut [BlockQ8_0],
    pair: &'a mut [PairBlock],
}

impl Quantised {
    /// Room for `m` rows of `k` values (`k` a multiple of the block size).
    pub fn new(format: Format, m: usize, k: usize) -> Self {
        assert!(k.is_multiple_of(QK), "rows are whole blocks");
        let nb = k / QK;
        let blocks = m * nb;
        let paired = m > 1 && Isa::detected().reads_pairs();
        Quantised {
            format,
            m,
            k,
            q8_1: match format {
                Format::Q8_1 => vec![
                    BlockQ8_1 {
                        d: 0.0,
                        s: 0.0,
                        qs: [0; QK],
                    };
                    blocks
                ],
                Format::Q8_0 => Vec::new(),
            },
            q8_0: match format {
                Format::Q8_0 => vec![
                    BlockQ8_0 {
                        d: 0.0,
                        qs: [0; QK]
                    };
                    blocks
                ],
                Format::Q8_1 => Vec::new(),
            },
            pairs: if paired {
                vec![
                    PairBlock {
                        qs: [0; 64],
                        d: [0.0; 16],
                    };
                    m.div_ceil(2) * nb
                ]
            } else {
                Vec::new()
            },
        }
    }

    /// One slot per pair of rows, in order, for the tasks of a parallel step.
    pub fn slots(&mut self) -> Vec<PairSlot<'_>> {
        let nb = self.k / QK;
        let pairs = self.m.div_ceil(2);
        let mut q8_1 = self.q8_1.chunks_mut(2 * nb);
        let mut q8_0 = self.q8_0.chunks_mut(2 * nb);
        let mut pair = self.pairs.chunks_mut(nb);
        (0..pairs)
            .map(|_| PairSlot {
                format: self.format,
                k: self.k,
                q8_1: q8_1.next().unwrap_or_default(),
                q8_0: q8_0.next().unwrap_or_default(),
                pair: pair.next().unwrap_or_default(),
            })
            .collect()
    }
}

impl PairSlot<'_> {
    /// Quantises this slot's rows (`x`: one or two rows of `k` values), and pairs them.
    pub fn quantise(&mut self, x: &[f32]) {
        let nb = self.k / QK;
        match self.format {
            Format::Q8_1 => fill(
                x,
                nb,
                self.q8_1,
                self.pair,
                dot::quantize_q8_1,
                dot::pair_blocks_into,
            ),
            Format::Q8_0 => fill(
                x,
                nb,
                self.q8_0,
                self.pair,
                dot::quantize_q8_0,
                dot::pair_blocks_offset_into,
            ),
        }
    }
}

/// Quantises `x` into `rows` with `quantise` and, when the slot has pairs, pairs the rows
/// with `pair`. Rows are whole blocks, so a pair of rows quantises as one slice.
fn fill<B: Copy>(
    x: &[f32],
    nb: usize,
    rows: &mut [B],
    pairs: &mut [PairBlock],
    quantise: fn(Isa, &[f32], &mut Vec<B>),
    pair: fn(&[B], usize, &mut [PairBlock]),
) {
    let mut v = Vec::with_capacity(x.len() / QK);
    quantise(Isa::detected(), x, &mut v);
    rows[..v.len()].copy_from_slice(&v);
    if !pairs.is_empty() {
        pair(&v, nb, pairs);
    }
}
