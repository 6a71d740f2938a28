// Small Web Crypto helpers shared by the edge and the node-agent. No runtime-specific imports.

const encoder = new TextEncoder();

export type KeyMaterial = string | ArrayBuffer | Uint8Array | CryptoKey;

function bytes(data: string | ArrayBuffer | Uint8Array): Uint8Array<ArrayBuffer> {
  if (typeof data === "string") return encoder.encode(data) as Uint8Array<ArrayBuffer>;
  return data instanceof Uint8Array ? new Uint8Array(data) : new Uint8Array(data);
}

export async function hmacSha256(key: KeyMaterial, data: string | Uint8Array): Promise<ArrayBuffer> {
  const cryptoKey =
    key instanceof CryptoKey
      ? key
      : await crypto.subtle.importKey("raw", bytes(key), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return crypto.subtle.sign("HMAC", cryptoKey, bytes(data));
}

export async function sha256Hex(data: string | ArrayBuffer | Uint8Array): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-256", bytes(data)));
}

export const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

export function hex(buffer: ArrayBuffer | Uint8Array): string {
  const view = buffer instanceof Uint8Array ? buffer : new Uint8Array(buffer);
  let out = "";
  for (const b of view) out += b.toString(16).padStart(2, "0");
  return out;
}

export function fromHex(value: string): Uint8Array<ArrayBuffer> {
  if (value.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(value)) throw new Error("invalid hex");
  const out = new Uint8Array(value.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(value.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Constant-time comparison of two hex strings of the same length (signatures, digests). */
export function timingSafeEqualHex(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

export function randomHex(byteCount: number): string {
  return hex(crypto.getRandomValues(new Uint8Array(byteCount)));
}

export function base64(data: Uint8Array): string {
  let s = "";
  for (const b of data) s += String.fromCharCode(b);
  return btoa(s);
}

export function fromBase64(value: string): Uint8Array<ArrayBuffer> {
  const s = atob(value);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Random secret for SigV4 credentials: 40 chars of the base64 alphabet like AWS secrets, without '/' and '+'. */
export function randomSecret(): string {
  return base64(crypto.getRandomValues(new Uint8Array(30))).replace(/\+/g, "A").replace(/\//g, "B");
}
