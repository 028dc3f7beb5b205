// Opens compat history pages (index.html) from file:// in Debian's chromium
// (playwright-core) and checks what a user would see and do.
//
//   COMPAT_HISTORY=/path/site/index.html COMPAT_HISTORY_BIG=/path/big_site/index.html node --test history.test.mjs
//
// tests/browser/history.sh makes both: a small history of real reference-engine
// runs (a regression, a flaky config) and 365 nights x 100 configurations.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const artifacts = path.join(here, "artifacts");
const small = process.env.COMPAT_HISTORY;
const big = process.env.COMPAT_HISTORY_BIG;
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";

let context, userDataDir;
const consoleErrors = [];
const foreignRequests = [];

async function open(file) {
  const page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  const t0 = Date.now();
  await page.goto(pathToFileURL(path.resolve(file)).href, { waitUntil: "load" });
  await page.waitForFunction(() => document.body.dataset.ready === "1");
  return { page, ms: Date.now() - t0 };
}

before(async () => {
  assert.ok(small && fs.existsSync(small), "set COMPAT_HISTORY to a history index.html");
  fs.mkdirSync(artifacts, { recursive: true });
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "compat-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith("file:") || url.startsWith("data:")) return route.continue();
    foreignRequests.push(url);
    return route.abort();
  });
});

after(async () => {
  await context?.close();
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
});

const visible = (page, sel) =>
  page.locator(sel).evaluateAll((els) => els.filter((e) => e.offsetParent !== null).length);

test("rows, a status strip, filters, a chart and a night's link", async () => {
  const { page } = await open(small);
  const data = JSON.parse(await page.locator("#data").textContent());
  const rows = await visible(page, "#rows .row");
  assert.equal(rows, data.series.length, "every series has a row");
  assert.match(await page.locator("#never-mixed").innerText(), /never mixed/);

  // The status strip: one canvas per row, painted in the status colours.
  const strip = page.locator("#rows .row canvas.strip").first();
  assert.equal(await strip.getAttribute("data-nights"), String(data.series[0].r.length));
  const painted = await strip.evaluate((c) => {
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let green = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 1] > 140 && d[i] < 80) green++;
    return green;
  });
  assert.ok(painted > 0, "PASS nights painted green");

  // The regression and the flaky config are on the page.
  const changes = await page.locator("#changes tr.change").allInnerTexts();
  assert.ok(changes.some((t) => /cfg_parallel\+teacache PASS → FAIL/.test(t)), changes.join("\n"));
  assert.ok(changes.some((t) => /cfg_parallel\+cache_dit is flaky/.test(t)), changes.join("\n"));

  // Filters: status now, flaky, feature.
  await page.selectOption("#f-status", "FAIL");
  const failing = await page.locator("#rows .row").evaluateAll((els) => els.map((e) => e.dataset.config));
  assert.deepEqual(failing, ["cfg_parallel+teacache"]);
  await page.selectOption("#f-status", "flaky");
  const flaky = await page.locator("#rows .row").evaluateAll((els) => els.map((e) => e.dataset.config));
  assert.deepEqual(flaky, ["cfg_parallel+cache_dit"]);
  await page.selectOption("#f-status", "");
  await page.selectOption("#f-feature", "teacache");
  const withTea = await page.locator("#rows .row").evaluateAll((els) => els.map((e) => e.dataset.config));
  assert.deepEqual(withTea, ["cfg_parallel+teacache"]);
  await page.selectOption("#f-feature", "");

  // The panel: charts drawn, every night listed with its diff_report link.
  await page.locator('#rows .row[data-config="cfg_parallel+teacache"]').click();
  assert.ok(await page.locator("#panel.open").isVisible());
  const chart = page.locator("#panel canvas.chart.quality");
  const inked = await chart.evaluate((c) => {
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  });
  assert.ok(inked > 50, "the quality chart has ink");
  const nights = await page.locator("#panel table.nights tr").count();
  assert.equal(nights - 1, data.series.find((s) => s.c === "cfg_parallel+teacache").r.length);
  // Cost next to speed: each night's GPU-seconds, from its report's bill.
  const costs = await page.locator("#panel table.nights td.cost").allTextContents();
  assert.equal(costs.length, nights - 1);
  assert.ok(costs.every((c) => Number(c) > 0), `every night has its GPU-s: ${costs.slice(0, 5)}`);
  const href = await page.locator("#panel a.night-report").first().getAttribute("href");
  const target = new URL(href, page.url());
  assert.equal(target.protocol, "file:");
  assert.ok(fs.existsSync(fileURLToPath(target)), `the link resolves: ${target}`);
  await page.screenshot({ path: path.join(artifacts, "history.png"), fullPage: false });
  await page.close();
});

test("365 nights x 100 configurations: fast, and no 36,500 nodes", { skip: !big }, async () => {
  const { page, ms } = await open(big);
  const nodes = await page.evaluate(() => document.getElementsByTagName("*").length);
  const rows = await page.locator("#rows .row").count();
  console.log(`big history: loaded and drawn in ${ms} ms, ${nodes} elements, ${rows} rows drawn of 100`);
  assert.ok(rows < 100, "rows are drawn as they scroll into view");
  assert.ok(nodes < 2000, `${nodes} elements`);
  await page.locator("#sentinel").scrollIntoViewIfNeeded();
  await page.waitForFunction(() => document.querySelectorAll("#rows .row").length > 40);
  await page.screenshot({ path: path.join(artifacts, "history_big.png") });
  await page.close();
});

test("no console errors, no network", () => {
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(foreignRequests, []);
});
