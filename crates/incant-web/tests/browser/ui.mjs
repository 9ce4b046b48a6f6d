// Drives incant's web UI in a real headless chromium (Debian's package, through
// playwright-core): types into the editor until ghost text from the served completion
// endpoint appears, checks what was sent (text before and after the cursor, stale requests
// aborted), accepts with Tab, cycles and dismisses, asks for a `++` continuation, opens a
// run's matrix, filters and pages its cases, opens a case and a comparison, and repeats the
// main views at a phone width. Screenshots go to SHOTS.
//
// Usage: node ui.mjs  (environment: INCANT_WEB_URL, INCANT_WEB_RUN_A, INCANT_WEB_RUN_B,
// INCANT_WEB_RUN_BIG (50,000 cases), INCANT_WEB_SHOTS, optional CHROMIUM=/usr/bin/chromium)
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const base = process.env.INCANT_WEB_URL;
const runA = process.env.INCANT_WEB_RUN_A;
const runB = process.env.INCANT_WEB_RUN_B;
const runBig = process.env.INCANT_WEB_RUN_BIG;
const shots = process.env.INCANT_WEB_SHOTS;
assert.ok(base && runA && runB && runBig && shots,
  "set INCANT_WEB_URL, INCANT_WEB_RUN_A, INCANT_WEB_RUN_B, INCANT_WEB_RUN_BIG, INCANT_WEB_SHOTS");
mkdirSync(shots, { recursive: true });

const step = (s) => console.log(`[ui] ${s}`);
const shot = async (page, name) => {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  step(`screenshot ${name}.png`);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu"],
});
const errors = [];
function watch(page) {
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) errors.push(`console: ${m.text()}`);
  });
  // Failed responses: only the playground's probe of `GET /v1/prompts/{name}` may miss
  // (a server that does not describe prompts there: the form falls back to JSON).
  page.on("response", (r) => {
    const probe = r.request().method() === "GET" && new URL(r.url()).pathname.startsWith("/v1/prompts/");
    if (r.status() >= 400 && !(probe && [404, 405].includes(r.status()))) {
      const at = errors.push(`HTTP ${r.status()} ${r.url()}`) - 1;
      r.text().then((body) => { errors[at] += `: ${body.slice(0, 300)}`; }, () => {});
    }
  });
}

