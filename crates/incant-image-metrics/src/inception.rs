//! pytorch-fid's FID Inception v3 on candle: the network whose 2,048-d pool3 output FID means.
//!
//! The FID network is the TensorFlow Inception graph of 2015-12-05 as pytorch-fid ports it
//! (`fid_inception_v3`): torchvision's Inception v3 layout with the FID variants of its
//! blocks — average pools that do not count padding (`FIDInceptionA`, `C`, `E_1`) and a
//! max pool in the last block (`FIDInceptionE_2`). Weights come from a safetensors file
//! whose keys are the state dict of pytorch-fid's `pt_inception-2015-12-05-6726825d.pth`
//! (`Conv2d_1a_3x3.conv.weight`, `Mixed_5b.branch1x1.bn.running_mean`, ...; `fc.*` is
//! ignored); scripts/reference/convert_fid_inception.py converts it once.
//!
//! Each `BasicConv2d` (convolution, batch norm with `eps = 0.001`, ReLU) is folded at load
//! time into one convolution with a bias. The input is `N x 3 x H x W` already normalised to
//! `[-1, 1]`: [`crate::preprocess::inception_input`] of clean-fid's 299 x 299 resize.

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarBuilder;

use crate::error::{MetricsError, Result};

/// Feature dimensions of the pool3 output.
pub const INCEPTION_DIMS: usize = 2048;

const BN_EPS: f64 = 1e-3;

/// Convolution + batch norm + ReLU, with the batch norm folded into the convolution.
#[derive(Debug, Clone)]
struct BasicConv {
    weight: Tensor,
    bias: Tensor,
    stride: usize,
    padding: (usize, usize),
}

impl BasicConv {
    fn new(
        vb: VarBuilder,
        c_in: usize,
        c_out: usize,
        kernel: (usize, usize),
        stride: usize,
        padding: (usize, usize),
    ) -> candle_core::Result<Self> {
        let weight = vb
            .pp("conv")
            .get((c_out, c_in, kernel.0, kernel.1), "weight")?;
        let bn = vb.pp("bn");
        let gamma = bn.get(c_out, "weight")?;
        let beta = bn.get(c_out, "bias")?;
        let mean = bn.get(c_out, "running_mean")?;
        let var = bn.get(c_out, "running_var")?;
        let scale = gamma.div(&(var + BN_EPS)?.sqrt()?)?;
        let weight = weight.broadcast_mul(&scale.reshape((c_out, 1, 1, 1))?)?;
        let bias = beta.sub(&mean.mul(&scale)?)?.reshape((1, c_out, 1, 1))?;
        Ok(Self {
            weight,
            bias,
            stride,
            padding,
        })
    }

    /// A square kernel with the same padding on every side.
    fn square(
        vb: VarBuilder,
        c_in: usize,
        c_out: usize,
        k: usize,
        stride: usize,
        pad: usize,
    ) -> candle_core::Result<Self> {
        Self::new(vb, c_in, c_out, (k, k), stride, (pad, pad))
    }
}

impl Module for BasicConv {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (ph, pw) = self.padding;
        let y = if ph == pw {
            x.conv2d(&self.weight, ph, self.stride, 1, 1)?
        } else {
            x.pad_with_zeros(2, ph, ph)?
                .pad_with_zeros(3, pw, pw)?
                .conv2d(&self.weight, 0, self.stride, 1, 1)?
        };
        y.broadcast_add(&self.bias)?.relu()
    }
}

/// 3 x 3, stride 1, padding 1 average pool that averages only real pixels
/// (`count_include_pad=False`, the FID blocks' pool).
fn avg_pool_exclude_pad(x: &Tensor) -> candle_core::Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let summed_over_9 = x
        .pad_with_zeros(2, 1, 1)?
        .pad_with_zeros(3, 1, 1)?
        .avg_pool2d_with_stride(3, 1)?;
    // Real pixels among i-1, i, i+1.
    let count = |i: usize, n: usize| usize::from(i > 0) + 1 + usize::from(i + 1 < n);
    let rescale: Vec<f32> = (0..h)
        .flat_map(|i| (0..w).map(move |j| 9.0 / (count(i, h) * count(j, w)) as f32))
        .collect();
    let rescale = Tensor::from_vec(rescale, (1, 1, h, w), x.device())?.to_dtype(x.dtype())?;
    summed_over_9.broadcast_mul(&rescale)
}

/// 3 x 3, stride 1, padding 1 max pool (padding never wins: edges are replicated).
fn max_pool_same(x: &Tensor) -> candle_core::Result<Tensor> {
    x.pad_with_same(2, 1, 1)?
        .pad_with_same(3, 1, 1)?
        .max_pool2d_with_stride(3, 1)
}

