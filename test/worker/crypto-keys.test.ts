// Edge encryption's key hierarchy (src/services/crypto/keys.ts): master-key ring, bucket and data keys, rotation.
import { describe, expect, it } from "vitest";
import { base64 } from "../../src/protocol/crypto.ts";
import { KeyUnwrapError, MasterKeyRingError } from "../../src/services/crypto/errors.ts";
import {
  generateBucketKey,
  generateDataKey,
  parseMasterKeyRing,
  rewrapBucketKey,
  unwrapBucketKey,
  unwrapDataKey,
  wrappingKeyId,
} from "../../src/services/crypto/keys.ts";
import { decryptBlob, encryptBlob, newNoncePrefix } from "../../src/services/crypto/stream-format.ts";

const k1 = base64(Uint8Array.from({ length: 32 }, (_, i) => i + 1));
const k2 = base64(Uint8Array.from({ length: 32 }, (_, i) => 200 - i));
const WRAPPED = /^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9+/]+=*$/;

async function expectUnwrapError(promise: Promise<unknown>): Promise<void> {
  await expect(promise).rejects.toBeInstanceOf(KeyUnwrapError);
}

describe("master-key ring", () => {
  it("encrypts with the first (newest) key and knows all of them", async () => {
    const ring = await parseMasterKeyRing(`k2:${k2}, k1:${k1}`);
    expect(ring.newest.id).toBe("k2");
    expect([...ring.byId.keys()]).toEqual(["k2", "k1"]);
    const { wrapped } = await generateBucketKey(ring, "bkt_a");
    expect(wrapped.startsWith("v1.k2.")).toBe(true);
    expect(wrappingKeyId(wrapped)).toBe("k2");
  });

  it("rejects a secret with a short key, a duplicate id, a missing id or no keys, without echoing key material", async () => {
    const short = base64(new Uint8Array(16));
    for (const secret of [`k1:${short}`, `k1:${k1},k1:${k2}`, k1, "", `k 1:${k1}`, "k1:not base64!"]) {
      const error = await parseMasterKeyRing(secret).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(MasterKeyRingError);
      expect(String((error as Error).message) + JSON.stringify((error as MasterKeyRingError).details)).not.toContain(k1);
    }
  });
});

