//! The FID Inception v3 against pytorch-fid's own network on formula weights
//! (scripts/reference/make_inception_reference.py): clean-fid resize, scaling and features.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};
use incant_image_metrics::{clean_fid_resize, FidInceptionV3, SplitMix64, INCEPTION_DIMS};
use serde::Deserialize;

fn fnv1a64(text: &str) -> u64 {
    text.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

/// The script's `formula_tensor`.
fn formula_tensor(name: &str, shape: &[usize]) -> Vec<f32> {
    let mut rng = SplitMix64::new(fnv1a64(name));
    let count: usize = shape.iter().product();
    let fan_in: usize = shape[1..].iter().product();
    (0..count)
        .map(|_| {
            let u = rng.next_f64();
            let v = if name.ends_with("conv.weight") {
                (2.0 * u - 1.0) * (6.0 / fan_in as f64).sqrt()
            } else if name.ends_with("bn.weight") || name.ends_with("running_var") {
                0.5 + u
            } else if name.ends_with("bn.bias") || name.ends_with("running_mean") {
                0.2 * (u - 0.5)
            } else {
                0.01 * (u - 0.5)
            };
            v as f32
        })
        .collect()
}

/// A VarBuilder backend that makes every tensor from its name, recording what was asked for.
#[derive(Default)]
struct Formula {
    made: Arc<Mutex<HashMap<String, Tensor>>>,
}

impl SimpleBackend for Formula {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let t = Tensor::from_vec(formula_tensor(name, s.dims()), s, dev)?.to_dtype(dtype)?;
        self.made
            .lock()
            .unwrap()
            .insert(name.to_string(), t.clone());
        Ok(t)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("{name}: the formula needs a shape")
    }

    fn contains_tensor(&self, _: &str) -> bool {
        true
    }
}

#[derive(Deserialize)]
struct Image {
    seed: u64,
    width: usize,
    height: usize,
}

#[derive(Deserialize)]
struct Reference {
    images: Vec<Image>,
    features: Vec<Vec<f64>>,
}

#[test]
fn features_match_pytorch_fid_and_weights_load_from_safetensors() {
    let reference: Reference = common::read("inception_reference.json");
    let device = Device::Cpu;
    let images: Vec<Vec<f32>> = reference
        .images
        .iter()
        .map(|im| {
            let rgb: Vec<u8> = common::uniforms(im.seed, im.width * im.height * 3)
                .iter()
                .map(|u| (u * 256.0) as u8)
                .collect();
            clean_fid_resize(&rgb, im.width, im.height).unwrap()
        })
        .collect();

    // The formula weights, written to a safetensors file and read back by the real loader.
    let formula = Formula::default();
    let made = formula.made.clone();
    let vb = VarBuilder::from_backend(Box::new(formula), DType::F32, device.clone());
    FidInceptionV3::new(vb).unwrap();
    let tensors = made.lock().unwrap().clone();
    assert_eq!(
        tensors.len(),
        94 * 5,
        "94 BasicConv2d blocks, 5 tensors each"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pt_inception.safetensors");
    candle_core::safetensors::save(&tensors, &path).unwrap();
    let model = FidInceptionV3::load(&path, &device).unwrap();

    let features = model.features(&images, 2, &device).unwrap();
    assert_eq!(features.len(), 2);
    let scale = reference
        .features
        .iter()
        .flatten()
        .fold(0f64, |m, v| m.max(v.abs()));
    for (ours, theirs) in features.iter().zip(&reference.features) {
        assert_eq!(ours.len(), INCEPTION_DIMS);
        let worst = ours
            .iter()
            .zip(theirs)
            .map(|(a, b)| (f64::from(*a) - b).abs())
            .fold(0f64, f64::max);
        eprintln!("max abs difference {worst:e} (largest feature {scale})");
        assert!(
            worst / scale < 1e-4,
            "max abs difference {worst} against features up to {scale}"
        );
    }

    let missing =
        FidInceptionV3::load(&dir.path().join("missing.safetensors"), &device).unwrap_err();
    assert!(
        missing.to_string().contains("missing.safetensors"),
        "{missing}"
    );
}
