//! f32 matrix products for the BERT embedder: `C = A · Wᵀ + bias`.
//!
//! The weight is packed once at load into panels of [`NR`] output columns, interleaved by
//! input position, so the inner loop reads one contiguous run of weights per step and
//! broadcasts one activation per row: a register tile of up to [`MR`] rows by [`NR`]
//! columns. The AVX-512 path holds the tile in twelve 16-lane registers; the portable
//! path runs the same loop in plain Rust (vectorised by the compiler). Output rows are
//! split between the threads, each streaming one weight panel at a time over its rows.
//! The summation order differs from PyTorch's, within f32 rounding; the embedding tests
//! compare the result with sentence-transformers.
//!
//! [`Precision::Bf16`] keeps the weights in bfloat16 and rounds each activation row to
//! bfloat16 once per product, with f32 sums: on CPUs with AVX512_BF16 one `vdpbf16ps`
//! does the work of two f32 multiply-adds, and the weights take half the memory. It is for
//! callers that need a similar vector rather than sentence-transformers' exact one (the
//! guard's nearest-neighbour detector); the portable path computes the same products in
//! f32 from the bfloat16 values.

// The AVX-512 path loads through raw pointers and calls a function compiled for AVX-512F,
// which `PackedWeight::matmul` has checked the CPU supports; each unsafe block says why.
#![allow(unsafe_code)]

use rayon::prelude::*;

/// Output columns per panel.
pub const NR: usize = 32;
/// Rows per register tile.
pub const MR: usize = 6;

/// How a [`PackedWeight`] stores its values and multiplies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// f32 weights and activations.
    #[default]
    F32,
    /// bfloat16 weights and activations, f32 sums.
    Bf16,
}

/// A `rows x cols` weight, packed for [`PackedWeight::matmul`].
#[derive(Debug, Clone)]
pub struct PackedWeight {
    rows: usize,
    cols: usize,
    panels: Panels,
    /// `[rows]` padded to whole panels.
    bias: Vec<f32>,
}

#[derive(Debug, Clone)]
enum Panels {
    /// `[panel][col][NR]`, zero-padded past `rows`.
    F32(Vec<f32>),
    /// bfloat16 bits, `[panel][col / 2][NR][2]`: each output column's pair of consecutive
    /// inputs side by side, as `vdpbf16ps` reads them; zero-padded past `rows` and to an
    /// even number of columns.
    Bf16(Vec<u16>),
}

/// bfloat16 bits of `x`, rounded to nearest even.
#[inline]
fn bf16_bits(x: f32) -> u16 {
    half::bf16::from_f32(x).to_bits()
}

impl PackedWeight {
    /// Packs a row-major `rows x cols` matrix and its bias (zeros when `None`) in f32.
    pub fn new(w: &[f32], rows: usize, cols: usize, bias: Option<&[f32]>) -> Self {
        Self::with_precision(w, rows, cols, bias, Precision::F32)
    }

    /// As [`Self::new`], storing the weight in `precision`.
    pub fn with_precision(
        w: &[f32],
        rows: usize,
        cols: usize,
        bias: Option<&[f32]>,
        precision: Precision,
    ) -> Self {
        assert_eq!(w.len(), rows * cols, "weight size");
        let np = rows.div_ceil(NR);
        let panels = match precision {
            Precision::F32 => {
                let mut panels = vec![0f32; np * cols * NR];
                for r in 0..rows {
                    let (p, j) = (r / NR, r % NR);
                    for c in 0..cols {
                        panels[(p * cols + c) * NR + j] = w[r * cols + c];
                    }
                }
                Panels::F32(panels)
            }
            Precision::Bf16 => {
                let kp = cols.next_multiple_of(2);
                let mut panels = vec![0u16; np * kp * NR];
                for r in 0..rows {
                    let (p, j) = (r / NR, r % NR);
                    for c in 0..cols {
                        panels[(p * kp + c / 2 * 2) * NR + 2 * j + c % 2] =
                            bf16_bits(w[r * cols + c]);
                    }
                }
                Panels::Bf16(panels)
            }
        };
        let mut b = vec![0f32; np * NR];
        if let Some(bias) = bias {
            assert_eq!(bias.len(), rows, "bias size");
            b[..rows].copy_from_slice(bias);
        }
        Self {
            rows,
            cols,
            panels,
            bias: b,
        }
    }

    /// How the weight is stored.
    pub fn precision(&self) -> Precision {
        match self.panels {
            Panels::F32(_) => Precision::F32,
            Panels::Bf16(_) => Precision::Bf16,
        }
    }

