//! `openai:image:MODEL` against a local server that speaks OpenAI's
//! `/v1/images/generations`: `b64_json` data with `revised_prompt` and `usage`, errors in
//! OpenAI's shape, 429 with `Retry-After` then success, slow answers, `url` answers and
//! images in another format.

mod common;

use common::{b64, config, ok, png, serve, serve_with, status, Reply, Server};
use incant_image_provider::{from_spec, ImageError, ImageProvider, ImageRequest};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

fn provider(model: &str, server: &Server, extra: Value) -> Box<dyn ImageProvider> {
    let mut cfg = config(json!({"apiBaseUrl": format!("{}/v1", server.url), "apiKey": "sk-test"}));
    cfg.extend(config(extra));
    from_spec(&format!("openai:image:{model}"), &cfg, Path::new(".")).unwrap()
}

fn request() -> ImageRequest {
    ImageRequest {
        prompt: "a watercolor fox".into(),
        width: 1024,
        height: 1024,
        ..ImageRequest::default()
    }
}

fn answer(images: &[Vec<u8>], revised: bool) -> Value {
    let data: Vec<Value> = images
        .iter()
        .map(|i| {
            let mut d = json!({"b64_json": b64(i)});
            if revised {
                d["revised_prompt"] = json!("A watercolor painting of a red fox.");
            }
            d
        })
        .collect();
    json!({"created": 1_700_000_000, "data": data})
}

#[test]
fn gpt_image_sends_no_response_format_and_reads_images_usage_and_cost() {
    let (a, b) = (png(4, 4, [10, 20, 30]), png(4, 4, [40, 50, 60]));
    let mut body = answer(&[a.clone(), b.clone()], false);
    body["usage"] = json!({"total_tokens": 8370, "input_tokens": 50, "output_tokens": 8320,
        "input_tokens_details": {"text_tokens": 50, "image_tokens": 0}});
    body["quality"] = json!("high");
    let server = serve(vec![ok(body)]);
    let p = provider(
        "gpt-image-1",
        &server,
        json!({"quality": "high", "background": "opaque"}),
    );
    let req = ImageRequest {
        batch_size: 2,
        ..request()
    };
    let r = p.generate(&req).unwrap();
    assert_eq!(
        r.images.iter().map(|i| &i.png).collect::<Vec<_>>(),
        [&a, &b]
    );
    assert!(r.images.iter().all(|i| i.seed.is_none()));
    assert_eq!(r.metadata["usage"]["output_tokens"], json!(8320));
    assert_eq!(r.metadata["quality"], json!("high"));
    assert!(r.metadata.get("data").is_none());
    let expected = (50.0 * 5.0 + 8320.0 * 40.0) / 1e6;
    assert!((r.cost.unwrap() - expected).abs() < 1e-12, "{:?}", r.cost);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);

    let seen = server.requests();
    assert_eq!(seen[0].path, "/v1/images/generations");
    assert_eq!(seen[0].header("authorization"), Some("Bearer sk-test"));
    assert_eq!(
        seen[0].body,
        json!({"model": "gpt-image-1", "prompt": "a watercolor fox", "n": 2,
               "size": "1024x1024", "quality": "high", "background": "opaque"})
    );
}

#[test]
fn dall_e_3_asks_for_b64_json_one_image_per_call_and_keeps_revised_prompts() {
    let (a, b) = (png(4, 4, [1, 0, 0]), png(4, 4, [0, 1, 0]));
    let server = serve(vec![
        ok(answer(std::slice::from_ref(&a), true)),
        ok(answer(std::slice::from_ref(&b), true)),
    ]);
    let p = provider("dall-e-3", &server, json!({"style": "natural"}));
    let req = ImageRequest {
        batch_size: 2,
        negative_prompt: "blurry".into(),
        seed: Some(7),
        steps: 30,
        cfg_scale: 9.0,
        ..request()
    };
    let r = p.generate(&req).unwrap();
    assert_eq!(
        r.images.iter().map(|i| &i.png).collect::<Vec<_>>(),
        [&a, &b]
    );
    assert_eq!(
        r.metadata["revised_prompts"],
        json!([
            "A watercolor painting of a red fox.",
            "A watercolor painting of a red fox."
        ])
    );
    assert_eq!(r.cost, Some(0.08));
    assert_eq!(
        r.warnings,
        [
            "openai:image:dall-e-3 does not support a negative prompt; it is ignored",
            "openai:image:dall-e-3 does not support a seed; it is ignored",
            "openai:image:dall-e-3 does not support steps; it is ignored",
            "openai:image:dall-e-3 does not support a cfg scale; it is ignored",
        ]
    );
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    for s in &seen {
        assert_eq!(s.body["n"], json!(1));
        assert_eq!(s.body["response_format"], json!("b64_json"));
        assert_eq!(s.body["style"], json!("natural"));
        assert!(s.body.get("negative_prompt").is_none());
    }
}

