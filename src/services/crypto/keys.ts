// The key hierarchy of edge encryption (FORMAT.md, "Key hierarchy"):
//
//   master key (Worker secret, by key id)  ──wraps──▶  bucket key (one per bucket, stored wrapped in D1)
//   bucket key                             ──wraps──▶  data key (one per object or multipart part set, stored
//                                                      wrapped beside the object in its BucketIndex)
//
// Every wrap is AES-256-GCM with a random 96-bit IV and additional data naming the purpose, the wrapping key's
// id and what the key belongs to, so a wrapped key copied to another bucket or object does not open there.
// Rotating the master key re-wraps bucket keys only; data keys and blobs are never touched.

import { base64, fromBase64, hex, hmacSha256 } from "../../protocol/crypto.ts";
import { KeyUnwrapError, MasterKeyRingError } from "./errors.ts";

export const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const WRAP_VERSION = "v1";
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
/** Ids of wrapping keys: master key ids, bucket key fingerprints, KMS key ids (UUIDs), "sse-c". */
const WRAPPING_KEY_ID = /^[A-Za-z0-9_-]{1,64}$/;
const encoder = new TextEncoder();

export interface MasterKey {
  readonly id: string;
  readonly key: CryptoKey;
}

/** The configured master keys; `newest` (the first in the secret) wraps, any of them unwraps. */
export interface MasterKeyRing {
  readonly newest: MasterKey;
  readonly byId: ReadonlyMap<string, MasterKey>;
}

/** An unwrapped bucket key. `id` is a fingerprint of the key (stable across master-key rotation). */
export interface BucketKey {
  readonly id: string;
  readonly bucketId: string;
  readonly key: CryptoKey;
}

export interface WrappedKey<K> {
  readonly key: K;
  /** `v1.<wrapping key id>.<base64(iv || ciphertext || tag)>`, to store beside what it protects. */
  readonly wrapped: string;
}

const ringCache = new Map<string, Promise<MasterKeyRing>>();

/**
 * Parses the master-key secret `"k2:<base64 32 bytes>,k1:<base64 32 bytes>"`: comma-separated `id:key`, newest
 * first. The first key wraps new bucket keys; the others stay to unwrap until every bucket key is re-wrapped.
 */
export function parseMasterKeyRing(secret: string): Promise<MasterKeyRing> {
  let ring = ringCache.get(secret);
  if (!ring) {
    ring = importRing(secret);
    ringCache.set(secret, ring);
    ring.catch(() => ringCache.delete(secret));
  }
  return ring;
}

async function importRing(secret: string): Promise<MasterKeyRing> {
  const entries = secret.split(",").map((e) => e.trim()).filter((e) => e.length > 0);
  if (entries.length === 0) throw new MasterKeyRingError("the master-key secret names no keys");
  const keys: MasterKey[] = [];
  const byId = new Map<string, MasterKey>();
  for (const [position, entry] of entries.entries()) {
    const colon = entry.indexOf(":");
    const id = colon < 0 ? "" : entry.slice(0, colon);
    if (!KEY_ID.test(id)) throw new MasterKeyRingError("a master key needs an id of 1-32 characters [A-Za-z0-9_-]", { position });
    if (byId.has(id)) throw new MasterKeyRingError("a master key id appears twice", { id });
    let raw: Uint8Array<ArrayBuffer>;
    try {
      raw = fromBase64(entry.slice(colon + 1));
    } catch {
      throw new MasterKeyRingError("a master key is not valid base64", { id });
    }
    if (raw.length !== KEY_BYTES) throw new MasterKeyRingError("a master key must be exactly 32 bytes", { id, bytes: raw.length });
    const master = { id, key: await importAesKey(raw) };
    keys.push(master);
    byId.set(id, master);
  }
  return { newest: keys[0]!, byId };
}

/** A fresh bucket key wrapped under the newest master key, bound to `bucketId`. */
export async function generateBucketKey(ring: MasterKeyRing, bucketId: string): Promise<WrappedKey<BucketKey>> {
  const raw = randomKeyBytes();
  return { key: await bucketKeyFrom(raw, bucketId), wrapped: await wrapUnderMaster(ring, raw, BUCKET_KEY, [bucketId]) };
}

/** Opens a wrapped bucket key with whichever master key wrapped it; fails unless it belongs to `bucketId`. */
export async function unwrapBucketKey(ring: MasterKeyRing, wrapped: string, bucketId: string): Promise<BucketKey> {
  return bucketKeyFrom(await unwrapUnderMaster(ring, wrapped, BUCKET_KEY, [bucketId]), bucketId);
}

/**
 * Master-key rotation: re-wraps a bucket key under the newest master key. The bucket key itself (and so every
 * data key and blob under it) is unchanged. Returns `wrapped` as is when the newest key already wraps it.
 */
export function rewrapBucketKey(ring: MasterKeyRing, wrapped: string, bucketId: string): Promise<string> {
  return rewrapUnderMaster(ring, wrapped, BUCKET_KEY, [bucketId]);
}

/**
 * Wraps 32 bytes of key material (a bucket key, a KMS key) under the newest master key, bound to `purpose` and
 * to the ids of what owns it: additional data `[purpose, masterKeyId, ...owner]`.
 */
export function wrapUnderMaster(ring: MasterKeyRing, raw: Uint8Array, purpose: string, owner: readonly string[]): Promise<string> {
  return wrap(ring.newest.id, ring.newest.key, new Uint8Array(raw), masterAad(purpose, ring.newest.id, owner));
}

