// Secrets at rest in D1 (access-key and node secrets) are sealed with AES-256-GCM under the Worker's
// KEY_ENCRYPTION_KEY secret. Format: "v1." + base64(12-byte IV || ciphertext+tag).

import { base64, fromBase64 } from "../protocol/crypto.ts";

const VERSION = "v1.";
const keyCache = new Map<string, Promise<CryptoKey>>();

function importKek(kekBase64: string): Promise<CryptoKey> {
  let key = keyCache.get(kekBase64);
  if (!key) {
    const raw = fromBase64(kekBase64);
    if (raw.length !== 32) throw new Error("KEY_ENCRYPTION_KEY must be base64 of exactly 32 bytes");
    key = crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
    keyCache.set(kekBase64, key);
  }
  return key;
}

export async function sealSecret(kekBase64: string, plaintext: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv }, await importKek(kekBase64), new TextEncoder().encode(plaintext)),
  );
  const out = new Uint8Array(iv.length + ct.length);
  out.set(iv);
  out.set(ct, iv.length);
  return VERSION + base64(out);
}

export async function openSecret(kekBase64: string, sealed: string): Promise<string> {
  if (!sealed.startsWith(VERSION)) throw new Error("unknown sealed-secret format");
  const raw = fromBase64(sealed.slice(VERSION.length));
  const pt = await crypto.subtle.decrypt({ name: "AES-GCM", iv: raw.slice(0, 12) }, await importKek(kekBase64), raw.slice(12));
  return new TextDecoder().decode(pt);
}
