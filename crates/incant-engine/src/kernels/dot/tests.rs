//! Every path of the block kernels against the portable one, bit for bit.

use super::*;
use crate::kernels::quant::QK;

/// One weight row against activation rows `xs`, through the block kernel.
fn q4_1_q8_1(isa: Isa, w: &[BlockQ4_1], xs: &[&[BlockQ8_1]], out: &mut [f32]) {
    q4_1_q8_1_block(isa, w, xs, None, out, Strides { row: 1, token: 1 });
}

/// One weight row against activation rows `xs`, through the block kernel.
fn q8_0_q8_0(isa: Isa, w: &[BlockQ8_0], xs: &[&[BlockQ8_0]], out: &mut [f32]) {
    q8_0_q8_0_block(isa, w, xs, None, out, Strides { row: 1, token: 1 });
}

/// Seeded draws for the blocks (incant's one generator).
pub(crate) struct Draws(crate::rng::Rng);
impl Draws {
    pub(crate) fn new(seed: u64) -> Self {
        Draws(crate::rng::Rng::new(seed))
    }
    fn next(&mut self) -> u32 {
        (self.0.next_u64() >> 33) as u32
    }
    fn f(&mut self) -> f32 {
        self.next() as f32 / (1u64 << 31) as f32 * 2.0 - 1.0
    }
    fn f16(&mut self, scale: f32) -> f32 {
        half::f16::from_f32(self.f() * scale).to_f32()
    }
    fn i8(&mut self) -> i8 {
        ((self.next() % 255) as i32 - 127) as i8
    }
}

pub(crate) fn q4_1_row(r: &mut Draws, nb: usize) -> Vec<BlockQ4_1> {
    (0..nb)
        .map(|_| BlockQ4_1 {
            d: r.f16(0.05),
            m: r.f16(0.5),
            qs: std::array::from_fn(|_| r.next() as u8),
        })
        .collect()
}

pub(crate) fn q8_0_row(r: &mut Draws, nb: usize) -> Vec<BlockQ8_0> {
    (0..nb)
        .map(|_| BlockQ8_0 {
            d: r.f16(0.02),
            qs: std::array::from_fn(|_| r.i8()),
        })
        .collect()
}

fn q8_1_row(r: &mut Draws, nb: usize) -> Vec<BlockQ8_1> {
    q8_0_row(r, nb)
        .into_iter()
        .map(|b| {
            let sum: i32 = b.qs.iter().map(|&q| i32::from(q)).sum();
            BlockQ8_1 {
                d: b.d,
                s: half::f16::from_f32(b.d * sum as f32).to_f32(),
                qs: b.qs,
            }
        })
        .collect()
}

/// The dot product written out from the block definitions, in f64: what every path
/// must approximate (the paths differ from it only by f32 rounding).
fn naive_q4_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f64 {
    let mut total = 0f64;
    for (w, x) in w.iter().zip(x) {
        for e in 0..QK {
            let q = if e < 16 {
                w.qs[e] & 15
            } else {
                w.qs[e - 16] >> 4
            };
            let wv = f64::from(w.d) * f64::from(q) + f64::from(w.m);
            total += wv * f64::from(x.d) * f64::from(x.qs[e]);
        }
    }
    total
}

fn naive_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f64 {
    let mut total = 0f64;
    for (w, x) in w.iter().zip(x) {
        for e in 0..QK {
            total += f64::from(w.d * x.d) * f64::from(w.qs[e]) * f64::from(x.qs[e]);
        }
    }
    total
}

