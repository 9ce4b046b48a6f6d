//! `comfyui:URL`: a ComfyUI server running a workflow template.
//!
//! ComfyUI has no "text to image" endpoint, only graphs, so the config names a workflow
//! in API format with placeholders (`workflow: flows/sd15.json`, relative to the suite;
//! see [`workflow`]). A call fills the template, queues it with `POST {URL}/prompt`
//! (`{"prompt": graph, "client_id": uuid}` answers `{"prompt_id"}`, or 400 with `error`
//! and `node_errors` when the graph does not validate), polls `GET /history/{prompt_id}`
//! until the entry has outputs or reports `status_str: "error"`, then fetches each saved
//! image with `GET /view?filename=..&subfolder=..&type=output`. The whole exchange, queue
//! wait included, is bounded by `timeoutMs` (default 600,000); a job still waiting when
//! it passes is deleted from the queue (`POST /queue {"delete": [id]}`).
//!
//! Request fields map to placeholders: `{{prompt}}`, `{{negative}}`, `{{seed}}` (a random
//! 32-bit seed when the request has none, so the result says which seed it used),
//! `{{steps}}`, `{{cfg}}`, `{{width}}`, `{{height}}`, `{{batch_size}}`, and `{{sampler}}`
//! and `{{scheduler}}`, translated from A1111's sampler names (`DPM++ 2M Karras` is
//! ComfyUI's `dpmpp_2m` with the `karras` scheduler). A request field the template has no
//! placeholder for is reported in the warnings.
//!
//! Provider keys: `workflow` (required), `pollIntervalMs` (the longest wait between polls,
//! default 1,000; polling starts at 50 ms), `timeoutMs`, `maxRetries`, `headers`.

pub mod workflow;

use crate::config::{base_url, Config, HTTP_KEYS};
use crate::http::{head, raw_explanation, Http};
use crate::png_check::check_png;
use crate::{GeneratedImage, ImageError, ImageProvider, ImageRequest, ImageResponse};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use workflow::Workflow;

/// Keys that configure the provider itself.
const PROVIDER_KEYS: &[&str] = &["workflow", "pollIntervalMs"];

/// A1111 sampler names and ComfyUI's names for the same samplers.
const SAMPLERS: &[(&str, &str)] = &[
    ("Euler a", "euler_ancestral"),
    ("Euler", "euler"),
    ("LMS", "lms"),
    ("Heun", "heun"),
    ("DPM2", "dpm_2"),
    ("DPM2 a", "dpm_2_ancestral"),
    ("DPM++ 2S a", "dpmpp_2s_ancestral"),
    ("DPM++ 2M", "dpmpp_2m"),
    ("DPM++ SDE", "dpmpp_sde"),
    ("DPM++ 2M SDE", "dpmpp_2m_sde"),
    ("DPM++ 3M SDE", "dpmpp_3m_sde"),
    ("DPM fast", "dpm_fast"),
    ("DPM adaptive", "dpm_adaptive"),
    ("LCM", "lcm"),
    ("DDIM", "ddim"),
    ("UniPC", "uni_pc"),
    ("DDPM", "ddpm"),
];

/// Scheduler suffixes A1111 appends to sampler names, and ComfyUI's scheduler names.
const SCHEDULERS: &[(&str, &str)] = &[
    (" Karras", "karras"),
    (" Exponential", "exponential"),
    (" SGM Uniform", "sgm_uniform"),
];

/// ComfyUI's `(sampler_name, scheduler)` for an A1111 sampler name; a name that already
/// looks like ComfyUI's (`dpmpp_2m`) is kept. `None`: a name incant cannot translate.
pub fn comfy_sampler(name: &str) -> Option<(String, Option<&'static str>)> {
    let (base, scheduler) = SCHEDULERS
        .iter()
        .find_map(|(suffix, s)| name.strip_suffix(suffix).map(|b| (b, Some(*s))))
        .unwrap_or((name, None));
    if let Some((_, comfy)) = SAMPLERS.iter().find(|(a, _)| *a == base) {
        return Some((comfy.to_string(), scheduler));
    }
    let native = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    native.then(|| (name.to_string(), None))
}

/// A ComfyUI server with one workflow.
pub struct ComfyUi {
    id: String,
    url: String,
    workflow: Workflow,
    poll_max: Duration,
    http: Http,
}

