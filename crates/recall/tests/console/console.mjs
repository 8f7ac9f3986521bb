// The console in a real browser (Debian's chromium, driven by playwright-core) against a
// real `recall serve` that console_e2e.rs started. Every step asserts; any failure exits 1.
// Environment: RECALL_URL, PASSWORD, PO_TOTP and ENG_TOTP (otpauth URIs, may be empty),
// IDLE_SECS, ARTEFACTS (screenshots go there).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { launch, shotAndAxe as shot, signIn as signInAt, steps, totp, sameOriginOnly as sameOrigin, cellsOf } from "./lib.mjs";

const URL0 = process.env.RECALL_URL;
const OUT = process.env.ARTEFACTS;
const PASSWORD = process.env.PASSWORD;
const IDLE = Number(process.env.IDLE_SECS);

const browser = await launch();
const run = steps();
const step = run.step;
const shotAndAxe = (page, name) => shot(page, OUT, name);
const sameOriginOnly = (page) => sameOrigin(page, URL0);
const signIn = (page, user, password, code) => signInAt(page, URL0, user, password, code);

const seqsOn = (page) => page.$$eval("a.time", (as) => as.map((a) => a.getAttribute("href")));

const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
const page = await ctx.newPage();
sameOriginOnly(page);
let officerPatients = [];
let reviewedSeq = "";

await step("login page has the security headers and no serious accessibility issue", async () => {
  const res = await page.goto(`${URL0}/login`);
  const h = res.headers();
  assert.match(h["content-security-policy"], /script-src 'self'/);
  assert.doesNotMatch(h["content-security-policy"], /unsafe-inline/);
  assert.equal(h["x-frame-options"], "DENY");
  assert.equal(h["referrer-policy"], "no-referrer");
  // The server's time for the page (W3C Server Timing), a duration and nothing else.
  assert.match(h["server-timing"], /^app;dur=\d+\.\d\d$/);
  await shotAndAxe(page, "01-login");
});

await step("a wrong password is refused", async () => {
  await signIn(page, "po", "not the password at all", totp(process.env.PO_TOTP));
  assert.ok(page.url().endsWith("/login"));
  assert.match(await page.textContent("#login-message"), /not right/);
});

await step("sign in with password and TOTP", async () => {
  await signIn(page, "po", PASSWORD, totp(process.env.PO_TOTP));
  assert.match(page.url(), /\/search$/);
  const cookie = (await ctx.cookies()).find((c) => c.name === "recall_session");
  assert.ok(cookie.httpOnly, "HttpOnly");
  assert.equal(cookie.sameSite, "Strict");
});

await step("search shows a timeline grouped by day", async () => {
  await page.goto(`${URL0}/search?limit=10`);
  assert.equal((await seqsOn(page)).length, 10);
  assert.ok((await page.$$("h2.day")).length >= 1);
  await shotAndAxe(page, "02-search");
  await page.goto(`${URL0}/search?limit=10&action=read`);
  officerPatients = (await cellsOf(page, "a.patient")).filter((p) => p.length > 0);
  assert.equal(officerPatients.length, 10);
  // Client events only: recall's own records of these very searches would be new
  // first-page entries each time.
  await page.goto(`${URL0}/search?limit=10&action=read`);
});

await step("page forward and back over the cursors", async () => {
  const first = await seqsOn(page);
  await Promise.all([page.waitForURL(/cursor=/), page.click("#next")]);
  const second = await seqsOn(page);
  assert.equal(second.length, 10);
  assert.equal(second.filter((s) => first.includes(s)).length, 0, "no repeats");
  await Promise.all([page.waitForURL(/cursor=/), page.click("#next")]);
  const third = await seqsOn(page);
  await page.click("#prev");
  await page.waitForLoadState("load");
  assert.deepEqual(await seqsOn(page), second);
  assert.equal(third.filter((s) => second.includes(s)).length, 0);
  await page.click("#prev");
  await page.waitForLoadState("load");
  assert.deepEqual(await seqsOn(page), first);
});

await step("clicking a value filters by it (and the URL holds the filter)", async () => {
  const actor = (await cellsOf(page, "a.actor"))[0];
  await Promise.all([page.waitForURL(/actor=/), page.click("a.actor >> nth=0")]);
  assert.ok(new URL(page.url()).searchParams.get("actor") === actor);
  const actors = await cellsOf(page, "a.actor");
  assert.ok(actors.length > 0);
  assert.ok(actors.every((a) => a === actor), "every row is the clicked actor's");
  assert.equal(await page.inputValue("#f-actor"), actor);
});

await step("export the current filter as CSV", async () => {
  const actor = await page.inputValue("#f-actor");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export-csv")]);
  const file = path.join(OUT, "export.csv");
  await download.saveAs(file);
  // The API's export CSV (the reports' columns, event rows), through GET /v1/export.
  const lines = fs.readFileSync(file, "utf8").trim().split(/\r?\n/);
  assert.ok(lines[0].startsWith("record,actor_id,actor_role,"), lines[0]);
  assert.ok(lines.length > 1);
  assert.ok(lines.slice(1).every((l) => l.split(",")[0] === "event" && l.split(",")[1] === actor));
});

