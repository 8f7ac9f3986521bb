// What the console e2e test (console.mjs) and the console benchmark
// (crates/recall-bench/console/bench.mjs) share: the TOTP code and how chromium starts.
import crypto from "node:crypto";

// Debian's chromium, headless, with nothing that talks to other hosts. No
// --user-data-dir: playwright refuses it here and gives every launch a fresh, temporary
// profile of its own.
export const CHROMIUM = {
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
};

// RFC 6238 TOTP (SHA-1, 6 digits, 30 s) from the otpauth URI `recall users create`
// printed, at now + `steps` time steps.

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

// Signs in on the console's form at `base` (password and, for PHI roles, TOTP).
export async function signInAt(base, page, user, password, code) {
  await page.goto(`${base}/login`);
  await page.fill("#user", user);
  await page.fill("#password", password);
  await page.fill("#totp", code);
  await Promise.all([page.waitForLoadState("load"), page.click("button[type=submit]")]);
}
