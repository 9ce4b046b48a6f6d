//! GGUF quantisation blocks and their dot products, as ggml's CPU backend computes them.
//!
//! Layouts (32 values per block):
//! - Q4_1: f16 scale `d`, f16 minimum `m`, 16 bytes of nibbles; value = d * q + m, the low
//!   nibbles hold values 0..16 and the high nibbles values 16..32.
//! - Q8_0: f16 scale `d`, 32 signed bytes; value = d * q.
//! - Q8_1 (activations only): Q8_0 plus `s` = d * sum(q), which lets a Q4_1 dot product add
//!   the minimum's contribution once per block.

use half::f16;

/// Values per block.
pub const QK: usize = 32;

/// A Q4_1 block.
#[derive(Debug, Clone, Copy)]
pub struct BlockQ4_1 {
    /// Scale.
    pub d: f32,
    /// Minimum.
    pub m: f32,
    /// Packed nibbles.
    pub qs: [u8; 16],
}

/// A Q8_0 block (weights or activations).
#[derive(Debug, Clone, Copy)]
pub struct BlockQ8_0 {
    /// Scale.
    pub d: f32,
    /// Quantised values.
    pub qs: [i8; QK],
}

/// A Q8_1 block (activations for Q4_1 weights).
#[derive(Debug, Clone, Copy)]
pub struct BlockQ8_1 {
    /// Scale, as stored (rounded to f16).
    pub d: f32,
    /// `d * sum(qs)`, rounded to f16.
    pub s: f32,
    /// Quantised values.
    pub qs: [i8; QK],
}

fn f16_at(bytes: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
}

/// Parses raw Q4_1 tensor bytes (20 bytes per block).
pub fn parse_q4_1(bytes: &[u8]) -> Vec<BlockQ4_1> {
    bytes
        .chunks_exact(20)
        .map(|b| {
            let mut qs = [0u8; 16];
            qs.copy_from_slice(&b[4..20]);
            BlockQ4_1 {
                d: f16_at(b, 0),
                m: f16_at(b, 2),
                qs,
            }
        })
        .collect()
}

/// Parses raw Q8_0 tensor bytes (34 bytes per block).
pub fn parse_q8_0(bytes: &[u8]) -> Vec<BlockQ8_0> {
    bytes
        .chunks_exact(34)
        .map(|b| {
            let mut qs = [0i8; QK];
            for (q, &byte) in qs.iter_mut().zip(&b[2..34]) {
                *q = byte as i8;
            }
            BlockQ8_0 {
                d: f16_at(b, 0),
                qs,
            }
        })
        .collect()
}

/// Scale and rounded values of one block, as ggml's AVX2 `quantize_row_q8_*` computes them:
/// `d = max|x| / 127`, `q = round_half_even(x * 127 / max|x|)`.
#[inline(always)]
fn quantize_block(x: &[f32]) -> (f32, [i8; QK]) {
    let amax = x.iter().fold(0f32, |a, v| a.max(v.abs()));
    let d = amax / 127.0;
    let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
    let mut qs = [0i8; QK];
    for (q, &v) in qs.iter_mut().zip(x) {
        *q = (v * id).round_ties_even() as i8;
    }
    (d, qs)
}

/// Quantises a row of activations to Q8_0 (length a multiple of 32).
#[inline(always)]
pub fn quantize_q8_0(x: &[f32], out: &mut Vec<BlockQ8_0>) {
    out.clear();
    out.extend(x.chunks_exact(QK).map(|c| {
        let (d, qs) = quantize_block(c);
        BlockQ8_0 {
            d: f16::from_f32(d).to_f32(),
            qs,
        }
    }));
}

/// Quantises a row of activations to Q8_1 (length a multiple of 32).
#[inline(always)]
pub fn quantize_q8_1(x: &[f32], out: &mut Vec<BlockQ8_1>) {
    out.clear();
    out.extend(x.chunks_exact(QK).map(|c| {
        let (d, qs) = quantize_block(c);
        let sum: i32 = qs.iter().map(|&q| i32::from(q)).sum();
        BlockQ8_1 {
            d: f16::from_f32(d).to_f32(),
            s: f16::from_f32(d * sum as f32).to_f32(),
            qs,
        }
    }));
}

/// Horizontal sum of 8 lanes in the order of ggml's `hsum_float_8`.
#[inline(always)]
pub(crate) fn hsum8(a: &[f32; 8]) -> f32 {
    let r = [a[4] + a[0], a[5] + a[1], a[6] + a[2], a[7] + a[3]];
    (r[0] + r[2]) + (r[1] + r[3])
}

/// Dot product of a Q4_1 row with a Q8_1 row (`ggml_vec_dot_q4_1_q8_1`).
///
/// Summed as ggml's AVX2 kernel does, so results agree to the last bit: eight float lanes,
/// lane `l` of a block holding the (exact, integer) sum of products `4l..4l+4`, scaled by
/// `d_w * d_x` and accumulated across blocks with a fused multiply-add; the minimum's
/// contribution `m * s` is summed separately and added after the lanes.
#[inline(always)]
pub fn dot_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 {
    let mut acc = [0f32; 8];
    let mut summs = 0f32;
    for (w, x) in w.iter().zip(x) {
        summs += w.m * x.s;
        let d = w.d * x.d;
        for (l, a) in acc.iter_mut().enumerate() {
            let mut sum = 0i32;
            for e in 4 * l..4 * l + 4 {
                let q = if e < 16 {
                    w.qs[e] & 0x0F
                } else {
                    w.qs[e - 16] >> 4
                };
                sum += i32::from(q) * i32::from(x.qs[e]);
            }
            *a = d.mul_add(sum as f32, *a);
        }
    }
    hsum8(&acc) + summs
}