#[test]
fn errors_in_openai_shape_are_reported_and_not_retried() {
    let server = serve(vec![status(
        400,
        json!({"error": {"message": "Your request was rejected as a result of our safety system.",
                         "type": "image_generation_user_error", "param": null,
                         "code": "content_policy_violation"}}),
    )]);
    let err = provider("dall-e-3", &server, json!({}))
        .generate(&request())
        .unwrap_err();
    assert_eq!(
        err,
        ImageError::Call(format!(
            "HTTP 400 from {}/v1/images/generations: Your request was rejected as a result of \
             our safety system. (content_policy_violation)",
            server.url
        ))
    );
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_429_with_retry_after_is_retried_then_succeeds() {
    let img = png(4, 4, [9, 9, 9]);
    let server = serve(vec![
        Reply::Json(
            429,
            vec![("Retry-After", "0.3".into())],
            json!({"error": {"message": "Rate limit reached for images per minute"}}).to_string(),
        ),
        Reply::Json(
            500,
            vec![("retry-after-ms", "10".into())],
            json!({"error": {"message": "overloaded"}}).to_string(),
        ),
        ok(answer(std::slice::from_ref(&img), false)),
    ]);
    let start = Instant::now();
    let r = provider("gpt-image-1", &server, json!({}))
        .generate(&request())
        .unwrap();
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(r.images[0].png, img);
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn rate_limits_that_persist_fail_after_the_retries() {
    let limited = || {
        Reply::Json(
            429,
            vec![("Retry-After", "0".into())],
            json!({"error": {"message": "Rate limit reached"}}).to_string(),
        )
    };
    let server = serve(vec![limited(), limited(), limited()]);
    let err = provider("gpt-image-1", &server, json!({"maxRetries": 2}))
        .generate(&request())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "HTTP 429 from {}/v1/images/generations: Rate limit reached (after 2 retries)",
            server.url
        )
    );
}

#[test]
fn a_slow_answer_trips_the_timeout() {
    let server = serve(vec![Reply::Slow(
        Duration::from_secs(3),
        Box::new(ok(answer(&[png(4, 4, [0, 0, 0])], false))),
    )]);
    let start = Instant::now();
    let err = provider("gpt-image-1", &server, json!({"timeoutMs": 300}))
        .generate(&request())
        .unwrap_err();
    assert_eq!(err, ImageError::Timeout(300));
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_url_answer_is_followed() {
    let img = png(4, 4, [5, 6, 7]);
    let server = serve_with(|url| {
        vec![
            ok(json!({"created": 1, "data": [{"url": format!("{url}/files/img-1.png")}]})),
            Reply::Bytes(200, "image/png", img.clone()),
        ]
    });
    let r = provider("dall-e-2", &server, json!({}))
        .generate(&request())
        .unwrap();
    assert_eq!(r.images[0].png, img);
    assert_eq!(r.cost, Some(0.02));
    let seen = server.requests();
    assert_eq!(seen[0].header("authorization"), Some("Bearer sk-test"));
    assert_eq!(seen[1].path, "/files/img-1.png");
    assert_eq!(
        seen[1].header("authorization"),
        None,
        "the key stays with the API"
    );
}

#[test]
fn images_in_another_format_are_named() {
    let jpeg = vec![0xff, 0xd8, 0xff, 0xdb, 0, 0x43, 0];
    let server = serve(vec![ok(
        json!({"created": 1, "data": [{"b64_json": b64(&jpeg)}]}),
    )]);
    let err = provider("gpt-image-1", &server, json!({}))
        .generate(&request())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "image 1 from openai:image:gpt-image-1 is a JPEG, not a PNG (leave `output_format` out \
         or set it to png)"
    );
}

#[test]
fn sizes_dall_e_cannot_draw_are_config_errors_before_any_call() {
    let server = serve(vec![]);
    let req = ImageRequest {
        width: 512,
        height: 768,
        ..request()
    };
    let err = provider("dall-e-3", &server, json!({}))
        .generate(&req)
        .unwrap_err();
    assert_eq!(
        err,
        ImageError::Config(
            "openai:image:dall-e-3: dall-e-3 cannot draw 512x768 (sizes: 1024x1024, 1792x1024, \
             1024x1792)"
                .into()
        )
    );
    assert!(server.requests().is_empty());
}

#[test]
fn the_key_comes_from_the_named_variable_and_is_required_for_openai_itself() {
    let cfg =
        config(json!({"apiHost": "api.openai.com", "apiKeyEnvar": "INCANT_TEST_NO_SUCH_KEY_VAR"}));
    let err = from_spec("openai:image:gpt-image-1", &cfg, Path::new("."))
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "openai:image:gpt-image-1: no API key: set INCANT_TEST_NO_SUCH_KEY_VAR, or `apiKeyEnvar` \
         to the variable that holds it"
    );
}
