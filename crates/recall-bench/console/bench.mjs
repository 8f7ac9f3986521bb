// The console benchmark's browser side (`recall-bench console`, src/console.rs starts it):
// Debian's chromium, headless, signs in to a running `recall serve` and loads the search
// page and filter clicks; one JSON line per page load on stdout. Every landing and first
// page loads in a fresh browser context (the session cookie copied in, no cache), and
// its click in the same page with the HTTP cache off (CDP, Network domain enabled); a
// response the browser did not fetch over the network (Resource Timing transferSize 0)
// fails the run, so the weight is verifiably without cache. Timing comes from the browser
// (Navigation Timing, largest contentful paint, encoded body bytes of the page and every
// asset) and from the server (its Server-Timing header, as the browser received it). Any
// unexpected page fails the run (exit 1).
//
// Environment: RECALL_URL, CONSOLE_USER, PASSWORD, TOTP_URI, SAMPLES (per filter kind),
// FIRST_DAY and LAST_DAY (YYYY-MM-DD: the workload's days; each sample views the events
// up to one of them, spread over the span, so the clicked values vary), NODE_DIR (where
// `npm ci` installed playwright-core: the console e2e test's directory); PARTS_FILE
// (optional: each page load's line is also appended there, for a closer look).
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { CHROMIUM, signInAt, totp } from "../../recall/tests/console/common.mjs";

const require = createRequire(path.join(process.env.NODE_DIR, "package.json"));
const { chromium } = require("playwright-core");

const URL0 = process.env.RECALL_URL;
const SAMPLES = Number(process.env.SAMPLES);
const KINDS = ["patient", "actor", "action", "system"];
const DAY_MS = 86400000;

// Day i of n, spread over [FIRST_DAY, LAST_DAY].
function dayOf(i, n) {
  const a = Date.parse(process.env.FIRST_DAY);
  const b = Date.parse(process.env.LAST_DAY);
  const days = Math.round((b - a) / DAY_MS);
  return new Date(a + Math.floor(((i + 0.5) * days) / n) * DAY_MS).toISOString().slice(0, 10);
}

// What the browser says about the page just loaded (after its load event ended).
async function figures(page) {
  await page.waitForFunction(() => performance.getEntriesByType("navigation")[0]?.loadEventEnd > 0);
  return page.evaluate(async () => {
    const nav = performance.getEntriesByType("navigation")[0];
    const res = performance.getEntriesByType("resource");
    const lcp = await new Promise((resolve) => {
      new PerformanceObserver((l) => resolve(l.getEntries().at(-1).startTime)).observe({
        type: "largest-contentful-paint",
        buffered: true,
      });
      setTimeout(() => resolve(null), 500);
    });
    const app = nav.serverTiming.find((s) => s.name === "app");
    return {
      status: nav.responseStatus,
      server_ms: app ? app.duration : null,
      // The server's parts of it (search, facets), where it names them.
      server_parts: Object.fromEntries(nav.serverTiming.map((s) => [s.name, s.duration])),
      ttfb_ms: nav.responseStart - nav.startTime,
      load_ms: nav.loadEventEnd - nav.startTime,
      lcp_ms: lcp,
      // Body bytes as sent (before decompression), every response; transferSize 0 means
      // the browser did not fetch it (a cache), which the driver refuses.
      bytes: [nav, ...res].reduce((s, r) => s + r.encodedBodySize, 0),
      cached: [nav, ...res].filter((r) => r.transferSize === 0).map((r) => r.name),
      requests: 1 + res.length,
      rows: document.querySelectorAll("li.event").length,
    };
  });
}

async function measured(page, series, go, check) {
  const t = performance.now();
  await go();
  await page.waitForLoadState("load");
  const driver_ms = performance.now() - t;
  const f = await figures(page);
  const params = Object.fromEntries(new URL(page.url()).searchParams);
  if (f.status !== 200 || f.server_ms === null) {
    throw new Error(`${series}: HTTP ${f.status}, Server-Timing ${f.server_ms}`);
  }
  if (f.cached.length > 0) throw new Error(`${series}: not fetched (cache): ${f.cached.join(" ")}`);
  delete f.cached;
  if (check) await check(f, params);
  const line = JSON.stringify({ series, driver_ms, params, ...f });
  console.log(line);
  if (process.env.PARTS_FILE) fs.appendFileSync(process.env.PARTS_FILE, `${line}\n`);
  return f;
}

const browser = await chromium.launch(CHROMIUM);
const VIEW = { viewport: { width: 1280, height: 800 } };
const signing = await browser.newContext(VIEW);
const signPage = await signing.newPage();
await signInAt(URL0, signPage, process.env.CONSOLE_USER, process.env.PASSWORD, totp(process.env.TOTP_URI));
if (!signPage.url().endsWith("/search")) throw new Error(`sign-in failed: at ${signPage.url()}`);
// The session cookie, for the fresh contexts.
const signedIn = await signing.storageState();
await signing.close();

// A page in a fresh context (empty cache) holding the session; the HTTP cache off for
// the later loads in it (a click), with the Network domain on so the setting applies.
async function freshPage() {
  const ctx = await browser.newContext({ ...VIEW, storageState: signedIn });
  const page = await ctx.newPage();
  const cdp = await ctx.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
  page.on("request", (r) => {
    if (!r.url().startsWith(URL0)) throw new Error("request to another host");
  });
  return page;
}

for (let i = 0; i < SAMPLES; i++) {
  const landing = await freshPage();
  await measured(landing, "landing", () => landing.goto(`${URL0}/search`));
  await landing.context().close();
  for (const [k, kind] of KINDS.entries()) {
    const page = await freshPage();
    const start = `${URL0}/search?range=custom&to=${dayOf(i * KINDS.length + k, SAMPLES * KINDS.length)}`;
    const first = await measured(page, "first page", () => page.goto(start));
    const links = page.locator(`a.${kind}`);
    const count = await links.count();
    if (count === 0 || first.rows === 0) throw new Error(`no ${kind} to click on ${start}`);
    const link = links.nth((i * 7 + k * 3) % count);
    const value = (await link.textContent()).trim();
    await measured(page, `click ${kind}`, () => link.click(), (f, params) => {
      if (params[kind] !== value || f.rows === 0) throw new Error(`click ${kind}: filter not applied`);
    });
    await page.context().close();
  }
}
await browser.close();
