// The playground: pick a served prompt, one or more versions and providers, fill the
// prompt's typed inputs, and run every version x provider side by side through
// `POST /v1/prompts/{name}[@version]`.
//
// The form for the inputs comes from `GET /v1/prompts/{name}` when the server describes the
// prompt there (`inputs` as an object of name → {type, description, default, enum} or a
// list of such objects with a `name`); otherwise the inputs are one free-form JSON object.
// The request body is incant serve's native one, `{"inputs": {...}}`, plus `"provider"`
// when one is named. The server lists the providers it allows for the prompt (its own model
// and serve.yaml's `models:`) as `providers`; those become checkboxes. Any other provider
// is refused, and the column shows the error.
import { api, el, models, splitModel } from "./util.js";

let promptSel, versionSel, providersIn, choices, fieldset, results, status;
let byName = new Map(); // prompt name → versions listed by /v1/models
let described = null;   // [{name, type, ...}] when the server describes the inputs

function setStatus(text, isError = false) {
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function normaliseInputs(inputs) {
  if (Array.isArray(inputs)) return inputs.filter((i) => i && i.name);
  if (inputs && typeof inputs === "object") {
    return Object.entries(inputs).map(([name, spec]) =>
      (spec && typeof spec === "object" ? { name, ...spec } : { name, type: String(spec) }));
  }
  return null;
}

function field(spec) {
  const id = `pg-in-${spec.name}`;
  const type = String(spec.type || "string").toLowerCase();
  let control;
  if (Array.isArray(spec.enum)) {
    control = el("select", { id, name: spec.name }, spec.enum.map((v) => el("option", { value: JSON.stringify(v) }, String(v))));
  } else if (type === "boolean" || type === "bool") {
    control = el("input", { id, name: spec.name, type: "checkbox", checked: spec.default === true });
  } else if (type === "number" || type === "integer" || type === "int" || type === "float") {
    control = el("input", { id, name: spec.name, type: "number", step: type.startsWith("int") ? 1 : "any" });
    if (spec.default !== undefined) control.value = spec.default;
  } else if (type === "string" || type === "str" || type === "text") {
    control = el("textarea", { id, name: spec.name, rows: 3 });
    if (spec.default !== undefined) control.value = spec.default;
  } else {
    control = el("textarea", { id, name: spec.name, rows: 3, placeholder: "JSON" });
    if (spec.default !== undefined) control.value = JSON.stringify(spec.default);
  }
  control.dataset.kind = type;
  return el("label", { for: id }, `${spec.name} (${type}${spec.required === false || spec.default !== undefined ? ", optional" : ""})`,
    spec.description ? el("span", { class: "help" }, spec.description) : null, control);
}

function readInputs() {
  if (!described) {
    const text = fieldset.querySelector("textarea").value.trim() || "{}";
    const value = JSON.parse(text);
    if (!value || typeof value !== "object" || Array.isArray(value)) throw new Error("inputs must be a JSON object");
    return value;
  }
  const out = {};
  for (const spec of described) {
    const c = fieldset.querySelector(`[name="${CSS.escape(spec.name)}"]`);
    const kind = c.dataset.kind;
    if (c.tagName === "SELECT") out[spec.name] = JSON.parse(c.value);
    else if (c.type === "checkbox") out[spec.name] = c.checked;
    else if (c.value === "" && spec.default === undefined && spec.required === false) continue;
    else if (c.type === "number") out[spec.name] = Number(c.value);
    else if (["string", "str", "text"].includes(kind)) out[spec.name] = c.value;
    else {
      try { out[spec.name] = JSON.parse(c.value); } catch (_) { throw new Error(`input ${spec.name}: not valid JSON`); }
    }
  }
  return out;
}

async function describe(name) {
  described = null;
  let info = null;
  try {
    info = await api(`/v1/prompts/${encodeURIComponent(name)}`);
  } catch (_) { /* the server does not describe prompts: free-form JSON */ }
  const versions = new Set(byName.get(name) || []);
  for (const v of (info && info.versions) || []) versions.add(typeof v === "string" ? v : v.version);
  versionSel.replaceChildren(...[...versions].filter(Boolean).map((v) => el("option", { value: v }, v)));
  versionSel.size = Math.min(4, Math.max(2, versionSel.options.length));
  described = info ? normaliseInputs(info.inputs) : null;
  showProviders(info && Array.isArray(info.providers) ? info.providers : []);
  const legend = el("legend", {}, "Inputs");
  if (described) {
    fieldset.replaceChildren(legend, ...described.map(field));
  } else {
    fieldset.replaceChildren(legend, el("label", { for: "pg-json" }, "Inputs as a JSON object",
      el("textarea", { id: "pg-json", rows: 6, placeholder: '{"text": "..."}' })));
  }
}

// One checkbox per provider the server allows for this prompt; ticking them writes the
// comma-separated list into the providers field (which stays editable).
function showProviders(allowed) {
  const legend = choices.querySelector("legend");
  const boxes = allowed.map((p, i) => {
    const id = `pg-provider-${i}`;
    const box = el("input", { id, type: "checkbox", value: p });
    box.addEventListener("change", () => {
      providersIn.value = [...choices.querySelectorAll("input:checked")].map((b) => b.value).join(", ");
    });
    return el("label", { for: id, class: "choice" }, box, ` ${p}`);
  });
  choices.replaceChildren(legend, ...boxes);
  providersIn.value = "";
  choices.hidden = allowed.length < 2;
}

function resultCard(title) {
  const body = el("pre", {}, "running…");
  const meta = el("div", { class: "help" });
  const card = el("article", { class: "card", "aria-busy": "true" }, el("h2", {}, title), meta, body);
  return { card, body, meta };
}

async function runOne(path, inputs, provider, view) {
  const started = performance.now();
  try {
    const body = { inputs };
    if (provider) body.provider = provider;
    const r = await api(path, { body });
    const output = r.output ?? (r.choices && r.choices[0] && (r.choices[0].text ?? r.choices[0].message?.content)) ?? JSON.stringify(r);
    view.body.textContent = Array.isArray(r.alternatives)
      ? r.alternatives.map((a) => a.output ?? "").join("\n\n---\n\n")
      : output;
    const usage = r.usage ? `${r.usage.prompt_tokens ?? "?"} + ${r.usage.completion_tokens ?? "?"} tokens` : "";
    const latency = r.latency_ms ?? r.latency ?? Math.round(performance.now() - started);
    view.meta.textContent = [r.version ? `v${r.version}` : "", `${Math.round(latency)} ms`, usage,
      r.cost != null ? `$${Number(r.cost).toFixed(6)}` : ""].filter(Boolean).join(" · ");
  } catch (e) {
    view.body.textContent = e.message;
    view.body.classList.add("error-text");
  } finally {
    view.card.removeAttribute("aria-busy");
  }
}

async function run(e) {
  e.preventDefault();
  const name = promptSel.value;
  if (!name) return setStatus("no prompt to run", true);
  let inputs;
  try {
    inputs = readInputs();
  } catch (err) {
    return setStatus(err.message, true);
  }
  const chosen = [...versionSel.selectedOptions].map((o) => o.value);
  const versions = chosen.length ? chosen : [""];
  const providers = providersIn.value.split(",").map((s) => s.trim()).filter(Boolean);
  const columns = versions.flatMap((version) => (providers.length ? providers : [null])
    .map((provider) => ({ version, provider })));
  const views = columns.map(({ version, provider }) =>
    resultCard([version ? `v${version}` : "default version", provider || "the prompt's provider"].join(" · ")));
  results.replaceChildren(...views.map((v) => v.card));
  setStatus(`running ${columns.length} column${columns.length > 1 ? "s" : ""}…`);
  await Promise.all(columns.map(({ version, provider }, i) => {
    const path = `/v1/prompts/${encodeURIComponent(name)}${version ? `@${encodeURIComponent(version)}` : ""}`;
    return runOne(path, inputs, provider, views[i]);
  }));
  setStatus("done");
}

async function load() {
  try {
    const ids = await models();
    byName = new Map();
    for (const id of ids) {
      const { name, version } = splitModel(id);
      if (!byName.has(name)) byName.set(name, []);
      if (version) byName.get(name).push(version);
    }
    promptSel.replaceChildren(...[...byName.keys()].map((n) => el("option", { value: n }, n)));
    if (promptSel.value) await describe(promptSel.value);
    else setStatus("the server lists no prompts", true);
  } catch (err) {
    setStatus(`could not list prompts: ${err.message}`, true);
  }
}

export function initPlayground() {
  promptSel = document.getElementById("pg-prompt");
  choices = document.getElementById("pg-provider-choices");
  versionSel = document.getElementById("pg-version");
  providersIn = document.getElementById("pg-providers");
  fieldset = document.getElementById("pg-inputs");
  results = document.getElementById("pg-results");
  status = document.getElementById("pg-status");
  promptSel.addEventListener("change", () => describe(promptSel.value));
  document.getElementById("pg-form").addEventListener("submit", run);
  load();
}