#[test]
fn every_path_gives_the_same_bits_and_the_naive_value() {
    let isas = Isa::supported();
    eprintln!(
        "paths: {:?}",
        isas.iter().map(|i| i.name()).collect::<Vec<_>>()
    );
    let mut r = Draws::new(42);
    for nb in [1usize, 2, 7, 18, 48] {
        for n in 1..=MAX_TOKENS {
            let w4 = q4_1_row(&mut r, nb);
            let x1: Vec<_> = (0..n).map(|_| q8_1_row(&mut r, nb)).collect();
            let refs: Vec<&[BlockQ8_1]> = x1.iter().map(Vec::as_slice).collect();
            let w8 = q8_0_row(&mut r, nb);
            let x0: Vec<_> = (0..n).map(|_| q8_0_row(&mut r, nb)).collect();
            let refs0: Vec<&[BlockQ8_0]> = x0.iter().map(Vec::as_slice).collect();
            let (mut want4, mut want8) = ([0f32; MAX_TOKENS], [0f32; MAX_TOKENS]);
            q4_1_q8_1(Isa::portable(), &w4, &refs, &mut want4);
            q8_0_q8_0(Isa::portable(), &w8, &refs0, &mut want8);
            for t in 0..n {
                let naive = naive_q4_1(&w4, &x1[t]);
                let tol = 1e-4 * (nb as f64) * 40.0;
                assert!((f64::from(want4[t]) - naive).abs() < tol, "q4_1 {nb}");
                let naive = naive_q8_0(&w8, &x0[t]);
                assert!((f64::from(want8[t]) - naive).abs() < 1e-3, "q8_0 {nb}");
            }
            for &isa in &isas {
                let (mut got4, mut got8) = ([0f32; MAX_TOKENS], [0f32; MAX_TOKENS]);
                q4_1_q8_1(isa, &w4, &refs, &mut got4);
                q8_0_q8_0(isa, &w8, &refs0, &mut got8);
                for t in 0..n {
                    assert_eq!(got4[t].to_bits(), want4[t].to_bits(), "{} q4_1", isa.name());
                    assert_eq!(got8[t].to_bits(), want8[t].to_bits(), "{} q8_0", isa.name());
                }
            }
        }
    }
}

