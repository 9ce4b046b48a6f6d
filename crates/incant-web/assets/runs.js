// The runs views: the list of runs, a run's matrix with filtered and paged cases, a case's
// details and the comparison of two runs. Everything is read from `/api/...`; pages are
// fetched one at a time, so a 50,000-case run costs one page of rows in the browser.
import { api, el, fmtNumber, fmtTime } from "./util.js";

const PAGE = 50;
let caseQuery = null; // the run view's current {id, offset, status, prompt, provider, q}
let pairQuery = null; // the compare view's current {a, b, offset, status}
// Answers that arrive after a newer request of the same view are dropped.
let caseSeq = 0;
let pairSeq = 0;

function verdict(pass, error) {
  if (pass) return el("span", { class: "pass" }, "pass");
  return error ? el("span", { class: "err" }, "error") : el("span", { class: "fail" }, "fail");
}

function rate(passed, total) {
  return total ? `${((100 * passed) / total).toFixed(1)}%` : "–";
}

function failure(node, e) {
  node.replaceChildren(el("p", { class: "error-text", role: "alert" }, e.message));
}

function pager(nav, { offset, total, limit }, go) {
  const pages = Math.max(1, Math.ceil(total / limit));
  const current = Math.floor(offset / limit) + 1;
  const button = (label, page, name) => el("button", {
    type: "button", "aria-label": name, disabled: page < 1 || page > pages || page === current,
    onclick: () => go((page - 1) * limit),
  }, label);
  const jump = el("input", {
    type: "number", min: 1, max: pages, value: current, "aria-label": "Page number",
    onchange: (e) => go((Math.min(pages, Math.max(1, Number(e.target.value) || 1)) - 1) * limit),
  });
  nav.replaceChildren(
    button("«", 1, "First page"), button("‹", current - 1, "Previous page"),
    el("span", {}, "Page "), jump, el("span", { class: "page-count" }, ` of ${pages} (${total} rows)`),
    button("›", current + 1, "Next page"), button("»", pages, "Last page"));
}

export async function showRuns() {
  const body = document.getElementById("runs-body");
  body.replaceChildren(el("p", { class: "status" }, "loading…"));
  let runs;
  try {
    ({ runs } = await api("/api/runs"));
  } catch (e) {
    failure(body, e);
    return;
  }
  if (runs.length === 0) {
    body.replaceChildren(el("p", {}, "No runs in the store yet: `incant eval` writes them."));
    return;
  }
  const options = () => runs.map((r) => el("option", { value: r.id }, `${r.id} · ${r.suite}`));
  const a = el("select", { name: "a" }, options());
  const b = el("select", { name: "b" }, options());
  if (runs.length > 1) b.value = runs[0].id, a.value = runs[1].id;
  const form = el("form", {
    class: "toolbar", "aria-label": "Compare two runs",
    onsubmit: (e) => { e.preventDefault(); location.hash = `#/compare?a=${encodeURIComponent(a.value)}&b=${encodeURIComponent(b.value)}`; },
  }, el("label", {}, "Run A (before)", a), el("label", {}, "Run B (after)", b),
  el("button", { type: "submit" }, "Compare"));
  const rows = runs.map((r) => el("tr", {},
    el("td", {}, el("a", { href: `#/runs/${encodeURIComponent(r.id)}` }, r.id)),
    el("td", {}, r.suite, r.description ? el("div", { class: "help" }, r.description) : null),
    el("td", {}, fmtTime(r.started_at)),
    el("td", {}, r.status),
    el("td", { class: "num" }, `${r.done} / ${r.total}`),
    el("td", { class: "num" }, rate(r.passed, r.done))));
  body.replaceChildren(
    el("div", { class: "scroll" }, el("table", { id: "runs-table" },
      el("thead", {}, el("tr", {}, ["Run", "Suite", "Started", "Status"].map((h) => el("th", { scope: "col" }, h)),
        el("th", { scope: "col", class: "num" }, "Cases"), el("th", { scope: "col", class: "num" }, "Pass rate"))),
      el("tbody", {}, rows))),
    el("h2", {}, "Compare"), form);
}