#[derive(Debug, Clone)]
struct InceptionA {
    b1x1: BasicConv,
    b5x5_1: BasicConv,
    b5x5_2: BasicConv,
    b3x3dbl: [BasicConv; 3],
    pool: BasicConv,
}

impl InceptionA {
    fn new(vb: VarBuilder, c_in: usize, pool_features: usize) -> candle_core::Result<Self> {
        Ok(Self {
            b1x1: BasicConv::square(vb.pp("branch1x1"), c_in, 64, 1, 1, 0)?,
            b5x5_1: BasicConv::square(vb.pp("branch5x5_1"), c_in, 48, 1, 1, 0)?,
            b5x5_2: BasicConv::square(vb.pp("branch5x5_2"), 48, 64, 5, 1, 2)?,
            b3x3dbl: [
                BasicConv::square(vb.pp("branch3x3dbl_1"), c_in, 64, 1, 1, 0)?,
                BasicConv::square(vb.pp("branch3x3dbl_2"), 64, 96, 3, 1, 1)?,
                BasicConv::square(vb.pp("branch3x3dbl_3"), 96, 96, 3, 1, 1)?,
            ],
            pool: BasicConv::square(vb.pp("branch_pool"), c_in, pool_features, 1, 1, 0)?,
        })
    }
}

impl Module for InceptionA {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let b1 = self.b1x1.forward(x)?;
        let b5 = self.b5x5_2.forward(&self.b5x5_1.forward(x)?)?;
        let b3 = chain(&self.b3x3dbl, x)?;
        let bp = self.pool.forward(&avg_pool_exclude_pad(x)?)?;
        Tensor::cat(&[b1, b5, b3, bp], 1)
    }
}

/// Mixed_6a (torchvision's InceptionB): the 35 -> 17 reduction.
#[derive(Debug, Clone)]
struct InceptionB {
    b3x3: BasicConv,
    b3x3dbl: [BasicConv; 3],
}

impl InceptionB {
    fn new(vb: VarBuilder, c_in: usize) -> candle_core::Result<Self> {
        Ok(Self {
            b3x3: BasicConv::square(vb.pp("branch3x3"), c_in, 384, 3, 2, 0)?,
            b3x3dbl: [
                BasicConv::square(vb.pp("branch3x3dbl_1"), c_in, 64, 1, 1, 0)?,
                BasicConv::square(vb.pp("branch3x3dbl_2"), 64, 96, 3, 1, 1)?,
                BasicConv::square(vb.pp("branch3x3dbl_3"), 96, 96, 3, 2, 0)?,
            ],
        })
    }
}

impl Module for InceptionB {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let b3 = self.b3x3.forward(x)?;
        let bd = chain(&self.b3x3dbl, x)?;
        let bp = x.max_pool2d_with_stride(3, 2)?;
        Tensor::cat(&[b3, bd, bp], 1)
    }
}

#[derive(Debug, Clone)]
struct InceptionC {
    b1x1: BasicConv,
    b7x7: [BasicConv; 3],
    b7x7dbl: [BasicConv; 5],
    pool: BasicConv,
}

impl InceptionC {
    fn new(vb: VarBuilder, c_in: usize, c7: usize) -> candle_core::Result<Self> {
        let row = |vb: VarBuilder, i, o| BasicConv::new(vb, i, o, (1, 7), 1, (0, 3));
        let col = |vb: VarBuilder, i, o| BasicConv::new(vb, i, o, (7, 1), 1, (3, 0));
        Ok(Self {
            b1x1: BasicConv::square(vb.pp("branch1x1"), c_in, 192, 1, 1, 0)?,
            b7x7: [
                BasicConv::square(vb.pp("branch7x7_1"), c_in, c7, 1, 1, 0)?,
                row(vb.pp("branch7x7_2"), c7, c7)?,
                col(vb.pp("branch7x7_3"), c7, 192)?,
            ],
            b7x7dbl: [
                BasicConv::square(vb.pp("branch7x7dbl_1"), c_in, c7, 1, 1, 0)?,
                col(vb.pp("branch7x7dbl_2"), c7, c7)?,
                row(vb.pp("branch7x7dbl_3"), c7, c7)?,
                col(vb.pp("branch7x7dbl_4"), c7, c7)?,
                row(vb.pp("branch7x7dbl_5"), c7, 192)?,
            ],
            pool: BasicConv::square(vb.pp("branch_pool"), c_in, 192, 1, 1, 0)?,
        })
    }
}

