// Checks, in this browser, that the event on the page is in the signed log: the RFC 9162
// inclusion proof is recomputed with WebCrypto SHA-256 up to the checkpoint's root, and the
// checkpoint's Ed25519 signature (a C2SP signed note) is verified with WebCrypto against
// the log's public keys the page names. No hand-rolled crypto; nothing is trusted from
// the server but the bytes it sends.
(function () {
  "use strict";
  const box = document.getElementById("proof");
  if (!box) return;
  const status = document.getElementById("proof-status");
  const enc = new TextEncoder();
  const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const cat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  };
  const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

  // RFC 9162 §2.1.3.2: the root an inclusion proof leads to.
  async function rootFrom(index, size, leaf, path) {
    if (index >= size) throw new Error("the leaf index is beyond the tree size");
    let fn = index, sn = size - 1, r = leaf;
    for (const p of path) {
      if (sn === 0) throw new Error("the proof is too long");
      if (fn % 2 === 1 || fn === sn) {
        r = await sha256(cat([1], p, r));
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else {
        r = await sha256(cat([1], r, p));
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new Error("the proof is too short");
    return r;
  }

  // A C2SP signed note: the signed text and its signature lines.
  function parseNote(msg) {
    const split = msg.lastIndexOf("\n\n");
    if (split < 0) throw new Error("the checkpoint has no signature block");
    const text = msg.slice(0, split + 1);
    const sigs = msg.slice(split + 2).split("\n").filter((l) => l.length > 0).map((l) => {
      const m = /^\u2014 (\S+) (\S+)$/.exec(l);
      if (!m) throw new Error("a signature line is malformed");
      const raw = b64(m[2]);
      return { name: m[1], keyId: raw.slice(0, 4), sig: raw.slice(4) };
    });
    const lines = text.split("\n");
    return { text, sigs, origin: lines[0], size: Number(lines[1]), root: b64(lines[2]) };
  }

  // Verifies the note with any of the log's keys (`name+hex(keyid)+base64(0x01 ‖ key)`).
  async function signedBy(note, vkeys) {
    for (const vkey of vkeys) {
      const [name, idHex, keyB64] = splitVkey(vkey);
      if (!name || !idHex || !keyB64) continue;
      const raw = b64(keyB64);
      if (raw[0] !== 1 || raw.length !== 33) continue;
      const pub = raw.slice(1);
      const id = (await sha256(cat(enc.encode(name), [0x0a, 1], pub))).slice(0, 4);
      if (Array.from(id, (b) => b.toString(16).padStart(2, "0")).join("") !== idHex) continue;
      const key = await crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
      for (const s of note.sigs) {
        if (s.name !== name || !same(s.keyId, id)) continue;
        if (await crypto.subtle.verify({ name: "Ed25519" }, key, s.sig, enc.encode(note.text))) return name;
      }
    }
    return null;
  }

  function splitVkey(vkey) {
    const a = vkey.indexOf("+");
    const b = vkey.indexOf("+", a + 1);
    return [vkey.slice(0, a), vkey.slice(a + 1, b), vkey.slice(b + 1)];
  }

  function show(ok, message) {
    status.textContent = message;
    status.className = ok ? "ok" : "fail";
    box.dataset.result = ok ? "verified" : "failed";
  }

  async function check() {
    const res = await fetch("/console/proof/" + box.dataset.seq, { credentials: "same-origin" });
    if (!res.ok) throw new Error("the server gave no proof (HTTP " + res.status + ")");
    const p = await res.json();
    const leaf = b64(p.leaf_hash);
    if (box.dataset.leaf && !same(leaf, b64(box.dataset.leaf))) throw new Error("the proof is for another entry");
    const note = parseNote(p.checkpoint);
    if (note.size !== p.tree_size) throw new Error("the proof is for another tree size than the checkpoint");
    const root = await rootFrom(p.leaf_index, p.tree_size, leaf, p.hashes.map(b64));
    if (!same(root, note.root)) throw new Error("the recomputed root differs from the checkpoint's root");
    const vkeys = (box.dataset.vkeys || "").split(" ").filter((k) => k.length > 0);
    const signer = await signedBy(note, vkeys);
    if (!signer) throw new Error("the checkpoint's signature does not verify against the log's public key");
    show(true, "Verified in checkpoint " + note.size + " (signed by " + signer + "): this browser recomputed the inclusion proof and checked the signature.");
  }

  check().catch((e) => show(false, "Proof check FAILED: " + e.message + "."));
})();
