/* incant HTML report viewer. Inlined into every report; loads nothing from the network.
   Every piece of run data reaches the page as text (append(string), textContent), never
   as markup, so outputs cannot inject elements or scripts. Only one page of the case
   table is in the DOM at a time. */
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const readJson = (id) => JSON.parse($(id).textContent);

  const info = readJson("incant-info");
  const meta = readJson("incant-meta");
  const cases = readJson("incant-cases");
  const prompts = meta.prompts;
  const providers = meta.providers;
  /* Position of each field in a case array, named by the writer. */
  const F = {};
  meta.fields.forEach((name, i) => { F[name] = i; });

  /* Builds an element; string children become text nodes. */
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v == null || v === false) continue;
        if (k === "class") el.className = v;
        else el.setAttribute(k, v === true ? "" : String(v));
      }
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid == null || kid === false) continue;
      el.append(kid instanceof Node ? kid : String(kid));
    }
    return el;
  }

  const ints = new Intl.NumberFormat();
  const fmtInt = (n) => ints.format(n);
  function fmtRate(passed, n) {
    if (!n) return "–";
    if (passed === n) return "100%";
    return (Math.floor((passed / n) * 1000) / 10).toFixed(1) + "%";
  }
  function fmtMs(ms) {
    if (ms == null || !isFinite(ms)) return "–";
    if (ms < 1000) return Math.round(ms) + " ms";
    return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
  }
  function fmtCost(c) {
    if (c == null || !isFinite(c)) return "–";
    if (c === 0) return "$0";
    return "$" + (c < 0.01 ? c.toPrecision(2) : c.toFixed(c < 10 ? 4 : 2));
  }
  const plural = (n, one, many) => fmtInt(n) + " " + (n === 1 ? one : many);
  const fmtScore = (s) => (s == null || !isFinite(s) ? "–" : Number(s).toFixed(2));

  function status(c) {
    if (c[F.error] != null) return "error";
    return c[F.pass] ? "pass" : "fail";
  }
  const STATUS_TEXT = { pass: "PASS", fail: "FAIL", error: "ERROR" };
  const badge = (st) => h("span", { class: "badge b-" + st }, STATUS_TEXT[st]);

  function oneLine(s, max) {
    s = String(s).replace(/\s+/g, " ").trim();
    return s.length > max ? s.slice(0, max) + "…" : s;
  }
  const valueText = (v) => (typeof v === "string" ? v : JSON.stringify(v));

  /* The case's description, else its variables, else its index (as JUnit names it). */
  function label(c) {
    const d = c[F.description];
    const vars = c[F.vars] || {};
    const keys = Object.keys(vars);
    let s;
    if (d && d.trim()) s = d;
    else if (keys.length) s = keys.map((k) => k + "=" + oneLine(valueText(vars[k]), 40)).join(", ");
    else s = "case " + c[F.index];
    if (c[F.repeat] > 0) s += " (repeat " + c[F.repeat] + ")";
    return s;
  }

  /* ---- header ---- */
  $("title").textContent = info.suite || "incant report";
  $("subtitle").textContent = [
    info.description,
    info.run_id && "run " + info.run_id,
    info.started_at && "started " + info.started_at.replace("T", " ").replace("Z", " UTC"),
  ].filter(Boolean).join(" · ");

  const sum = meta.summary;
  const facts = [
    ["Cases", fmtInt(sum.total)],
    ["Passed", fmtInt(sum.passed)],
    ["Failed", fmtInt(sum.failed)],
    ["Errors", fmtInt(sum.errors)],
    ["Pass rate", fmtRate(sum.passed, sum.total)],
    ["Mean latency", sum.total ? fmtMs(sum.latency_ms / sum.total) : "–"],
  ];
  if (sum.prompt_tokens || sum.completion_tokens) {
    facts.push(["Tokens", fmtInt(sum.prompt_tokens) + " + " + fmtInt(sum.completion_tokens)]);
  }
  if (sum.cost) facts.push(["Cost", fmtCost(sum.cost)]);
  if (sum.cached) facts.push(["Cached", fmtInt(sum.cached)]);
  $("summary").replaceChildren(...facts.map(([k, v]) => h("div", null, h("dt", null, k), h("dd", null, v))));

  /* ---- filters and the current view (positions into `cases`) ---- */
  const state = { status: "all", prompt: -1, provider: -1, q: "", sort: "index", desc: false, page: 0, size: 100 };
  let view = [];
  let haystacks = null;

  function searchText(c) {
    const vars = Object.entries(c[F.vars] || {}).map(([k, v]) => k + "=" + valueText(v));
    return [c[F.description] || "", ...vars, c[F.output] || "", c[F.error] || ""]
      .join("\n")
      .toLowerCase();
  }

  function applyFilters() {
    const terms = state.q.toLowerCase().split(/\s+/).filter(Boolean);
    if (terms.length && !haystacks) haystacks = new Array(cases.length);
    const out = [];
    for (let i = 0; i < cases.length; i++) {
      const c = cases[i];
      if (state.prompt >= 0 && c[F.prompt] !== state.prompt) continue;
      if (state.provider >= 0 && c[F.provider] !== state.provider) continue;
      if (state.status !== "all") {
        const st = status(c);
        if (state.status === "failing" ? st === "pass" : st !== state.status) continue;
      }
      if (terms.length) {
        const text = haystacks[i] || (haystacks[i] = searchText(c));
        if (!terms.every((t) => text.includes(t))) continue;
      }
      out.push(i);
    }
    sortView(out);
    view = out;
    state.page = 0;
    renderPage();
  }

  function sortView(v) {
    const key = state.sort === "score" ? F.score : state.sort === "latency" ? F.latency_ms : F.index;
    const dir = state.desc ? -1 : 1;
    const num = (x) => (x == null ? -Infinity : x);
    v.sort((a, b) => {
      const d = (num(cases[a][key]) - num(cases[b][key])) * dir;
      return d || cases[a][F.index] - cases[b][F.index];
    });
  }

  function readFilters() {
    state.status = $("f-status").value;
    state.prompt = Number($("f-prompt").value);
    state.provider = Number($("f-provider").value);
    state.q = $("f-q").value;
    applyFilters();
  }

  prompts.forEach((p, i) => $("f-prompt").append(h("option", { value: i }, p)));
  providers.forEach((p, i) => $("f-provider").append(h("option", { value: i }, p)));
  for (const id of ["f-status", "f-prompt", "f-provider"]) $(id).addEventListener("change", readFilters);
  let typing = 0;
  $("f-q").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(readFilters, 200);
  });
  $("filters").addEventListener("submit", (e) => {
    e.preventDefault();
    readFilters();
  });
  $("filters").addEventListener("reset", () => setTimeout(readFilters, 0));

  /* ---- the case table, one page at a time ---- */
  function row(pos) {
    const c = cases[view[pos]];
    const shown = c[F.error] != null ? c[F.error] : c[F.output] == null ? "" : c[F.output];
    return h("tr", { "data-pos": pos },
      h("td", null, h("button", { type: "button", "aria-label": "Open case " + c[F.index] }, "#" + c[F.index])),
      h("td", { class: "opt" }, prompts[c[F.prompt]]),
      h("td", { class: "opt" }, providers[c[F.provider]]),
      h("td", { class: "test" }, oneLine(label(c), 160)),
      h("td", { class: "opt wide out" }, oneLine(shown, 200)),
      h("td", { class: "num" }, fmtScore(c[F.score])),
      h("td", { class: "num opt" }, fmtMs(c[F.latency_ms])),
      h("td", null, badge(status(c))));
  }

  const pageCount = () => Math.max(1, Math.ceil(view.length / state.size));

  function renderPage() {
    const pages = pageCount();
    state.page = Math.max(0, Math.min(state.page, pages - 1));
    const from = state.page * state.size;
    const to = Math.min(view.length, from + state.size);
    const frag = document.createDocumentFragment();
    for (let pos = from; pos < to; pos++) frag.append(row(pos));
    if (!view.length) {
      const why = cases.length ? "No cases match these filters." : "This run has no cases.";
      frag.append(h("tr", null, h("td", { colspan: 8, class: "empty" }, why)));
    }
    $("rows").replaceChildren(frag);
    let count = view.length
      ? "Showing " + fmtInt(from + 1) + "–" + fmtInt(to) + " of " + fmtInt(view.length) + " cases"
      : "No cases";
    if (view.length < cases.length) count += " (" + fmtInt(cases.length) + " in the run)";
    $("count").textContent = count;
    $("p-where").textContent = "Page " + fmtInt(state.page + 1) + " of " + fmtInt(pages);
    $("p-first").disabled = $("p-prev").disabled = state.page === 0;
    $("p-next").disabled = $("p-last").disabled = state.page >= pages - 1;
    for (const th of document.querySelectorAll("#cases th[data-sort]")) {
      const on = th.dataset.sort === state.sort;
      if (on) th.setAttribute("aria-sort", state.desc ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    }
  }

  const goPage = (p) => { state.page = p; renderPage(); };
  $("p-first").addEventListener("click", () => goPage(0));
  $("p-prev").addEventListener("click", () => goPage(state.page - 1));
  $("p-next").addEventListener("click", () => goPage(state.page + 1));
  $("p-last").addEventListener("click", () => goPage(pageCount() - 1));
  $("p-size").addEventListener("change", () => {
    state.size = Number($("p-size").value);
    goPage(0);
  });
  for (const th of document.querySelectorAll("#cases th[data-sort]")) {
    th.querySelector("button").addEventListener("click", () => {
      if (state.sort === th.dataset.sort) state.desc = !state.desc;
      else { state.sort = th.dataset.sort; state.desc = false; }
      sortView(view);
      goPage(0);
    });
  }
  $("rows").addEventListener("click", (e) => {
    const tr = e.target.closest("tr[data-pos]");
    if (tr) openCase(Number(tr.dataset.pos));
  });

  /* ---- the matrix: prompts x providers over all cases ---- */
  function renderMatrix() {
    const nv = providers.length;
    const cells = Array.from({ length: prompts.length * nv }, () => (
      { n: 0, passed: 0, errors: 0, score: 0, latency: 0, cost: 0, costed: 0 }));
    for (const c of cases) {
      const cell = cells[c[F.prompt] * nv + c[F.provider]];
      cell.n++;
      const st = status(c);
      if (st === "pass") cell.passed++;
      if (st === "error") cell.errors++;
      if (isFinite(c[F.score])) cell.score += c[F.score];
      if (isFinite(c[F.latency_ms])) cell.latency += c[F.latency_ms];
      if (c[F.cost] != null) { cell.cost += c[F.cost]; cell.costed++; }
    }
    if (!cases.length) {
      $("matrix").replaceChildren(h("tbody", null, h("tr", null, h("td", { class: "empty" }, "This run has no cases."))));
      return;
    }
    const head = h("thead", null, h("tr", null,
      h("th", { scope: "col" }, "Prompt \\ provider"),
      providers.map((p) => h("th", { scope: "col" }, p))));
    const body = h("tbody", null, prompts.map((p, pi) => h("tr", null,
      h("th", { scope: "row" }, p),
      providers.map((v, vi) => {
        const cell = cells[pi * nv + vi];
        if (!cell.n) return h("td", { class: "r-none" }, "–");
        const rate = cell.passed / cell.n;
        const tone = rate === 1 ? "r-pass" : rate >= 0.8 ? "r-mid" : "r-fail";
        const details = [
          fmtInt(cell.passed) + " of " + fmtInt(cell.n) + " passed" +
            (cell.errors ? ", " + plural(cell.errors, "error", "errors") : ""),
          "score " + fmtScore(cell.score / cell.n) + " · " + fmtMs(cell.latency / cell.n) +
            (cell.costed ? " · " + fmtCost(cell.cost) : ""),
        ];
        const button = h("button", {
          type: "button",
          class: tone,
          "aria-label": p + " with " + v + ": " + fmtRate(cell.passed, cell.n) + " passed, " +
            details.join(", ") + ". Show these cases.",
        }, h("span", { class: "rate" }, fmtRate(cell.passed, cell.n)), details.map((d) => h("small", null, d)));
        button.addEventListener("click", () => {
          $("f-prompt").value = String(pi);
          $("f-provider").value = String(vi);
          readFilters();
          $("cases-h").scrollIntoView();
          $("cases-h").focus({ preventScroll: true });
        });
        return h("td", null, button);
      }))));
    $("matrix").replaceChildren(head, body);
  }

  /* ---- the case detail dialog ---- */
  const dialog = $("detail");
  let current = -1;
  let opener = null;

  function setHash(hash) {
    try { history.replaceState(null, "", hash || location.pathname + location.search); } catch (e) { /* file: URLs in some browsers */ }
  }

  function detailBody(c) {
    const usage = c[F.prompt_tokens] != null
      ? fmtInt(c[F.prompt_tokens]) + " prompt + " + fmtInt(c[F.completion_tokens]) + " completion"
      : "–";
    const facts = [
      ["Prompt", prompts[c[F.prompt]]],
      ["Provider", providers[c[F.provider]]],
      ["Test", label(c)],
      ["Score", fmtScore(c[F.score])],
      ["Latency", fmtMs(c[F.latency_ms])],
      ["Tokens", usage],
      ["Cost", fmtCost(c[F.cost])],
      ["From cache", c[F.cached] ? "yes" : "no"],
    ];
    const out = [h("dl", { class: "meta" }, facts.map(([k, v]) => [h("dt", null, k), h("dd", null, v)]))];

    const vars = c[F.vars] || {};
    const keys = Object.keys(vars);
    out.push(h("h3", null, "Variables"));
    out.push(keys.length
      ? h("div", { class: "scroll" }, h("table", null, h("tbody", null, keys.map((k) => h("tr", null,
        h("th", { scope: "row" }, k),
        h("td", null, h("pre", null, typeof vars[k] === "string" ? vars[k] : JSON.stringify(vars[k], null, 2))))))))
      : h("p", { class: "muted" }, "None."));

    const asserts = c[F.assertions] || [];
    out.push(h("h3", null, "Assertions"));
    out.push(asserts.length
      ? h("div", { class: "scroll" }, h("table", null,
        h("thead", null, h("tr", null, ["Type", "Result", "Score", "Reason"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", null, asserts.map(([type, pass, score, reason]) => h("tr", null,
          h("td", null, type),
          h("td", null, badge(pass ? "pass" : "fail")),
          h("td", { class: "num" }, fmtScore(score)),
          h("td", null, reason))))))
      : h("p", { class: "muted" }, "None."));

    if (c[F.error] != null) out.push(h("h3", null, "Error"), h("pre", null, c[F.error]));
    out.push(h("h3", null, "Output"));
    out.push(c[F.output] != null ? h("pre", null, c[F.output]) : h("p", { class: "muted" }, "No output."));
    out.push(h("h3", null, "Rendered prompt"));
    out.push(c[F.rendered] != null ? h("pre", null, c[F.rendered]) : h("p", { class: "muted" }, "Not rendered."));
    return out;
  }

  function openCase(pos) {
    if (pos < 0 || pos >= view.length) return;
    current = pos;
    const c = cases[view[pos]];
    $("d-title").replaceChildren("Case #" + c[F.index] + " ", badge(status(c)));
    $("d-body").replaceChildren(...detailBody(c));
    $("d-prev").disabled = pos === 0;
    $("d-next").disabled = pos === view.length - 1;
    if (!dialog.open) {
      opener = document.activeElement;
      if (typeof dialog.showModal === "function") dialog.showModal();
      else dialog.setAttribute("open", "");
      $("d-close").focus();
    }
    dialog.scrollTop = 0;
    setHash("#case-" + c[F.index]);
  }

  $("d-prev").addEventListener("click", () => openCase(current - 1));
  $("d-next").addEventListener("click", () => openCase(current + 1));
  $("d-close").addEventListener("click", () => {
    if (typeof dialog.close === "function") dialog.close();
    else { dialog.removeAttribute("open"); dialog.dispatchEvent(new Event("close")); }
  });
  dialog.addEventListener("close", () => {
    setHash("");
    /* Show the page holding the case the dialog ended on, and return focus to its row. */
    const page = Math.floor(current / state.size);
    if (page !== state.page) goPage(page);
    const button = document.querySelector('#rows tr[data-pos="' + current + '"] button');
    const target = button || opener;
    if (target && target.isConnected) target.focus();
  });

  renderMatrix();
  applyFilters();
  const wanted = /^#case-(\d+)$/.exec(location.hash);
  if (wanted) {
    const pos = view.findIndex((i) => cases[i][F.index] === Number(wanted[1]));
    if (pos >= 0) openCase(pos);
  }
})();