function fillSelect(select, values, current) {
  select.replaceChildren(el("option", { value: "" }, "all"), ...values.map((v) => el("option", { value: v }, v)));
  select.value = current || "";
}

function updateHash() {
  const q = caseQuery;
  const params = new URLSearchParams();
  for (const k of ["offset", "status", "prompt", "provider", "q"]) if (q[k]) params.set(k, q[k]);
  const hash = `#/runs/${encodeURIComponent(q.id)}${params.size ? `?${params}` : ""}`;
  history.replaceState(null, "", hash);
}

async function loadCases() {
  const q = caseQuery;
  const seq = ++caseSeq;
  const table = document.getElementById("cases");
  const params = new URLSearchParams({ offset: q.offset, limit: PAGE });
  for (const k of ["status", "prompt", "provider", "q"]) if (q[k]) params.set(k, q[k]);
  let page;
  try {
    page = await api(`/api/runs/${encodeURIComponent(q.id)}/cases?${params}`);
  } catch (e) {
    failure(table, e);
    return;
  }
  if (seq !== caseSeq) return;
  updateHash();
  // data-label names each cell where a phone shows a row as a card.
  const rows = page.cases.map((c) => el("tr", {},
    el("td", { class: "num", "data-label": "#" }, el("a", { href: `#/runs/${encodeURIComponent(q.id)}/cases/${c.idx}`, "aria-label": `Case ${c.idx} details` }, c.idx)),
    el("td", { "data-label": "Prompt" }, c.prompt), el("td", { "data-label": "Provider" }, c.provider),
    el("td", { class: "text", "data-label": "Vars" }, c.description ? `${c.description}\n${c.vars}` : c.vars),
    el("td", { class: "text", "data-label": "Output" }, c.output),
    el("td", { class: "num", "data-label": "Score" }, fmtNumber(c.score)),
    el("td", { "data-label": "Verdict" }, verdict(c.pass, c.error))));
  table.replaceChildren(
    el("caption", { class: "help" }, `${page.total} matching case${page.total === 1 ? "" : "s"}`),
    el("thead", {}, el("tr", {}, ["#", "Prompt", "Provider", "Vars", "Output", "Score", "Verdict"]
      .map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows));
  pager(document.getElementById("cases-pager"), page, (offset) => { q.offset = offset; loadCases(); });
}

function renderMatrix(run) {
  const table = document.getElementById("matrix");
  const cell = (prompt, provider) => run.matrix.find((c) => c.prompt === prompt && c.provider === provider);
  const body = run.prompts.map((p) => el("tr", {}, el("th", { scope: "row" }, p), run.providers.map((v) => {
    const c = cell(p, v);
    if (!c) return el("td", {}, "–");
    return el("td", {}, el("button", {
      type: "button", title: "Show these cases",
      "aria-label": `${p} on ${v}: ${c.passed} of ${c.cases} passed; show these cases`,
      onclick: () => {
        Object.assign(caseQuery, { prompt: p, provider: v, offset: 0 });
        const form = document.getElementById("case-filters");
        form.prompt.value = p;
        form.provider.value = v;
        loadCases();
      },
    }, `${c.passed}/${c.cases} · ${rate(c.passed, c.cases)}`,
    el("div", { class: "bar", "aria-hidden": "true" }, el("span", { style: `width:${c.cases ? (100 * c.passed) / c.cases : 0}%` })),
    el("div", { class: "help" }, `score ${fmtNumber(c.mean_score)}${c.errors ? ` · ${c.errors} errors` : ""}${c.mean_latency_ms != null ? ` · ${Math.round(c.mean_latency_ms)} ms` : ""}`)));
  })));
  table.replaceChildren(
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Prompt \\ Provider"),
      run.providers.map((v) => el("th", { scope: "col" }, v)))),
    el("tbody", {}, body));
}

