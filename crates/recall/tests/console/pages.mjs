// The console's report and governance pages in a real browser (Debian's chromium, driven
// by playwright-core) against a real `recall serve` that console_pages_e2e.rs started:
// facet counts and exports of the search filter, the patient access report, the access
// review with sign-off, a breach assessment opened from a filter, the integrity page.
// Every step asserts; any failure exits 1. Two phases (PHASE): `pages` (PO_TOTP), then,
// after the test has made a verification fail, `integrity` (PO2_TOTP). Environment also:
// RECALL_URL, PASSWORD, TODAY (YYYY-MM-DD), ARTEFACTS. Helpers: lib.mjs.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { totp, launch, steps, sameOriginOnly as sameOrigin, shotAndAxe as shot, signIn as signInAt, cellsOf } from "./lib.mjs";

const URL0 = process.env.RECALL_URL;
const OUT = process.env.ARTEFACTS;
fs.mkdirSync(OUT, { recursive: true });
const PASSWORD = process.env.PASSWORD;
const shotAndAxe = (page, name) => shot(page, OUT, name);
const sameOriginOnly = (page) => sameOrigin(page, URL0);
const signIn = (page, user, password, code) => signInAt(page, URL0, user, password, code);

const TODAY = process.env.TODAY;
const browser = await launch();
const run = steps();
const step = run.step;
const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
const page = await ctx.newPage();
sameOriginOnly(page);

const num = async (sel) => Number((await page.textContent(sel)).trim());
// `[value, count]` of each item of a facet list.
const facet = (key) => page.$$eval(`#facet-${key} li:not(.hint)`, (lis) => lis.map((li) =>
  [li.firstChild.textContent.trim(), Number(li.querySelector(".count").textContent)]));
const sum = (pairs) => pairs.reduce((n, [, c]) => n + c, 0);
async function download(selector, name) {
  const [d] = await Promise.all([page.waitForEvent("download"), page.click(selector)]);
  const file = path.join(OUT, name);
  await d.saveAs(file);
  return file;
}
const csrf = () => page.inputValue("input[name=csrf] >> nth=0");
// Submits a form whose answer sends the browser back to the page it is on.
const submitHere = (selector) => Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click(selector)]);