impl ComfyUi {
    /// Reads `comfyui:URL` and its config; `base_dir` resolves a relative `workflow`.
    pub fn new(
        id: &str,
        url: &str,
        config: &Map<String, Value>,
        base_dir: &Path,
    ) -> Result<Self, ImageError> {
        let c = Config::new(id, config);
        c.check_keys(&[PROVIDER_KEYS, HTTP_KEYS])?;
        let file = c.string("workflow")?.ok_or_else(|| {
            c.error(
                "no `workflow`: set it to a workflow exported with \"Save (API Format)\", with \
                 \"{{prompt}}\" where the prompt goes",
            )
        })?;
        let workflow = Workflow::load(&base_dir.join(file))?;
        let poll_max = Duration::from_millis(c.count("pollIntervalMs")?.unwrap_or(1000).max(1));
        Ok(Self {
            id: id.to_string(),
            url: base_url(id, url, "comfyui:http://127.0.0.1:8188")?,
            workflow,
            poll_max,
            http: Http::new(c.http(Duration::from_secs(600))?, explain, false),
        })
    }

    /// The placeholder values for `req` (and the seed used, when the template takes one),
    /// with warnings for request fields the template ignores.
    fn values(&self, req: &ImageRequest) -> (BTreeMap<&'static str, Value>, Vec<String>) {
        let mut warnings = Vec::new();
        let wf = &self.workflow;
        let mut ignored = |name: &str, field: &str| {
            if !wf.uses(name) {
                warnings.push(format!(
                    "the workflow {} has no {{{{{name}}}}} placeholder: the request's {field} \
                     is ignored",
                    wf.path().display()
                ));
            }
        };
        let defaults = ImageRequest::default();
        if !req.negative_prompt.is_empty() {
            ignored("negative", "negative prompt");
        }
        if req.seed.is_some() {
            ignored("seed", "seed");
        }
        if req.sampler.is_some() {
            ignored("sampler", "sampler");
        }
        if req.batch_size != 1 {
            ignored("batch_size", "batch size");
        }
        if req.steps != defaults.steps {
            ignored("steps", "steps");
        }
        if req.cfg_scale != defaults.cfg_scale {
            ignored("cfg", "cfg scale");
        }
        if (req.width, req.height) != (defaults.width, defaults.height) {
            ignored("width", "width");
            ignored("height", "height");
        }
        let seed = req
            .seed
            .unwrap_or_else(|| uuid::Uuid::new_v4().as_u128() as u32 as u64);
        let (sampler, scheduler) = match req.sampler.as_deref() {
            None => ("euler".to_string(), None),
            Some(name) => comfy_sampler(name).unwrap_or_else(|| {
                warnings.push(format!(
                    "sampler `{name}` has no ComfyUI equivalent incant knows; sent as it is"
                ));
                (name.to_string(), None)
            }),
        };
        if scheduler.is_some() && !wf.uses("scheduler") {
            warnings.push(format!(
                "the workflow {} has no {{{{scheduler}}}} placeholder: the `{}` scheduler in \
                 the sampler name is ignored",
                wf.path().display(),
                scheduler.unwrap_or_default()
            ));
        }
        let values = BTreeMap::from([
            ("prompt", json!(req.prompt)),
            ("negative", json!(req.negative_prompt)),
            ("seed", json!(seed)),
            ("steps", json!(req.steps)),
            ("cfg", json!(req.cfg_scale)),
            ("width", json!(req.width)),
            ("height", json!(req.height)),
            ("batch_size", json!(req.batch_size)),
            ("sampler", json!(sampler)),
            ("scheduler", json!(scheduler.unwrap_or("normal"))),
        ]);
        (values, warnings)
    }

    /// Polls the history until the job has finished; returns its entry.
    fn wait_for(&self, prompt_id: &str, deadline: Instant) -> Result<Value, ImageError> {
        let url = format!("{}/history/{prompt_id}", self.url);
        let mut pause = Duration::from_millis(50).min(self.poll_max);
        loop {
            let history = self.http.get_json(&url, Some(deadline))?;
            if let Some(entry) = history.get(prompt_id) {
                let status = entry.get("status");
                let status_str = status
                    .and_then(|s| s.get("status_str"))
                    .and_then(Value::as_str);
                if status_str == Some("error") {
                    return Err(ImageError::Call(execution_error(prompt_id, entry)));
                }
                let outputs = entry.get("outputs").and_then(Value::as_object);
                let completed = status
                    .and_then(|s| s.get("completed"))
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                if completed && outputs.is_some_and(|o| !o.is_empty()) {
                    return Ok(entry.clone());
                }
                if completed && status_str.is_some() {
                    return Err(ImageError::Call(format!(
                        "ComfyUI finished prompt {prompt_id} without outputs (does the workflow \
                         {} end in a SaveImage node?)",
                        self.workflow.path().display()
                    )));
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ImageError::Timeout(self.http.timeout().as_millis() as u64));
            }
            std::thread::sleep(pause.min(left));
            pause = (pause * 2).min(self.poll_max);
        }
    }
}