    /// Output features.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// `out` (m x rows) = `a` (m x cols) · Wᵀ + bias, on the fastest path the CPU has.
    pub fn matmul(&self, a: &[f32], m: usize, out: &mut [f32]) {
        self.matmul_with(a, m, out, Isa::detect());
    }

    /// As [`Self::matmul`], choosing the path (tests run each).
    fn matmul_with(&self, a: &[f32], m: usize, out: &mut [f32], isa: Isa) {
        let (k, n) = (self.cols, self.rows);
        assert_eq!(a.len(), m * k, "gemm: input size");
        assert_eq!(out.len(), m * n, "gemm: output size");
        const ROWS_PER_TASK: usize = 8 * MR;
        let kp = k.next_multiple_of(2);
        out.par_chunks_mut(ROWS_PER_TASK * n)
            .zip(a.par_chunks(ROWS_PER_TASK * k))
            .for_each(|(c, a)| {
                let rows = a.len() / k;
                // bfloat16: this task's rows rounded once, zero-padded to `kp` columns.
                let mut a16 = Vec::new();
                if let Panels::Bf16(_) = self.panels {
                    a16 = vec![0u16; rows * kp];
                    for (dst, src) in a16.chunks_exact_mut(kp).zip(a.chunks_exact(k)) {
                        dst.iter_mut()
                            .zip(src)
                            .for_each(|(d, s)| *d = bf16_bits(*s));
                    }
                }
                for p in 0..n.div_ceil(NR) {
                    let bias: &[f32; NR] = self.bias[p * NR..][..NR].try_into().expect("NR");
                    let cols = (n - p * NR).min(NR);
                    for r0 in (0..rows).step_by(MR) {
                        let mr = (rows - r0).min(MR);
                        let mut tile = [[0f32; NR]; MR];
                        match &self.panels {
                            Panels::F32(panels) => {
                                let panel = &panels[p * k * NR..(p + 1) * k * NR];
                                let a = &a[r0 * k..(r0 + mr) * k];
                                if isa == Isa::Portable {
                                    super::simd::run(|| {
                                        tile_portable(a, k, panel, bias, &mut tile)
                                    });
                                } else {
                                    // SAFETY: `isa` names AVX-512F only when the CPU has it.
                                    #[cfg(target_arch = "x86_64")]
                                    unsafe {
                                        tile_avx512(a, k, panel, bias, &mut tile)
                                    };
                                }
                            }
                            Panels::Bf16(panels) => {
                                let panel = &panels[p * kp * NR..(p + 1) * kp * NR];
                                let a = &a16[r0 * kp..(r0 + mr) * kp];
                                if isa == Isa::Avx512Bf16 {
                                    // SAFETY: `isa` names AVX512_BF16 only when the CPU
                                    // has it (and AVX-512F).
                                    #[cfg(target_arch = "x86_64")]
                                    unsafe {
                                        tile_bf16_avx512(a, kp, panel, bias, &mut tile)
                                    };
                                } else {
                                    super::simd::run(|| {
                                        tile_bf16_portable(a, kp, panel, bias, &mut tile)
                                    });
                                }
                            }
                        }
                        for (i, t) in tile.iter().enumerate().take(mr) {
                            c[(r0 + i) * n + p * NR..][..cols].copy_from_slice(&t[..cols]);
                        }
                    }
                }
            });
    }
}

/// The instruction sets a product can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isa {
    /// Plain Rust (compiled for AVX2/FMA where the CPU has them).
    Portable,
    /// AVX-512F: the f32 tiles.
    Avx512,
    /// AVX-512F and AVX512_BF16: the f32 and the bfloat16 tiles.
    Avx512Bf16,
}

impl Isa {
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            return if std::arch::is_x86_feature_detected!("avx512bf16") {
                Isa::Avx512Bf16
            } else {
                Isa::Avx512
            };
        }
        Isa::Portable
    }

    /// This CPU's path and every slower one (for tests).
    #[cfg(test)]
    fn all_available() -> Vec<Self> {
        match Self::detect() {
            Isa::Portable => vec![Isa::Portable],
            Isa::Avx512 => vec![Isa::Portable, Isa::Avx512],
            Isa::Avx512Bf16 => vec![Isa::Portable, Isa::Avx512, Isa::Avx512Bf16],
        }
    }
}