#[test]
fn block_kernels_give_the_same_bits_through_any_strides() {
    let mut r = Draws::new(7);
    for nb in [1usize, 3, 18, 48] {
        for n in 1..=MAX_TOKENS {
            let rows = 1 + (nb + n) % 5;
            let w4: Vec<BlockQ4_1> = (0..rows).flat_map(|_| q4_1_row(&mut r, nb)).collect();
            let w8: Vec<BlockQ8_0> = (0..rows).flat_map(|_| q8_0_row(&mut r, nb)).collect();
            let flat: Vec<BlockQ8_1> = (0..n).flat_map(|_| q8_1_row(&mut r, nb)).collect();
            let flat0: Vec<BlockQ8_0> = (0..n).flat_map(|_| q8_0_row(&mut r, nb)).collect();
            let paired = pair_blocks(&flat, nb, n);
            let paired0 = pair_blocks_offset(&flat0, nb, n);
            let ps0: Vec<&[PairBlock]> = paired0.chunks(nb).collect();
            let sums = group_sums(&flat, nb, n);
            let xs: Vec<&[BlockQ8_1]> = flat.chunks(nb).collect();
            let xs0: Vec<&[BlockQ8_0]> = flat0.chunks(nb).collect();
            let ps: Vec<&[PairBlock]> = paired.chunks(nb).collect();
            // Row by row, one kernel call each: what every block call must reproduce.
            let (mut want4, mut want8) = (vec![0f32; rows * n], vec![0f32; rows * n]);
            for i in 0..rows {
                let (o4, o8) = (&mut want4[i * n..][..n], &mut want8[i * n..][..n]);
                q4_1_q8_1(Isa::portable(), &w4[i * nb..][..nb], &xs, o4);
                q8_0_q8_0(Isa::portable(), &w8[i * nb..][..nb], &xs0, o8);
            }
            // Transposed (row-major by weight row) and token-major outputs.
            for s in [
                Strides { row: n, token: 1 },
                Strides {
                    row: 1,
                    token: rows,
                },
            ] {
                let at = |i: usize, t: usize| i * s.row + t * s.token;
                for isa in Isa::supported() {
                    for pairs in [None, Some((&ps[..], &sums[..]))] {
                        let mut got = vec![f32::NAN; rows * n];
                        q4_1_q8_1_block(isa, &w4, &xs, pairs, &mut got, s);
                        for (i, t) in (0..rows).flat_map(|i| (0..n).map(move |t| (i, t))) {
                            let (g, w) = (got[at(i, t)].to_bits(), want4[i * n + t].to_bits());
                            assert_eq!(g, w, "{} q4_1 n={n} nb={nb} {s:?}", isa.name());
                        }
                    }
                    for pairs in [None, Some(&ps0[..])] {
                        let mut got = vec![f32::NAN; rows * n];
                        q8_0_q8_0_block(isa, &w8, &xs0, pairs, &mut got, s);
                        for (i, t) in (0..rows).flat_map(|i| (0..n).map(move |t| (i, t))) {
                            let (g, w) = (got[at(i, t)].to_bits(), want8[i * n + t].to_bits());
                            assert_eq!(g, w, "{} q8_0 n={n} nb={nb} {s:?}", isa.name());
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn row_kernels_give_the_same_bits_as_one_row_at_a_time() {
    let mut r = Draws::new(11);
    for nb in [1usize, 2, 18, 48] {
        for rows in 1..=9 {
            let w4: Vec<BlockQ4_1> = (0..rows).flat_map(|_| q4_1_row(&mut r, nb)).collect();
            let w8: Vec<BlockQ8_0> = (0..rows).flat_map(|_| q8_0_row(&mut r, nb)).collect();
            let x1 = q8_1_row(&mut r, nb);
            let x0 = q8_0_row(&mut r, nb);
            let (mut want4, mut want8) = (vec![0f32; rows], vec![0f32; rows]);
            for i in 0..rows {
                let (a, b) = (&mut want4[i..=i], &mut want8[i..=i]);
                q4_1_q8_1(Isa::portable(), &w4[i * nb..][..nb], &[&x1], a);
                q8_0_q8_0(Isa::portable(), &w8[i * nb..][..nb], &[&x0], b);
            }
            for isa in Isa::supported() {
                let (mut got4, mut got8) = (vec![0f32; rows], vec![0f32; rows]);
                q4_1_q8_1_rows(isa, &w4, &x1, &mut got4);
                q8_0_q8_0_rows(isa, &w8, &x0, &mut got8);
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got4), bits(&want4), "{} q4_1 rows={rows}", isa.name());
                assert_eq!(bits(&got8), bits(&want8), "{} q8_0 rows={rows}", isa.name());
            }
        }
    }
}

#[test]
fn extreme_values_do_not_saturate() {
    // All-15 nibbles against +-127 and -128 activations; +-127 weights against +-127.
    let w4 = vec![
        BlockQ4_1 {
            d: 1.0,
            m: 0.0,
            qs: [0xFF; 16]
        };
        3
    ];
    let w8 = vec![
        BlockQ8_0 {
            d: 1.0,
            qs: [-127; 32]
        };
        3
    ];
    for v in [127i8, -127, -128] {
        let x1 = vec![
            BlockQ8_1 {
                d: 1.0,
                s: 0.0,
                qs: [v; 32]
            };
            3
        ];
        let x0 = vec![
            BlockQ8_0 {
                d: 1.0,
                qs: [v.max(-127); 32]
            };
            3
        ];
        for isa in Isa::supported() {
            let mut o = [0f32; 1];
            q4_1_q8_1(isa, &w4, &[&x1], &mut o);
            assert_eq!(o[0], 15.0 * f32::from(v) * 96.0, "{}", isa.name());
            q8_0_q8_0(isa, &w8, &[&x0], &mut o);
            assert_eq!(
                o[0],
                -127.0 * f32::from(v.max(-127)) * 96.0,
                "{}",
                isa.name()
            );
        }
    }
}

#[test]
fn quantisation_gives_the_scalar_blocks_on_every_path() {
    let mut r = Draws::new(5);
    let mut x: Vec<f32> = (0..32 * 40).map(|_| r.f() * 3.0).collect();
    x[..32].fill(0.0); // a zero block: scale 0
    for (i, v) in x[32..64].iter_mut().enumerate() {
        *v = (i as f32 - 16.0) * 0.5; // exact halves: ties round to even
    }
    x[64..96].fill(-1e-3);
    x[100] = 1e4;
    let (mut want1, mut want0) = (Vec::new(), Vec::new());
    quant::quantize_q8_1(&x, &mut want1);
    quant::quantize_q8_0(&x, &mut want0);
    for isa in Isa::supported() {
        let (mut got1, mut got0) = (Vec::new(), Vec::new());
        quantize_q8_1(isa, &x, &mut got1);
        quantize_q8_0(isa, &x, &mut got0);
        for (g, w) in got1.iter().zip(&want1) {
            assert_eq!(
                (g.d.to_bits(), g.s.to_bits(), g.qs),
                (w.d.to_bits(), w.s.to_bits(), w.qs)
            );
        }
        for (g, w) in got0.iter().zip(&want0) {
            assert_eq!(
                (g.d.to_bits(), g.qs),
                (w.d.to_bits(), w.qs),
                "{}",
                isa.name()
            );
        }
        assert_eq!((got1.len(), got0.len()), (40, 40));
    }
}
