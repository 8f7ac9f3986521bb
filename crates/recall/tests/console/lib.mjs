// What the console's browser scripts share: Debian's chromium launched headless with a
// fresh profile, RFC 6238 codes from an otpauth URI, numbered steps, and a screenshot
// plus axe-core (no serious or critical violation) of a page.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { CHROMIUM, signInAt } from "./common.mjs";

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

// TOTP codes and chromium's options are shared with the console benchmark (common.mjs).
export { totp } from "./common.mjs";

// Debian's chromium, never a downloaded browser (options in common.mjs).
export function launch() {
  return chromium.launch(CHROMIUM);
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
export function signIn(page, url, user, password, code) {
  return signInAt(url, page, user, password, code);
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
