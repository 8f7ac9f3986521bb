// The administration and patient pages in a real browser (Debian's chromium, driven by
// playwright-core) against a real `recall serve` that console_admin_e2e.rs started.
// Every step asserts; any failure exits 1. Environment: RECALL_URL, PASSWORD, AUD_TOTP (an
// auditor's otpauth URI), PATIENT (a synthetic patient id with events), ARTEFACTS.
import assert from "node:assert/strict";
import { launch, shotAndAxe, signIn as signInAt, steps, totp } from "./lib.mjs";

const URL0 = process.env.RECALL_URL;
const OUT = process.env.ARTEFACTS;
const PASSWORD = process.env.PASSWORD;
const PATIENT = process.env.PATIENT;
const WIDTHS = [{ width: 1280, height: 800 }, { width: 768, height: 1024 }];

const browser = await launch();
const run = steps();
const step = run.step;

// At each width: a screenshot, no horizontal scrolling of the page, and axe-core.
async function shotsAndAxe(page, name) {
  for (const size of WIDTHS) {
    await page.setViewportSize(size);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `${name} scrolls sideways at ${size.width}px (${overflow}px)`);
    // Nor does any table, inside its scroll region or not (they stack on tablets).
    const wide = await page.$$eval("main table", (ts) => ts
      .map((t) => [t.closest(".scroll") || t.parentElement, t])
      .filter(([box, t]) => box.scrollWidth > box.clientWidth || t.scrollWidth > t.clientWidth)
      .map(([, t]) => t.id || t.querySelector("caption")?.textContent || "table"));
    assert.deepEqual(wide, [], `${name}: tables scroll sideways at ${size.width}px`);
    await shotAndAxe(page, OUT, `admin-${name}-${size.width}`);
  }
  await page.setViewportSize(WIDTHS[0]);
}

const signIn = (page, user, code) => signInAt(page, URL0, user, PASSWORD, code);

async function submit(page, formSel) {
  await Promise.all([page.waitForLoadState("load"), page.click(`${formSel} button[type=submit]`)]);
}

const rowOf = (page, text) => page.locator("tr", { hasText: text });
const status = async (url) => (await page.request.get(url, { maxRedirects: 0 })).status();

const ctx = await browser.newContext({ viewport: WIDTHS[0], acceptDownloads: true });
const page = await ctx.newPage();
let keyText = "";
let patientTotp = "";

await step("an administrator signs in (no TOTP: the role reads no PHI) and lands on administration", async () => {
  await signIn(page, "adm", "");
  assert.match(page.url(), /\/admin$/);
  assert.match(await page.textContent("h1"), /Administration of tenant st-marys/);
  assert.match(await page.textContent("#retention-years"), /6 years/);
  await shotsAndAxe(page, "page");
});

await step("keyboard: skip link first, then the navigation, with a visible focus ring", async () => {
  await page.goto(`${URL0}/admin`);
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.className), "skip");
  await page.keyboard.press("Tab");
  // The navigation's first link (an administrator's: Integrity, then Administration).
  assert.ok(await page.evaluate(() => document.activeElement === document.querySelector("nav a")));
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, "none");
  // Every control of the page is reachable by Tab (none has a negative tabindex).
  assert.equal(await page.locator("[tabindex='-1']").count(), 0);
});

await step("create an API key: shown once, works, listed", async () => {
  await page.selectOption("#key-role", "auditor");
  await page.fill("#key-label", "e2e auditor");
  await submit(page, "#new-key");
  keyText = (await page.textContent("#secret")).trim();
  assert.ok(keyText.length > 20);
  await shotsAndAxe(page, "key-created");
  const r = await page.request.get(`${URL0}/v1/events?limit=1`, { headers: { authorization: `Bearer ${keyText}` } });
  assert.equal(r.status(), 200);
  await page.goto(`${URL0}/admin`);
  assert.equal(await rowOf(page, "e2e auditor").count(), 1);
  assert.ok(!(await page.content()).includes(keyText), "the key is not shown again");
});

await step("revoke it: refused from the next request", async () => {
  await Promise.all([page.waitForLoadState("load"), rowOf(page, "e2e auditor").locator("button").click()]);
  assert.match(await rowOf(page, "e2e auditor").textContent(), /revoked/);
  const r = await page.request.get(`${URL0}/v1/events?limit=1`, { headers: { authorization: `Bearer ${keyText}` } });
  assert.equal(r.status(), 401);
});

await step("bad input is refused naming the field, and creates nothing", async () => {
  await page.fill("#user-name", "short-pw");
  await page.fill("#user-password", "shortpassw0");
  await page.evaluate(() => document.querySelector("#user-password").removeAttribute("minlength"));
  await submit(page, "#new-user");
  assert.match(await page.textContent(".problem"), /^password: /);
  await page.goto(`${URL0}/admin`);
  assert.equal(await rowOf(page, "short-pw").count(), 0);
  await page.selectOption("#user-role", "patient");
  await page.fill("#user-name", "no-patient");
  await page.fill("#user-password", PASSWORD);
  await submit(page, "#new-user");
  assert.match(await page.textContent(".problem"), /^patient: /);
  await page.goto(`${URL0}/admin`);
  assert.equal(await rowOf(page, "no-patient").count(), 0);
});

