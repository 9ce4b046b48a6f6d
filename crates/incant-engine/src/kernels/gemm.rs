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

// The AVX-512 path loads through raw pointers and calls a function compiled for AVX-512F,
// which `PackedWeight::matmul` has checked the CPU supports; each unsafe block says why.
#![allow(unsafe_code)]

use rayon::prelude::*;

/// Output columns per panel.
pub const NR: usize = 32;
/// Rows per register tile.
pub const MR: usize = 6;

/// A `rows x cols` weight, packed for [`PackedWeight::matmul`].
#[derive(Debug, Clone)]
pub struct PackedWeight {
    rows: usize,
    cols: usize,
    /// `[panel][col][NR]`, zero-padded past `rows`.
    panels: Vec<f32>,
    /// `[rows]` padded to whole panels.
    bias: Vec<f32>,
}

impl PackedWeight {
    /// Packs a row-major `rows x cols` matrix and its bias (zeros when `None`).
    pub fn new(w: &[f32], rows: usize, cols: usize, bias: Option<&[f32]>) -> Self {
        assert_eq!(w.len(), rows * cols, "weight size");
        let np = rows.div_ceil(NR);
        let mut panels = vec![0f32; np * cols * NR];
        for r in 0..rows {
            let (p, j) = (r / NR, r % NR);
            for c in 0..cols {
                panels[(p * cols + c) * NR + j] = w[r * cols + c];
            }
        }
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

    /// Output features.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// `out` (m x rows) = `a` (m x cols) · Wᵀ + bias, on the fastest path the CPU has.
    pub fn matmul(&self, a: &[f32], m: usize, out: &mut [f32]) {
        self.matmul_with(a, m, out, avx512());
    }

    /// As [`Self::matmul`], choosing the path (tests run both).
    fn matmul_with(&self, a: &[f32], m: usize, out: &mut [f32], fast: bool) {
        let (k, n) = (self.cols, self.rows);
        assert_eq!(a.len(), m * k, "gemm: input size");
        assert_eq!(out.len(), m * n, "gemm: output size");
        const ROWS_PER_TASK: usize = 8 * MR;
        out.par_chunks_mut(ROWS_PER_TASK * n)
            .zip(a.par_chunks(ROWS_PER_TASK * k))
            .for_each(|(c, a)| {
                let rows = a.len() / k;
                for p in 0..n.div_ceil(NR) {
                    let panel = &self.panels[p * k * NR..(p + 1) * k * NR];
                    let bias: &[f32; NR] = self.bias[p * NR..][..NR].try_into().expect("NR");
                    let cols = (n - p * NR).min(NR);
                    for r0 in (0..rows).step_by(MR) {
                        let mr = (rows - r0).min(MR);
                        let mut tile = [[0f32; NR]; MR];
                        if fast {
                            // SAFETY: `fast` is only true when `avx512` found AVX-512F.
                            #[cfg(target_arch = "x86_64")]
                            unsafe {
                                tile_avx512(&a[r0 * k..(r0 + mr) * k], k, panel, bias, &mut tile)
                            };
                        } else {
                            super::simd::run(|| {
                                tile_portable(&a[r0 * k..(r0 + mr) * k], k, panel, bias, &mut tile)
                            });
                        }
                        for (i, t) in tile.iter().enumerate().take(mr) {
                            c[(r0 + i) * n + p * NR..][..cols].copy_from_slice(&t[..cols]);
                        }
                    }
                }
            });
    }
}

fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
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

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect()
    }

    #[test]
    fn both_paths_match_the_naive_product() {
        // Shapes with partial panels and partial row tiles, and more rows than one task.
        for (m, n, k) in [(1, 5, 3), (7, 33, 17), (61, 70, 40), (13, 32, 64)] {
            let a = data(m * k, 1);
            let w = data(n * k, 2);
            let b = data(n, 3);
            let packed = PackedWeight::new(&w, n, k, Some(&b));
            let mut naive = vec![0f64; m * n];
            for i in 0..m {
                for j in 0..n {
                    let s: f64 = (0..k)
                        .map(|c| f64::from(a[i * k + c]) * f64::from(w[j * k + c]))
                        .sum();
                    naive[i * n + j] = s + f64::from(b[j]);
                }
            }
            let mut paths = vec![false];
            if avx512() {
                paths.push(true);
            }
            for fast in paths {
                let mut out = vec![0f32; m * n];
                packed.matmul_with(&a, m, &mut out, fast);
                for (g, want) in out.iter().zip(&naive) {
                    assert!(
                        (f64::from(*g) - want).abs() < 1e-5,
                        "{m}x{n}x{k} fast={fast}"
                    );
                }
            }
        }
    }
}
