// What the console's browser scripts share: Debian's chromium launched headless with a
// fresh profile, RFC 6238 codes from an otpauth URI, numbered steps, and a screenshot
// plus axe-core (no serious or critical violation) of a page.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

// RFC 6238 from an otpauth URI (SHA-1, 6 digits, 30 s), at now + steps; "" without a URI.
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

// Debian's chromium, never a downloaded browser. No --user-data-dir: playwright refuses
// it here and gives every launch a fresh, temporary profile of its own.
export function launch() {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

// Numbered steps: each asserts; the first failure ends the script (exit 1).
export function steps() {
  const s = { passed: 0 };
  s.step = async (name, f) => {
    await f();
    s.passed += 1;
    console.log(`ok - ${name}`);
  };
  return s;
}

// A full-page screenshot into `out`, then axe-core, injected through the DevTools
// protocol (the page's CSP allows no inline script).
export async function shotAndAxe(page, out, name) {
  fs.mkdirSync(out, { recursive: true });
  await page.screenshot({ path: path.join(out, `${name}.png`), fullPage: true });
  await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target).join(" ")}`), [], `axe on ${name}`);
}

// The console's sign-in form at `url`: name, password, TOTP code (may be "").
export async function signIn(page, url, user, password, code) {
  await page.goto(`${url}/login`);
  await page.fill("#user", user);
  await page.fill("#password", password);
  await page.fill("#totp", code);
  await Promise.all([page.waitForLoadState("load"), page.click("button[type=submit]")]);
}

// Every request stays on the server at `url`: no CDN, no other host.
export function sameOriginOnly(page, url) {
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith(url) && !u.startsWith("data:") && !u.startsWith("blob:")) {
      throw new Error(`request to another host: ${u}`);
    }
  });
}

// The trimmed texts of the elements `sel` matches.
export const cellsOf = (page, sel) => page.$$eval(sel, (as) => as.map((a) => a.textContent.trim()));
