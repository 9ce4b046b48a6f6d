//! Block dot products with the CPU's integer vector instructions, chosen at run time.
//!
//! [`super::quant`] defines the numbers (ggml's lane order: eight float lanes, lane `l` of a
//! block holding the exact integer sum of products `4l..4l+4`, scaled and accumulated with
//! a fused multiply-add). This module computes the same numbers faster:
//!
//! - AVX-512 VNNI: `vpdpbusd` (AVX-512 VNNI on 256-bit registers) does the four
//!   products and their sum per lane in one instruction;
//! - AVX2: `vpmaddubsw` + `vpmaddwd`, as ggml's AVX2 kernels;
//! - [`Isa::portable()`]: the scalar reference in [`super::quant`].
//!
//! The integer sums are exact on every path and the float operations are the same ones in
//! the same order, so all paths give identical bits (the tests check it on random data).
//! Each kernel takes one weight row and up to [`MAX_TOKENS`] activation rows, so a weight
//! block is unpacked once for several tokens during prefill.

// The vector paths need `unsafe` to load blocks through raw pointers and to call functions
// compiled for instruction sets that [`Isa::detected`] has verified; every block says why.
#![allow(unsafe_code)]

use super::quant::{self, BlockQ4_1, BlockQ8_0, BlockQ8_1};

/// Activation rows one kernel call handles at most (a weight block is unpacked once for
/// all of them: eight covers a server's batch of eight sequences in one pass).
pub const MAX_TOKENS: usize = 8;

/// An instruction-set path. Only paths the running CPU supports can be obtained, which is
/// what makes calling the vector kernels sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Isa(Path);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512Vnni,
}

impl Isa {
    /// The plain-Rust path (every CPU).
    pub const fn portable() -> Isa {
        Isa(Path::Portable)
    }

    /// The fastest path this CPU supports.
    pub fn detected() -> Isa {
        *Self::supported()
            .last()
            .expect("portable is always supported")
    }

    /// Every path this CPU supports, slowest first (tests run them all).
    pub fn supported() -> Vec<Isa> {
        #[allow(unused_mut)]
        let mut v = vec![Isa(Path::Portable)];
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx2") && has!("fma") {
                v.push(Isa(Path::Avx2));
                if has!("avx512vnni") && has!("avx512vl") && has!("avx512f") {
                    v.push(Isa(Path::Avx512Vnni));
                }
            }
        }
        v
    }

    /// Whether [`q4_1_q8_1_block`] reads pairs on this path (worth building them).
    pub fn reads_pairs(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        if self.0 == Path::Avx512Vnni {
            return true;
        }
        false
    }

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self.0 {
            Path::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => "avx2",
            #[cfg(target_arch = "x86_64")]
            Path::Avx512Vnni => "avx512vnni",
        }
    }
}

/// `out[r] = w_r · x` for `out.len()` consecutive Q4_1 weight rows of `x.len()` blocks each
/// (decoding one token), in one call per share of rows. The same bits as
/// [`q4_1_q8_1_block`] row by row.
pub fn q4_1_q8_1_rows(isa: Isa, w: &[BlockQ4_1], x: &[BlockQ8_1], out: &mut [f32]) {
    let kernels = RowKernels {
        portable: quant::dot_q4_1_q8_1,
        #[cfg(target_arch = "x86_64")]
        avx2: x86::q4_1_rows_avx2,
        #[cfg(target_arch = "x86_64")]
        vnni: x86::q4_1_rows_vnni,
    };
    kernels.run(isa, w, x, out);
}

/// `out[r] = w_r · x` for `out.len()` consecutive Q8_0 weight rows of `x.len()` blocks each,
/// as [`q4_1_q8_1_rows`]; the same bits as [`q8_0_q8_0_block`] row by row.
pub fn q8_0_q8_0_rows(isa: Isa, w: &[BlockQ8_0], x: &[BlockQ8_0], out: &mut [f32]) {
    let kernels = RowKernels {
        portable: quant::dot_q8_0_q8_0,
        #[cfg(target_arch = "x86_64")]
        avx2: x86::q8_0_rows_avx2,
        #[cfg(target_arch = "x86_64")]
        vnni: x86::q8_0_rows_vnni,
    };
    kernels.run(isa, w, x, out);
}

