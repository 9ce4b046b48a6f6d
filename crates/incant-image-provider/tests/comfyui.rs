//! `comfyui:URL` against a local server that speaks ComfyUI's protocol: `POST /prompt`
//! answering a `prompt_id` (or 400 with `error` and `node_errors`), `GET /history/{id}`
//! that is empty until the job is done (or reports `status_str: "error"`), and
//! `GET /view` serving the saved PNGs; plus slow answers, 429 then success, and template
//! mistakes.

mod common;

use common::{closed_port_url, config, ok, png, serve, status, Reply};
use incant_image_provider::{from_spec, ImageError, ImageProvider, ImageRequest};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn workflow() -> Value {
    json!({
        "3": {"class_type": "KSampler", "inputs": {
            "seed": "{{seed}}", "steps": "{{steps}}", "cfg": "{{cfg}}",
            "sampler_name": "{{sampler}}", "scheduler": "{{scheduler}}", "denoise": 1,
            "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {
            "width": "{{width}}", "height": "{{height}}", "batch_size": "{{batch_size}}"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{negative}}, watermark", "clip": ["4", 1]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "incant", "images": ["8", 0]}}
    })
}

/// A provider for `server_url` with `wf` written to a temporary suite folder.
fn provider(
    server_url: &str,
    wf: &Value,
    extra: Value,
) -> (tempfile::TempDir, Box<dyn ImageProvider>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("flows")).unwrap();
    std::fs::write(dir.path().join("flows/sd15.json"), wf.to_string()).unwrap();
    let mut cfg = config(json!({"workflow": "flows/sd15.json", "pollIntervalMs": 20}));
    cfg.extend(config(extra));
    let p = from_spec(&format!("comfyui:{server_url}"), &cfg, dir.path()).unwrap();
    (dir, p)
}

fn request() -> ImageRequest {
    ImageRequest {
        prompt: "a (red:1.2) fox".into(),
        negative_prompt: "blurry".into(),
        width: 8,
        height: 4,
        steps: 12,
        cfg_scale: 5.5,
        sampler: Some("DPM++ 2M Karras".into()),
        seed: Some(42),
        batch_size: 2,
    }
}

fn queued(id: &str) -> Reply {
    ok(json!({"prompt_id": id, "number": 3, "node_errors": {}}))
}

fn done(id: &str, files: &[&str]) -> Reply {
    let images: Vec<Value> = files
        .iter()
        .map(|f| json!({"filename": f, "subfolder": "sub dir", "type": "output"}))
        .collect();
    ok(json!({id: {
        "prompt": [3, id, {}, {}, ["9"]],
        "outputs": {"9": {"images": images}},
        "status": {"status_str": "success", "completed": true,
                   "messages": [["execution_start", {"prompt_id": id, "timestamp": 1}],
                                ["execution_success", {"prompt_id": id, "timestamp": 2}]]},
        "meta": {"9": {"node_id": "9", "display_node": "9"}}
    }}))
}

fn image(bytes: Vec<u8>) -> Reply {
    Reply::Bytes(200, "image/png", bytes)
}

#[test]
fn queues_the_filled_workflow_polls_the_history_and_fetches_the_images() {
    let (a, b) = (png(8, 4, [255, 0, 0]), png(8, 4, [0, 255, 0]));
    let server = serve(vec![
        queued("p-1"),
        ok(json!({})),
        ok(json!({})),
        done("p-1", &["incant_00001_.png", "incant_00002_.png"]),
        image(a.clone()),
        image(b.clone()),
    ]);
    let (_dir, p) = provider(&server.url, &workflow(), json!({}));
    assert_eq!(p.max_concurrency(), Some(1));
    let r = p.generate(&request()).unwrap();
    assert_eq!(
        r.images.iter().map(|i| &i.png).collect::<Vec<_>>(),
        [&a, &b]
    );
    assert!(r.images.iter().all(|i| i.seed == Some(42)));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(r.metadata["prompt_id"], json!("p-1"));
    assert_eq!(r.metadata["status"]["status_str"], json!("success"));

    let seen = server.requests();
    let paths: Vec<(&str, &str)> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.path.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            ("POST", "/prompt"),
            ("GET", "/history/p-1"),
            ("GET", "/history/p-1"),
            ("GET", "/history/p-1"),
            (
                "GET",
                "/view?filename=incant_00001_.png&subfolder=sub+dir&type=output"
            ),
            (
                "GET",
                "/view?filename=incant_00002_.png&subfolder=sub+dir&type=output"
            ),
        ]
    );
    let body = &seen[0].body;
    let client_id = body["client_id"].as_str().unwrap();
    assert_eq!(client_id.len(), 36);
    assert_eq!(r.metadata["client_id"], json!(client_id));
    let graph = &body["prompt"];
    assert_eq!(graph["3"]["inputs"]["seed"], json!(42));
    assert_eq!(graph["3"]["inputs"]["steps"], json!(12));
    assert_eq!(graph["3"]["inputs"]["cfg"], json!(5.5));
    assert_eq!(graph["3"]["inputs"]["sampler_name"], json!("dpmpp_2m"));
    assert_eq!(graph["3"]["inputs"]["scheduler"], json!("karras"));
    assert_eq!(graph["3"]["inputs"]["model"], json!(["4", 0]));
    assert_eq!(graph["5"]["inputs"]["width"], json!(8));
    assert_eq!(graph["5"]["inputs"]["batch_size"], json!(2));
    assert_eq!(graph["6"]["inputs"]["text"], json!("a (red:1.2) fox"));
    assert_eq!(graph["7"]["inputs"]["text"], json!("blurry, watermark"));
}