await step("create a patient user bound to one patient (TOTP shown once)", async () => {
  await page.fill("#user-name", "pat");
  await page.selectOption("#user-role", "patient");
  await page.fill("#user-password", PASSWORD);
  await page.fill("#user-patient", PATIENT);
  await submit(page, "#new-user");
  patientTotp = (await page.textContent("#secret")).trim();
  assert.match(patientTotp, /^otpauth:\/\/totp\//);
  await page.goto(`${URL0}/admin`);
  assert.match(await rowOf(page, "pat").first().textContent(), /patient.*TOTP.*active/s);
  assert.ok(!(await page.content()).includes(PATIENT), "the patient id is not shown");
});

await step("create, reset and disable a user", async () => {
  await page.fill("#user-name", "temp-auditor");
  await page.selectOption("#user-role", "auditor");
  await page.fill("#user-password", PASSWORD);
  await submit(page, "#new-user");
  const first = (await page.textContent("#secret")).trim();
  await page.goto(`${URL0}/admin`);
  await Promise.all([page.waitForLoadState("load"), rowOf(page, "temp-auditor").locator("button", { hasText: "Reset TOTP" }).click()]);
  const second = (await page.textContent("#secret")).trim();
  assert.match(second, /^otpauth:/);
  assert.notEqual(first, second);
  await page.goto(`${URL0}/admin`);
  await Promise.all([page.waitForLoadState("load"), rowOf(page, "temp-auditor").locator("button", { hasText: "Disable" }).click()]);
  assert.match(await rowOf(page, "temp-auditor").textContent(), /disabled/);
});

await step("place and release a legal hold (the held patient is never shown)", async () => {
  await page.fill("#hold-matter", "Synthetic v. Hospital");
  await page.selectOption("#hold-kind", "patient");
  await page.fill("#hold-subject", PATIENT);
  await submit(page, "#new-hold");
  assert.match(await rowOf(page, "Synthetic v. Hospital").textContent(), /one patient/);
  assert.ok(!(await page.content()).includes(PATIENT));
  await Promise.all([page.waitForLoadState("load"), rowOf(page, "Synthetic v. Hospital").locator("button").click()]);
  assert.match(await rowOf(page, "Synthetic v. Hospital").textContent(), /released/);
});

await step("a POST without the CSRF token is refused and changes nothing", async () => {
  const r = await page.request.post(`${URL0}/admin/users`, {
    form: { name: "csrf-less", role: "auditor", password: PASSWORD },
  });
  assert.equal(r.status(), 403);
  await page.goto(`${URL0}/admin`);
  assert.equal(await rowOf(page, "csrf-less").count(), 0);
  await Promise.all([page.waitForLoadState("load"), page.click("#logout")]);
});

await step("an auditor cannot open administration", async () => {
  await signIn(page, "aud", totp(process.env.AUD_TOTP));
  assert.match(page.url(), /\/search$/);
  await shotsAndAxe(page, "auditor-search");
  assert.equal(await status(`${URL0}/admin`), 403);
  assert.equal(await status(`${URL0}/my-report`), 403);
  await Promise.all([page.waitForLoadState("load"), page.click("#logout")]);
});

await step("a patient sees their own access report, grouped by person", async () => {
  await signIn(page, "pat", totp(patientTotp));
  assert.match(page.url(), /\/my-report$/);
  const people = await page.$$eval("tbody tr td:first-child", (tds) => tds.map((t) => t.textContent));
  assert.ok(people.includes("Synthetic Doctor dr-synth-a"), people.join("|"));
  assert.ok(people.includes("Synthetic Doctor dr-synth-b"), people.join("|"));
  assert.equal((await rowOf(page, "dr-synth-a").locator("td:nth-child(5)").textContent()).trim(), "2");
  // Plain words and plain times for the patient (the page showed TREAT and RFC 3339).
  const row = rowOf(page, "dr-synth-a");
  assert.match(await row.locator("td:nth-child(3)").textContent(), /^treatment \(TREAT\)$/);
  assert.match(await row.locator("td:nth-child(4)").textContent(), /^viewed: /);
  assert.match(await row.locator("td:nth-child(6)").textContent(), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
  await shotsAndAxe(page, "patient-report");
});

await step("the patient downloads the PDF of the report", async () => {
  const r = await page.request.get(`${URL0}/my-report/pdf`);
  assert.equal(r.status(), 200);
  assert.match(r.headers()["content-type"], /application\/pdf/);
  assert.equal((await r.body()).subarray(0, 5).toString(), "%PDF-");
});

await step("everything else is 403 for a patient", async () => {
  for (const p of ["/search", "/reviews", "/admin", "/event/1", "/export/csv", "/console/proof/1"]) {
    assert.equal(await status(`${URL0}${p}`), 403, p);
  }
  await page.goto(`${URL0}/search`);
  await shotsAndAxe(page, "patient-refused");
  await Promise.all([page.waitForLoadState("load"), page.click("#logout")]);
});

await browser.close();
console.log(`${run.passed} passed, 0 failed`);
