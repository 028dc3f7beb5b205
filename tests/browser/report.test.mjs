// Opens a compat diff_report.html from file:// in Debian's chromium (driven by
// playwright-core, no browser download) and checks what a user would see.
//
//   COMPAT_REPORT=/path/to/diff_report.html node --test report.test.mjs
//
// Expected counts come from manifest.json beside the report (its `configs` and
// `prompts`), or from COMPAT_EXPECT_CONFIGS / COMPAT_EXPECT_PROMPTS (the total
// number of prompt panels). A screenshot is saved to artifacts/report.png.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const artifacts = path.join(here, "artifacts");
const report = process.env.COMPAT_REPORT;
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const HOSTILE = "<img src=x onerror=alert(1)>";

let context, page, userDataDir;
const consoleErrors = [];
const foreignRequests = [];
const dialogs = [];

function expected() {
  const manifestPath = path.join(path.dirname(report), "manifest.json");
  let configs = process.env.COMPAT_EXPECT_CONFIGS ? Number(process.env.COMPAT_EXPECT_CONFIGS) : null;
  let prompts = process.env.COMPAT_EXPECT_PROMPTS ? Number(process.env.COMPAT_EXPECT_PROMPTS) : null;
  if ((configs === null || prompts === null) && fs.existsSync(manifestPath)) {
    const m = JSON.parse(fs.readFileSync(manifestPath, "utf8"));
    const ran = m.configs.filter((c) => c.state !== "skipped").length;
    configs ??= m.configs.length;
    prompts ??= ran * m.prompts.length;
  }
  return { configs, prompts };
}

before(async () => {
  assert.ok(report, "set COMPAT_REPORT to the path of a diff_report.html");
  assert.ok(fs.existsSync(report), `no such report: ${report}`);
  fs.mkdirSync(artifacts, { recursive: true });
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "compat-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  // Anything that is not the page's own files is a network request: record it
  // and refuse it, so a regression cannot hang the test on a timeout.
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith("file:") || url.startsWith("data:")) return route.continue();
    foreignRequests.push(url);
    return route.abort();
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (msg) => {
    if (msg.type() === "error") consoleErrors.push(msg.text());
  });
  page.on("pageerror", (err) => consoleErrors.push(String(err)));
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  await page.goto(pathToFileURL(path.resolve(report)).href, { waitUntil: "load" });
});

after(async () => {
  await context?.close();
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
});

const visibleCount = (sel) =>
  page.locator(sel).evaluateAll((els) => els.filter((e) => e.offsetParent !== null).length);

test("shows every config and every prompt", async () => {
  const { configs, prompts } = expected();
  const sections = await visibleCount("section.config");
  const panels = await visibleCount("article.prompt");
  const rows = await visibleCount("#config-table tr.config-row");
  if (configs !== null) {
    assert.equal(sections, configs, "config sections shown");
    assert.equal(rows, configs, "config table rows");
  }
  if (prompts !== null) assert.equal(panels, prompts, "prompt panels shown");
  assert.ok(sections > 0 && panels > 0);
  // SKIP and ERROR configs are shown as such, with their reason.
  for (const status of ["SKIP", "ERROR"]) {
    const n = await page.locator(`section.config[data-status=${status}]`).count();
    if (n) {
      const text = await page.locator(`section.config[data-status=${status}] dl`).first().innerText();
      assert.match(text, /Skipped because|Reason/, `${status} config states its reason`);
    }
  }
});

test("the hostile prompt is text, not markup", async () => {
  const texts = await page.locator(".prompt-text").allTextContents();
  if (texts.some((t) => t.includes(HOSTILE)) || fs.readFileSync(report, "utf8").includes("onerror")) {
    assert.ok(texts.some((t) => t.includes(HOSTILE)), "hostile prompt shown literally");
  }
  assert.equal(await page.locator('img[src="x"]').count(), 0, "no injected <img>");
  assert.equal(await page.locator("article.prompt script, pre.log script").count(), 0);
  assert.deepEqual(dialogs, [], "no alert() ran");
});

test("a status filter hides PASS rows", async () => {
  const pass = page.locator("#config-table tr.config-row[data-status=PASS]");
  assert.ok((await pass.count()) > 0, "the report has PASS configs to hide");
  const before = await visibleCount("#config-table tr.config-row");
  await page.locator("[data-status-filter=PASS]").uncheck();
  assert.equal(await visibleCount("#config-table tr.config-row[data-status=PASS]"), 0);
  assert.equal(await visibleCount("section.config[data-status=PASS]"), 0);
  const after = await visibleCount("#config-table tr.config-row");
  assert.equal(after, before - (await pass.count()), "other statuses stay");
  await page.locator("[data-status-filter=PASS]").check();
  assert.equal(await visibleCount("#config-table tr.config-row"), before);
});

