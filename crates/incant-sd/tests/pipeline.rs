//! End to end on tiny random weights the tests write: the real loader reads a diffusers
//! folder, the real samplers run, real PNGs come out.

use incant_sd::tiny::{write_bpe, write_model, Tiny, TURBO_SCHEDULER};
use incant_sd::{SdError, SdPipeline, SdRequest};

fn setup(tiny: Tiny) -> (tempfile::TempDir, SdPipeline) {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    write_model(&model, tiny).unwrap();
    let bpe = write_bpe(dir.path()).unwrap();
    let pipe = SdPipeline::load(&model, &bpe).unwrap();
    (dir, pipe)
}

const SD1: Tiny = Tiny {
    sd2: false,
    fp16: true,
    scheduler: None,
};

fn request(sampler: &str, seed: u64) -> SdRequest {
    SdRequest {
        width: 64,
        height: 64,
        steps: 2,
        cfg_scale: 7.0,
        sampler: Some(sampler.to_string()),
        seed,
        ..SdRequest::from_a1111("a (red:1.3) cat, dog", "blurry")
    }
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.abs_diff(*y) as f64)
        .sum::<f64>()
        / a.len() as f64
}

fn differing_bytes(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}

#[test]
fn every_sampler_makes_deterministic_pngs_of_the_requested_size() {
    let (_dir, pipe) = setup(SD1);
    for sampler in ["DDIM", "Euler", "Euler a"] {
        let mut calls = Vec::new();
        let pngs = pipe
            .generate(&request(sampler, 42), |step, total| {
                calls.push((step, total))
            })
            .unwrap();
        assert_eq!(calls, vec![(1, 2), (2, 2)], "{sampler}");
        assert_eq!(pngs.len(), 1);
        let (w, h, pixels) = decode_png(&pngs[0]);
        assert_eq!((w, h), (64, 64), "{sampler}");
        assert_eq!(pixels.len(), 64 * 64 * 3);
        // A picture, not a flat colour.
        let distinct: std::collections::HashSet<&u8> = pixels.iter().collect();
        assert!(
            distinct.len() > 16,
            "{sampler}: only {} distinct values",
            distinct.len()
        );

        let again = pipe.generate(&request(sampler, 42), |_, _| {}).unwrap();
        assert_eq!(pngs[0], again[0], "{sampler}: same seed, different image");
        let other = pipe.generate(&request(sampler, 43), |_, _| {}).unwrap();
        let (_, _, other_pixels) = decode_png(&other[0]);
        let changed = differing_bytes(&pixels, &other_pixels);
        assert!(
            changed > pixels.len() / 4,
            "{sampler}: another seed changed only {changed} bytes"
        );
    }
}

#[test]
fn samplers_differ_and_the_folder_default_is_used_without_one() {
    let (_dir, pipe) = setup(SD1);
    assert_eq!(pipe.default_sampler().a1111_name(), "DDIM");
    assert_eq!(pipe.native_size(), Some(64));
    let ddim = pipe.generate_rgb(&request("DDIM", 1), |_, _| {}).unwrap();
    let euler = pipe.generate_rgb(&request("Euler", 1), |_, _| {}).unwrap();
    let default = pipe
        .generate_rgb(
            &SdRequest {
                sampler: None,
                ..request("", 1)
            },
            |_, _| {},
        )
        .unwrap();
    assert_eq!(ddim, default);
    assert_ne!(ddim[0].pixels, euler[0].pixels);
}

#[test]
fn negative_prompt_matters_only_with_guidance() {
    let (_dir, pipe) = setup(SD1);
    let with = |cfg: f64, negative: &str| {
        let req = SdRequest {
            cfg_scale: cfg,
            ..SdRequest {
                negative: SdRequest::from_a1111("", negative).negative,
                ..request("Euler", 5)
            }
        };
        pipe.generate_rgb(&req, |_, _| {}).unwrap().remove(0).pixels
    };
    // cfg <= 1: one conditional pass, the negative prompt is never encoded.
    assert_eq!(with(1.0, "blurry"), with(1.0, "dog, cat, red, dog"));
    assert_eq!(with(0.0, "blurry"), with(1.0, "blurry"));
    // cfg > 1: the negative prompt steers the result.
    assert_ne!(with(7.0, "blurry"), with(7.0, "dog, cat, red, dog"));
    assert_ne!(with(7.0, "blurry"), with(1.0, "blurry"));
}