/// The one-token kernels of a weight type, one per path.
struct RowKernels<W, X> {
    portable: fn(&[W], &[X]) -> f32,
    /// Requires AVX2 and FMA, and `w.len() == out.len() * x.len()`.
    #[cfg(target_arch = "x86_64")]
    avx2: unsafe fn(&[W], &[X], &mut [f32]),
    /// Requires AVX2, FMA and AVX-512F/VL/VNNI, and the lengths as above.
    #[cfg(target_arch = "x86_64")]
    vnni: unsafe fn(&[W], &[X], &mut [f32]),
}

impl<W, X> RowKernels<W, X> {
    fn run(&self, isa: Isa, w: &[W], x: &[X], out: &mut [f32]) {
        assert_eq!(w.len(), out.len() * x.len(), "weight rows times blocks");
        if x.is_empty() {
            return out.fill(0.0);
        }
        match isa.0 {
            Path::Portable => {
                for (o, row) in out.iter_mut().zip(w.chunks_exact(x.len())) {
                    *o = (self.portable)(row, x);
                }
            }
            // SAFETY: AVX2 and FMA were found by `supported`; the lengths were checked above.
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => unsafe { (self.avx2)(w, x, out) },
            // SAFETY: AVX2, FMA, AVX-512F/VL/VNNI were found; the lengths were checked above.
            #[cfg(target_arch = "x86_64")]
            Path::Avx512Vnni => unsafe { (self.vnni)(w, x, out) },
        }
    }
}

/// A row of activations (length a multiple of 32) as Q8_1 blocks: the numbers of
/// [`quant::quantize_q8_1`], with AVX2 where the CPU has it.
pub fn quantize_q8_1(isa: Isa, x: &[f32], out: &mut Vec<BlockQ8_1>) {
    match isa.0 {
        Path::Portable => quant::quantize_q8_1(x, out),
        // SAFETY: both x86 paths exist only when `supported` found AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 | Path::Avx512Vnni => unsafe { x86::quantize_q8_1_avx2(x, out) },
    }
}

/// A row of activations as Q8_0 blocks, as [`quantize_q8_1`].
pub fn quantize_q8_0(isa: Isa, x: &[f32], out: &mut Vec<BlockQ8_0>) {
    match isa.0 {
        Path::Portable => quant::quantize_q8_0(x, out),
        // SAFETY: both x86 paths exist only when `supported` found AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 | Path::Avx512Vnni => unsafe { x86::quantize_q8_0_avx2(x, out) },
    }
}

/// One block of two activation rows side by side, for the 512-bit kernel: the quantised
/// values of row `2p` then of row `2p + 1`, and their scales repeated over eight lanes each,
/// so one register holds both tokens' lanes.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
pub struct PairBlock {
    /// Quantised values of the two rows.
    pub qs: [i8; 64],
    /// `d` of the first row eight times, then of the second.
    pub d: [f32; 16],
}

/// Pairs up `m` rows of `nb` Q8_1 blocks (`[row][block]`) as `[pair][block]`; an odd last
/// row is paired with itself.
pub fn pair_blocks(rows: &[BlockQ8_1], nb: usize, m: usize) -> Vec<PairBlock> {
    pair_rows(rows, nb, m, q8_1_parts)
}

fn q8_1_parts(b: &BlockQ8_1) -> ([i8; 32], f32) {
    (b.qs, b.d)
}

fn q8_0_offset_parts(b: &BlockQ8_0) -> ([i8; 32], f32) {
    (b.qs.map(|q| q ^ i8::MIN), b.d)
}

/// Pairs up `m` rows of `nb` Q8_0 activation blocks as [`pair_blocks`] does, with every
/// value offset by 128 (`x ^ 0x80` is `x + 128` as an unsigned byte): the 512-bit Q8_0
/// kernel multiplies unsigned activations by signed weights and takes `128 * sum(w)` back
/// off, which leaves the exact integer sums.
pub fn pair_blocks_offset(rows: &[BlockQ8_0], nb: usize, m: usize) -> Vec<PairBlock> {
    pair_rows(rows, nb, m, q8_0_offset_parts)
}