async function pagesPhase() {
  let patient = "";
  let actor = "";
  await step("sign in", async () => {
    await signIn(page, "po", PASSWORD, totp(process.env.PO_TOTP));
    assert.match(page.url(), /\/search$/);
  });

  await step("facet counts for the current filter, each value a filter", async () => {
    await page.goto(`${URL0}/search?action=read&limit=10`);
    assert.match(await page.textContent("#facets-counted"), /^All \d+ matching events$/);
    const counted = Number((await page.textContent("#facets-counted")).match(/\d+/)[0]);
    assert.deepEqual(await facet("action"), [["read", counted]]);
    assert.equal(sum(await facet("outcome")), counted);
    assert.ok(sum(await facet("role")) <= counted && (await facet("role")).length > 0);
    const systems = await facet("system");
    assert.ok(systems.length > 1, "several systems");
    await shotAndAxe(page, "p01-search-facets");
    const [system, n] = systems[0];
    await Promise.all([page.waitForURL(/system=/), page.click(`#facet-system li >> nth=0 >> a`)]);
    assert.equal(new URL(page.url()).searchParams.get("system"), system);
    assert.equal(new URL(page.url()).searchParams.get("action"), "read");
    assert.deepEqual(await facet("system"), [[system, n]]);
    assert.ok((await cellsOf(page, "a.system")).every((s) => s === system));
    patient = (await cellsOf(page, "a.patient"))[0];
    actor = (await cellsOf(page, "a.actor"))[0];
  });

  await step("export the filter as JSON (the API's export) and PDF (the report)", async () => {
    const counted = Number((await page.textContent("#facets-counted")).match(/\d+/)[0]);
    const system = new URL(page.url()).searchParams.get("system");
    const lines = fs.readFileSync(await download("#export-json", "export.ndjson"), "utf8").trim().split("\n");
    const events = lines.map((l) => JSON.parse(l));
    assert.equal(events.length, counted);
    assert.ok(events.every((e) => e.action === "read" && e.source.system === system));
    assert.equal(await page.$("#export-pdf"), null, "no PDF without a patient or actor");
    await page.goto(`${URL0}/search?patient=${encodeURIComponent(patient)}`);
    const pdf = fs.readFileSync(await download("#export-pdf", "search-patient.pdf"));
    assert.equal(pdf.subarray(0, 5).toString(), "%PDF-");
  });

  await step("patient access report: by person, chart, PDF", async () => {
    await page.goto(`${URL0}/patient`);
    await page.fill("#p-patient", patient);
    await Promise.all([page.waitForURL(/patient=/), page.click("form.filters button[type=submit]")]);
    const total = await num("#total");
    const counts = (await cellsOf(page, "#by-person td.n")).map(Number);
    assert.ok(total > 0);
    assert.equal(counts.reduce((a, b) => a + b, 0), total);
    assert.equal(counts.length, await num("#people"));
    assert.ok((await cellsOf(page, "#by-person td.prole")).some((r) => r.length > 0), "roles shown");
    const bars = await page.$$eval("#chart rect.bar title", (ts) => ts.map((t) => Number(t.textContent.split(": ").pop())));
    assert.ok(bars.length >= 1);
    assert.equal(bars.reduce((a, b) => a + b, 0), total, "the chart holds every access");
    await shotAndAxe(page, "p02-patient-report");
    const pdf = fs.readFileSync(await download("#report-pdf", "patient-report.pdf"));
    assert.equal(pdf.subarray(0, 5).toString(), "%PDF-");
  });

  await step("access review with sign-off", async () => {
    await page.goto(`${URL0}/access-review?from=2020-01-01&to=${TODAY}`);
    assert.ok((await page.$$("#actors tbody tr")).length > 0);
    const digest = (await page.textContent("#digest")).trim();
    assert.match(digest, /^[0-9a-f]{64}$/);
    await shotAndAxe(page, "p03-access-review");
    await page.fill("#reviewer", "Synthetic Reviewer");
    await Promise.all([page.waitForURL(/signed=1/), page.click("#signoff button[type=submit]")]);
    assert.match(await page.textContent("#signed"), /recorded in the log/);
    fs.writeFileSync(path.join(OUT, "signoff-digest.txt"), digest);
  });

  await step("a breach assessment opened from the search filter, its four factors", async () => {
    await page.goto(`${URL0}/search?actor=${encodeURIComponent(actor)}&action=read&range=custom&from=2020-01-01&to=${TODAY}`);
    await Promise.all([page.waitForURL(/\/assessments\/new/), page.click("#open-assessment")]);
    assert.equal(await page.inputValue("#a-actors"), actor);
    assert.equal(await page.inputValue("#a-from"), "2020-01-01");
    assert.equal(await page.inputValue("#a-to"), TODAY);
    assert.match(await page.textContent("#ignored"), /action/);
    await shotAndAxe(page, "p04-assessment-new");
    await page.fill("#a-description", "Synthetic incident: a workstation left signed in");
    await page.fill("#a-discovered", "2026-11-02");
    await Promise.all([page.waitForURL(/\/assessments\/[0-9a-f]{16}$/), page.click("#open-assessment button[type=submit]")]);
    assert.ok((await num("#a-events")) > 0 && (await num("#a-patients")) > 0);
    assert.equal((await page.textContent("#d-individuals")).trim(), "2027-01-01");
    await page.fill("#f-nature", "Demographics and visit notes");
    await page.fill("#f-unauthorized_person", "A colleague without a treatment relationship");
    await page.fill("#f-acquired_or_viewed", "Viewed, per the read events");
    await page.fill("#f-mitigation", "Session timeout lowered");
    await page.selectOption("#f-decision", "breach");
    await page.fill("#f-reason", "Viewed without a need");
    // The form posts and comes back to this same page, now with version 2.
    await submitHere("#factors button[type=submit]");
    assert.match(await page.textContent("#a-decision"), /^breach: Viewed without a need/);
    assert.equal(await page.inputValue("#f-mitigation"), "Session timeout lowered");
    assert.equal((await page.$$("#history li")).length, 2);
    await shotAndAxe(page, "p05-assessment");
    await page.goto(`${URL0}/assessments`);
    assert.equal((await page.$$("#assessments tbody tr")).length, 1);
    await shotAndAxe(page, "p06-assessments");
  });

  await step("forms without the CSRF token change nothing", async () => {
    for (const [url, form] of [["/assessments", { description: "x", discovered: TODAY, from: TODAY, to: TODAY }],
      ["/access-review/signoff", { reviewer: "x" }], ["/integrity/verify", {}]]) {
      const r = await page.request.post(`${URL0}${url}`, { form, maxRedirects: 0 });
      assert.equal(r.status(), 403, url);
    }
    await page.goto(`${URL0}/assessments`);
    assert.equal((await page.$$("#assessments tbody tr")).length, 1);
  });

  await step("integrity page: a verification asked for now passes", async () => {
    await page.goto(`${URL0}/integrity`);
    assert.ok(await csrf());
    await submitHere("#verify-now");
    assert.match(await page.textContent("#last-result"), /^ok at /);
    assert.ok((await page.$$("#checkpoints tbody tr")).length >= 1);
    assert.match(await page.textContent("#latest-checkpoint"), /\n\d+\n/);
    assert.equal(await page.$("#integrity-alert"), null);
    await shotAndAxe(page, "p07-integrity");
  });
}

async function integrityPhase() {
  const pages = ["/search", "/patient", "/reviews", "/access-review", "/assessments", "/integrity"];
  await step("a failed verification is in every page's header", async () => {
    await signIn(page, "po2", PASSWORD, totp(process.env.PO2_TOTP));
    for (const p of pages) {
      await page.goto(`${URL0}${p}`);
      assert.match(await page.textContent("#integrity-alert"), /FAILED/, p);
    }
    // (The last run may be a later, passing one: the failure stays in the history.)
    assert.match(await page.textContent("#verifications"), /failed/);
    assert.match(await page.textContent("#unacknowledged"), /not yet acknowledged/);
    await shotAndAxe(page, "p08-integrity-failed");
  });

  await step("acknowledged, the failure leaves the header", async () => {
    await submitHere("#acknowledge");
    assert.equal(await page.$("#unacknowledged"), null);
    for (const p of pages) {
      await page.goto(`${URL0}${p}`);
      assert.equal(await page.$("#integrity-alert"), null, p);
    }
    await page.goto(`${URL0}/integrity`);
    assert.match(await page.textContent("#verifications"), /failed/);
  });
}

if (process.env.PHASE === "integrity") await integrityPhase();
else await pagesPhase();
await browser.close();
console.log(`${run.passed} passed, 0 failed`);