/// One tile: rows of `a` (at most [`MR`], `k` each) times one panel, plus the bias.
#[inline(always)]
fn tile_portable(a: &[f32], k: usize, panel: &[f32], bias: &[f32; NR], tile: &mut [[f32; NR]; MR]) {
    let mr = a.len() / k;
    for (i, t) in tile.iter_mut().enumerate().take(mr) {
        let mut acc = [0f32; NR];
        for (kk, w) in panel.chunks_exact(NR).enumerate() {
            let x = a[i * k + kk];
            for j in 0..NR {
                acc[j] = x.mul_add(w[j], acc[j]);
            }
        }
        for j in 0..NR {
            t[j] = acc[j] + bias[j];
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn tile_avx512(a: &[f32], k: usize, panel: &[f32], bias: &[f32; NR], tile: &mut [[f32; NR]; MR]) {
    match a.len() / k {
        6 => tile_avx512_rows::<6>(a, k, panel, bias, tile),
        5 => tile_avx512_rows::<5>(a, k, panel, bias, tile),
        4 => tile_avx512_rows::<4>(a, k, panel, bias, tile),
        3 => tile_avx512_rows::<3>(a, k, panel, bias, tile),
        2 => tile_avx512_rows::<2>(a, k, panel, bias, tile),
        _ => tile_avx512_rows::<1>(a, k, panel, bias, tile),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn tile_avx512_rows<const R: usize>(
    a: &[f32],
    k: usize,
    panel: &[f32],
    bias: &[f32; NR],
    tile: &mut [[f32; NR]; MR],
) {
    use std::arch::x86_64::*;
    assert!(a.len() >= R * k && panel.len() >= k * NR);
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    let (ap, wp) = (a.as_ptr(), panel.as_ptr());
    for kk in 0..k {
        // SAFETY: `kk < k`, so both loads are inside `panel` (checked above: k * NR values).
        let (w0, w1) = unsafe {
            (
                _mm512_loadu_ps(wp.add(kk * NR)),
                _mm512_loadu_ps(wp.add(kk * NR + 16)),
            )
        };
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: `r < R` and `kk < k`, inside `a` (checked above: R * k values).
            let x = _mm512_set1_ps(unsafe { *ap.add(r * k + kk) });
            acc[0] = _mm512_fmadd_ps(x, w0, acc[0]);
            acc[1] = _mm512_fmadd_ps(x, w1, acc[1]);
        }
    }
    // SAFETY: `bias` and each tile row hold NR = 32 floats: two 16-lane halves.
    unsafe {
        let (b0, b1) = (
            _mm512_loadu_ps(bias.as_ptr()),
            _mm512_loadu_ps(bias.as_ptr().add(16)),
        );
        for (acc, t) in acc.iter().zip(tile.iter_mut()) {
            _mm512_storeu_ps(t.as_mut_ptr(), _mm512_add_ps(acc[0], b0));
            _mm512_storeu_ps(t.as_mut_ptr().add(16), _mm512_add_ps(acc[1], b1));
        }
    }
}

/// bfloat16 bits to f32 (exact).
#[inline(always)]
fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

/// One bfloat16 tile: rows of `a` (`kp` bfloat16 values each), one panel, plus the bias;
/// each pair of inputs is added as `vdpbf16ps` adds it.
#[inline(always)]
fn tile_bf16_portable(
    a: &[u16],
    kp: usize,
    panel: &[u16],
    bias: &[f32; NR],
    tile: &mut [[f32; NR]; MR],
) {
    let mr = a.len() / kp;
    for (i, t) in tile.iter_mut().enumerate().take(mr) {
        let mut acc = [0f32; NR];
        for (pair, w) in a[i * kp..(i + 1) * kp]
            .chunks_exact(2)
            .zip(panel.chunks_exact(2 * NR))
        {
            let (x0, x1) = (bf16_to_f32(pair[0]), bf16_to_f32(pair[1]));
            for j in 0..NR {
                let (w0, w1) = (bf16_to_f32(w[2 * j]), bf16_to_f32(w[2 * j + 1]));
                acc[j] = x1.mul_add(w1, x0.mul_add(w0, acc[j]));
            }
        }
        for j in 0..NR {
            t[j] = acc[j] + bias[j];
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
fn tile_bf16_avx512(
    a: &[u16],
    kp: usize,
    panel: &[u16],
    bias: &[f32; NR],
    tile: &mut [[f32; NR]; MR],
) {
    match a.len() / kp {
        6 => tile_bf16_avx512_rows::<6>(a, kp, panel, bias, tile),
        5 => tile_bf16_avx512_rows::<5>(a, kp, panel, bias, tile),
        4 => tile_bf16_avx512_rows::<4>(a, kp, panel, bias, tile),
        3 => tile_bf16_avx512_rows::<3>(a, kp, panel, bias, tile),
        2 => tile_bf16_avx512_rows::<2>(a, kp, panel, bias, tile),
        _ => tile_bf16_avx512_rows::<1>(a, kp, panel, bias, tile),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
#[inline]
fn tile_bf16_avx512_rows<const R: usize>(
    a: &[u16],
    kp: usize,
    panel: &[u16],
    bias: &[f32; NR],
    tile: &mut [[f32; NR]; MR],
) {
    use std::arch::x86_64::*;
    assert!(kp.is_multiple_of(2) && a.len() >= R * kp && panel.len() >= kp * NR);
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    let (ap, wp) = (a.as_ptr(), panel.as_ptr());
    for kk in 0..kp / 2 {
        // SAFETY: `kk < kp / 2`, so both 32-value loads are inside `panel` (kp * NR values,
        // checked above); `__m512i` and `__m512bh` are both 512 plain bits.
        let (w0, w1): (__m512bh, __m512bh) = unsafe {
            (
                std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(
                    wp.add(kk * 2 * NR).cast(),
                )),
                std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(
                    wp.add(kk * 2 * NR + 32).cast(),
                )),
            )
        };
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: `r < R` and `2 * kk + 1 < kp`: the pair is inside `a` (R * kp
            // values, checked above); the broadcast is 512 plain bits, as above.
            let x: __m512bh = unsafe {
                let pair = ap.add(r * kp + 2 * kk).cast::<u32>().read_unaligned();
                std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(pair as i32))
            };
            acc[0] = _mm512_dpbf16_ps(acc[0], x, w0);
            acc[1] = _mm512_dpbf16_ps(acc[1], x, w1);
        }
    }
    // SAFETY: `bias` and each tile row hold NR = 32 floats: two 16-lane halves.
    unsafe {
        let (b0, b1) = (
            _mm512_loadu_ps(bias.as_ptr()),
            _mm512_loadu_ps(bias.as_ptr().add(16)),
        );
        for (acc, t) in acc.iter().zip(tile.iter_mut()) {
            _mm512_storeu_ps(t.as_mut_ptr(), _mm512_add_ps(acc[0], b0));
            _mm512_storeu_ps(t.as_mut_ptr().add(16), _mm512_add_ps(acc[1], b1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u64) -> Vec<f32> {
        crate::kernels::test_data::uniform(n, seed, 1.0)
    }

    /// `a · wᵀ + b` in f64, after `round` (identity or bfloat16 rounding) of `a` and `w`.
    fn naive(
        a: &[f32],
        w: &[f32],
        b: &[f32],
        m: usize,
        n: usize,
        k: usize,
        round: fn(f32) -> f32,
    ) -> Vec<f64> {
        let mut out = vec![0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                let s: f64 = (0..k)
                    .map(|c| f64::from(round(a[i * k + c])) * f64::from(round(w[j * k + c])))
                    .sum();
                out[i * n + j] = s + f64::from(b[j]);
            }
        }
        out
    }

    #[test]
    fn every_path_matches_the_naive_product() {
        // Shapes with partial panels, partial row tiles, odd input sizes and more rows
        // than one task.
        for (m, n, k) in [(1, 5, 3), (7, 33, 17), (61, 70, 40), (13, 32, 64)] {
            let a = data(m * k, 1);
            let w = data(n * k, 2);
            let b = data(n, 3);
            for precision in [Precision::F32, Precision::Bf16] {
                let packed = PackedWeight::with_precision(&w, n, k, Some(&b), precision);
                assert_eq!(packed.precision(), precision);
                let round: fn(f32) -> f32 = match precision {
                    Precision::F32 => |x| x,
                    Precision::Bf16 => |x| half::bf16::from_f32(x).to_f32(),
                };
                let want = naive(&a, &w, &b, m, n, k, round);
                for isa in Isa::all_available() {
                    let mut out = vec![0f32; m * n];
                    packed.matmul_with(&a, m, &mut out, isa);
                    for (g, want) in out.iter().zip(&want) {
                        assert!(
                            (f64::from(*g) - want).abs() < 1e-5,
                            "{m}x{n}x{k} {precision:?} {isa:?}: {g} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn bf16_stays_close_to_f32() {
        let (m, n, k) = (9, 40, 384);
        let (a, w) = (data(m * k, 4), data(n * k, 5));
        let f = PackedWeight::new(&w, n, k, None);
        let h = PackedWeight::with_precision(&w, n, k, None, Precision::Bf16);
        let (mut x, mut y) = (vec![0f32; m * n], vec![0f32; m * n]);
        f.matmul(&a, m, &mut x);
        h.matmul(&a, m, &mut y);
        // Values are about ±0.5 · sqrt(k / 12) · 0.5; bfloat16 keeps 8 bits.
        for (x, y) in x.iter().zip(&y) {
            assert!((x - y).abs() < 0.02, "{x} vs {y}");
        }
    }
}