fn pair_rows<B>(
    rows: &[B],
    nb: usize,
    m: usize,
    parts: impl Fn(&B) -> ([i8; 32], f32),
) -> Vec<PairBlock> {
    let empty = PairBlock {
        qs: [0; 64],
        d: [0.0; 16],
    };
    let mut out = vec![empty; m.div_ceil(2) * nb];
    pair_rows_into(rows, nb, m, parts, &mut out);
    out
}

/// [`pair_rows`] into `out` (`m.div_ceil(2) * nb` blocks).
fn pair_rows_into<B>(
    rows: &[B],
    nb: usize,
    m: usize,
    parts: impl Fn(&B) -> ([i8; 32], f32),
    out: &mut [PairBlock],
) {
    for (p, pair) in out.chunks_exact_mut(nb).enumerate().take(m.div_ceil(2)) {
        let (a, b) = (2 * p, (2 * p + 1).min(m - 1));
        for (blk, dst) in pair.iter_mut().enumerate() {
            let ((xq, xd), (yq, yd)) = (parts(&rows[a * nb + blk]), parts(&rows[b * nb + blk]));
            dst.qs[..32].copy_from_slice(&xq);
            dst.qs[32..].copy_from_slice(&yq);
            dst.d[..8].fill(xd);
            dst.d[8..].fill(yd);
        }
    }
}

/// [`pair_blocks`] of one or two rows into `out` (`nb` blocks).
pub fn pair_blocks_into(rows: &[BlockQ8_1], nb: usize, out: &mut [PairBlock]) {
    pair_rows_into(rows, nb, rows.len() / nb, q8_1_parts, out)
}

/// [`pair_blocks_offset`] of one or two rows into `out` (`nb` blocks).
pub fn pair_blocks_offset_into(rows: &[BlockQ8_0], nb: usize, out: &mut [PairBlock]) {
    pair_rows_into(rows, nb, rows.len() / nb, q8_0_offset_parts, out)
}

/// The `s` of up to eight rows side by side, block by block (`[group][block][row]`, rows
/// `8g..8g + 8`; missing rows repeat the last), so the minimum's term of all of them is one
/// vector multiply and add per block.
pub fn group_sums(rows: &[BlockQ8_1], nb: usize, m: usize) -> Vec<[f32; MAX_TOKENS]> {
    let mut out = Vec::with_capacity(m.div_ceil(MAX_TOKENS) * nb);
    for g in 0..m.div_ceil(MAX_TOKENS) {
        for blk in 0..nb {
            out.push(std::array::from_fn(|t| {
                rows[(g * MAX_TOKENS + t).min(m - 1) * nb + blk].s
            }));
        }
    }
    out
}

/// One group's activation rows as pairs and their sums, side by side ([`pair_blocks`] and
/// [`group_sums`]), which the AVX-512 Q4_1 kernel reads.
pub type Paired<'a> = (&'a [&'a [PairBlock]], &'a [[f32; MAX_TOKENS]]);

/// Where a block kernel writes: the result of weight row `i` and activation row `t` goes to
/// `out[i * row + t * token]`.
#[derive(Debug, Clone, Copy)]
pub struct Strides {
    /// Between consecutive weight rows.
    pub row: usize,
    /// Between consecutive activation rows.
    pub token: usize,
}

/// Checks a block call's shapes; returns (blocks per row, weight rows).
fn block_shape<B>(w: &[B], xs_len: usize, nb: usize, out: usize, s: Strides) -> usize {
    assert!((1..=MAX_TOKENS).contains(&xs_len), "1 to 8 activation rows");
    assert!(
        nb > 0 && w.len().is_multiple_of(nb),
        "weight rows times blocks"
    );
    let rows = w.len() / nb;
    assert!(
        rows == 0 || (rows - 1) * s.row + (xs_len - 1) * s.token < out,
        "output too short for the strides"
    );
    rows
}

