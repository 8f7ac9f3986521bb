// Console sign-in through a real OpenID provider (oidc-provider, started by
// console_oidc_e2e.rs), in Debian's chromium driven by playwright-core. Every step asserts;
// any failure exits 1. Environment: RECALL_URL, ISSUER, PATIENT, ARTEFACTS.
import assert from "node:assert/strict";
import { launch, shotAndAxe, steps } from "./lib.mjs";

const URL0 = process.env.RECALL_URL;
const ISSUER = process.env.ISSUER;
const OUT = process.env.ARTEFACTS;

const browser = await launch();
const run = steps();
const step = run.step;
const axe = (page, name) => shotAndAxe(page, OUT, `oidc-${name}`);

// The whole flow in a fresh browser (the provider keeps its own session per browser):
// recall's sign-in page, "single sign-on", the provider's sign-in and consent pages, and
// back. Returns the page and every URL of recall's callback the browser was sent to.
async function ssoSignIn(login) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const callbacks = [];
  page.on("request", (r) => {
    if (r.url().startsWith(`${URL0}/login/oidc/callback`)) callbacks.push(r.url());
  });
  await page.goto(`${URL0}/login`);
  await Promise.all([page.waitForURL(`${ISSUER}/**`), page.click("#sso")]);
  const back = page.waitForResponse((r) => r.url().startsWith(`${URL0}/login/oidc/callback`));
  await page.fill("input[name=login]", login);
  await page.fill("input[name=password]", "any synthetic password");
  await Promise.all([page.waitForLoadState("load"), page.click("button[type=submit]")]);
  if (page.url().startsWith(ISSUER)) {
    // The consent prompt.
    await page.click("button[type=submit]");
  }
  const res = await back;
  if (res.status() === 200) {
    // Signed in: this origin's own page moves on (so the Strict session cookie is sent).
    await page.waitForURL((u) => !u.pathname.startsWith("/login/oidc"));
  }
  await page.waitForLoadState("load");
  return { ctx, page, callbacks };
}

let replay = "";

await step("the sign-in page offers single sign-on", async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  await page.goto(`${URL0}/login`);
  assert.equal(await page.getAttribute("#sso", "href"), "/login/oidc");
  await axe(page, "login");
  await ctx.close();
});

await step("a privacy officer signs in at the provider: code + PKCE, state, nonce", async () => {
  const { ctx, page, callbacks } = await ssoSignIn("privacy_officer.sso-po");
  assert.match(page.url(), /\/search$/);
  assert.match(await page.textContent(".who"), /privacy_officer\.sso-po/);
  assert.equal(callbacks.length, 1);
  const cb = new URL(callbacks[0]);
  assert.ok(cb.searchParams.get("code") && cb.searchParams.get("state"));
  replay = callbacks[0];
  const cookie = (await ctx.cookies()).find((c) => c.name === "recall_session");
  assert.ok(cookie.httpOnly);
  assert.equal(cookie.sameSite, "Strict");
  await axe(page, "search-after-sso");
  await ctx.close();
});

await step("the authorization request asks for S256 PKCE, a state and a nonce", async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  let asked = null;
  page.on("request", (r) => {
    if (r.url().startsWith(`${ISSUER}/auth`)) asked = new URL(r.url());
  });
  await page.goto(`${URL0}/login/oidc`);
  assert.ok(asked, "sent to the provider's authorization endpoint");
  assert.equal(asked.searchParams.get("response_type"), "code");
  assert.equal(asked.searchParams.get("code_challenge_method"), "S256");
  assert.match(asked.searchParams.get("code_challenge"), /^[A-Za-z0-9_-]{43}$/);
  assert.ok(asked.searchParams.get("state").length >= 43);
  assert.ok(asked.searchParams.get("nonce").length >= 43);
  await ctx.close();
});

await step("a replayed callback is refused (a code and a state are used once)", async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const res = await page.goto(replay);
  assert.equal(res.status(), 401);
  assert.match(await page.textContent("#login-message"), /Single sign-on failed/);
  assert.ok(!(await ctx.cookies()).some((c) => c.name === "recall_session"));
  await ctx.close();
});

await step("a callback not started in this browser is refused", async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const res = await page.goto(`${URL0}/login/oidc/callback?code=forged&state=forged`);
  assert.equal(res.status(), 401);
  await ctx.close();
});

await step("a patient from the provider sees only their own report", async () => {
  const { ctx, page } = await ssoSignIn(`patient.${process.env.PATIENT}`);
  assert.match(page.url(), /\/my-report$/);
  const people = await page.$$eval("tbody tr td:first-child", (tds) => tds.map((t) => t.textContent));
  assert.ok(people.includes("Synthetic Doctor Oidc"), people.join("|"));
  assert.ok(!people.includes(""), "every row names someone");
  for (const p of ["/search", "/admin", "/reviews"]) {
    assert.equal((await page.request.get(`${URL0}${p}`, { maxRedirects: 0 })).status(), 403, p);
  }
  await axe(page, "patient-report");
  await ctx.close();
});

await step("a writer is a service, not a person: refused", async () => {
  const { ctx, page } = await ssoSignIn("writer.some-service");
  assert.match(page.url(), /\/login/);
  assert.ok(!(await ctx.cookies()).some((c) => c.name === "recall_session"));
  await ctx.close();
});

await browser.close();
console.log(`${run.passed} passed, 0 failed`);
