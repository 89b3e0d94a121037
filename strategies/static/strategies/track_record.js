// The track record's check in the browser: the same rules as strategies/track_record_verify.py.
// Canonical JSON (keys sorted, no spaces), Ed25519 signatures and SHA-256 links, with the browser's WebCrypto.
(function () {
  "use strict";
  const script = document.getElementById("track-record-script");
  const button = document.getElementById("verify-button");
  const result = document.getElementById("verify-result");
  if (!script || !button || !result) return;

  function canonical(value) {
    if (Array.isArray(value)) return "[" + value.map(canonical).join(",") + "]";
    if (value !== null && typeof value === "object") {
      return "{" + Object.keys(value).sort().map((k) => JSON.stringify(k) + ":" + canonical(value[k])).join(",") + "}";
    }
    return JSON.stringify(value);
  }
  const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
  const bytes = (text) => new Uint8Array(text.match(/../g).map((h) => parseInt(h, 16)));
  const utf8 = (text) => new TextEncoder().encode(text);

  async function verify(exported, head) {
    if (!window.crypto || !window.crypto.subtle) return [false, "this browser offers no WebCrypto here (it needs HTTPS)"];
    let key;
    try {
      key = await crypto.subtle.importKey("raw", bytes(exported.public_key), { name: "Ed25519" }, false, ["verify"]);
    } catch (error) {
      return [false, "this browser cannot check Ed25519 signatures: use the Python script"];
    }
    let previous = exported.genesis || "0".repeat(64);
    const signals = exported.signals || [];
    for (let i = 0; i < signals.length; i++) {
      const entry = signals[i];
      const where = "signal " + (i + 1) + " (id " + entry.payload.id + ")";
      if (entry.payload.previous !== previous) return [false, where + ": does not follow the signal before it (removed, added or reordered)"];
      const data = utf8(canonical(entry.payload));
      const ok = await crypto.subtle.verify({ name: "Ed25519" }, key, bytes(entry.signature), data);
      if (!ok) return [false, where + ": the signature does not match its fields (altered)"];
      const joined = new Uint8Array(data.length + 1 + entry.signature.length);
      joined.set(data, 0);
      joined.set(utf8("\n"), data.length);
      joined.set(utf8(entry.signature), data.length + 1);
      previous = hex(await crypto.subtle.digest("SHA-256", joined));
      if (entry.hash !== previous) return [false, where + ": its hash is not the hash of its fields and signature"];
    }
    if (previous !== exported.head || previous !== head) return [false, "the chain does not end at the published head (signals removed)"];
    return [true, signals.length + " signals checked, the chain ends at the published head"];
  }

  button.addEventListener("click", async function () {
    button.disabled = true;
    result.textContent = "Checking…";
    try {
      const response = await fetch(script.dataset.export, { credentials: "omit" });
      const [ok, message] = await verify(await response.json(), script.dataset.head);
      result.textContent = (ok ? "Verified: " : "Not verified: ") + message;
      result.className = ok ? "status-good" : "status-bad";
    } catch (error) {
      result.textContent = "Not verified: the export could not be read";
      result.className = "status-bad";
    } finally {
      button.disabled = false;
    }
  });
})();
