// Helpers shared by the views: element building, JSON calls, the served models, formatting.

/** Builds an element: el("td", {class: "num"}, "text", child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = v;
    // Through the CSSOM: the content security policy refuses style attributes.
    else if (k === "style") node.style.cssText = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** The message of an error body in OpenAI's shape, or the status line. */
async function errorText(res) {
  try {
    const body = await res.json();
    if (body && body.error) return body.error.message || JSON.stringify(body.error);
  } catch (_) { /* not JSON */ }
  return `${res.status} ${res.statusText}`;
}

/** GET or POST JSON; throws an Error with the server's message. */
export async function api(path, { body, signal } = {}) {
  const init = { signal, headers: { accept: "application/json" } };
  if (body !== undefined) {
    init.method = "POST";
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (!res.ok) {
    const err = new Error(await errorText(res));
    err.status = res.status;
    throw err;
  }
  return res.json();
}

/** The served models (prompt names, `name@version`, plain models) from `/v1/models`. */
let modelsPromise = null;
export function models() {
  modelsPromise ??= api("/v1/models")
    .then((r) => (r.data || []).map((m) => m.id).filter(Boolean))
    .catch((e) => { modelsPromise = null; throw e; });
  return modelsPromise;
}

/** Splits `name@version`. */
export function splitModel(id) {
  const at = id.lastIndexOf("@");
  return at > 0 ? { name: id.slice(0, at), version: id.slice(at + 1) } : { name: id, version: null };
}

export function fmtNumber(x, digits = 2) {
  return x === null || x === undefined ? "–" : Number(x).toFixed(digits);
}

export function fmtTime(unix) {
  return unix ? new Date(unix * 1000).toLocaleString() : "–";
}