/// ComfyUI's explanation of a refused prompt: the `error` (an object with `message` and
/// `details`, or a string in older versions) and each node's errors.
fn explain(_status: u16, body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return raw_explanation(body);
    };
    let mut parts = Vec::new();
    match v.get("error") {
        Some(Value::String(s)) => parts.push(s.clone()),
        Some(e @ Value::Object(_)) => {
            let message = e.get("message").and_then(Value::as_str).unwrap_or("error");
            match e.get("details").and_then(Value::as_str) {
                Some(d) if !d.is_empty() => parts.push(format!("{message}: {d}")),
                _ => parts.push(message.to_string()),
            }
        }
        _ => {}
    }
    if let Some(nodes) = v.get("node_errors").and_then(Value::as_object) {
        for (node, info) in nodes {
            let class = info
                .get("class_type")
                .and_then(Value::as_str)
                .unwrap_or("?");
            let errors: Vec<String> = info
                .get("errors")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|e| {
                    let m = e.get("message").and_then(Value::as_str).unwrap_or("error");
                    match e.get("details").and_then(Value::as_str) {
                        Some(d) if !d.is_empty() => format!("{m}: {d}"),
                        _ => m.to_string(),
                    }
                })
                .collect();
            parts.push(format!("node {node} ({class}): {}", errors.join("; ")));
        }
    }
    if parts.is_empty() {
        raw_explanation(body)
    } else {
        parts.join("; ")
    }
}

/// What a history entry with `status_str: "error"` says went wrong.
fn execution_error(prompt_id: &str, entry: &Value) -> String {
    let messages = entry
        .pointer("/status/messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for m in &messages {
        let (Some(kind), Some(data)) = (m.get(0).and_then(Value::as_str), m.get(1)) else {
            continue;
        };
        let field = |k: &str| data.get(k).and_then(Value::as_str).unwrap_or("?");
        match kind {
            "execution_error" => {
                return format!(
                    "ComfyUI failed running prompt {prompt_id} at node {} ({}): {}: {}",
                    field("node_id"),
                    field("node_type"),
                    field("exception_type"),
                    field("exception_message").trim()
                )
            }
            "execution_interrupted" => {
                return format!(
                    "ComfyUI interrupted prompt {prompt_id} at node {} ({})",
                    field("node_id"),
                    field("node_type")
                )
            }
            _ => {}
        }
    }
    format!(
        "ComfyUI reports status `error` for prompt {prompt_id}: {}",
        head(&Value::Array(messages).to_string(), 300)
    )
}

/// The saved images of a finished job, in node order: `(filename, subfolder, type)`.
/// Images of type `output` (SaveImage) when there are any, else the previews.
fn saved_images(outputs: &Map<String, Value>) -> Vec<(String, String, String)> {
    let mut nodes: Vec<(&String, &Value)> = outputs.iter().collect();
    nodes.sort_by_key(|(id, _)| (id.parse::<u64>().unwrap_or(u64::MAX), id.to_string()));
    let all: Vec<(String, String, String)> = nodes
        .iter()
        .filter_map(|(_, out)| out.get("images").and_then(Value::as_array))
        .flatten()
        .filter_map(|img| {
            let s = |k: &str| img.get(k).and_then(Value::as_str).map(str::to_string);
            Some((
                s("filename")?,
                s("subfolder").unwrap_or_default(),
                s("type").unwrap_or_else(|| "output".into()),
            ))
        })
        .collect();
    let saved: Vec<_> = all.iter().filter(|i| i.2 == "output").cloned().collect();
    if saved.is_empty() {
        all
    } else {
        saved
    }
}

impl ImageProvider for ComfyUi {
    fn id(&self) -> &str {
        &self.id
    }

    fn max_concurrency(&self) -> Option<usize> {
        self.http.max_concurrency(Some(1))
    }