impl Module for InceptionC {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let b1 = self.b1x1.forward(x)?;
        let b7 = chain(&self.b7x7, x)?;
        let bd = chain(&self.b7x7dbl, x)?;
        let bp = self.pool.forward(&avg_pool_exclude_pad(x)?)?;
        Tensor::cat(&[b1, b7, bd, bp], 1)
    }
}

/// Mixed_7a (torchvision's InceptionD): the 17 -> 8 reduction.
#[derive(Debug, Clone)]
struct InceptionD {
    b3x3: [BasicConv; 2],
    b7x7x3: [BasicConv; 4],
}

impl InceptionD {
    fn new(vb: VarBuilder, c_in: usize) -> candle_core::Result<Self> {
        Ok(Self {
            b3x3: [
                BasicConv::square(vb.pp("branch3x3_1"), c_in, 192, 1, 1, 0)?,
                BasicConv::square(vb.pp("branch3x3_2"), 192, 320, 3, 2, 0)?,
            ],
            b7x7x3: [
                BasicConv::square(vb.pp("branch7x7x3_1"), c_in, 192, 1, 1, 0)?,
                BasicConv::new(vb.pp("branch7x7x3_2"), 192, 192, (1, 7), 1, (0, 3))?,
                BasicConv::new(vb.pp("branch7x7x3_3"), 192, 192, (7, 1), 1, (3, 0))?,
                BasicConv::square(vb.pp("branch7x7x3_4"), 192, 192, 3, 2, 0)?,
            ],
        })
    }
}

impl Module for InceptionD {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let b3 = chain(&self.b3x3, x)?;
        let b7 = chain(&self.b7x7x3, x)?;
        let bp = x.max_pool2d_with_stride(3, 2)?;
        Tensor::cat(&[b3, b7, bp], 1)
    }
}

/// The last blocks: average pool without padding counts (Mixed_7b, `FIDInceptionE_1`) or
/// max pool (Mixed_7c, `FIDInceptionE_2`) before the pool branch.
#[derive(Debug, Clone)]
struct InceptionE {
    b1x1: BasicConv,
    b3x3_1: BasicConv,
    b3x3_2: [BasicConv; 2],
    b3x3dbl: [BasicConv; 2],
    b3x3dbl_3: [BasicConv; 2],
    pool: BasicConv,
    max_pool: bool,
}

impl InceptionE {
    fn new(vb: VarBuilder, c_in: usize, max_pool: bool) -> candle_core::Result<Self> {
        let split = |vb: VarBuilder, a: &str, b: &str| -> candle_core::Result<[BasicConv; 2]> {
            Ok([
                BasicConv::new(vb.pp(a), 384, 384, (1, 3), 1, (0, 1))?,
                BasicConv::new(vb.pp(b), 384, 384, (3, 1), 1, (1, 0))?,
            ])
        };
        Ok(Self {
            b1x1: BasicConv::square(vb.pp("branch1x1"), c_in, 320, 1, 1, 0)?,
            b3x3_1: BasicConv::square(vb.pp("branch3x3_1"), c_in, 384, 1, 1, 0)?,
            b3x3_2: split(vb.clone(), "branch3x3_2a", "branch3x3_2b")?,
            b3x3dbl: [
                BasicConv::square(vb.pp("branch3x3dbl_1"), c_in, 448, 1, 1, 0)?,
                BasicConv::square(vb.pp("branch3x3dbl_2"), 448, 384, 3, 1, 1)?,
            ],
            b3x3dbl_3: split(vb.clone(), "branch3x3dbl_3a", "branch3x3dbl_3b")?,
            pool: BasicConv::square(vb.pp("branch_pool"), c_in, 192, 1, 1, 0)?,
            max_pool,
        })
    }
}

impl Module for InceptionE {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let b1 = self.b1x1.forward(x)?;
        let t = self.b3x3_1.forward(x)?;
        let b3 = Tensor::cat(
            &[self.b3x3_2[0].forward(&t)?, self.b3x3_2[1].forward(&t)?],
            1,
        )?;
        let t = chain(&self.b3x3dbl, x)?;
        let bd = Tensor::cat(
            &[
                self.b3x3dbl_3[0].forward(&t)?,
                self.b3x3dbl_3[1].forward(&t)?,
            ],
            1,
        )?;
        let pooled = if self.max_pool {
            max_pool_same(x)?
        } else {
            avg_pool_exclude_pad(x)?
        };
        let bp = self.pool.forward(&pooled)?;
        Tensor::cat(&[b1, b3, bd, bp], 1)
    }
}

fn chain(convs: &[BasicConv], x: &Tensor) -> candle_core::Result<Tensor> {
    convs.iter().try_fold(x.clone(), |t, c| c.forward(&t))
}

