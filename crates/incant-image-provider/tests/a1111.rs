//! `a1111:URL` against a local server that speaks A1111's `/sdapi/v1/txt2img`: base64 PNGs
//! with `info` as a JSON string, FastAPI 422 validation errors, A1111's 500 exception
//! bodies, a missing `--api`, connection refused, slow answers, 429 then success, and
//! images in another format.

mod common;

use common::{b64, closed_port_url, config, ok, pixels, png, serve, status, Reply, Server};
use incant_image_provider::{from_spec, ImageError, ImageProvider, ImageRequest};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

fn provider(server_url: &str, cfg: Value) -> Box<dyn ImageProvider> {
    from_spec(&format!("a1111:{server_url}"), &config(cfg), Path::new(".")).unwrap()
}

fn answer(images: &[Vec<u8>], info: Value) -> Reply {
    let encoded: Vec<String> = images.iter().map(|i| b64(i)).collect();
    ok(json!({
        "images": encoded,
        "parameters": {"prompt": "a red fox", "steps": 12},
        "info": info.to_string(),
    }))
}

fn request() -> ImageRequest {
    ImageRequest {
        prompt: "a (red:1.2) fox".into(),
        negative_prompt: "blurry".into(),
        width: 8,
        height: 4,
        steps: 12,
        cfg_scale: 5.5,
        sampler: Some("DPM++ 2M".into()),
        seed: Some(42),
        batch_size: 2,
    }
}

#[test]
fn txt2img_sends_a1111_fields_and_reads_images_and_seeds() {
    let (red, blue) = (png(8, 4, [255, 0, 0]), png(8, 4, [0, 0, 255]));
    let server = serve(vec![answer(
        &[red.clone(), blue.clone()],
        json!({"seed": 42, "all_seeds": [42, 43], "index_of_first_image": 0,
               "infotexts": ["a red fox\nSteps: 12"]}),
    )]);
    let p = provider(
        &format!("{}/", server.url),
        json!({"override_settings": {"CLIP_stop_at_last_layers": 2}, "scheduler": "Karras",
               "apiAuth": "me:secret"}),
    );
    assert_eq!(p.max_concurrency(), Some(1));
    let r = p.generate(&request()).unwrap();
    assert_eq!(r.images.len(), 2);
    assert_eq!(r.images[0].png, red);
    assert_eq!(pixels(&r.images[1].png).2[..3], [0, 0, 255]);
    assert_eq!(
        r.images.iter().map(|i| i.seed).collect::<Vec<_>>(),
        [Some(42), Some(43)]
    );
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(r.metadata["info"]["all_seeds"], json!([42, 43]));
    assert_eq!(r.metadata["parameters"]["steps"], json!(12));

    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("POST", "/sdapi/v1/txt2img")
    );
    let body = &seen[0].body;
    assert_eq!(body["prompt"], json!("a (red:1.2) fox"));
    assert_eq!(body["negative_prompt"], json!("blurry"));
    assert_eq!(body["seed"], json!(42));
    assert_eq!(body["steps"], json!(12));
    assert_eq!(body["cfg_scale"], json!(5.5));
    assert_eq!(
        (body["width"].clone(), body["height"].clone()),
        (json!(8), json!(4))
    );
    assert_eq!(body["sampler_name"], json!("DPM++ 2M"));
    assert_eq!(body["batch_size"], json!(2));
    assert_eq!(body["scheduler"], json!("Karras"));
    assert_eq!(
        body["override_settings"]["CLIP_stop_at_last_layers"],
        json!(2)
    );
    // base64("me:secret")
    assert_eq!(seen[0].header("authorization"), Some("Basic bWU6c2VjcmV0"));
}

#[test]
fn a_random_seed_is_minus_one_and_a_grid_is_dropped_with_a_warning() {
    let grid = png(16, 4, [9, 9, 9]);
    let server = serve(vec![answer(
        &[grid, png(8, 4, [1, 2, 3]), png(8, 4, [4, 5, 6])],
        json!({"seed": 1234, "all_seeds": [1234, 1235], "index_of_first_image": 1}),
    )]);
    let p = provider(&server.url, json!({"save_images": true}));
    let req = ImageRequest {
        seed: None,
        ..request()
    };
    let r = p.generate(&req).unwrap();
    assert_eq!(server.requests()[0].body["seed"], json!(-1));
    assert_eq!(r.images.len(), 2);
    assert_eq!(pixels(&r.images[0].png).2[..3], [1, 2, 3]);
    assert_eq!(r.images[1].seed, Some(1235));
    assert_eq!(
        r.warnings,
        [
            "A1111 also sent 1 other image(s) (a grid or an extension's output); only the 2 \
          generated image(s) are kept"
        ]
    );
}

