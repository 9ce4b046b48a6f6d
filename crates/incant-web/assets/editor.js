// The editor with inline completion.
//
// While the user types, after a pause of DEBOUNCE_MS, the text before and after the cursor
// go to the served prompt through `/v1/completions` (`prompt` and `suffix`, `n`
// alternatives). A newer keystroke aborts the request in flight (AbortController), and an
// answer is shown only if the text and cursor are still what was sent. The suggestion is
// drawn as grey "ghost" text after the cursor by a mirror element behind the textarea.
// Keys: Tab accepts, Alt+] / Alt+[ cycle the alternatives, Esc dismisses; typing `++`
// removes the two pluses and asks for a longer continuation at once.
import { api, el, models } from "./util.js";

const DEBOUNCE_MS = 150;
const INLINE_TOKENS = 16;
const CONTINUE_TOKENS = 64;
const PICKED = "incant.editor.prompt";

const state = {
  ghosts: [],      // alternatives for the current cursor position
  active: 0,       // which one is shown
  at: null,        // {value, pos} the ghosts belong to
  controller: null,
  timer: null,
  seq: 0,
};

let textarea, mirror, list, status, picker, altCount;

function setStatus(text, isError = false) {
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function escapeText(s) {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function render() {
  const ghost = state.ghosts[state.active];
  const visible = ghost !== undefined && state.at && state.at.value === textarea.value
    && state.at.pos === textarea.selectionStart && textarea.selectionStart === textarea.selectionEnd;
  if (visible) {
    const pos = state.at.pos;
    // A trailing newline needs a character after it to take up a line in the mirror.
    mirror.innerHTML = escapeText(textarea.value.slice(0, pos))
      + `<span class="ghost" id="ghost" data-alternative="${state.active}">${escapeText(ghost)}</span>`
      + escapeText(textarea.value.slice(pos)) + "\u200b";
    mirror.scrollTop = textarea.scrollTop;
  } else {
    mirror.textContent = "";
  }
  mirror.classList.toggle("active", visible);
  textarea.classList.toggle("has-ghost", visible);
  list.replaceChildren(...state.ghosts.map((text, i) => el("li",
    { "aria-current": i === state.active ? "true" : "false" },
    el("button", {
      type: "button",
      title: "Insert this alternative",
      onclick: () => { state.active = i; accept(); textarea.focus(); },
    }, text))));
}

function clearGhosts() {
  if (state.ghosts.length === 0 && !state.at) return;
  state.ghosts = [];
  state.active = 0;
  state.at = null;
  render();
}

function cancelPending() {
  clearTimeout(state.timer);
  state.timer = null;
  if (state.controller) state.controller.abort();
  state.controller = null;
}

function accept() {
  const ghost = state.ghosts[state.active];
  if (ghost === undefined) return false;
  const pos = textarea.selectionStart;
  textarea.setRangeText(ghost, pos, textarea.selectionEnd, "end");
  clearGhosts();
  setStatus("accepted");
  schedule();
  return true;
}

function cycle(step) {
  if (state.ghosts.length < 2) return;
  state.active = (state.active + step + state.ghosts.length) % state.ghosts.length;
  render();
  setStatus(`alternative ${state.active + 1} of ${state.ghosts.length}`);
}

async function complete(maxTokens) {
  const model = picker.value;
  if (!model) {
    setStatus("no prompt is served: nothing to complete with", true);
    return;
  }
  cancelPending();
  const controller = new AbortController();
  state.controller = controller;
  const seq = ++state.seq;
  const value = textarea.value;
  const pos = textarea.selectionStart;
  const n = Math.max(1, Math.min(8, Number(altCount.value) || 1));
  const started = performance.now();
  setStatus("thinking…");
  try {
    const res = await api("/v1/completions", {
      signal: controller.signal,
      body: {
        model,
        prompt: value.slice(0, pos),
        suffix: value.slice(pos),
        max_tokens: maxTokens,
        n,
        temperature: n > 1 ? 0.8 : 0,
        stop: ["\n\n"],
      },
    });
    if (seq !== state.seq || textarea.value !== value || textarea.selectionStart !== pos) return;
    const seen = new Set();
    state.ghosts = (res.choices || [])
      .sort((a, b) => (a.index ?? 0) - (b.index ?? 0))
      .map((c) => c.text ?? "")
      .filter((t) => t.trim() !== "" && !seen.has(t) && seen.add(t));
    state.active = 0;
    state.at = { value, pos };
    render();
    const ms = Math.round(performance.now() - started);
    setStatus(state.ghosts.length
      ? `${state.ghosts.length} suggestion${state.ghosts.length > 1 ? "s" : ""} in ${ms} ms`
      : `no suggestion (${ms} ms)`);
  } catch (e) {
    if (e.name === "AbortError") return;
    if (seq === state.seq) setStatus(`completion failed: ${e.message}`, true);
  } finally {
    if (state.controller === controller) state.controller = null;
  }
}

function schedule() {
  cancelPending();
  state.timer = setTimeout(() => complete(INLINE_TOKENS), DEBOUNCE_MS);
}

function onInput() {
  clearGhosts();
  const pos = textarea.selectionStart;
  if (pos >= 2 && textarea.value.slice(pos - 2, pos) === "++") {
    textarea.setRangeText("", pos - 2, pos, "end");
    cancelPending();
    complete(CONTINUE_TOKENS);
    return;
  }
  schedule();
}

function onKeyDown(e) {
  const has = state.ghosts.length > 0 && textarea.classList.contains("has-ghost");
  if (e.key === "Tab" && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey && has) {
    e.preventDefault();
    accept();
  } else if (e.altKey && (e.code === "BracketRight" || e.key === "]")) {
    e.preventDefault();
    cycle(1);
  } else if (e.altKey && (e.code === "BracketLeft" || e.key === "[")) {
    e.preventDefault();
    cycle(-1);
  } else if (e.key === "Escape" && (has || state.controller || state.timer)) {
    e.preventDefault();
    cancelPending();
    clearGhosts();
    setStatus("dismissed");
  }
}

/** Moving the cursor without typing hides the ghost (it belongs to the old position). */
function onCursorMove() {
  if (state.at && (textarea.selectionStart !== state.at.pos || textarea.value !== state.at.value)) {
    cancelPending();
    clearGhosts();
  }
}

async function loadPrompts() {
  try {
    const ids = await models();
    picker.replaceChildren(...ids.map((id) => el("option", { value: id }, id)));
    if (ids.length === 0) setStatus("the server lists no prompts or models", true);
    // The last prompt picked here, else one made for completion, else the first.
    const saved = localStorage.getItem(PICKED);
    picker.value = ids.includes(saved) ? saved : (ids.find((id) => /complet/i.test(id)) ?? ids[0] ?? "");
  } catch (e) {
    setStatus(`could not list prompts: ${e.message}`, true);
  }
}

export function initEditor() {
  textarea = document.getElementById("editor");
  mirror = document.getElementById("mirror");
  list = document.getElementById("alt-list");
  status = document.getElementById("editor-status");
  picker = document.getElementById("prompt-picker");
  altCount = document.getElementById("alt-count");
  textarea.addEventListener("input", onInput);
  textarea.addEventListener("keydown", onKeyDown);
  textarea.addEventListener("keyup", onCursorMove);
  textarea.addEventListener("mouseup", onCursorMove);
  textarea.addEventListener("scroll", () => { mirror.scrollTop = textarea.scrollTop; });
  picker.addEventListener("change", () => {
    localStorage.setItem(PICKED, picker.value);
    clearGhosts();
    textarea.focus();
  });
  loadPrompts();
}