test("search filters prompts and sort puts the worst MeanDiff first", async () => {
  const total = await visibleCount("article.prompt");
  const first = (await page.locator("article.prompt .prompt-body").first().textContent()).trim();
  const query = first.slice(0, 12).toLowerCase();
  await page.locator("#search").fill(query);
  const shown = await page
    .locator("article.prompt")
    .evaluateAll((els) => els.filter((e) => e.offsetParent !== null).map((e) => e.querySelector(".prompt-body").textContent.toLowerCase()));
  assert.ok(shown.length > 0 && shown.length <= total);
  assert.ok(shown.every((t) => t.includes(query)), "only matching prompts shown");
  await page.locator("#search").fill("");
  assert.equal(await visibleCount("article.prompt"), total);

  await page.locator("#sort").selectOption("worst");
  const diffs = await page.locator("section.config").evaluateAll((els) =>
    els.map((e) => (e.dataset.meandiff === "" ? -Infinity : Number(e.dataset.meandiff))),
  );
  for (let i = 1; i < diffs.length; i++) assert.ok(diffs[i - 1] >= diffs[i], `sorted: ${diffs}`);
  await page.locator("#sort").selectOption("order");
});

test("keyboard moves between prompts", async () => {
  await page.locator("body").click({ position: { x: 5, y: 5 } });
  await page.keyboard.press("j");
  const a = await page.locator("article.prompt.current").getAttribute("id");
  await page.keyboard.press("j");
  const b = await page.locator("article.prompt.current").getAttribute("id");
  await page.keyboard.press("k");
  const c = await page.locator("article.prompt.current").getAttribute("id");
  assert.ok(a && b && a !== b, `j moves on (${a} → ${b})`);
  assert.equal(c, a, "k moves back");
});

test("the compare slider changes what is visible", async () => {
  // The prompt that differs most, so that every mode has something to show.
  const id = await page.locator("article.prompt:has(.compare-btn)").evaluateAll((els) =>
    els.reduce((best, e) => (Number(e.dataset.meandiff || -1) > Number(best.dataset.meandiff || -1) ? e : best)).id,
  );
  await page.locator(`[id="${id}"] .compare-btn`).click();
  const dialog = page.locator("dialog#compare");
  await dialog.waitFor({ state: "visible" });
  await page.waitForFunction(() =>
    ["cmp-a", "cmp-b"].every((id) => {
      const img = document.getElementById(id);
      return img.complete && img.naturalWidth > 0;
    }),
  );
  const stage = page.locator("#cmp-stage");
  const range = page.locator("#cmp-range");
  await range.fill("90");
  const shotA = await stage.screenshot();
  await range.fill("10");
  const shotB = await stage.screenshot();
  assert.notDeepEqual(shotA, shotB, "moving the slider changes the picture");
  assert.match(await page.locator("#cmp-b").evaluate((el) => el.style.clipPath), /inset\(0(px)? 0(px)? 0(px)? 10%\)/);

  // Blend and toggle modes change it too.
  await page.locator("input[name=cmp-mode][value=blend]").check();
  await range.fill("0");
  const blend0 = await stage.screenshot();
  await range.fill("100");
  assert.notDeepEqual(blend0, await stage.screenshot(), "blend changes the picture");
  await page.locator("input[name=cmp-mode][value=toggle]").check();
  const t0 = await stage.screenshot();
  await page.locator("#cmp-flip").click();
  assert.notDeepEqual(t0, await stage.screenshot(), "toggle changes the picture");
  await page.locator("input[name=cmp-mode][value=slider]").check();
  await range.fill("50");
  await dialog.screenshot({ path: path.join(artifacts, "compare.png") });
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "hidden" });
});

test("no console errors, no network requests; screenshot saved", async () => {
  // Scroll through so that every lazy thumbnail loads (and could fail).
  await page.evaluate(async () => {
    for (let y = 0; y < document.body.scrollHeight; y += 600) {
      window.scrollTo(0, y);
      await new Promise((r) => setTimeout(r, 30));
    }
    window.scrollTo(0, 0);
  });
  await page.waitForLoadState("load");
  const broken = await page.locator("img").evaluateAll((imgs) =>
    imgs.filter((i) => i.getAttribute("src") && i.complete && i.naturalWidth === 0).map((i) => i.getAttribute("src")),
  );
  assert.deepEqual(broken, [], "every image loads");
  await page.screenshot({ path: path.join(artifacts, "report.png"), fullPage: true });
  assert.deepEqual(consoleErrors, [], "console errors");
  assert.deepEqual(foreignRequests, [], "network requests");
});