#[test]
fn validation_errors_are_reported_field_by_field_and_not_retried() {
    let server = serve(vec![status(
        422,
        json!({"detail": [{"loc": ["body", "steps"], "msg": "value is not a valid integer",
                           "type": "type_error.integer"}]}),
    )]);
    let err = provider(&server.url, json!({}))
        .generate(&request())
        .unwrap_err();
    assert_eq!(
        err,
        ImageError::Call(format!(
            "HTTP 422 from {}/sdapi/v1/txt2img: invalid request: body.steps: value is not a \
             valid integer",
            server.url
        ))
    );
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn an_exception_in_a1111_is_reported_and_not_retried() {
    let server = serve(vec![status(
        500,
        json!({"error": "OutOfMemoryError", "detail": "", "body": "",
               "errors": "CUDA out of memory. Tried to allocate 20.00 GiB"}),
    )]);
    let err = provider(&server.url, json!({}))
        .generate(&request())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "HTTP 500 from {}/sdapi/v1/txt2img: OutOfMemoryError: CUDA out of memory. Tried to \
             allocate 20.00 GiB",
            server.url
        )
    );
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_server_without_the_api_says_to_start_it_with_api() {
    let server = serve(vec![status(404, json!({"detail": "Not Found"}))]);
    let err = provider(&server.url, json!({}))
        .generate(&request())
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("Not Found (is A1111 started with --api? /sdapi/v1 exists only then)"),
        "{err}"
    );
}

#[test]
fn connection_refused_is_a_failed_call_after_the_retries() {
    let url = closed_port_url();
    let p = provider(&url, json!({"maxRetries": 1}));
    let err = p.generate(&request()).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("cannot reach {url}/sdapi/v1/txt2img")),
        "{err}"
    );
    assert!(err.contains("is the server running"), "{err}");
    assert!(err.ends_with("(after 1 retries)"), "{err}");
}

#[test]
fn a_slow_answer_trips_the_timeout() {
    let server = serve(vec![Reply::Slow(
        Duration::from_secs(3),
        Box::new(answer(&[png(8, 4, [0, 0, 0])], json!({}))),
    )]);
    let start = Instant::now();
    let err = provider(&server.url, json!({"timeoutMs": 300}))
        .generate(&request())
        .unwrap_err();
    assert_eq!(err, ImageError::Timeout(300));
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn rate_limits_and_a_busy_proxy_are_retried_honouring_retry_after() {
    let img = png(8, 4, [7, 7, 7]);
    let server = serve(vec![
        Reply::Json(
            429,
            vec![("Retry-After", "0.2".into())],
            r#"{"detail":"busy"}"#.into(),
        ),
        Reply::Json(
            503,
            vec![("Retry-After", "0".into())],
            "Service Unavailable".into(),
        ),
        answer(std::slice::from_ref(&img), json!({"all_seeds": [5]})),
    ]);
    let start = Instant::now();
    let r = provider(&server.url, json!({}))
        .generate(&request())
        .unwrap();
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert_eq!(r.images[0].png, img);
    assert_eq!(r.images[0].seed, Some(5));
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn images_in_another_format_are_named() {
    let jpeg = vec![
        0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0,
    ];
    let server = serve(vec![answer(&[jpeg], json!({"all_seeds": [1]}))]);
    let err = provider(&server.url, json!({}))
        .generate(&request())
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "image 1 from a1111:{} is a JPEG, not a PNG",
            server.url
        )),
        "{msg}"
    );
    assert!(msg.contains("samples_format"), "{msg}");
}

#[test]
fn bodies_that_are_not_json_or_have_no_images_are_failed_calls() {
    let server: Server = serve(vec![
        Reply::Bytes(200, "text/html", b"<html>proxy login</html>".to_vec()),
        ok(json!({"parameters": {}, "info": "{}"})),
        ok(json!({"images": [], "parameters": {}, "info": "{}"})),
    ]);
    let p = provider(&server.url, json!({}));
    let err = p.generate(&request()).unwrap_err().to_string();
    assert!(err.contains("the body is not JSON"), "{err}");
    let err = p.generate(&request()).unwrap_err().to_string();
    assert!(err.contains("has no `images` list"), "{err}");
    let err = p.generate(&request()).unwrap_err().to_string();
    assert!(err.contains("answered no images"), "{err}");
}

#[test]
fn a_size_other_than_requested_is_a_warning() {
    let server = serve(vec![answer(
        &[png(16, 8, [0, 0, 0])],
        json!({"all_seeds": [3]}),
    )]);
    let req = ImageRequest {
        batch_size: 1,
        ..request()
    };
    let r = provider(&server.url, json!({})).generate(&req).unwrap();
    assert_eq!(
        r.warnings,
        [format!(
            "image 1 from a1111:{} is 16x8, not the requested 8x4",
            server.url
        )]
    );
}