/** Opens key material wrapped by `wrapUnderMaster` with whichever configured master key wrapped it. */
export function unwrapUnderMaster(ring: MasterKeyRing, wrapped: string, purpose: string, owner: readonly string[]): Promise<Uint8Array<ArrayBuffer>> {
  const { keyId } = parseWrapped(wrapped);
  const master = ring.byId.get(keyId);
  if (!master) throw new KeyUnwrapError("the key was wrapped by a master key that is not configured", { keyId });
  return unwrap(master.key, wrapped, masterAad(purpose, keyId, owner));
}

/** Re-wraps key material under the newest master key; `wrapped` as is (once proven to open) when it already is. */
export async function rewrapUnderMaster(ring: MasterKeyRing, wrapped: string, purpose: string, owner: readonly string[]): Promise<string> {
  const raw = await unwrapUnderMaster(ring, wrapped, purpose, owner);
  if (parseWrapped(wrapped).keyId === ring.newest.id) return wrapped;
  return wrapUnderMaster(ring, raw, purpose, owner);
}

/** The id of the master key that wrapped `wrapped` (to find bucket keys still wrapped by a retiring key). */
export function wrappingKeyId(wrapped: string): string {
  return parseWrapped(wrapped).keyId;
}

/**
 * A fresh data key for one object (or one multipart part set), wrapped by the bucket key and bound to the
 * bucket and to `aad`, the object's identity (e.g. its version id, or the upload id for a part set).
 */
export async function generateDataKey(bucketKey: BucketKey, aad: string): Promise<WrappedKey<CryptoKey>> {
  const raw = randomKeyBytes();
  const wrapped = await wrap(bucketKey.id, bucketKey.key, raw, dataKeyAad(bucketKey, aad));
  return { key: await importAesKey(raw), wrapped };
}

/** Opens a wrapped data key; fails unless it was wrapped by this bucket key for this bucket and `aad`. */
export async function unwrapDataKey(bucketKey: BucketKey, wrapped: string, aad: string): Promise<CryptoKey> {
  const { keyId } = parseWrapped(wrapped);
  if (keyId !== bucketKey.id) throw new KeyUnwrapError("the data key was wrapped by another bucket key", { keyId });
  return importAesKey(await unwrap(bucketKey.key, wrapped, dataKeyAad(bucketKey, aad)));
}

/** Imports 32 raw bytes as a non-extractable AES-256-GCM key (test vectors, tools). */
export function importDataKey(raw: Uint8Array): Promise<CryptoKey> {
  if (raw.length !== KEY_BYTES) throw new TypeError("a data key is exactly 32 bytes");
  return importAesKey(new Uint8Array(raw));
}

const BUCKET_KEY = "icn-edge/bucket-key/v1";

// The additional data is a JSON array: unambiguous however ids and object names are spelled.
function masterAad(purpose: string, masterKeyId: string, owner: readonly string[]): Uint8Array<ArrayBuffer> {
  return new Uint8Array(encoder.encode(JSON.stringify([purpose, masterKeyId, ...owner])));
}

function dataKeyAad(bucketKey: BucketKey, aad: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(encoder.encode(JSON.stringify(["icn-edge/data-key/v1", bucketKey.id, bucketKey.bucketId, aad])));
}

async function bucketKeyFrom(raw: Uint8Array<ArrayBuffer>, bucketId: string): Promise<BucketKey> {
  // A fingerprint, not a secret: HMAC under the key itself reveals nothing about it.
  const id = hex(await hmacSha256(raw, "icn-edge/bucket-key-id/v1")).slice(0, 16);
  return { id, bucketId, key: await importAesKey(raw) };
}

async function wrap(keyId: string, wrappingKey: CryptoKey, raw: Uint8Array<ArrayBuffer>, aad: Uint8Array<ArrayBuffer>): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad }, wrappingKey, raw));
  const out = new Uint8Array(IV_BYTES + ct.length);
  out.set(iv);
  out.set(ct, IV_BYTES);
  return `${WRAP_VERSION}.${keyId}.${base64(out)}`;
}

async function unwrap(wrappingKey: CryptoKey, wrapped: string, aad: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const { keyId, body } = parseWrapped(wrapped);
  try {
    const raw = new Uint8Array(
      await crypto.subtle.decrypt({ name: "AES-GCM", iv: body.subarray(0, IV_BYTES), additionalData: aad }, wrappingKey, body.subarray(IV_BYTES)),
    );
    if (raw.length !== KEY_BYTES) throw new Error("wrong key length");
    return raw;
  } catch {
    throw new KeyUnwrapError("the wrapped key does not open here (wrong bucket or object, or tampered)", { keyId });
  }
}

function parseWrapped(wrapped: string): { keyId: string; body: Uint8Array<ArrayBuffer> } {
  const parts = wrapped.split(".");
  const [version, keyId, encoded] = parts;
  if (parts.length !== 3 || version !== WRAP_VERSION || keyId === undefined || !WRAPPING_KEY_ID.test(keyId) || encoded === undefined) {
    throw new KeyUnwrapError("not a v1 wrapped key");
  }
  let body: Uint8Array<ArrayBuffer>;
  try {
    body = fromBase64(encoded);
  } catch {
    throw new KeyUnwrapError("a wrapped key is not valid base64", { keyId });
  }
  if (body.length !== IV_BYTES + KEY_BYTES + TAG_BYTES) throw new KeyUnwrapError("a wrapped key has the wrong length", { keyId });
  return { keyId, body };
}

function randomKeyBytes(): Uint8Array<ArrayBuffer> {
  return crypto.getRandomValues(new Uint8Array(KEY_BYTES));
}

function importAesKey(raw: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", raw, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
}