#[test]
fn turbo_style_single_step_and_batches_follow_seed_plus_index() {
    let tiny = Tiny {
        sd2: true,
        fp16: false,
        scheduler: Some(TURBO_SCHEDULER),
    };
    let (_dir, pipe) = setup(tiny);
    assert_eq!(pipe.default_sampler().a1111_name(), "Euler");
    // SD 2.x tokenizers pad with "!" (id 0).
    assert_eq!(pipe.special_ids().pad, 0);
    let req = SdRequest {
        width: 48,
        height: 32,
        steps: 1,
        cfg_scale: 0.0,
        sampler: None,
        seed: 10,
        batch_size: 2,
        ..SdRequest::from_a1111("a cat", "")
    };
    let batch = pipe.generate_rgb(&req, |_, _| {}).unwrap();
    assert_eq!(batch.len(), 2);
    assert_eq!(
        (batch[0].width, batch[0].height, batch[0].pixels.len()),
        (48, 32, 48 * 32 * 3)
    );
    for (i, image) in batch.iter().enumerate() {
        let single = SdRequest {
            seed: 10 + i as u64,
            batch_size: 1,
            ..req.clone()
        };
        let alone = pipe.generate_rgb(&single, |_, _| {}).unwrap().remove(0);
        // Batched kernels tile the second image's rows differently, so its last bits may
        // differ, and an untrained one-step model amplifies them: allow a small mean error,
        // far below what another seed gives.
        let err = mean_abs_diff(&image.pixels, &alone.pixels);
        assert!(
            err < 0.5,
            "batch image {i} differs from seed {} alone by {err} on average",
            10 + i
        );
    }
    let between = mean_abs_diff(&batch[0].pixels, &batch[1].pixels);
    assert!(
        between > 5.0,
        "seeds 10 and 11 differ by only {between} on average"
    );
}

#[test]
fn v_prediction_ddim_with_guidance_runs() {
    let tiny = Tiny {
        sd2: true,
        fp16: true,
        scheduler: None,
    };
    let (_dir, pipe) = setup(tiny);
    assert_eq!(pipe.default_sampler().a1111_name(), "DDIM");
    let req = SdRequest {
        sampler: None,
        steps: 3,
        ..request("", 3)
    };
    let pngs = pipe.generate(&req, |_, _| {}).unwrap();
    assert_eq!(decode_png(&pngs[0]).0, 64);
}

#[test]
fn weights_scale_token_states_and_keep_the_chunk_mean() {
    let (_dir, pipe) = setup(SD1);
    let plain = pipe.condition(&[("a cat".into(), 1.0)]).unwrap();
    let heavy = pipe.condition(&[("a cat".into(), 1.5)]).unwrap();
    assert_eq!(plain.dims(), &[1, 77, 32]);
    let mean = |t: &candle_core::Tensor| t.mean_all().unwrap().to_scalar::<f32>().unwrap();
    assert!((mean(&plain) - mean(&heavy)).abs() < 1e-5);
    let diff = (&plain - &heavy).unwrap().abs().unwrap().max_all().unwrap();
    assert!(diff.to_scalar::<f32>().unwrap() > 1e-3);
    // 80 tokens and a BREAK: three chunks.
    let long = "cat ".repeat(80) + "BREAK dog";
    let req = SdRequest::from_a1111(&long, "");
    let cond = pipe.condition(&req.prompt).unwrap();
    assert_eq!(cond.dims(), &[1, 3 * 77, 32]);
    // Cond with 3 chunks and an empty negative still generate (the negative is padded).
    let req = SdRequest {
        width: 32,
        height: 32,
        steps: 1,
        ..req
    };
    assert_eq!(pipe.generate(&req, |_, _| {}).unwrap().len(), 1);
}