export async function showRun(id, params) {
  caseQuery = {
    id, offset: Number(params.get("offset")) || 0, status: params.get("status") || "",
    prompt: params.get("prompt") || "", provider: params.get("provider") || "", q: params.get("q") || "",
  };
  const summary = document.getElementById("run-summary");
  document.getElementById("run-title").textContent = `Run ${id}`;
  summary.replaceChildren(el("p", { class: "status" }, "loading…"));
  let run;
  try {
    run = await api(`/api/runs/${encodeURIComponent(id)}`);
  } catch (e) {
    failure(summary, e);
    document.getElementById("matrix").replaceChildren();
    document.getElementById("cases").replaceChildren();
    return;
  }
  const r = run.run;
  summary.replaceChildren(el("dl", { class: "kv" },
    el("dt", {}, "Suite"), el("dd", {}, r.suite),
    el("dt", {}, "Started"), el("dd", {}, fmtTime(r.started_at)),
    el("dt", {}, "Status"), el("dd", {}, r.status),
    el("dt", {}, "Cases"), el("dd", {}, `${r.done} of ${r.total} · ${r.passed} passed (${rate(r.passed, r.done)})`)));
  renderMatrix(run);
  const form = document.getElementById("case-filters");
  fillSelect(form.prompt, run.prompts, caseQuery.prompt);
  fillSelect(form.provider, run.providers, caseQuery.provider);
  form.status.value = caseQuery.status;
  form.q.value = caseQuery.q;
  let timer = null;
  const apply = () => {
    Object.assign(caseQuery, {
      status: form.status.value, prompt: form.prompt.value, provider: form.provider.value,
      q: form.q.value, offset: 0,
    });
    loadCases();
  };
  form.onchange = apply;
  form.oninput = (e) => { if (e.target.name === "q") { clearTimeout(timer); timer = setTimeout(apply, 250); } };
  form.onsubmit = (e) => { e.preventDefault(); apply(); };
  loadCases();
}

function block(title, text) {
  return [el("h2", {}, title), el("pre", {}, text)];
}