/// Dot product of two Q8_0 rows (`ggml_vec_dot_q8_0_q8_0`), in the lane order of ggml's
/// AVX2 kernel.
#[inline(always)]
pub fn dot_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
    let mut acc = [0f32; 8];
    for (w, x) in w.iter().zip(x) {
        let d = w.d * x.d;
        let mut p = [0i32; 32];
        for ((p, &a), &b) in p.iter_mut().zip(&w.qs).zip(&x.qs) {
            *p = i32::from(a) * i32::from(b);
        }
        for (a, four) in acc.iter_mut().zip(p.chunks_exact(4)) {
            let sum = (four[0] + four[1]) + (four[2] + four[3]);
            *a = d.mul_add(sum as f32, *a);
        }
    }
    hsum8(&acc)
}

/// Dequantises a Q8_0 row into `out` (embedding lookup, as ggml's `get_rows`).
pub fn dequantize_q8_0(w: &[BlockQ8_0], out: &mut [f32]) {
    for (b, chunk) in w.iter().zip(out.chunks_exact_mut(QK)) {
        for (o, &q) in chunk.iter_mut().zip(&b.qs) {
            *o = b.d * f32::from(q);
        }
    }
}

/// Dequantises a Q4_1 row into `out`.
pub fn dequantize_q4_1(w: &[BlockQ4_1], out: &mut [f32]) {
    for (b, chunk) in w.iter().zip(out.chunks_exact_mut(QK)) {
        for j in 0..16 {
            chunk[j] = f32::from(b.qs[j] & 0x0F) * b.d + b.m;
            chunk[j + 16] = f32::from(b.qs[j] >> 4) * b.d + b.m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 * 4.0 - 2.0
            })
            .collect()
    }

    #[test]
    fn q8_quantisation_round_trips_within_half_a_step() {
        let x = data(64, 1);
        let mut q = Vec::new();
        quantize_q8_0(&x, &mut q);
        let mut back = vec![0f32; 64];
        dequantize_q8_0(&q, &mut back);
        for (b, (a, blk)) in back
            .iter()
            .zip(x.iter().zip(q.iter().flat_map(|b| [b.d; 32])))
        {
            assert!((a - b).abs() <= blk * 0.5 + 1e-3, "{a} vs {b}");
        }
    }

    #[test]
    fn ties_round_to_even_like_avx2() {
        // 127 * 0.5 / 127 lands exactly on .5 steps for these values.
        let mut x = [0f32; 32];
        x[0] = 127.0;
        x[1] = 0.5;
        x[2] = 1.5;
        x[3] = -2.5;
        let (_, q) = quantize_block(&x);
        assert_eq!(&q[..4], &[127, 0, 2, -2]);
    }

    #[test]
    fn dots_match_dequantised_reference() {
        let w = data(128, 2);
        let x = data(128, 3);
        // Build Q4_1 weights by hand: d and m per block, nibbles from the data.
        let blocks: Vec<BlockQ4_1> = w
            .chunks_exact(32)
            .map(|c| {
                let min = c.iter().cloned().fold(f32::MAX, f32::min);
                let max = c.iter().cloned().fold(f32::MIN, f32::max);
                let d = (max - min) / 15.0;
                let mut qs = [0u8; 16];
                for j in 0..16 {
                    let lo = ((c[j] - min) / d).round() as u8;
                    let hi = ((c[j + 16] - min) / d).round() as u8;
                    qs[j] = lo | (hi << 4);
                }
                BlockQ4_1 { d, m: min, qs }
            })
            .collect();
        let mut wf = vec![0f32; 128];
        dequantize_q4_1(&blocks, &mut wf);
        let mut xq = Vec::new();
        quantize_q8_1(&x, &mut xq);
        let xf: Vec<f32> = xq
            .iter()
            .flat_map(|b| b.qs.map(|q| b.d * f32::from(q)))
            .collect();
        let reference: f32 = wf.iter().zip(&xf).map(|(a, b)| a * b).sum();
        let got = dot_q4_1_q8_1(&blocks, &xq);
        assert!(
            (got - reference).abs() < 1e-2 * reference.abs().max(1.0),
            "{got} vs {reference}"
        );

        let mut wq = Vec::new();
        quantize_q8_0(&w, &mut wq);
        let mut x0 = Vec::new();
        quantize_q8_0(&x, &mut x0);
        let mut a = vec![0f32; 128];
        let mut b = vec![0f32; 128];
        dequantize_q8_0(&wq, &mut a);
        dequantize_q8_0(&x0, &mut b);
        let reference: f32 = a.iter().zip(&b).map(|(a, b)| a * b).sum();
        assert!((dot_q8_0_q8_0(&wq, &x0) - reference).abs() < 1e-3);
    }
}