#[test]
fn bad_folders_and_requests_are_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    write_model(&model, SD1).unwrap();
    let bpe = write_bpe(dir.path()).unwrap();

    let err = SdPipeline::load(&model, &dir.path().join("nope.txt.gz")).unwrap_err();
    assert!(matches!(err, SdError::MissingFile { .. }), "{err}");
    assert!(err.to_string().contains("nope.txt.gz"), "{err}");

    let config = model.join("unet/config.json");
    let original = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        original.replace(
            r#""cross_attention_dim": 32"#,
            r#""cross_attention_dim": 48"#,
        ),
    )
    .unwrap();
    let err = SdPipeline::load(&model, &bpe).unwrap_err().to_string();
    assert!(
        err.contains("cross_attention_dim") && err.contains("unet"),
        "{err}"
    );
    std::fs::write(
        &config,
        original.replace(r#""DownBlock2D"]"#, r#""SimpleDownBlock"]"#),
    )
    .unwrap();
    let err = SdPipeline::load(&model, &bpe).unwrap_err().to_string();
    assert!(
        err.contains("down_block_types") && err.contains("SimpleDownBlock"),
        "{err}"
    );
    std::fs::write(
        &config,
        original.replace(r#""norm_num_groups": 32"#, r#""norm_num_groups": 16"#),
    )
    .unwrap();
    let err = SdPipeline::load(&model, &bpe).unwrap_err().to_string();
    assert!(
        err.contains("norm_num_groups") && err.contains("32 groups"),
        "{err}"
    );
    std::fs::write(&config, &original).unwrap();

    let index = model.join("model_index.json");
    std::fs::write(&index, r#"{"_class_name": "StableDiffusionXLPipeline"}"#).unwrap();
    let err = SdPipeline::load(&model, &bpe).unwrap_err().to_string();
    assert!(
        err.contains("_class_name") && err.contains("StableDiffusionXLPipeline"),
        "{err}"
    );
    std::fs::remove_file(&index).unwrap();
    let err = SdPipeline::load(&model, &bpe).unwrap_err().to_string();
    assert!(
        err.contains("model_index.json") && err.contains("diffusers-layout"),
        "{err}"
    );
    write_model(&model, SD1).unwrap();

    std::fs::remove_file(model.join("vae/diffusion_pytorch_model.safetensors")).unwrap();
    let err = SdPipeline::load(&model, &bpe).unwrap_err();
    assert!(
        err.to_string()
            .contains("vae/diffusion_pytorch_model.safetensors"),
        "{err}"
    );
    write_model(&model, SD1).unwrap();

    let pipe = SdPipeline::load(&model, &bpe).unwrap();
    let err = pipe
        .generate(
            &SdRequest {
                width: 60,
                ..request("DDIM", 1)
            },
            |_, _| {},
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("width") && err.to_string().contains("multiple of 8"),
        "{err}"
    );
    let err = pipe
        .generate(&request("DPM++ 2M Karras", 1), |_, _| {})
        .unwrap_err();
    assert!(err.to_string().contains("unknown sampler"), "{err}");
    let err = pipe
        .generate(
            &SdRequest {
                steps: 0,
                ..request("DDIM", 1)
            },
            |_, _| {},
        )
        .unwrap_err();
    assert!(err.to_string().contains("steps"), "{err}");
}

/// Decodes PNG bytes into (width, height, RGB pixels).
pub fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// A1111's "Original" emphasis, computed by hand from the raw encoder output: the dog token
/// carries 1.5, every other position 1, and the chunk is rescaled to its unweighted mean.
#[test]
fn emphasis_follows_a1111_original_formula() {
    use candle_core::Tensor;
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    write_model(&model, SD1).unwrap();
    let bpe = write_bpe(dir.path()).unwrap();
    let pipe = SdPipeline::load(&model, &bpe).unwrap();
    let tok = incant_tokenize::clip::ClipTokenizer::load(&bpe).unwrap();

    let prompt = SdRequest::from_a1111("a (dog:1.5), cat", "").prompt;
    assert_eq!(prompt.len(), 3, "{prompt:?}");
    let mut ids = vec![49406u32];
    let mut weights = vec![1.0f32];
    for (text, w) in &prompt {
        for id in tok.encode(text) {
            ids.push(id);
            weights.push(*w as f32);
        }
    }
    assert_eq!(
        weights.iter().filter(|&&w| w == 1.5).count(),
        1,
        "dog is one token"
    );
    ids.resize(77, 49407);
    weights.resize(77, 1.0);

    let dev = candle_core::Device::Cpu;
    let z = pipe
        .text_encoder()
        .forward(
            &Tensor::new(ids.as_slice(), &dev)
                .unwrap()
                .unsqueeze(0)
                .unwrap(),
        )
        .unwrap();
    let w = Tensor::from_vec(weights, (1, 77, 1), &dev).unwrap();
    let weighted = z.broadcast_mul(&w).unwrap();
    let ratio = (z.mean_all().unwrap() / weighted.mean_all().unwrap()).unwrap();
    let want = weighted.broadcast_mul(&ratio).unwrap();

    let got = pipe.condition(&prompt).unwrap();
    let d = (got - &want)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(d < 1e-6, "conditioning differs from the formula by {d}");
    let unweighted = (z - &want).unwrap().abs().unwrap().max_all().unwrap();
    assert!(
        unweighted.to_scalar::<f32>().unwrap() > 1e-3,
        "the weight had no effect"
    );
}