export async function showCase(id, n) {
  const body = document.getElementById("case-body");
  document.getElementById("case-title").textContent = `Run ${id} · case ${n}`;
  body.replaceChildren(el("p", { class: "status" }, "loading…"));
  let c;
  try {
    c = await api(`/api/runs/${encodeURIComponent(id)}/cases/${encodeURIComponent(n)}`);
  } catch (e) {
    failure(body, e);
    return;
  }
  const r = c.result;
  const usage = r.usage ? Object.entries(r.usage).map(([k, v]) => `${k} ${v}`).join(", ") : "–";
  const idx = Number(n);
  body.replaceChildren(
    el("nav", { class: "pager", "aria-label": "Case navigation" },
      el("a", { href: `#/runs/${encodeURIComponent(id)}` }, "← matrix"),
      idx > 0 ? el("a", { href: `#/runs/${encodeURIComponent(id)}/cases/${idx - 1}` }, "previous case") : null,
      el("a", { href: `#/runs/${encodeURIComponent(id)}/cases/${idx + 1}` }, "next case")),
    el("dl", { class: "kv" },
      el("dt", {}, "Prompt"), el("dd", {}, c.prompt),
      el("dt", {}, "Provider"), el("dd", {}, c.provider),
      el("dt", {}, "Verdict"), el("dd", {}, verdict(c.pass, !!r.error), ` · score ${fmtNumber(c.score, 3)}`),
      el("dt", {}, "Description"), el("dd", {}, r.description || "–"),
      el("dt", {}, "Repeat"), el("dd", {}, r.repeat ?? 0),
      el("dt", {}, "Latency"), el("dd", {}, r.latency_ms != null ? `${fmtNumber(r.latency_ms, 1)} ms` : "–"),
      el("dt", {}, "Usage"), el("dd", {}, usage),
      el("dt", {}, "Cost"), el("dd", {}, r.cost != null ? `$${Number(r.cost).toFixed(6)}` : "–"),
      el("dt", {}, "Cached"), el("dd", {}, r.cached ? "yes" : "no")),
    block("Variables", JSON.stringify(r.vars ?? {}, null, 2)),
    r.rendered ? block("Rendered prompt", r.rendered) : null,
    r.error ? block("Error", r.error) : null,
    block("Output", r.output ?? ""),
    el("h2", {}, "Assertions"),
    el("div", { class: "scroll" }, el("table", {},
      el("thead", {}, el("tr", {}, ["Type", "Verdict", "Score", "Reason"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, (r.assertions || []).map((a) => el("tr", {},
        el("td", {}, a.type ?? a.kind ?? "?"), el("td", {}, verdict(a.pass, false)),
        el("td", { class: "num" }, fmtNumber(a.score, 3)), el("td", { class: "text" }, a.reason ?? "")))))));
}

function groupRow(g) {
  const counts = g.counts || {};
  const ci = g.ci95 ? `[${fmtNumber(g.ci95.lo, 3)}, ${fmtNumber(g.ci95.hi, 3)}]` : "–";
  return el("tr", {},
    el("th", { scope: "row" }, g.prompt ?? "all prompts"),
    el("td", { class: "num" }, g.paired),
    el("td", { class: "num" }, `${(100 * g.pass_rate_a).toFixed(1)}% → ${(100 * g.pass_rate_b).toFixed(1)}%`),
    el("td", { class: "num" }, counts.regressed ?? 0), el("td", { class: "num" }, counts.fixed ?? 0),
    el("td", { class: "num" }, fmtNumber(g.mean_score_delta, 3)), el("td", { class: "num" }, ci),
    el("td", { class: "num" }, g.mcnemar_p.toPrecision(3)),
    el("td", {}, g.significance.replace(/_/g, " ")));
}

async function loadPairs() {
  const q = pairQuery;
  const seq = ++pairSeq;
  const body = document.getElementById("compare-body");
  const list = document.getElementById("pairs");
  const params = new URLSearchParams({ a: q.a, b: q.b, offset: q.offset, limit: 20 });
  if (q.status) params.set("status", q.status);
  let c;
  try {
    c = await api(`/api/compare?${params}`);
  } catch (e) {
    failure(body, e);
    list.replaceChildren();
    return;
  }
  if (seq !== pairSeq) return;
  body.replaceChildren(
    el("p", {}, `A: ${c.a.id} (${c.a.suite}) → B: ${c.b.id} (${c.b.suite})`,
      c.providers_matched ? "" : " · providers differ: cases are paired across providers (a migration)"),
    el("div", { class: "scroll" }, el("table", { id: "compare-groups" },
      el("thead", {}, el("tr", {}, ["Prompt", "Paired", "Pass rate A → B", "Regressed", "Fixed", "Δ score", "95% CI", "McNemar p", "Verdict"]
        .map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, groupRow(c.overall), c.prompts.map(groupRow)))),
    el("h2", {}, "Cases"));
  const side = (label, x) => el("div", { class: "card" }, el("strong", {}, label),
    x ? [el("div", { class: "help" }, `${x.provider} · ${x.pass ? "pass" : "fail"} · score ${fmtNumber(x.score, 3)}`),
      el("pre", {}, x.output ?? (x.error ? `[error] ${x.error}` : ""))] : el("p", { class: "help" }, "absent"));
  list.replaceChildren(...c.pairs.map((p) => el("article", { class: "pair" },
    el("div", {}, el("strong", { class: "pair-status" }, p.status.replace(/_/g, " ")), ` · ${p.prompt}`,
      p.score_delta != null ? ` · Δ ${fmtNumber(p.score_delta, 3)}` : "",
      p.description ? ` · ${p.description}` : ""),
    el("div", { class: "help" }, JSON.stringify(p.vars)),
    el("div", { class: "sides" }, side("A", p.a), side("B", p.b)),
    p.diff && p.diff.some((d) => d.op !== "same")
      ? el("div", { class: "diff", "aria-label": "Word changes from A to B" }, p.diff.map((d) =>
        (d.op === "same" ? d.text : el(d.op === "added" ? "ins" : "del", {}, d.text))))
      : null)));
  pager(document.getElementById("pairs-pager"), c, (offset) => { q.offset = offset; loadPairs(); });
}

export function showCompare(params) {
  pairQuery = { a: params.get("a") || "", b: params.get("b") || "", offset: 0, status: "" };
  document.getElementById("compare-title").textContent = `Compare ${pairQuery.a} → ${pairQuery.b}`;
  const form = document.getElementById("pair-filters");
  form.status.value = "";
  form.onchange = () => { pairQuery.status = form.status.value; pairQuery.offset = 0; loadPairs(); };
  document.getElementById("compare-body").replaceChildren(el("p", { class: "status" }, "comparing…"));
  loadPairs();
}
