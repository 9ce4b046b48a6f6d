// incant web UI: hash routing between the views.
// Views: #/editor, #/runs, #/runs/ID, #/runs/ID/cases/N, #/compare?a=&b=, #/playground.
import { initEditor } from "./editor.js";
import { showRuns, showRun, showCase, showCompare } from "./runs.js";
import { initPlayground } from "./playground.js";

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "") || "editor";
  const [path, query = ""] = raw.split("?");
  return { parts: path.split("/").map(decodeURIComponent), params: new URLSearchParams(query) };
}

function show(view) {
  for (const s of document.querySelectorAll("[data-view]")) s.hidden = s.dataset.view !== view;
  const nav = view === "run" || view === "case" || view === "compare" ? "runs" : view;
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === nav) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

function route() {
  const { parts, params } = parseHash();
  switch (parts[0]) {
    case "runs":
      if (parts.length >= 4 && parts[2] === "cases") { show("case"); showCase(parts[1], parts[3]); }
      else if (parts.length >= 2 && parts[1]) { show("run"); showRun(parts[1], params); }
      else { show("runs"); showRuns(); }
      break;
    case "compare": show("compare"); showCompare(params); break;
    case "playground": show("playground"); break;
    default: show("editor");
  }
}

initEditor();
initPlayground();
window.addEventListener("hashchange", route);
route();