describe("bucket and data keys", () => {
  it("round-trip: a data key unwrapped later decrypts what the fresh one encrypted", async () => {
    const ring = await parseMasterKeyRing(`k1:${k1}`);
    const bucket = await generateBucketKey(ring, "bkt_a");
    expect(bucket.wrapped).toMatch(WRAPPED);
    expect(bucket.wrapped.length).toBeLessThanOrEqual(96);
    const data = await generateDataKey(bucket.key, "ver_1");
    expect(data.wrapped).toMatch(WRAPPED);
    expect(data.wrapped.startsWith(`v1.${bucket.key.id}.`)).toBe(true);

    const prefix = newNoncePrefix();
    const plaintext = new TextEncoder().encode("operators hold only ciphertext");
    const blob = await encryptBlob(data.key, prefix, plaintext);

    const bucketKey = await unwrapBucketKey(ring, bucket.wrapped, "bkt_a");
    expect(bucketKey.id).toBe(bucket.key.id);
    const dataKey = await unwrapDataKey(bucketKey, data.wrapped, "ver_1");
    expect(new TextDecoder().decode(await decryptBlob(dataKey, prefix, blob, plaintext.length))).toBe("operators hold only ciphertext");
  });

  it("gives every bucket and every object its own key", async () => {
    const ring = await parseMasterKeyRing(`k1:${k1}`);
    const a = await generateBucketKey(ring, "bkt_a");
    const b = await generateBucketKey(ring, "bkt_a");
    expect(a.key.id).not.toBe(b.key.id);
    const d1 = await generateDataKey(a.key, "ver_1");
    const d2 = await generateDataKey(a.key, "ver_1");
    const prefix = newNoncePrefix();
    const plaintext = new Uint8Array(100);
    expect(await encryptBlob(d1.key, prefix, plaintext)).not.toEqual(await encryptBlob(d2.key, prefix, plaintext));
  });

  it("refuses to unwrap a bucket key for another bucket", async () => {
    const ring = await parseMasterKeyRing(`k1:${k1}`);
    const { wrapped } = await generateBucketKey(ring, "bkt_a");
    await expectUnwrapError(unwrapBucketKey(ring, wrapped, "bkt_b"));
  });

  it("refuses to unwrap a data key for another object or under another bucket's key", async () => {
    const ring = await parseMasterKeyRing(`k1:${k1}`);
    const bucketA = await generateBucketKey(ring, "bkt_a");
    const bucketB = await generateBucketKey(ring, "bkt_b");
    const { wrapped } = await generateDataKey(bucketA.key, "ver_1");
    await expectUnwrapError(unwrapDataKey(bucketA.key, wrapped, "ver_2"));
    await expectUnwrapError(unwrapDataKey(bucketB.key, wrapped, "ver_1"));
    // The same bucket key bytes presented as another bucket's (e.g. a copied D1 row) do not open it either.
    await expectUnwrapError(unwrapDataKey({ ...bucketA.key, bucketId: "bkt_b" }, wrapped, "ver_1"));
  });

  it("refuses a tampered, malformed or unknown-key wrapped key", async () => {
    const ring = await parseMasterKeyRing(`k1:${k1}`);
    const { wrapped } = await generateBucketKey(ring, "bkt_a");
    const body = wrapped.slice("v1.k1.".length);
    const flipped = `v1.k1.${body[0] === "A" ? "B" : "A"}${body.slice(1)}`;
    for (const bad of [flipped, `v1.k9.${body}`, `v2.k1.${body}`, "v1.k1.AAAA", "garbage", `v1.k1.${body}.x`]) {
      await expectUnwrapError(unwrapBucketKey(ring, bad, "bkt_a"));
    }
  });
});

describe("master-key rotation", () => {
  it("re-wraps bucket keys under the newest key so the old key can be removed, and data keys still open", async () => {
    const before = await parseMasterKeyRing(`k1:${k1}`);
    const bucket = await generateBucketKey(before, "bkt_a");
    const data = await generateDataKey(bucket.key, "ver_1");
    const prefix = newNoncePrefix();
    const blob = await encryptBlob(data.key, prefix, new Uint8Array([1, 2, 3]));

    const during = await parseMasterKeyRing(`k2:${k2},k1:${k1}`);
    expect(wrappingKeyId(bucket.wrapped)).toBe("k1");
    const rewrapped = await rewrapBucketKey(during, bucket.wrapped, "bkt_a");
    expect(wrappingKeyId(rewrapped)).toBe("k2");
    expect(await rewrapBucketKey(during, rewrapped, "bkt_a")).toBe(rewrapped);

    const after = await parseMasterKeyRing(`k2:${k2}`);
    await expectUnwrapError(unwrapBucketKey(after, bucket.wrapped, "bkt_a"));
    const bucketKey = await unwrapBucketKey(after, rewrapped, "bkt_a");
    expect(bucketKey.id).toBe(bucket.key.id);
    const dataKey = await unwrapDataKey(bucketKey, data.wrapped, "ver_1");
    expect([...(await decryptBlob(dataKey, prefix, blob, 3))]).toEqual([1, 2, 3]);
  });

  it("does not re-wrap a bucket key for another bucket", async () => {
    const ring = await parseMasterKeyRing(`k2:${k2},k1:${k1}`);
    const { wrapped } = await generateBucketKey(await parseMasterKeyRing(`k1:${k1}`), "bkt_a");
    await expectUnwrapError(rewrapBucketKey(ring, wrapped, "bkt_b"));
  });
});