/// pytorch-fid's FID Inception v3 up to the 2,048-d average pool.
#[derive(Debug, Clone)]
pub struct FidInceptionV3 {
    stem: [BasicConv; 3],
    stem2: [BasicConv; 2],
    mixed_5: [InceptionA; 3],
    mixed_6a: InceptionB,
    mixed_6: [InceptionC; 4],
    mixed_7a: InceptionD,
    mixed_7: [InceptionE; 2],
}

impl FidInceptionV3 {
    /// Builds the network from a `VarBuilder` whose paths are pytorch-fid's state dict keys.
    pub fn new(vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            stem: [
                BasicConv::square(vb.pp("Conv2d_1a_3x3"), 3, 32, 3, 2, 0)?,
                BasicConv::square(vb.pp("Conv2d_2a_3x3"), 32, 32, 3, 1, 0)?,
                BasicConv::square(vb.pp("Conv2d_2b_3x3"), 32, 64, 3, 1, 1)?,
            ],
            stem2: [
                BasicConv::square(vb.pp("Conv2d_3b_1x1"), 64, 80, 1, 1, 0)?,
                BasicConv::square(vb.pp("Conv2d_4a_3x3"), 80, 192, 3, 1, 0)?,
            ],
            mixed_5: [
                InceptionA::new(vb.pp("Mixed_5b"), 192, 32)?,
                InceptionA::new(vb.pp("Mixed_5c"), 256, 64)?,
                InceptionA::new(vb.pp("Mixed_5d"), 288, 64)?,
            ],
            mixed_6a: InceptionB::new(vb.pp("Mixed_6a"), 288)?,
            mixed_6: [
                InceptionC::new(vb.pp("Mixed_6b"), 768, 128)?,
                InceptionC::new(vb.pp("Mixed_6c"), 768, 160)?,
                InceptionC::new(vb.pp("Mixed_6d"), 768, 160)?,
                InceptionC::new(vb.pp("Mixed_6e"), 768, 192)?,
            ],
            mixed_7a: InceptionD::new(vb.pp("Mixed_7a"), 768)?,
            mixed_7: [
                InceptionE::new(vb.pp("Mixed_7b"), 1280, false)?,
                InceptionE::new(vb.pp("Mixed_7c"), 2048, true)?,
            ],
        })
    }

    /// Loads the weights from a safetensors file (pytorch-fid's key names) onto `device`.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let model_error = |source| MetricsError::Model {
            path: path.display().to_string(),
            source,
        };
        let bytes = std::fs::read(path).map_err(|e| MetricsError::ModelFile {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, device)
            .map_err(model_error)?;
        Self::new(vb).map_err(model_error)
    }

    /// `N x 3 x H x W` inputs in `[-1, 1]` (H, W >= 75; 299 for FID) to `N x 2048` features.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let x = chain(&self.stem, x)?.max_pool2d_with_stride(3, 2)?;
        let x = chain(&self.stem2, &x)?.max_pool2d_with_stride(3, 2)?;
        let x = self.mixed_5.iter().try_fold(x, |t, m| m.forward(&t))?;
        let x = self.mixed_6a.forward(&x)?;
        let x = self.mixed_6.iter().try_fold(x, |t, m| m.forward(&t))?;
        let x = self.mixed_7a.forward(&x)?;
        let x = self.mixed_7.iter().try_fold(x, |t, m| m.forward(&t))?;
        x.mean_keepdim(3)?.mean_keepdim(2)?.flatten_from(1)
    }

    /// Features of images preprocessed by [`crate::preprocess::clean_fid_resize`]
    /// (planar `3 x 299 x 299` values in `[0, 255]` each), in batches of `batch`.
    pub fn features(
        &self,
        images: &[Vec<f32>],
        batch: usize,
        device: &Device,
    ) -> Result<Vec<Vec<f32>>> {
        use crate::preprocess::{inception_input, INCEPTION_SIZE};
        let side = INCEPTION_SIZE;
        let mut out = Vec::with_capacity(images.len());
        for (b, chunk) in images.chunks(batch.max(1)).enumerate() {
            let mut input = Vec::with_capacity(chunk.len() * 3 * side * side);
            for (i, img) in chunk.iter().enumerate() {
                if img.len() != 3 * side * side {
                    return Err(MetricsError::Image {
                        what: format!("{} of the batch", b * batch.max(1) + i),
                        detail: format!("{} values, expected 3 x {side} x {side}", img.len()),
                    });
                }
                input.extend(inception_input(img));
            }
            let x = Tensor::from_vec(input, (chunk.len(), 3, side, side), device)?;
            let features = self.forward(&x)?.to_vec2::<f32>()?;
            out.extend(features);
        }
        Ok(out)
    }
}