    fn generate(&self, req: &ImageRequest) -> Result<ImageResponse, ImageError> {
        let start = Instant::now();
        let deadline = start + self.http.timeout();
        let (values, mut warnings) = self.values(req);
        let graph = self.workflow.fill(&values);
        let client_id = uuid::Uuid::new_v4().to_string();
        let url = format!("{}/prompt", self.url);
        let queued = self.http.post_json(
            &url,
            &json!({"prompt": graph, "client_id": client_id}),
            Some(deadline),
        )?;
        let prompt_id = match queued.get("prompt_id") {
            Some(Value::String(s)) => s.clone(),
            _ => {
                return Err(ImageError::Call(format!(
                    "answer from {url} has no `prompt_id`: {}",
                    head(&queued.to_string(), 200)
                )))
            }
        };
        if let Some(errors) = queued
            .get("node_errors")
            .filter(|e| e.as_object().is_some_and(|o| !o.is_empty()))
        {
            warnings.push(format!(
                "ComfyUI queued the prompt but some outputs failed validation: {}",
                explain(200, &json!({"node_errors": errors}).to_string())
            ));
        }
        let entry = match self.wait_for(&prompt_id, deadline) {
            Err(timeout @ ImageError::Timeout(_)) => {
                // Take the abandoned job out of the queue so the GPU does not draw it for
                // nobody (a job already running is left alone: interrupting could stop
                // another client's job on older ComfyUI versions).
                self.http.post_once(
                    &format!("{}/queue", self.url),
                    &json!({"delete": [prompt_id]}),
                    Duration::from_secs(2),
                );
                return Err(timeout);
            }
            other => other?,
        };
        let empty = Map::new();
        let outputs = entry
            .get("outputs")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let files = saved_images(outputs);
        if files.is_empty() {
            return Err(ImageError::Call(format!(
                "ComfyUI prompt {prompt_id} has outputs but no images (does the workflow {} end \
                 in a SaveImage node?)",
                self.workflow.path().display()
            )));
        }
        let seed = self
            .workflow
            .uses("seed")
            .then(|| values["seed"].as_u64())
            .flatten();
        let view = format!("{}/view", self.url);
        let mut images = Vec::with_capacity(files.len());
        for (n, (filename, subfolder, kind)) in files.iter().enumerate() {
            let query = [
                ("filename", filename.as_str()),
                ("subfolder", subfolder.as_str()),
                ("type", kind.as_str()),
            ];
            let png = self.http.get_bytes(&view, &query, Some(deadline))?;
            let what = format!("image {} ({filename}) from {}", n + 1, self.id);
            check_png(
                &png,
                &what,
                "save it with a SaveImage node, which writes PNG",
            )?;
            images.push(GeneratedImage { png, seed });
        }
        Ok(ImageResponse {
            images,
            latency: start.elapsed(),
            cost: None,
            metadata: json!({
                "prompt_id": prompt_id,
                "client_id": client_id,
                "seed": seed,
                "status": entry.get("status").cloned().unwrap_or(Value::Null),
                "outputs": Value::Object(outputs.clone()),
            }),
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a1111_sampler_names_map_to_comfyui_names_and_schedulers() {
        assert_eq!(
            comfy_sampler("Euler a"),
            Some(("euler_ancestral".into(), None))
        );
        assert_eq!(
            comfy_sampler("DPM++ 2M Karras"),
            Some(("dpmpp_2m".into(), Some("karras")))
        );
        assert_eq!(
            comfy_sampler("dpmpp_2m_sde_gpu"),
            Some(("dpmpp_2m_sde_gpu".into(), None))
        );
        assert_eq!(comfy_sampler("My Sampler"), None);
    }

    #[test]
    fn explains_validation_failures_node_by_node() {
        let body = json!({
            "error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "", "extra_info": {}},
            "node_errors": {"4": {"errors": [{"type": "value_not_in_list", "message": "Value not in list",
                "details": "ckpt_name: 'sd15.safetensors' not in []", "extra_info": {}}],
                "dependent_outputs": ["9"], "class_type": "CheckpointLoaderSimple"}}
        });
        assert_eq!(
            explain(400, &body.to_string()),
            "Prompt outputs failed validation; node 4 (CheckpointLoaderSimple): Value not in \
             list: ckpt_name: 'sd15.safetensors' not in []"
        );
        assert_eq!(
            explain(400, r#"{"error": "no prompt", "node_errors": []}"#),
            "no prompt"
        );
    }

    #[test]
    fn saved_images_prefer_outputs_in_node_order() {
        let outputs = json!({
            "12": {"images": [{"filename": "b.png", "subfolder": "", "type": "output"}]},
            "9": {"images": [{"filename": "a.png", "subfolder": "x", "type": "output"}]},
            "10": {"images": [{"filename": "p.png", "subfolder": "", "type": "temp"}]},
        });
        let files = saved_images(outputs.as_object().unwrap());
        assert_eq!(
            files,
            vec![
                ("a.png".into(), "x".into(), "output".into()),
                ("b.png".into(), "".into(), "output".into())
            ]
        );
        let previews = json!({"10": {"images": [{"filename": "p.png", "type": "temp"}]}});
        assert_eq!(saved_images(previews.as_object().unwrap())[0].2, "temp");
    }
}
