/* The evidence package verifier, in the browser: the same checks as `safecity evidence verify`.
 *
 * Everything happens on this computer: the ZIP is read from its central directory, each entry's bytes
 * are hashed with SHA-256 and the manifest's Ed25519 signature is checked with the browser's WebCrypto
 * (crypto.subtle). Nothing is sent anywhere; the page works opened from a file (file://).
 *
 * The trusted keys are the deployment's keyring embedded in the page (<script id="keyring">) or a
 * keys.json the user loads. A package signed by any other key fails, however valid its signature.
 * Entries must be STORED (uncompressed), as safecity writes them; this page has no inflate.
 */
(function () {
  "use strict";

  var FORMAT = "safecity-evidence/1";
  var MANIFEST = "manifest.json";
  var SIGNATURE = "signature.json";
  var CUSTODY = "custody.json";
  var ALGORITHM = "Ed25519";
  var BAD_SIGNATURE =
    "the signature does not match the manifest: the manifest was changed or the signature swapped";
  var SWAPPED_KEY =
    "the signature was made by another key than the one the manifest names: the signature was swapped";
  var NO_TRUSTED_KEYS = "no trusted keys: pass --keyring (the deployment's keys.json)";
  var MAX_JSON = 64 * 1024 * 1024;

  var root = document.getElementById("verifier");
  if (!root) return;
  var el = function (id) { return document.getElementById(id); };
  var trusted = [];
  var trustedSource = "";

  // --- small helpers ------------------------------------------------------------------------------

  function hex(bytes) {
    var out = "";
    for (var i = 0; i < bytes.length; i++) out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return out;
  }

  function short(fp) {
    var head = fp.slice(0, 16);
    return head.match(/.{1,4}/g).join(" ");
  }

  function count(n, noun) {
    return n + " " + noun + (n === 1 ? "" : "s");
  }

  function b64(text) {
    if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
      throw new Error("not base64");
    }
    var bin = atob(text);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function sameBytes(a, b) {
    if (a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  async function sha256(bytes) {
    return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
  }

  function parseJson(bytes) {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  }

  function parseTime(value) {
    if (typeof value !== "string" || !value) return null;
    var t = Date.parse(value.replace(/(\.\d{3})\d+/, "$1"));
    return isNaN(t) ? null : t;
  }

  // --- the keyring ----------------------------------------------------------------------------------

  async function loadKeyring(text, source) {
    var doc = JSON.parse(text);
    var entries = Array.isArray(doc) ? doc : doc && doc.keys;
    if (!Array.isArray(entries) || !entries.length) {
      throw new Error("the keyring holds no keys (expected a list of {fingerprint, public_key})");
    }
    var keys = [];
    for (var i = 0; i < entries.length; i++) {
      var entry = entries[i];
      var raw;
      try { raw = b64(entry.public_key); } catch (e) {
        throw new Error("keyring entry " + (i + 1) + ": public_key is not base64");
      }
      if (raw.length !== 32) throw new Error("keyring entry " + (i + 1) + ": public_key is not a 32-byte Ed25519 key");
      var fp = await sha256(raw);
      if (entry.fingerprint != null && entry.fingerprint !== fp) {
        throw new Error("keyring entry " + (i + 1) + ": the fingerprint does not match the public key");
      }
      keys.push({ fingerprint: fp, publicKey: raw, retiredAt: entry.retired_at || null });
    }
    trusted = keys;
    trustedSource = source;
    showKeyring();
  }

  function showKeyring() {
    var box = el("keyring-source");
    if (!box) return;
    box.textContent = "";
    var p = document.createElement("p");
    p.textContent = trusted.length
      ? "Trusted keys (" + trustedSource + "): " + trusted.map(function (k) {
          return short(k.fingerprint) + (k.retiredAt ? " (retired)" : " (active)");
        }).join(", ")
      : "No trusted keys: load the deployment's keys.json below.";
    box.appendChild(p);
  }

  // --- reading the ZIP ------------------------------------------------------------------------------

  async function readBytes(file, start, end) {
    return new Uint8Array(await file.slice(start, end).arrayBuffer());
  }

  function NotZip(message) { this.message = message; }

  async function listEntries(file) {
    var tailLength = Math.min(file.size, 22 + 65535 + 20);
    var tailStart = file.size - tailLength;
    var tail = await readBytes(file, tailStart, file.size);
    var dv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
    var eocd = -1;
    for (var i = tail.length - 22; i >= 0; i--) {
      if (dv.getUint32(i, true) === 0x06054b50) { eocd = i; break; }
    }
    if (eocd < 0) throw new NotZip("File is not a zip file");
    var total = dv.getUint16(eocd + 10, true);
    var cdSize = dv.getUint32(eocd + 12, true);
    var cdOffset = dv.getUint32(eocd + 16, true);
    if (total === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      var loc = eocd - 20;
      if (loc < 0 || dv.getUint32(loc, true) !== 0x07064b50) throw new NotZip("its ZIP64 locator is missing");
      var z64at = Number(dv.getBigUint64(loc + 8, true));
      var z64 = await readBytes(file, z64at, z64at + 56);
      var zv = new DataView(z64.buffer, z64.byteOffset, z64.byteLength);
      if (z64.length < 56 || zv.getUint32(0, true) !== 0x06064b50) throw new NotZip("its ZIP64 directory is damaged");
      total = Number(zv.getBigUint64(32, true));
      cdSize = Number(zv.getBigUint64(40, true));
      cdOffset = Number(zv.getBigUint64(48, true));
    }
    if (cdOffset + cdSize > file.size) throw new NotZip("its central directory lies outside the file (truncated)");
    var cd = await readBytes(file, cdOffset, cdOffset + cdSize);
    var c = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
    var entries = [];
    var p = 0;
    var utf8 = new TextDecoder("utf-8");
    for (var n = 0; n < total; n++) {
      if (p + 46 > cd.length || c.getUint32(p, true) !== 0x02014b50) throw new NotZip("its central directory is damaged");
      var method = c.getUint16(p + 10, true);
      var csize = c.getUint32(p + 20, true);
      var usize = c.getUint32(p + 24, true);
      var nlen = c.getUint16(p + 28, true);
      var elen = c.getUint16(p + 30, true);
      var clen = c.getUint16(p + 32, true);
      var offset = c.getUint32(p + 42, true);
      var name = utf8.decode(cd.subarray(p + 46, p + 46 + nlen));
      var e = p + 46 + nlen;
      var eEnd = e + elen;
      while (e + 4 <= eEnd) {
        var id = c.getUint16(e, true);
        var len = c.getUint16(e + 2, true);
        if (id === 0x0001) {
          var q = e + 4;
          if (usize === 0xffffffff) { usize = Number(c.getBigUint64(q, true)); q += 8; }
          if (csize === 0xffffffff) { csize = Number(c.getBigUint64(q, true)); q += 8; }
          if (offset === 0xffffffff) { offset = Number(c.getBigUint64(q, true)); q += 8; }
        }
        e += 4 + len;
      }
      p = eEnd + clen;
      if (name.slice(-1) !== "/") {
        entries.push({ name: name, method: method, csize: csize, usize: usize, offset: offset });
      }
    }
    return entries;
  }

  async function entryBytes(file, entry) {
    if (entry.method !== 0) {
      throw new Error("it is compressed (method " + entry.method + "); this page reads only stored entries, " +
        "as safecity writes them: use `safecity evidence verify`");
    }
    var header = await readBytes(file, entry.offset, entry.offset + 30);
    var hv = new DataView(header.buffer, header.byteOffset, header.byteLength);
    if (header.length !== 30 || hv.getUint32(0, true) !== 0x04034b50) {
      throw new Error("its local header is missing or damaged");
    }
    var start = entry.offset + 30 + hv.getUint16(26, true) + hv.getUint16(28, true);
    if (start + entry.csize > file.size) throw new Error("the package ends in the middle of it (truncated)");
    return readBytes(file, start, start + entry.csize);
  }

  // --- the checks (the same, in the same order, as safecity.evidence.verify) -----------------------

  async function checkSignature(report, manifestBytes, manifest, signature) {
    if (!signature || typeof signature !== "object" || signature.algorithm !== ALGORITHM) {
      report.add("signature", false, SIGNATURE + " is not an " + ALGORITHM + " signature");
      return;
    }
    var pub, sig;
    try {
      pub = b64(String(signature.public_key || ""));
      sig = b64(String(signature.signature || ""));
    } catch (e) {
      report.add("signature", false, SIGNATURE + ": the public key or signature is not base64");
      return;
    }
    if (pub.length !== 32 || sig.length !== 64) {
      report.add("signature", false, SIGNATURE + ": the public key or signature has the wrong length");
      return;
    }
    var named = await sha256(pub);
    report.keyFingerprint = named;
    if (signature.key_fingerprint !== named) {
      report.add("signature", false, SIGNATURE + ": the key fingerprint does not match its public key");
      return;
    }
    var signingKey = manifest.signing_key;
    if (!signingKey || typeof signingKey !== "object" || signingKey.fingerprint !== named) {
      report.add("signature", false, SWAPPED_KEY);
    } else {
      var valid = false;
      try {
        var key = await crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
        valid = await crypto.subtle.verify({ name: "Ed25519" }, key, sig, manifestBytes);
      } catch (e) {
        valid = false;
      }
      if (valid) report.add("signature", true, "the " + ALGORITHM + " signature matches the manifest");
      else report.add("signature", false, BAD_SIGNATURE);
    }
    if (!trusted.length) {
      report.add("key", false, NO_TRUSTED_KEYS);
      return;
    }
    var known = null;
    for (var i = 0; i < trusted.length; i++) if (trusted[i].fingerprint === named) known = trusted[i];
    if (!known || !sameBytes(known.publicKey, pub)) {
      report.add("key", false, "signed by a key that is not in the trusted keyring (fingerprint " + short(named) +
        "): a forged key, or a key of another deployment");
      return;
    }
    var exportedAt = parseTime(manifest.exported_at);
    var retiredAt = parseTime(known.retiredAt);
    if (retiredAt !== null && exportedAt !== null && exportedAt > retiredAt) {
      report.add("key", false, "signed by key " + short(named) + " with a date after the key was retired (" +
        known.retiredAt + "): a retired key signs nothing new");
      return;
    }
    var state = known.retiredAt ? "retired, still valid for what it signed" : "active";
    report.add("key", true, "signed by a trusted key of this deployment: " + short(named) + " (" + state + ")");
  }

  async function checkListed(report, file, entries, listed, what) {
    var name = String(listed.name);
    var entry = entries[name];
    if (!entry) {
      report.add(name, false, name + ": listed in the manifest but missing from the package (" + what + ")");
      return;
    }
    var sha, size;
    try {
      var bytes = await entryBytes(file, entry);
      size = bytes.length;
      sha = await sha256(bytes);
    } catch (e) {
      report.add(name, false, name + ": cannot be read: " + (e && e.message ? e.message : e));
      return;
    }
    var problems = [];
    if (sha !== listed.sha256) problems.push("SHA-256 differs");
    if (size !== listed.size) problems.push("size differs (" + size + " bytes, the manifest says " + listed.size + ")");
    if (problems.length) report.add(name, false, name + ": " + problems.join("; ") + ": changed after export");
    else report.add(name, true, name + ": SHA-256 and size match (" + size + " bytes)");
  }

  async function verify(file, report) {
    var list;
    try {
      list = await listEntries(file);
    } catch (e) {
      report.add("package", false, file.name + " is not a ZIP file (or it is damaged): " + e.message);
      return;
    }
    var counts = {};
    var entries = {};
    list.forEach(function (e) {
      counts[e.name] = (counts[e.name] || 0) + 1;
      entries[e.name] = entries[e.name] || e;
    });
    var names = Object.keys(entries);
    report.add("package", true, file.name + " is a ZIP file with " + count(names.length, "file"));
    names.slice().sort().forEach(function (name) {
      if (counts[name] > 1) {
        report.add(name, false, name + ": appears " + counts[name] + " times in the package (one was slipped in)");
      }
    });
    if (!entries[MANIFEST]) {
      report.add(MANIFEST, false, MANIFEST + " is missing: this is not an evidence package");
      return;
    }
    var manifestBytes, manifest;
    try {
      if (entries[MANIFEST].usize > MAX_JSON) throw new Error("it is too large");
      manifestBytes = await entryBytes(file, entries[MANIFEST]);
      manifest = parseJson(manifestBytes);
      if (!manifest || typeof manifest !== "object" || manifest.format !== FORMAT) {
        throw new Error("its format is not " + FORMAT);
      }
      if (!Array.isArray(manifest.files)) throw new Error("it lists no files");
    } catch (e) {
      report.add(MANIFEST, false, MANIFEST + " cannot be read: " + e.message);
      return;
    }
    report.add(MANIFEST, true, MANIFEST + " lists " + count(manifest.files.length, "file"));
    report.manifest = manifest;

    if (!entries[SIGNATURE]) {
      report.add("signature", false, SIGNATURE + " is missing: the package is not signed");
    } else {
      var signature = null;
      try {
        signature = parseJson(await entryBytes(file, entries[SIGNATURE]));
      } catch (e) {
        report.add("signature", false, SIGNATURE + " cannot be read: " + e.message);
      }
      if (signature !== null) await checkSignature(report, manifestBytes, manifest, signature);
    }
    if (!trusted.length && !report.checks.some(function (c) { return c.subject === "key"; })) {
      report.add("key", false, NO_TRUSTED_KEYS);
    }

    var expected = {};
    expected[MANIFEST] = expected[SIGNATURE] = true;
    for (var i = 0; i < manifest.files.length; i++) {
      var listed = manifest.files[i];
      if (listed && typeof listed === "object") {
        expected[String(listed.name)] = true;
        await checkListed(report, file, entries, listed, "removed after export");
      }
    }
    var custody = manifest.custody;
    if (custody && typeof custody === "object" && custody.name === CUSTODY) {
      expected[CUSTODY] = true;
      await checkListed(report, file, entries, custody, "the custody log was removed");
    } else {
      report.add(CUSTODY, false, "the manifest does not list the custody log");
    }
    var extras = Array.isArray(manifest.extras) ? manifest.extras : [];
    for (var j = 0; j < extras.length; j++) {
      if (extras[j] && typeof extras[j] === "object") {
        expected[String(extras[j].name)] = true;
        await checkListed(report, file, entries, extras[j], "removed after export");
      }
    }
    names.filter(function (n) { return !expected[n]; }).sort().forEach(function (name) {
      report.add(name, false, name + ": in the package but not listed in the manifest (added after export)");
    });
  }

  // --- the page -------------------------------------------------------------------------------------

  function newReport() {
    return {
      checks: [],
      manifest: null,
      keyFingerprint: null,
      add: function (subject, ok, message) { this.checks.push({ subject: subject, ok: ok, message: message }); },
    };
  }

  function show(file, report) {
    var ok = report.checks.length > 0 && report.checks.every(function (c) { return c.ok; });
    var failed = report.checks.filter(function (c) { return !c.ok; }).length;
    var verdict = el("verdict");
    verdict.className = "verdict " + (ok ? "ok" : "fail");
    verdict.setAttribute("data-ok", ok ? "true" : "false");
    verdict.textContent = ok
      ? "VERIFIED: " + file.name + ": every check passed (" + report.checks.length + " checks)."
      : "NOT VERIFIED: " + file.name + ": " + failed + " check(s) failed.";
    var summary = el("summary");
    summary.textContent = "";
    if (report.manifest) {
      var m = report.manifest;
      var caseRef = m.case && (m.case.number || m.case.id) ? String(m.case.number || m.case.id) : "?";
      var title = m.case && m.case.title ? " (" + m.case.title + ")" : "";
      summary.textContent = "Case " + caseRef + title + ", exported by " + m.exported_by + " at " + m.exported_at +
        ". Purpose: " + m.purpose + (report.keyFingerprint ? ". Signing key " + short(report.keyFingerprint) + "." : ".");
    }
    var list = el("checks");
    list.textContent = "";
    report.checks.forEach(function (c) {
      var li = document.createElement("li");
      li.className = "check " + (c.ok ? "ok" : "fail");
      li.setAttribute("data-subject", c.subject);
      li.setAttribute("data-ok", c.ok ? "true" : "false");
      var mark = document.createElement("span");
      mark.className = "mark";
      mark.textContent = c.ok ? "ok" : "FAIL";
      li.appendChild(mark);
      li.appendChild(document.createTextNode(" " + c.message));
      list.appendChild(li);
    });
  }

  async function run(file) {
    var verdict = el("verdict");
    verdict.className = "verdict busy";
    verdict.removeAttribute("data-ok");
    verdict.textContent = "Checking " + file.name + "…";
    el("checks").textContent = "";
    el("summary").textContent = "";
    var report = newReport();
    try {
      await verify(file, report);
    } catch (e) {
      report.add("package", false, file.name + ": cannot be checked: " + (e && e.message ? e.message : e));
    }
    show(file, report);
  }

  async function supported() {
    if (!window.crypto || !crypto.subtle) return false;
    try {
      // RFC 8032's first test key: importing it proves the browser knows Ed25519
      var pub = new Uint8Array("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        .match(/../g).map(function (h) { return parseInt(h, 16); }));
      await crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
      return true;
    } catch (e) {
      return false;
    }
  }

  async function start() {
    if (!(await supported())) {
      var v = el("verdict");
      v.className = "verdict fail";
      v.textContent = "This browser cannot check Ed25519 signatures (WebCrypto). Use a current Chromium, Chrome or " +
        "Edge (137 or later), Firefox (129 or later) or Safari (17 or later), or the `safecity evidence verify` command.";
      return;
    }
    var embedded = el("keyring");
    try {
      var text = embedded ? embedded.textContent.trim() : "";
      if (text && text !== "[]") await loadKeyring(text, "embedded in this page");
      else showKeyring();
    } catch (e) {
      trusted = [];
      showKeyring();
    }
    el("keyring-file").addEventListener("change", async function (event) {
      var f = event.target.files && event.target.files[0];
      event.target.value = ""; // choosing the same file again checks it again
      if (!f) return;
      try {
        await loadKeyring(await f.text(), "from " + f.name);
      } catch (e) {
        var box = el("keyring-source");
        box.textContent = "";
        var p = document.createElement("p");
        p.className = "error";
        p.textContent = f.name + ": " + (e && e.message ? e.message : e);
        box.appendChild(p);
      }
    });
    el("package-file").addEventListener("change", function (event) {
      var f = event.target.files && event.target.files[0];
      event.target.value = ""; // choosing the same file again checks it again
      if (f) run(f);
    });
    var drop = el("drop");
    ["dragenter", "dragover"].forEach(function (type) {
      drop.addEventListener(type, function (event) { event.preventDefault(); drop.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (type) {
      drop.addEventListener(type, function () { drop.classList.remove("over"); });
    });
    drop.addEventListener("drop", function (event) {
      event.preventDefault();
      var f = event.dataTransfer && event.dataTransfer.files && event.dataTransfer.files[0];
      if (f) run(f);
    });
    root.setAttribute("data-ready", "true");
  }

  start();
})();