await step("an event's proof is verified in the browser", async () => {
  await page.goto(`${URL0}/search?limit=10`);
  await Promise.all([page.waitForURL(/\/event\//), page.click("a.time >> nth=0")]);
  await page.waitForSelector("#proof[data-result]");
  assert.equal(await page.getAttribute("#proof", "data-result"), "verified", await page.textContent("#proof-status"));
  assert.match(await page.textContent("#proof-status"), /Verified in checkpoint \d+/);
  await shotAndAxe(page, "03-event");
});

await step("a tampered checkpoint signature is shown as a failure", async () => {
  // The fixture: the checkpoint the browser receives has one signature byte changed.
  await page.route("**/console/proof/*", async (route) => {
    const res = await route.fetch();
    const p = await res.json();
    const lines = p.checkpoint.split("\n");
    const i = lines.findIndex((l) => l.startsWith("\u2014 "));
    const parts = lines[i].split(" ");
    const raw = Buffer.from(parts[2], "base64");
    raw[10] ^= 1;
    parts[2] = raw.toString("base64");
    lines[i] = parts.join(" ");
    p.checkpoint = lines.join("\n");
    await route.fulfill({ response: res, json: p });
  });
  await page.reload();
  await page.waitForSelector("#proof[data-result]");
  assert.equal(await page.getAttribute("#proof", "data-result"), "failed");
  assert.match(await page.textContent("#proof-status"), /FAILED: the checkpoint's signature does not verify/);
  await page.screenshot({ path: path.join(OUT, "04-event-tampered.png"), fullPage: true });
  await page.unroute("**/console/proof/*");
});

await step("review a break-glass access", async () => {
  await page.goto(`${URL0}/reviews`);
  await shotAndAxe(page, "05-reviews");
  const form = page.locator("form.review").first();
  reviewedSeq = (await form.getAttribute("action")).split("/").pop();
  await form.locator("select").selectOption("appropriate");
  await form.locator("input[name=note]").fill("synthetic review note");
  await Promise.all([page.waitForURL(/state=all/), form.locator("button").click()]);
  const item = page.locator(`#item-${reviewedSeq}`);
  assert.match(await item.textContent(), /reviewed/);
  assert.match(await item.textContent(), /appropriate/);
  await page.screenshot({ path: path.join(OUT, "06-reviewed.png"), fullPage: true });
});

await step("a POST without the CSRF token is refused and changes nothing", async () => {
  const res = await page.request.post(`${URL0}/reviews/${reviewedSeq}`, {
    form: { disposition: "inappropriate" }, maxRedirects: 0,
  });
  assert.equal(res.status(), 403);
  const out = await page.request.post(`${URL0}/logout`, { form: {}, maxRedirects: 0 });
  assert.equal(out.status(), 403);
  await page.goto(`${URL0}/reviews?state=all`);
  const badges = await cellsOf(page, `#item-${reviewedSeq} .badge`);
  assert.ok(badges.includes("appropriate") && !badges.includes("inappropriate"), badges.join());
});

await step("an idle session expires", async () => {
  await page.waitForTimeout((IDLE + 1) * 1000);
  await page.goto(`${URL0}/search`);
  assert.match(page.url(), /\/login\?why=expired/);
});

await step("logout ends the session on the server", async () => {
  // The code of the next step: this user's current one was used above.
  await signIn(page, "po", PASSWORD, totp(process.env.PO_TOTP, 1));
  assert.match(page.url(), /\/search$/);
  const id = (await ctx.cookies()).find((c) => c.name === "recall_session").value;
  await Promise.all([page.waitForURL(/why=signedout/), page.click("#logout")]);
  const replay = await page.request.get(`${URL0}/search`, {
    headers: { cookie: `recall_session=${id}` }, maxRedirects: 0,
  });
  assert.equal(replay.status(), 303);
  assert.match(replay.headers()["location"], /\/login/);
});

await step("an engineer sees pseudonyms only", async () => {
  const eng = await browser.newContext({ viewport: { width: 1024, height: 768 } });
  const p = await eng.newPage();
  sameOriginOnly(p);
  await signIn(p, "eng", PASSWORD, totp(process.env.ENG_TOTP));
  await p.goto(`${URL0}/search?limit=10&action=read`);
  const patients = (await cellsOf(p, "a.patient")).filter((x) => x.length > 0);
  assert.equal(patients.length, 10);
  assert.equal(patients.filter((x) => officerPatients.includes(x)).length, 0, "no real patient id");
  await shotAndAxe(p, "07-search-engineer");
  await eng.close();
});

await browser.close();
console.log(`${run.passed} passed, 0 failed`);