#[test]
fn a_random_seed_is_chosen_and_reported_and_ignored_fields_are_warned_about() {
    let minimal = json!({
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}"}},
        "3": {"class_type": "KSampler", "inputs": {"seed": "{{seed}}", "steps": 20}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["3", 0]}}
    });
    let server = serve(vec![
        queued("p-2"),
        done("p-2", &["x.png"]),
        image(png(8, 4, [1, 1, 1])),
    ]);
    let (_dir, p) = provider(&server.url, &minimal, json!({}));
    let req = ImageRequest {
        seed: None,
        batch_size: 1,
        ..request()
    };
    let r = p.generate(&req).unwrap();
    let sent = server.requests()[0].body["prompt"]["3"]["inputs"]["seed"]
        .as_u64()
        .unwrap();
    assert!(sent <= u32::MAX as u64);
    assert_eq!(r.images[0].seed, Some(sent));
    let w = r.warnings.join("\n");
    for field in [
        "negative prompt",
        "sampler",
        "steps",
        "cfg scale",
        "width",
        "height",
    ] {
        assert!(
            w.contains(&format!("the request's {field} is ignored")),
            "{field}: {w}"
        );
    }
    assert!(
        w.contains("flows/sd15.json has no {{negative}} placeholder"),
        "{w}"
    );
}

#[test]
fn a_workflow_that_fails_validation_is_reported_node_by_node() {
    let server = serve(vec![status(
        400,
        json!({
            "error": {"type": "prompt_outputs_failed_validation",
                      "message": "Prompt outputs failed validation", "details": "", "extra_info": {}},
            "node_errors": {"4": {"errors": [{"type": "value_not_in_list", "message": "Value not in list",
                "details": "ckpt_name: 'sd15.safetensors' not in ['v2-1_768.safetensors']",
                "extra_info": {"input_name": "ckpt_name"}}],
                "dependent_outputs": ["9"], "class_type": "CheckpointLoaderSimple"}}
        }),
    )]);
    let (_dir, p) = provider(&server.url, &workflow(), json!({}));
    let err = p.generate(&request()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "HTTP 400 from {}/prompt: Prompt outputs failed validation; node 4 \
             (CheckpointLoaderSimple): Value not in list: ckpt_name: 'sd15.safetensors' not in \
             ['v2-1_768.safetensors']",
            server.url
        )
    );
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_history_that_reports_an_error_names_the_node_and_the_exception() {
    let server = serve(vec![
        queued("p-3"),
        ok(json!({})),
        ok(json!({"p-3": {
            "prompt": [], "outputs": {},
            "status": {"status_str": "error", "completed": false, "messages": [
                ["execution_start", {"prompt_id": "p-3"}],
                ["execution_error", {"prompt_id": "p-3", "node_id": "3", "node_type": "KSampler",
                  "executed": ["4"], "exception_message": "CUDA out of memory\n",
                  "exception_type": "torch.OutOfMemoryError", "traceback": ["..."]}]]}
        }})),
    ]);
    let (_dir, p) = provider(&server.url, &workflow(), json!({}));
    assert_eq!(
        p.generate(&request()).unwrap_err(),
        ImageError::Call(
            "ComfyUI failed running prompt p-3 at node 3 (KSampler): torch.OutOfMemoryError: \
             CUDA out of memory"
                .into()
        )
    );
}