try {
  // ---- Editor, laptop width ----
  const laptop = await browser.newContext({ viewport: { width: 1366, height: 850 } });
  const page = await laptop.newPage();
  watch(page);
  const sent = [];
  const aborted = [];
  page.on("request", (r) => { if (r.url().endsWith("/v1/completions")) sent.push(JSON.parse(r.postData())); });
  page.on("requestfailed", (r) => { if (r.url().endsWith("/v1/completions")) aborted.push(r.failure()?.errorText); });

  await page.goto(`${base}/#/editor`);
  await page.waitForSelector("#prompt-picker option", { state: "attached" });
  assert.equal(await page.locator("#prompt-picker").inputValue(), "complete", "the completion prompt is picked");
  const editor = page.locator("#editor");
  await editor.click();
  await editor.fill("");
  // Text after the cursor first, then the cursor goes back to the start.
  await page.keyboard.type("\n\nThat is all.");
  for (let i = 0; i < "\n\nThat is all.".length; i++) await page.keyboard.press("ArrowLeft");
  await page.waitForTimeout(400);
  // A request in flight is aborted by the next keystroke.
  const first = page.waitForRequest((r) => r.url().endsWith("/v1/completions"));
  await page.keyboard.type("The capital of France is", { delay: 15 });
  await first;
  await page.keyboard.type(" Paris. The capital of Italy is", { delay: 15 });
  const ghost = page.locator("#ghost");
  await ghost.waitFor({ state: "visible", timeout: 120_000 });
  const suggestion = await ghost.textContent();
  assert.ok(suggestion.trim().length > 0, "ghost text is not empty");
  step(`ghost text: ${JSON.stringify(suggestion)}`);
  const last = sent[sent.length - 1];
  assert.equal(last.prompt, "The capital of France is Paris. The capital of Italy is");
  assert.equal(last.suffix, "\n\nThat is all.");
  assert.ok(aborted.length >= 1, `a stale request was aborted (failed requests: ${JSON.stringify(aborted)})`);
  const before = await editor.inputValue();
  // The ghost is drawn where the cursor is: right of the typed text's last character.
  const alts = await page.locator("#alt-list li").count();
  assert.ok(alts >= 1, "the side panel lists the alternatives");
  await shot(page, "editor-ghost");
  if (alts > 1) {
    await page.keyboard.press("Alt+BracketRight");
    assert.equal(await ghost.getAttribute("data-alternative"), "1");
    assert.equal(await page.locator('#alt-list li[aria-current="true"]').count(), 1);
    await page.keyboard.press("Alt+BracketLeft");
    assert.equal(await ghost.getAttribute("data-alternative"), "0");
  }
  const shown = await ghost.textContent();
  await page.keyboard.press("Tab");
  const after = await editor.inputValue();
  const pos = "The capital of France is Paris. The capital of Italy is".length;
  assert.equal(after, before.slice(0, pos) + shown + before.slice(pos), "Tab inserts the ghost at the cursor");
  assert.equal(await editor.evaluate((t) => t.selectionStart), pos + shown.length, "cursor after the accepted text");
  assert.equal(await page.evaluate(() => document.activeElement.id), "editor", "Tab did not move focus");
  step(`accepted: ${JSON.stringify(after)}`);
  await shot(page, "editor-accepted");

  // Escape dismisses a suggestion.
  await page.keyboard.type(" And", { delay: 15 });
  await ghost.waitFor({ state: "visible", timeout: 120_000 });
  await page.keyboard.press("Escape");
  await ghost.waitFor({ state: "detached" });

  // `++` asks for a longer continuation at once and removes the pluses.
  const n = sent.length;
  await page.keyboard.type(" ++");
  await ghost.waitFor({ state: "visible", timeout: 120_000 });
  const cont = sent.slice(n).find((b) => b.max_tokens === 64);
  assert.ok(cont, `a continuation request was sent: ${JSON.stringify(sent.slice(n))}`);
  assert.ok(!(await editor.inputValue()).includes("++"), "the pluses are removed");
  await shot(page, "editor-continuation");

  // ---- Runs: list, matrix, filters, pages, a case ----
  await page.goto(`${base}/#/runs`);
  await page.locator(`#runs-table a[href="#/runs/${runA}"]`).click();
  await page.waitForSelector("#matrix tbody button");
  await page.waitForSelector("#cases tbody tr");
  assert.equal(await page.locator("#cases tbody tr").count(), 50, "a page of 50 cases");
  assert.match(await page.locator("#cases-pager").textContent(), /of 3 \(120 rows\)/);
  await shot(page, "run-matrix");
  // A matrix cell filters the cases to its prompt and provider (by keyboard: focus, Enter).
  await page.locator("#matrix tbody button").first().focus();
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.querySelector("#cases caption")?.textContent === "30 matching cases");
  await page.locator("#case-filters select[name=status]").selectOption("fail");
  await page.waitForFunction(() => /^\d+ matching case/.test(document.querySelector("#cases caption")?.textContent)
    && document.querySelector("#cases caption").textContent !== "30 matching cases");
  const failing = await page.locator("#cases tbody tr").count();
  assert.ok(failing > 0 && failing < 30, `failing cases shown: ${failing}`);
  await page.locator("#case-filters select[name=status]").selectOption("");
  await page.locator("#case-filters select[name=prompt]").selectOption("");
  await page.locator("#case-filters select[name=provider]").selectOption("");
  await page.waitForFunction(() => document.querySelector("#cases caption")?.textContent === "120 matching cases");
  await page.getByRole("button", { name: "Next page" }).click();
  await page.waitForFunction(() => document.querySelector("#cases tbody tr td a")?.textContent === "50");
  await page.locator('#cases a[aria-label="Case 51 details"]').focus();
  await page.keyboard.press("Enter");
  await page.waitForSelector("#case-body dl");
  assert.match(await page.locator("#case-body").textContent(), /Assertions/);
  await shot(page, "case-details");

  // ---- 50,000 cases: jump to the last page, filter, search ----
  let t = Date.now();
  await page.goto(`${base}/#/runs/${runBig}`);
  await page.waitForFunction(() => /of 1000 \(50000 rows\)/.test(document.querySelector("#cases-pager")?.textContent));
  assert.equal(await page.locator("#cases tbody tr").count(), 50);
  step(`50,000-case run: first page shown in ${Date.now() - t} ms`);
  t = Date.now();
  await page.getByRole("button", { name: "Last page" }).click();
  await page.waitForFunction(() => document.querySelector("#cases tbody tr td a")?.textContent === "49950");
  assert.equal(await page.locator("#cases tbody tr").count(), 50);
  step(`last page in ${Date.now() - t} ms`);
  t = Date.now();
  await page.locator("#case-filters select[name=status]").selectOption("fail");
  await page.waitForFunction(() => document.querySelector("#cases caption")?.textContent === "5556 matching cases");
  await page.locator("#case-filters input[name=q]").fill("output 49998 ");
  await page.waitForFunction(() => document.querySelector("#cases caption")?.textContent === "0 matching cases");
  await page.locator("#case-filters input[name=q]").fill("output 49990 ");
  await page.waitForFunction(() => document.querySelector("#cases caption")?.textContent === "1 matching case");
  step(`filter and search in ${Date.now() - t} ms`);
  await shot(page, "run-50000");

  // ---- Compare ----
  await page.goto(`${base}/#/compare?a=${runA}&b=${runB}`);
  await page.waitForSelector("#compare-groups tbody tr");
  await page.waitForSelector("#pairs .pair");
  assert.match(await page.locator("#compare-groups").textContent(), /all prompts/);
  await page.locator("#pair-filters select").selectOption("regressed");
  await page.waitForFunction(() => [...document.querySelectorAll("#pairs .pair-status")]
    .every((s) => s.textContent === "regressed"));
  await shot(page, "compare");

  // ---- Playground: a prompt, its version, inputs, a run ----
  await page.goto(`${base}/#/playground`);
  await page.waitForSelector("#pg-prompt option", { state: "attached" });
  await page.locator("#pg-prompt").selectOption("capital");
  await page.waitForSelector('#pg-version option[value="1.1.0"]', { state: "attached" });
  await page.locator("#pg-version").selectOption(["1.0.0", "1.1.0"]);
  // The server describes the prompt's typed inputs, so the form has a field per input.
  await page.waitForSelector("#pg-in-country");
  assert.ok(!(await page.locator("#pg-inputs").innerText()).includes("optional"), "country is required");
  await page.locator("#pg-in-country").fill("France");
  // The server allows the prompt's own model and serve.yaml's `echo`: tick both.
  await page.locator('#pg-provider-choices input[value="local:smollm2"]').check();
  await page.locator('#pg-provider-choices input[value="echo"]').check();
  assert.equal(await page.locator("#pg-providers").inputValue(), "local:smollm2, echo");
  const playgroundCalls = [];
  page.on("request", (r) => {
    if (r.method() === "POST" && r.url().includes("/v1/prompts/capital")) playgroundCalls.push(r.postDataJSON());
  });
  await page.getByRole("button", { name: "Run" }).click();
  await page.waitForFunction(() => document.querySelectorAll("#pg-results article").length === 4
    && !document.querySelector("#pg-results article[aria-busy]"), null, { timeout: 120_000 })
    .catch(async (e) => {
      throw new Error(`playground columns: ${JSON.stringify(await page.locator("#pg-results").innerText())}: ${e.message}`);
    });
  const columns = [["1.0.0", "local:smollm2"], ["1.0.0", "echo"], ["1.1.0", "local:smollm2"], ["1.1.0", "echo"]];
  for (const [i, [version, provider]] of columns.entries()) {
    const card = page.locator("#pg-results article").nth(i);
    const out = card.locator("pre");
    assert.ok(!((await out.getAttribute("class")) || "").includes("error-text"), `playground run failed: ${await out.textContent()}`);
    assert.ok((await out.textContent()).trim().length > 0, "the playground shows an output");
    assert.equal(await card.locator("h2").textContent(), `v${version} · ${provider}`);
    assert.equal(await card.locator(".help").textContent().then((t) => t.split(" · ")[0]), `v${version}`);
    step(`playground v${version} on ${provider}: ${JSON.stringify(await out.textContent())}`);
  }
  assert.equal(playgroundCalls.length, 4, "one call per version x provider");
  for (const body of playgroundCalls) assert.deepEqual(body.inputs, { country: "France" }, "the typed field is sent as the input");
  assert.deepEqual(playgroundCalls.map((b) => b.provider).sort(), ["echo", "echo", "local:smollm2", "local:smollm2"]);
  await shot(page, "playground");
  await laptop.close();

  // ---- Phone width ----
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const mobile = await phone.newPage();
  watch(mobile);
  const noSideways = async (name) => {
    const [scroll, width] = await mobile.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    assert.ok(scroll <= width, `${name}: the page scrolls sideways (${scroll} > ${width})`);
  };
  await mobile.goto(`${base}/#/editor`);
  await mobile.waitForSelector("#prompt-picker option", { state: "attached" });
  const box = await mobile.locator("#editor").boundingBox();
  const panel = await mobile.locator(".alternatives").boundingBox();
  assert.ok(panel.y >= box.y + box.height, "the alternatives panel sits under the editor on a phone");
  await mobile.locator("#editor").fill("Once upon a time");
  await mobile.locator("#editor").press("End");
  await mobile.locator("#editor").pressSequentially(" there", { delay: 15 });
  await mobile.locator("#ghost").waitFor({ state: "visible", timeout: 120_000 });
  await noSideways("editor");
  await shot(mobile, "phone-editor");
  await mobile.goto(`${base}/#/runs/${runA}`);
  await mobile.waitForSelector("#cases tbody tr");
  await noSideways("run");
  await shot(mobile, "phone-run");
  await phone.close();

  assert.deepEqual(errors, [], "no script errors in the pages");
  step("all checks passed");
} finally {
  await browser.close();
}