/// Consecutive Q4_1 weight rows (`w`, `xs[0].len()` blocks each) times up to eight
/// activation rows `xs`, written through `s`: a share of a product over a few tokens in one
/// call. `paired` gives the same rows as pairs and sums ([`pair_blocks`], [`group_sums`] of
/// this group), which the AVX-512 path reads; the others ignore it. The same bits on every
/// path, and as the definition ([`quant::dot_q4_1_q8_1`]).
pub fn q4_1_q8_1_block(
    isa: Isa,
    w: &[BlockQ4_1],
    xs: &[&[BlockQ8_1]],
    paired: Option<Paired<'_>>,
    out: &mut [f32],
    s: Strides,
) {
    let nb = xs.first().map_or(0, |x| x.len());
    block_shape(w, xs.len(), nb, out.len(), s);
    assert!(xs.iter().all(|x| x.len() == nb), "block counts differ");
    match (isa.0, paired) {
        #[cfg(target_arch = "x86_64")]
        (Path::Avx512Vnni, Some((pairs, sums))) => {
            assert!(pairs.len() == xs.len().div_ceil(2), "pair count");
            assert!(
                sums.len() == nb && pairs.iter().all(|p| p.len() == nb),
                "block counts"
            );
            // SAFETY: this path exists only when `supported` found AVX2, FMA and
            // AVX-512F/VL/VNNI; the shapes were checked above.
            unsafe { x86::q4_1_pairs_block_vnni(w, pairs, sums, xs.len(), out, s) }
        }
        // SAFETY: AVX2 and FMA were found by `supported`; the shapes were checked above.
        #[cfg(target_arch = "x86_64")]
        (Path::Avx2, _) => unsafe { x86::q4_1_block_avx2(w, xs, out, s) },
        // SAFETY: AVX2, FMA, AVX-512F/VL/VNNI were found; the shapes were checked above.
        #[cfg(target_arch = "x86_64")]
        (Path::Avx512Vnni, None) => unsafe { x86::q4_1_block_vnni(w, xs, out, s) },
        (Path::Portable, _) => {
            for (i, row) in w.chunks_exact(nb).enumerate() {
                for (t, x) in xs.iter().enumerate() {
                    out[i * s.row + t * s.token] = quant::dot_q4_1_q8_1(row, x);
                }
            }
        }
    }
}

/// Consecutive Q8_0 weight rows times up to eight activation rows, as [`q4_1_q8_1_block`];
/// `pairs` are the same rows through [`pair_blocks_offset`], which the AVX-512 path reads.
pub fn q8_0_q8_0_block(
    isa: Isa,
    w: &[BlockQ8_0],
    xs: &[&[BlockQ8_0]],
    pairs: Option<&[&[PairBlock]]>,
    out: &mut [f32],
    s: Strides,
) {
    let nb = xs.first().map_or(0, |x| x.len());
    block_shape(w, xs.len(), nb, out.len(), s);
    assert!(xs.iter().all(|x| x.len() == nb), "block counts differ");
    #[cfg(target_arch = "x86_64")]
    if let (Path::Avx512Vnni, Some(pairs)) = (isa.0, pairs) {
        assert!(pairs.len() == xs.len().div_ceil(2), "pair count");
        assert!(pairs.iter().all(|p| p.len() == nb), "block counts");
        // SAFETY: this path exists only when `supported` found AVX2, FMA and
        // AVX-512F/VL/VNNI; the shapes were checked above.
        return unsafe { x86::q8_0_pairs_block_vnni(w, pairs, xs.len(), out, s) };
    }
    match isa.0 {
        // SAFETY: AVX2 and FMA were found by `supported`; the shapes were checked above.
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => unsafe { x86::q8_0_block_avx2(w, xs, out, s) },
        // SAFETY: AVX2, FMA, AVX-512F/VL/VNNI were found; the shapes were checked above.
        #[cfg(target_arch = "x86_64")]
        Path::Avx512Vnni => unsafe { x86::q8_0_block_vnni(w, xs, out, s) },
        Path::Portable => {
            for (i, row) in w.chunks_exact(nb).enumerate() {
                for (t, x) in xs.iter().enumerate() {
                    out[i * s.row + t * s.token] = quant::dot_q8_0_q8_0(row, x);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(test)]
pub(crate) mod tests;