#[test]
fn a_job_that_never_finishes_trips_the_timeout() {
    let mut script = vec![queued("p-4")];
    script.extend((0..200).map(|_| ok(json!({}))));
    let server = serve(script);
    let (_dir, p) = provider(&server.url, &workflow(), json!({"timeoutMs": 400}));
    let start = Instant::now();
    assert_eq!(
        p.generate(&request()).unwrap_err(),
        ImageError::Timeout(400)
    );
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(2),
        "{took:?}"
    );
    let seen = server.requests();
    assert!(seen.len() > 4, "it polled");
    assert!(seen[1..seen.len() - 1]
        .iter()
        .all(|s| s.path == "/history/p-4"));
    let last = seen.last().unwrap();
    assert_eq!(
        (last.method.as_str(), last.path.as_str()),
        ("POST", "/queue")
    );
    assert_eq!(last.body, json!({"delete": ["p-4"]}));
}

#[test]
fn a_slow_queue_answer_trips_the_timeout() {
    let server = serve(vec![Reply::Slow(
        Duration::from_secs(3),
        Box::new(queued("p-5")),
    )]);
    let (_dir, p) = provider(&server.url, &workflow(), json!({"timeoutMs": 300}));
    let start = Instant::now();
    assert_eq!(
        p.generate(&request()).unwrap_err(),
        ImageError::Timeout(300)
    );
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_rate_limited_queue_is_retried() {
    let img = png(8, 4, [3, 3, 3]);
    let server = serve(vec![
        Reply::Json(429, vec![("Retry-After", "0".into())], "{}".into()),
        queued("p-6"),
        done("p-6", &["a.png"]),
        image(img.clone()),
    ]);
    let (_dir, p) = provider(&server.url, &workflow(), json!({}));
    let r = p.generate(&request()).unwrap();
    assert_eq!(r.images[0].png, img);
    assert_eq!(server.requests()[1].path, "/prompt");
}

#[test]
fn a_webp_output_is_named() {
    let webp = b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00".to_vec();
    let server = serve(vec![queued("p-7"), done("p-7", &["a.webp"]), image(webp)]);
    let (_dir, p) = provider(&server.url, &workflow(), json!({}));
    let err = p.generate(&request()).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "image 1 (a.webp) from comfyui:{} is a WebP image, not a PNG (save it with a \
             SaveImage node, which writes PNG)",
            server.url
        )
    );
}

#[test]
fn a_finished_job_without_images_is_a_failed_call() {
    let server = serve(vec![
        queued("p-8"),
        ok(
            json!({"p-8": {"outputs": {}, "status": {"status_str": "success", "completed": true, "messages": []}}}),
        ),
    ]);
    let (_dir, p) = provider(&server.url, &workflow(), json!({}));
    let err = p.generate(&request()).unwrap_err().to_string();
    assert!(err.contains("without outputs (does the workflow"), "{err}");
}

#[test]
fn connection_refused_is_a_failed_call() {
    let url = closed_port_url();
    let (_dir, p) = provider(&url, &workflow(), json!({"maxRetries": 0}));
    let err = p.generate(&request()).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("cannot reach {url}/prompt")),
        "{err}"
    );
}

#[test]
fn template_mistakes_are_config_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let write =
        |name: &str, v: &Value| std::fs::write(dir.path().join(name), v.to_string()).unwrap();
    let build = |cfg: Value| {
        from_spec("comfyui:http://127.0.0.1:8188", &config(cfg), dir.path())
            .err()
            .unwrap()
    };
    let mut wf = workflow();
    wf["6"]["inputs"]["text"] = json!("{{positive}}");
    write("typo.json", &wf);
    let err = build(json!({"workflow": "typo.json"}));
    assert!(matches!(err, ImageError::Config(_)));
    let msg = err.to_string();
    assert!(
        msg.contains("typo.json: unknown placeholder `{{positive}}`"),
        "{msg}"
    );
    wf["6"]["inputs"]["text"] = json!("a fixed prompt");
    write("noprompt.json", &wf);
    let msg = build(json!({"workflow": "noprompt.json"})).to_string();
    assert!(
        msg.contains("noprompt.json: the workflow has no `{{prompt}}` placeholder"),
        "{msg}"
    );
    let msg = build(json!({})).to_string();
    assert!(
        msg.starts_with("comfyui:http://127.0.0.1:8188: no `workflow`"),
        "{msg}"
    );
    let msg = build(json!({"workflow": "typo.json", "pollMs": 5})).to_string();
    assert!(msg.contains("unknown config key `pollMs`"), "{msg}");
    let msg = build(json!({"workflow": "missing.json"})).to_string();
    assert!(msg.contains("missing.json"), "{msg}");
}
