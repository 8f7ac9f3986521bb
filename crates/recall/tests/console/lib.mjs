// What the console's browser scripts share: TOTP codes, the browser, steps that count,
// the same-origin guard, screenshots with axe-core, and signing in.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
export const URL0 = process.env.RECALL_URL;
export const OUT = process.env.ARTEFACTS;
export const PASSWORD = process.env.PASSWORD;
const AXE = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
fs.mkdirSync(OUT, { recursive: true });

// RFC 6238 from the otpauth URI the CLI printed (SHA-1, 6 digits, 30 s), at now + skew steps.
export function totp(uri, steps = 0) {
  if (!uri) return "";
  const secret = new URL(uri).searchParams.get("secret");
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of secret.replace(/=+$/, "")) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000) + steps));
  const h = crypto.createHmac("sha1", key).update(counter).digest();
  const o = h[h.length - 1] & 15;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1e6).padStart(6, "0");
}

// Debian's chromium, headless, with a fresh temporary profile (never a downloaded browser).
export function launch() {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

// Runs named steps in order; every step asserts. `steps.passed` counts those that did.
export function stepper() {
  const s = async (name, f) => {
    await f();
    s.passed += 1;
    console.log(`ok - ${name}`);
  };
  s.passed = 0;
  return s;
}

// Every request stays on the server: no CDN, no other host.
export function sameOriginOnly(page) {
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith(URL0) && !u.startsWith("data:") && !u.startsWith("blob:")) {
      throw new Error(`request to another host: ${u}`);
    }
  });
}

export async function shotAndAxe(page, name) {
  await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true });
  // Injected through the DevTools protocol: the page's CSP allows no inline script.
  await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target).join(" ")}`), [], `axe on ${name}`);
}

export async function signIn(page, user, password, code) {
  await page.goto(`${URL0}/login`);
  await page.fill("#user", user);
  await page.fill("#password", password);
  await page.fill("#totp", code);
  await Promise.all([page.waitForLoadState("load"), page.click("button[type=submit]")]);
}

export const cellsOf = (page, sel) => page.$$eval(sel, (as) => as.map((a) => a.textContent.trim()));
