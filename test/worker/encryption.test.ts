// Edge encryption in the Worker: bucket keys and their rotation, bucket default encryption, and the checks S3
// makes on SSE request headers before a single byte moves.

import { env, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { openDb } from "../../src/db/client.ts";
import type { Env } from "../../src/env.ts";
import { bucketIndexFor } from "../../src/services/bucket-indexes.ts";
import { bucketKeyFor, newWrappedBucketKey } from "../../src/services/bucket-keys.ts";
import { createKmsKey } from "../../src/services/kms.ts";
import { parseMasterKeyRing, unwrapBucketKey } from "../../src/services/crypto/keys.ts";
import { admin, createAccountWithKey, EDGE, s3, xmlField, type TestAccount } from "./helpers.ts";

const T1_ONLY = "t1:QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=";
const T2_ONLY = "t2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
const T0_UNCONFIGURED = "t0:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

let alice: TestAccount;
const masterKeys = (env as unknown as Env).MASTER_KEYS;

async function bucketRow(name: string): Promise<{ id: string; wrapped_key: string | null }> {
  return (await env.DB.prepare("SELECT id, wrapped_key FROM buckets WHERE name = ?").bind(name).first())!;
}

beforeAll(async () => {
  alice = await createAccountWithKey("alice-enc");
});

describe("bucket keys", () => {
  it("every new bucket gets its own key, wrapped by the newest master key", async () => {
    expect((await s3(alice, "PUT", "/keyed-one")).status).toBe(200);
    expect((await s3(alice, "PUT", "/keyed-two")).status).toBe(200);
    const one = await bucketRow("keyed-one");
    const two = await bucketRow("keyed-two");
    expect(one.wrapped_key).toMatch(/^v1\.t2\./);
    const ring = await parseMasterKeyRing(masterKeys);
    const k1 = await unwrapBucketKey(ring, one.wrapped_key!, one.id);
    const k2 = await unwrapBucketKey(ring, two.wrapped_key!, two.id);
    expect(k1.id).not.toBe(k2.id);
    // A wrapped key moved to another bucket does not open there.
    await expect(unwrapBucketKey(ring, one.wrapped_key!, two.id)).rejects.toThrow(/does not open/);
  });

  it("a bucket from before encryption gets exactly one key, however many first writers race", async () => {
    expect((await s3(alice, "PUT", "/legacy-bucket")).status).toBe(200);
    const { id } = await bucketRow("legacy-bucket");
    await env.DB.prepare("UPDATE buckets SET wrapped_key = NULL WHERE id = ?").bind(id).run();
    const ring = await parseMasterKeyRing(masterKeys);
    const keys = await Promise.all(Array.from({ length: 5 }, () => bucketKeyFor(openDb(env.DB), ring, { id, wrappedKey: null })));
    expect(new Set(keys.map((k) => k.id)).size).toBe(1);
    const stored = await bucketRow("legacy-bucket");
    expect((await unwrapBucketKey(ring, stored.wrapped_key!, id)).id).toBe(keys[0]!.id);
  });

  it("rotation re-wraps old bucket keys under the newest master key without changing them, and reports progress", async () => {
    expect((await s3(alice, "PUT", "/rotating-bucket")).status).toBe(200);
    const { id } = await bucketRow("rotating-bucket");
    const oldRing = await parseMasterKeyRing(T1_ONLY);
    const oldWrapped = await newWrappedBucketKey(oldRing, id);
    const keyId = (await unwrapBucketKey(oldRing, oldWrapped, id)).id;
    await env.DB.prepare("UPDATE buckets SET wrapped_key = ? WHERE id = ?").bind(oldWrapped, id).run();
    // One bucket under a master key that is not configured at all: reported, never overwritten.
    expect((await s3(alice, "PUT", "/orphaned-key-bucket")).status).toBe(200);
    const orphan = await bucketRow("orphaned-key-bucket");
    const orphanWrapped = await newWrappedBucketKey(await parseMasterKeyRing(T0_UNCONFIGURED), orphan.id);
    await env.DB.prepare("UPDATE buckets SET wrapped_key = ? WHERE id = ?").bind(orphanWrapped, orphan.id).run();
    // And a KMS key under that unconfigured master key: reported too, and it must not stop the chore either.
    await createKmsKey(openDb(env.DB), await parseMasterKeyRing(T0_UNCONFIGURED), alice.id, { alias: "alias/orphaned" }, "us-east-1", Date.now());

    const before = (await (await admin("GET", "/encryption")).json()) as {
      newestMasterKey: string;
      masterKeys: { id: string; bucketKeys: number }[];
      unconfiguredMasterKeys: { id: string; bucketKeys: number }[];
      rotation: { pending: number; complete: boolean; removable: string[] };
    };
    expect(before.newestMasterKey).toBe("t2");
    expect(before.masterKeys.find((k) => k.id === "t1")?.bucketKeys).toBe(1);
    expect(before.unconfiguredMasterKeys).toEqual([{ id: "t0", bucketKeys: 1, kmsKeys: 1 }]);
    expect(before.rotation).toMatchObject({ pending: 1, complete: false, removable: [] });

    const res = await admin("POST", "/chores/key-rotation/run");
    expect(res.status).toBe(200);
    const report = (await res.json()) as {
      bucketKeys: { rewrapped: number; remaining: number; failed: { bucketId: string }[] };
      kmsKeys: { rewrapped: number; remaining: number; failed: unknown[] };
    };
    // The orphans are not attempted (nothing configured opens them) and do not hold up the rotation.
    expect(report.bucketKeys).toEqual({ rewrapped: 1, remaining: 0, failed: [] });
    expect(report.kmsKeys).toEqual({ rewrapped: 0, remaining: 0, failed: [] });

    const rotated = await bucketRow("rotating-bucket");
    expect(rotated.wrapped_key).toMatch(/^v1\.t2\./);
    // The newest key alone opens it now, and it is the same bucket key as before.
    expect((await unwrapBucketKey(await parseMasterKeyRing(T2_ONLY), rotated.wrapped_key!, id)).id).toBe(keyId);
    expect((await bucketRow("orphaned-key-bucket")).wrapped_key).toBe(orphanWrapped);

    const after = (await (await admin("GET", "/encryption")).json()) as typeof before;
    expect(after.rotation).toMatchObject({ pending: 0, complete: true, removable: ["t1"] });
    expect(after.unconfiguredMasterKeys).toEqual([{ id: "t0", bucketKeys: 1, kmsKeys: 1 }]);
  });
});

describe("account deletion", () => {
  it("crypto-erases the account: KMS key material, bucket keys and every bucket index are gone at once", async () => {
    const carol = await createAccountWithKey("carol-erased");
    expect((await s3(carol, "PUT", "/carol-bucket")).status).toBe(200);
    expect((await s3(carol, "PUT", "/carol-bucket?encryption", { body: "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>" })).status).toBe(200);
    const { id: bucketId } = await bucketRow("carol-bucket");
    await createKmsKey(openDb(env.DB), await parseMasterKeyRing(masterKeys), carol.id, { alias: "alias/carol" }, "us-east-1", Date.now());
    const count = async (sql: string) => ((await env.DB.prepare(sql).bind(carol.id).first()) as { n: number }).n;
    expect(await count("SELECT COUNT(*) AS n FROM kms_keys WHERE account_id = ?")).toBe(1);

    const res = await admin("DELETE", `/accounts/${carol.id}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ accountId: carol.id, kmsKeysDestroyed: 1, bucketsErased: 1, accessKeysRevoked: 1 });
    expect(await count("SELECT COUNT(*) AS n FROM kms_keys WHERE account_id = ?")).toBe(0);
    expect(await count("SELECT COUNT(*) AS n FROM buckets WHERE account_id = ?")).toBe(0);
    expect(await count("SELECT COUNT(*) AS n FROM access_keys WHERE account_id = ?")).toBe(0);
    // The bucket's index holds nothing any more, not even its configuration.
    const index = bucketIndexFor(env as unknown as Env, bucketId);
    expect(await index.isEmpty()).toBe(true);
    expect(await index.getConfig("encryption")).toBeNull();
    // The name is free again, and a new bucket under it is a different bucket with a different key.
    expect((await s3(alice, "PUT", "/carol-bucket")).status).toBe(200);
    expect((await bucketRow("carol-bucket")).id).not.toBe(bucketId);
    expect((await admin("DELETE", `/accounts/${carol.id}`)).status).toBe(404);
  });
});

describe("bucket default encryption", () => {
  const config = (algorithm: string, extra = "", bucketKey = "") =>
    `<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>${algorithm}</SSEAlgorithm>${extra}</ApplyServerSideEncryptionByDefault>${bucketKey}</Rule></ServerSideEncryptionConfiguration>`;

  it("is SSE-S3 until set, can be set, and returns to SSE-S3 (never plaintext) when deleted", async () => {
    expect((await s3(alice, "PUT", "/default-enc")).status).toBe(200);
    const initial = await (await s3(alice, "GET", "/default-enc?encryption")).text();
    expect(xmlField(initial, "SSEAlgorithm")).toBe("AES256");
    expect(xmlField(initial, "BucketKeyEnabled")).toBe("false");
    const put = await s3(alice, "PUT", "/default-enc?encryption", { body: config("AES256", "", "<BucketKeyEnabled>true</BucketKeyEnabled>") });
    expect(put.status).toBe(200);
    expect(xmlField(await (await s3(alice, "GET", "/default-enc?encryption")).text(), "BucketKeyEnabled")).toBe("true");
    expect((await s3(alice, "DELETE", "/default-enc?encryption")).status).toBe(204);
    const reset = await (await s3(alice, "GET", "/default-enc?encryption")).text();
    expect(xmlField(reset, "SSEAlgorithm")).toBe("AES256");
    expect(xmlField(reset, "BucketKeyEnabled")).toBe("false");
  });

  it("refuses malformed and unsupported configurations with S3's codes", async () => {
    expect((await s3(alice, "PUT", "/default-enc-bad")).status).toBe(200);
    const cases: [string, number, string][] = [
      ["<nope/>", 400, "MalformedXML"],
      ["<ServerSideEncryptionConfiguration><Rule></Rule></ServerSideEncryptionConfiguration>", 400, "MalformedXML"],
      [config("ROT13"), 400, "InvalidArgument"],
      [config("AES256", "<KMSMasterKeyID>some-key</KMSMasterKeyID>"), 400, "InvalidArgument"],
      [config("AES256", "", "<BucketKeyEnabled>maybe</BucketKeyEnabled>"), 400, "MalformedXML"],
    ];
    for (const [body, status, code] of cases) {
      const res = await s3(alice, "PUT", "/default-enc-bad?encryption", { body });
      expect(res.status, body).toBe(status);
      expect(xmlField(await res.text(), "Code"), body).toBe(code);
    }
    // Another account can neither read nor change it.
    const bob = await createAccountWithKey("bob-enc");
    expect((await s3(bob, "GET", "/default-enc-bad?encryption")).status).toBe(403);
    expect((await s3(bob, "PUT", "/default-enc-bad?encryption", { body: config("AES256") })).status).toBe(403);
  });
});

describe("SSE request headers are checked before any byte moves", () => {
  const key = new Uint8Array(32).fill(7);
  let keyB64: string;
  let keyMd5: string;

  beforeAll(async () => {
    keyB64 = btoa(String.fromCharCode(...key));
    keyMd5 = btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("MD5", key))));
    expect((await s3(alice, "PUT", "/sse-headers")).status).toBe(200);
  });

  /** A PUT to the edge as if over loopback (http://127.0.0.1), where SSE-C over plain HTTP is allowed. */
  async function putLoopback(headers: Record<string, string>): Promise<Response> {
    const signed = await alice.s3.sign(`http://127.0.0.1/sse-headers/object`, { method: "PUT", body: "data", headers });
    return SELF.fetch(signed);
  }

  it("refuses SSE-C over plain HTTP to a non-loopback host, as S3 refuses it without TLS", async () => {
    const res = await s3(alice, "PUT", "/sse-headers/object", {
      body: "data",
      headers: {
        "x-amz-server-side-encryption-customer-algorithm": "AES256",
        "x-amz-server-side-encryption-customer-key": keyB64,
        "x-amz-server-side-encryption-customer-key-md5": keyMd5,
      },
    });
    expect(EDGE.startsWith("http://")).toBe(true);
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(xmlField(text, "Code")).toBe("InvalidRequest");
    expect(xmlField(text, "Message")).toMatch(/secure connection/);
  });

  it("answers malformed customer keys and unknown methods with S3's codes", async () => {
    const cases: [Record<string, string>, string][] = [
      [{ "x-amz-server-side-encryption-customer-algorithm": "AES128", "x-amz-server-side-encryption-customer-key": keyB64, "x-amz-server-side-encryption-customer-key-md5": keyMd5 }, "InvalidEncryptionAlgorithmError"],
      [{ "x-amz-server-side-encryption-customer-algorithm": "AES256", "x-amz-server-side-encryption-customer-key-md5": keyMd5 }, "InvalidArgument"],
      [{ "x-amz-server-side-encryption-customer-algorithm": "AES256", "x-amz-server-side-encryption-customer-key": keyB64 }, "InvalidArgument"],
      [{ "x-amz-server-side-encryption-customer-algorithm": "AES256", "x-amz-server-side-encryption-customer-key": keyB64, "x-amz-server-side-encryption-customer-key-md5": "AAAAAAAAAAAAAAAAAAAAAA==" }, "InvalidArgument"],
      [{ "x-amz-server-side-encryption-customer-algorithm": "AES256", "x-amz-server-side-encryption-customer-key": btoa("short"), "x-amz-server-side-encryption-customer-key-md5": keyMd5 }, "InvalidArgument"],
      [{ "x-amz-server-side-encryption-customer-key": keyB64, "x-amz-server-side-encryption-customer-key-md5": keyMd5 }, "InvalidArgument"],
      [
        {
          "x-amz-server-side-encryption": "AES256",
          "x-amz-server-side-encryption-customer-algorithm": "AES256",
          "x-amz-server-side-encryption-customer-key": keyB64,
          "x-amz-server-side-encryption-customer-key-md5": keyMd5,
        },
        "InvalidArgument",
      ],
      [{ "x-amz-server-side-encryption": "ROT13" }, "InvalidArgument"],
      [{ "x-amz-server-side-encryption": "AES256", "x-amz-server-side-encryption-aws-kms-key-id": "some-key" }, "InvalidArgument"],
    ];
    for (const [headers, code] of cases) {
      const res = await putLoopback(headers);
      expect(res.status, JSON.stringify(headers)).toBe(400);
      expect(xmlField(await res.text(), "Code"), JSON.stringify(headers)).toBe(code);
    }
    // Nothing was written by any of them.
    expect((await s3(alice, "HEAD", "/sse-headers/object")).status).toBe(404);
  });
});

describe("encryption diagnostics (for npm run bench)", () => {
  it("runs the edge's cipher over the requested bytes and proves it by the byte counts", async () => {
    const run = async (mode: string, count: number) => (await (await admin("POST", "/diagnostics/crypto", { mode, count })).json()) as { checked: number };
    expect((await run("none", 2)).checked).toBe(2 * 1024 * 1024);
    // Ciphertext: 16-byte header + the plaintext + a 16-byte tag per 64 KiB chunk.
    expect((await run("encrypt", 2)).checked).toBe(16 + 2 * 1024 * 1024 + 16 * 32);
    expect((await run("roundtrip", 2)).checked).toBe(2 * 1024 * 1024);
    expect((await run("small", 3)).checked).toBe(3 * 4096);
    const bad = await admin("POST", "/diagnostics/crypto", { mode: "rot13", count: 1 });
    expect(bad.status).toBe(400);
  });
});
