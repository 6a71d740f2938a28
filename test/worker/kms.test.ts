// The per-account KMS (src/services/kms.ts) and its control API (/api/v1/kms): key lifecycle, resolution for the
// S3 layer, isolation between accounts, master-key rotation, crypto-erase and the deletion chore.
import { env, SELF } from "cloudflare:test";
import { AwsClient } from "aws4fetch";
import { beforeAll, describe, expect, it } from "vitest";
import { openDb } from "../../src/db/client.ts";
import type { Env } from "../../src/env.ts";
import { KeyUnwrapError } from "../../src/services/crypto/errors.ts";
import { parseMasterKeyRing, type MasterKeyRing } from "../../src/services/crypto/keys.ts";
import {
  createKmsKey,
  destroyAccountKmsKeys,
  disableKmsKey,
  enableKmsKey,
  resolveKmsKey,
  rewrapKmsKeys,
  type KmsKey,
  type UsableKmsKey,
} from "../../src/services/kms.ts";
import { CHORES } from "../../workers/cron/chores.ts";
import { runOnce as runKmsDeletion } from "../../workers/cron/kms-deletion.ts";
import { createAccountWithKey, EDGE, type TestAccount } from "./helpers.ts";
import { meteredBody, MIB } from "./metered-body.ts";

const e = env as unknown as Env;
const db = openDb(e.DB);
const REGION = "us-east-1";
const DAY = 86_400_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MISSING_KEY_ID = "00000000-0000-4000-8000-000000000000";

let owner: TestAccount;
let stranger: TestAccount;
let ring: MasterKeyRing;

beforeAll(async () => {
  owner = await createAccountWithKey("kms-owner");
  stranger = await createAccountWithKey("kms-stranger");
  ring = await parseMasterKeyRing(e.MASTER_KEYS);
});

/** A KMS API call signed by `account` as AWS SDKs sign KMS calls (service "kms", body hash in the signature). */
async function kms(account: TestAccount, method: string, path: string, body?: unknown, region = REGION): Promise<Response> {
  const client = new AwsClient({ accessKeyId: account.accessKeyId, secretAccessKey: account.secretAccessKey, service: "kms", region, retries: 0 });
  const signed = await client.sign(`${EDGE}/api/v1/kms${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return SELF.fetch(signed);
}

async function createKey(account: TestAccount, body: unknown = {}): Promise<KmsKey> {
  const res = await kms(account, "POST", "/keys", body);
  expect(res.status).toBe(201);
  return (await res.json()) as KmsKey;
}

async function storedMaterial(keyId: string): Promise<{ material_wrapped: string; wrapped_by: string } | null> {
  return e.DB.prepare("SELECT material_wrapped, wrapped_by FROM kms_keys WHERE id = ?").bind(keyId).first();
}

function usable(lookup: Awaited<ReturnType<typeof resolveKmsKey>>): UsableKmsKey {
  if (!lookup.ok) throw new Error(`expected a usable key, got ${lookup.reason}`);
  return lookup.key;
}

async function seal(key: CryptoKey, text: string): Promise<{ iv: Uint8Array<ArrayBuffer>; ct: ArrayBuffer }> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  return { iv, ct: await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, new TextEncoder().encode(text)) };
}

async function open(key: CryptoKey, sealed: { iv: Uint8Array<ArrayBuffer>; ct: ArrayBuffer }): Promise<string> {
  return new TextDecoder().decode(await crypto.subtle.decrypt({ name: "AES-GCM", iv: sealed.iv }, key, sealed.ct));
}

describe("KMS control API", () => {
  it("creates an Enabled key with an AWS-style id and ARN, and lists and describes it without its material", async () => {
    const key = await createKey(owner, { description: "backups", alias: "alias/backups" });
    expect(key.keyId).toMatch(UUID);
    expect(key).toMatchObject({
      arn: `arn:aws:kms:${REGION}:${owner.id}:key/${key.keyId}`,
      accountId: owner.id,
      alias: "alias/backups",
      aliasArn: `arn:aws:kms:${REGION}:${owner.id}:alias/backups`,
      description: "backups",
      state: "Enabled",
    });
    expect(key.deletionDate).toBeUndefined();

    const listed = await kms(owner, "GET", "/keys");
    expect(listed.status).toBe(200);
    const listedText = await listed.text();
    expect((JSON.parse(listedText) as { keys: KmsKey[] }).keys.map((k) => k.keyId)).toContain(key.keyId);

    const described = await kms(owner, "GET", `/keys/${key.keyId}`);
    expect(described.status).toBe(200);
    const describedText = await described.text();
    expect(JSON.parse(describedText)).toEqual(key);

    // The material exists in D1, wrapped, and in no response.
    const stored = await storedMaterial(key.keyId);
    expect(stored?.material_wrapped).toMatch(/^v1\.t2\./);
    const wrappedBody = stored!.material_wrapped.split(".")[2]!;
    for (const text of [JSON.stringify(key), listedText, describedText]) {
      expect(text).not.toContain(wrappedBody);
      expect(text.toLowerCase()).not.toContain("material");
    }
  });

  it("describes a key by alias (slashes and all), by key ARN and by alias ARN", async () => {
    const key = await createKey(owner, { alias: "alias/app/photos_2" });
    for (const ref of [key.keyId, "alias/app/photos_2", key.arn, key.aliasArn!]) {
      const res = await kms(owner, "GET", `/keys/${ref}`);
      expect(res.status, ref).toBe(200);
      expect(((await res.json()) as KmsKey).keyId).toBe(key.keyId);
    }
  });

  it("moves an alias between keys, refuses one taken in the account, and removes it", async () => {
    const a = await createKey(owner, { alias: "alias/moving" });
    const b = await createKey(owner);
    const taken = await kms(owner, "PUT", `/keys/${b.keyId}/alias`, { alias: "alias/moving" });
    expect(taken.status).toBe(409);
    expect(await taken.json()).toMatchObject({ code: "AliasTaken" });

    // Another account may use the same alias for its own key.
    expect((await createKey(stranger, { alias: "alias/moving" })).alias).toBe("alias/moving");

    const removed = await kms(owner, "DELETE", `/keys/alias/moving/alias`);
    expect(removed.status).toBe(200);
    expect(((await removed.json()) as KmsKey).alias).toBeUndefined();
    expect((await kms(owner, "GET", "/keys/alias/moving")).status).toBe(404);

    const renamed = await kms(owner, "PUT", `/keys/${b.keyId}/alias`, { alias: "alias/moving" });
    expect(renamed.status).toBe(200);
    expect(((await (await kms(owner, "GET", "/keys/alias/moving")).json()) as KmsKey).keyId).toBe(b.keyId);
    expect(((await (await kms(owner, "GET", `/keys/${a.keyId}`)).json()) as KmsKey).alias).toBeUndefined();
  });

  it("disables and enables a key", async () => {
    const key = await createKey(owner);
    const disabled = await kms(owner, "POST", `/keys/${key.keyId}/disable`);
    expect(disabled.status).toBe(200);
    expect(((await disabled.json()) as KmsKey).state).toBe("Disabled");
    const enabled = await kms(owner, "POST", `/keys/${key.keyId}/enable`);
    expect(((await enabled.json()) as KmsKey).state).toBe("Enabled");
  });

  it("schedules deletion (30 days by default), refuses to enable a key pending deletion, and cancels back to Disabled", async () => {
    const key = await createKey(owner, { alias: "alias/doomed" });
    const before = Date.now();
    const scheduled = await kms(owner, "POST", `/keys/${key.keyId}/schedule-deletion`);
    expect(scheduled.status).toBe(200);
    const pending = (await scheduled.json()) as KmsKey;
    expect(pending.state).toBe("PendingDeletion");
    expect(pending.deletionDate).toBeGreaterThanOrEqual(before + 30 * DAY);
    expect(pending.deletionDate).toBeLessThanOrEqual(Date.now() + 30 * DAY);

    for (const action of ["enable", "disable", "schedule-deletion"]) {
      const refused = await kms(owner, "POST", `/keys/${key.keyId}/${action}`);
      expect(refused.status, action).toBe(409);
      expect(await refused.json()).toMatchObject({ code: "KmsKeyInvalidState" });
    }
    expect((await kms(owner, "PUT", `/keys/${key.keyId}/alias`, { alias: "alias/other" })).status).toBe(409);

    const cancelled = await kms(owner, "POST", "/keys/alias/doomed/cancel-deletion");
    expect(cancelled.status).toBe(200);
    const back = (await cancelled.json()) as KmsKey;
    expect(back.state).toBe("Disabled");
    expect(back.deletionDate).toBeUndefined();
    expect((await kms(owner, "POST", `/keys/${key.keyId}/cancel-deletion`)).status).toBe(409);

    const seven = await kms(owner, "POST", `/keys/${key.keyId}/schedule-deletion`, { pendingWindowInDays: 7 });
    const soon = (await seven.json()) as KmsKey;
    expect(soon.deletionDate! - Date.now()).toBeLessThanOrEqual(7 * DAY);
    expect(soon.deletionDate! - before).toBeGreaterThanOrEqual(7 * DAY);
    // Leave no key due within a week for the deletion chore's test.
    expect((await kms(owner, "POST", `/keys/${key.keyId}/cancel-deletion`)).status).toBe(200);
  });

  it("answers another account's key exactly like a key that does not exist", async () => {
    const key = await createKey(owner, { alias: "alias/private" });
    const missing = await kms(stranger, "GET", `/keys/${MISSING_KEY_ID}`);
    const foreign = await kms(stranger, "GET", `/keys/${key.keyId}`);
    expect(missing.status).toBe(404);
    expect(foreign.status).toBe(404);
    const missingBody = (await missing.json()) as { code: string; message: string };
    const foreignBody = (await foreign.json()) as { code: string; message: string };
    expect(foreignBody.code).toBe("NoSuchKmsKey");
    expect(foreignBody).toEqual({ ...missingBody, message: missingBody.message.replace(MISSING_KEY_ID, key.keyId) });

    for (const [method, path] of [
      ["POST", `/keys/${key.keyId}/disable`],
      ["POST", `/keys/${key.keyId}/schedule-deletion`],
      ["PUT", `/keys/${key.keyId}/alias`],
      ["DELETE", `/keys/${key.keyId}/alias`],
      ["GET", `/keys/${key.arn}`],
    ] as const) {
      const res = await kms(stranger, method, path, method === "PUT" ? { alias: "alias/stolen" } : undefined);
      expect(res.status, `${method} ${path}`).toBe(404);
    }
    // The stranger's own alias "alias/private" names nothing: aliases are per account.
    expect((await kms(stranger, "GET", "/keys/alias/private")).status).toBe(404);
    expect(((await (await kms(stranger, "GET", "/keys")).json()) as { keys: KmsKey[] }).keys.map((k) => k.keyId)).not.toContain(key.keyId);

    const untouched = (await (await kms(owner, "GET", `/keys/${key.keyId}`)).json()) as KmsKey;
    expect(untouched).toMatchObject({ state: "Enabled", alias: "alias/private" });
  });

  it("answers bad input with a zod ValidationError naming the field", async () => {
    const cases: [string, string, unknown, string][] = [
      ["POST", "/keys", { alias: "backups" }, "alias"],
      ["POST", "/keys", { alias: "alias/aws/s3" }, "alias"],
      ["POST", "/keys", { alias: `alias/${"a".repeat(251)}` }, "alias"],
      ["POST", "/keys", { alias: "alias/sp ace" }, "alias"],
      ["POST", "/keys", { description: 42 }, "description"],
      ["PUT", `/keys/${MISSING_KEY_ID}/alias`, {}, "alias"],
    ];
    for (const [method, path, body, field] of cases) {
      const res = await kms(owner, method, path, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const error = (await res.json()) as { code: string; details: { path: string }[] };
      expect(error.code).toBe("ValidationError");
      expect(error.details.map((d) => d.path)).toContain(field);
    }
    const key = await createKey(owner);
    for (const days of [6, 31, 7.5, "7"]) {
      const res = await kms(owner, "POST", `/keys/${key.keyId}/schedule-deletion`, { pendingWindowInDays: days });
      expect(res.status, String(days)).toBe(400);
      expect(await res.json()).toMatchObject({ code: "ValidationError" });
    }
    expect(((await (await kms(owner, "GET", `/keys/${key.keyId}`)).json()) as KmsKey).state).toBe("Enabled");

    const notAKey = await kms(owner, "GET", "/keys/not-a-key");
    expect(notAKey.status).toBe(400);
    expect(await notAKey.json()).toMatchObject({ code: "ValidationError" });

    const client = new AwsClient({ accessKeyId: owner.accessKeyId, secretAccessKey: owner.secretAccessKey, service: "kms", region: REGION, retries: 0 });
    const badJson = await SELF.fetch(await client.sign(`${EDGE}/api/v1/kms/keys`, { method: "POST", body: "{not json" }));
    expect(badJson.status).toBe(400);
    expect(await badJson.json()).toMatchObject({ code: "InvalidJson" });
  });

  it("refuses unsigned, badly signed and tampered requests with 403", async () => {
    const unsigned = await SELF.fetch(`${EDGE}/api/v1/kms/keys`);
    expect(unsigned.status).toBe(403);
    expect(await unsigned.json()).toMatchObject({ code: "AccessDenied" });

    const wrongSecret = new AwsClient({ accessKeyId: owner.accessKeyId, secretAccessKey: "x".repeat(40), service: "kms", region: REGION, retries: 0 });
    const forged = await SELF.fetch(await wrongSecret.sign(`${EDGE}/api/v1/kms/keys`, { method: "GET" }));
    expect(forged.status).toBe(403);
    expect(await forged.json()).toMatchObject({ code: "SignatureDoesNotMatch" });

    const unknownKey = new AwsClient({ accessKeyId: "ICNNOSUCHKEY00000", secretAccessKey: "x".repeat(40), service: "kms", region: REGION, retries: 0 });
    expect((await SELF.fetch(await unknownKey.sign(`${EDGE}/api/v1/kms/keys`, { method: "GET" }))).status).toBe(403);

    // The S3 signature of the same key does not open the KMS API (another service in the scope).
    const asS3 = await SELF.fetch(await owner.s3.sign(`${EDGE}/api/v1/kms/keys`, { method: "GET" }));
    expect(asS3.status).toBe(403);

    // A region the edge does not accept.
    expect((await kms(owner, "GET", "/keys", undefined, "eu-west-9")).status).toBe(403);
    // Any region it does accept.
    expect((await kms(owner, "GET", "/keys", undefined, "auto")).status).toBe(200);

    // A signed body swapped for another on the way: the signature covers the body.
    const client = new AwsClient({ accessKeyId: owner.accessKeyId, secretAccessKey: owner.secretAccessKey, service: "kms", region: REGION, retries: 0 });
    const signed = await client.sign(`${EDGE}/api/v1/kms/keys`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ description: "mine" }) });
    const tampered = new Request(signed.url, { method: "POST", headers: signed.headers, body: JSON.stringify({ description: "evil", alias: "alias/evil" }) });
    const res = await SELF.fetch(tampered);
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: "SignatureDoesNotMatch" });
    expect((await kms(owner, "GET", "/keys/alias/evil")).status).toBe(404);
  });

  it("refuses a body over the cap with 413, declared or chunked, before the client has sent it all, and creates no key", async () => {
    const keysOfOwner = async () => (await e.DB.prepare("SELECT COUNT(*) AS n FROM kms_keys WHERE account_id = ?").bind(owner.id).first<{ n: number }>())!.n;
    const before = await keysOfOwner();

    const declared = await kms(owner, "POST", "/keys", { description: "x".repeat(100 * 1024) });
    expect(declared.status).toBe(413);
    expect(await declared.json()).toMatchObject({ code: "PayloadTooLarge" });

    // Without Content-Length, as a client streaming the body sends it: the edge stops reading at the cap.
    const client = new AwsClient({ accessKeyId: owner.accessKeyId, secretAccessKey: owner.secretAccessKey, service: "kms", region: REGION, retries: 0 });
    const signed = await client.sign(`${EDGE}/api/v1/kms/keys`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    const body = meteredBody(64 * MIB);
    const chunked = await SELF.fetch(signed.url, { method: "POST", headers: signed.headers, body: body.stream });
    expect(chunked.status).toBe(413);
    expect(await chunked.json()).toMatchObject({ code: "PayloadTooLarge" });
    expect(body.pulled()).toBeLessThan(8 * MIB);

    expect(await keysOfOwner()).toBe(before);
  });

  it("is described in the OpenAPI document", async () => {
    const doc = (await (await SELF.fetch(`${EDGE}/api/v1/openapi.json`)).json()) as { paths: Record<string, unknown> };
    for (const path of ["/kms/keys", "/kms/keys/{ref}", "/kms/keys/{ref}/disable", "/kms/keys/{ref}/enable", "/kms/keys/{ref}/schedule-deletion", "/kms/keys/{ref}/cancel-deletion", "/kms/keys/{ref}/alias"]) {
      expect(doc.paths[path], path).toBeDefined();
    }
  });
});

describe("resolveKmsKey (for the S3 layer)", () => {
  it("resolves a key id, an alias, a key ARN and an alias ARN to the same usable, non-extractable AES-256-GCM key", async () => {
    const key = await createKey(owner, { alias: "alias/resolve-me" });
    const byId = usable(await resolveKmsKey(db, ring, owner.id, key.keyId, REGION));
    expect(byId).toMatchObject({ keyId: key.keyId, arn: key.arn, accountId: owner.id });
    expect(byId.key.extractable).toBe(false);
    expect(byId.key.algorithm).toMatchObject({ name: "AES-GCM", length: 256 });
    await expect(crypto.subtle.exportKey("raw", byId.key)).rejects.toThrow();

    const sealed = await seal(byId.key, "sse-kms object");
    for (const ref of ["alias/resolve-me", key.arn, key.aliasArn!, key.keyId.toUpperCase()]) {
      const resolved = usable(await resolveKmsKey(db, ring, owner.id, ref, REGION));
      expect(resolved.keyId, ref).toBe(key.keyId);
      expect(resolved.arn).toBe(key.arn);
      expect(await open(resolved.key, sealed)).toBe("sse-kms object");
    }
  });

  it("gives every key its own material", async () => {
    const a = usable(await resolveKmsKey(db, ring, owner.id, (await createKey(owner)).keyId, REGION));
    const b = usable(await resolveKmsKey(db, ring, owner.id, (await createKey(owner)).keyId, REGION));
    await expect(open(b.key, await seal(a.key, "x"))).rejects.toThrow();
  });

  it("refuses another account's key as OtherAccount, by id or by ARN", async () => {
    const key = await createKey(owner, { alias: "alias/owners-only" });
    expect(await resolveKmsKey(db, ring, stranger.id, key.keyId, REGION)).toEqual({ ok: false, reason: "OtherAccount" });
    expect(await resolveKmsKey(db, ring, stranger.id, key.arn, REGION)).toEqual({ ok: false, reason: "OtherAccount" });
    expect(await resolveKmsKey(db, ring, stranger.id, key.aliasArn!, REGION)).toEqual({ ok: false, reason: "OtherAccount" });
    // A bare alias is looked up in the caller's own account only.
    expect(await resolveKmsKey(db, ring, stranger.id, "alias/owners-only", REGION)).toEqual({ ok: false, reason: "NotFound" });
  });

  it("tells missing keys (NotFound) from references that are not key references at all (InvalidKeyId)", async () => {
    for (const ref of [MISSING_KEY_ID, "alias/nobody", "alias/aws/s3", `arn:aws:kms:${REGION}:${owner.id}:key/${MISSING_KEY_ID}`]) {
      expect(await resolveKmsKey(db, ring, owner.id, ref, REGION), ref).toEqual({ ok: false, reason: "NotFound" });
    }
    const key = await createKey(owner);
    // The key exists, but not in the region the ARN names.
    expect(await resolveKmsKey(db, ring, owner.id, `arn:aws:kms:eu-west-1:${owner.id}:key/${key.keyId}`, REGION)).toEqual({ ok: false, reason: "NotFound" });
    for (const ref of ["", "not-a-key", "alias/", "alias/sp ace", `arn:aws:kms:${REGION}:${owner.id}:key/nope`, `arn:aws:s3:::bucket`, `${key.keyId}x`]) {
      expect(await resolveKmsKey(db, ring, owner.id, ref, REGION), ref).toEqual({ ok: false, reason: "InvalidKeyId" });
    }
  });

  it("refuses a disabled key (Disabled) and a key pending deletion (PendingDeletion)", async () => {
    const disabled = await createKey(owner);
    await kms(owner, "POST", `/keys/${disabled.keyId}/disable`);
    expect(await resolveKmsKey(db, ring, owner.id, disabled.keyId, REGION)).toEqual({ ok: false, reason: "Disabled" });

    const pending = await createKey(owner, { alias: "alias/pending" });
    await kms(owner, "POST", `/keys/${pending.keyId}/schedule-deletion`);
    expect(await resolveKmsKey(db, ring, owner.id, "alias/pending", REGION)).toEqual({ ok: false, reason: "PendingDeletion" });
  });

  it("sees a state change made in this isolate at once, despite its cache", async () => {
    const key = await createKmsKey(db, ring, owner.id, { alias: "alias/toggled" }, REGION, Date.now());
    const sealed = await seal(usable(await resolveKmsKey(db, ring, owner.id, "alias/toggled", REGION)).key, "still mine");
    await disableKmsKey(db, owner.id, key.keyId, REGION, Date.now());
    expect(await resolveKmsKey(db, ring, owner.id, "alias/toggled", REGION)).toEqual({ ok: false, reason: "Disabled" });
    expect(await resolveKmsKey(db, ring, owner.id, key.keyId, REGION)).toEqual({ ok: false, reason: "Disabled" });
    await enableKmsKey(db, owner.id, key.keyId, REGION, Date.now());
    expect(await open(usable(await resolveKmsKey(db, ring, owner.id, key.keyId, REGION)).key, sealed)).toBe("still mine");
  });

  it("refuses material copied from another key's row: the wrap is bound to its account and key id", async () => {
    const donor = await createKey(owner);
    const victim = await createKey(owner);
    const stolen = await storedMaterial(donor.keyId);
    await e.DB.prepare("UPDATE kms_keys SET material_wrapped = ? WHERE id = ?").bind(stolen!.material_wrapped, victim.keyId).run();
    await expect(resolveKmsKey(db, ring, owner.id, victim.keyId, REGION)).rejects.toBeInstanceOf(KeyUnwrapError);
  });
});

describe("master-key rotation", () => {
  it("re-wraps keys under the newest master key in batches, and each still opens what it encrypted before", async () => {
    // The test ring is "t2:…,t1:…"; these keys start under t1 alone, as if created before t2 was added.
    const [newestOnly, olderOnly] = e.MASTER_KEYS.split(",") as [string, string];
    const oldRing = await parseMasterKeyRing(olderOnly);
    const keys: { keyId: string; sealed: Awaited<ReturnType<typeof seal>> }[] = [];
    for (let i = 0; i < 3; i++) {
      const key = await createKmsKey(db, oldRing, owner.id, {}, REGION, Date.now());
      expect((await storedMaterial(key.keyId))?.wrapped_by).toBe("t1");
      const sealed = await seal(usable(await resolveKmsKey(db, oldRing, owner.id, key.keyId, REGION)).key, `object ${i}`);
      keys.push({ keyId: key.keyId, sealed });
    }

    expect(await rewrapKmsKeys(db, ring, 2)).toEqual({ rewrapped: 2, remaining: 1, failed: [] });
    expect(await rewrapKmsKeys(db, ring, 2)).toEqual({ rewrapped: 1, remaining: 0, failed: [] });
    expect(await rewrapKmsKeys(db, ring, 2)).toEqual({ rewrapped: 0, remaining: 0, failed: [] });

    // t1 can now be dropped from the secret: a ring of t2 alone opens every key, to the same material.
    const newRing = await parseMasterKeyRing(newestOnly);
    for (const [i, { keyId, sealed }] of keys.entries()) {
      const stored = await storedMaterial(keyId);
      expect(stored?.wrapped_by).toBe("t2");
      expect(stored?.material_wrapped).toMatch(/^v1\.t2\./);
      await expect(resolveKmsKey(db, oldRing, owner.id, keyId, REGION)).rejects.toBeInstanceOf(KeyUnwrapError);
      expect(await open(usable(await resolveKmsKey(db, newRing, owner.id, keyId, REGION)).key, sealed)).toBe(`object ${i}`);
    }
  });
});

describe("key destruction", () => {
  it("the deletion chore destroys keys whose deletion date has passed, and only those", async () => {
    expect(CHORES.map((c) => c.name)).toContain("kms-deletion");
    const due = await createKey(owner, { alias: "alias/due" });
    const later = await createKey(owner);
    const kept = await createKey(owner);
    expect(usable(await resolveKmsKey(db, ring, owner.id, due.keyId, REGION)).keyId).toBe(due.keyId);
    await kms(owner, "POST", `/keys/${due.keyId}/schedule-deletion`, { pendingWindowInDays: 7 });
    await kms(owner, "POST", `/keys/${later.keyId}/schedule-deletion`, { pendingWindowInDays: 8 });

    expect(await runKmsDeletion(e, new Date(Date.now() + 6 * DAY))).toEqual({ chore: "kms-deletion", destroyed: 0, heldByObjectLock: 0 });
    expect(await runKmsDeletion(e, new Date(Date.now() + 7 * DAY + 60_000))).toEqual({ chore: "kms-deletion", destroyed: 1, heldByObjectLock: 0 });

    expect(await storedMaterial(due.keyId)).toBeNull();
    expect((await kms(owner, "GET", `/keys/${due.keyId}`)).status).toBe(404);
    expect((await kms(owner, "POST", `/keys/${due.keyId}/cancel-deletion`)).status).toBe(404);
    expect(await resolveKmsKey(db, ring, owner.id, due.keyId, REGION)).toEqual({ ok: false, reason: "NotFound" });
    expect(await resolveKmsKey(db, ring, owner.id, "alias/due", REGION)).toEqual({ ok: false, reason: "NotFound" });

    expect(((await (await kms(owner, "GET", `/keys/${later.keyId}`)).json()) as KmsKey).state).toBe("PendingDeletion");
    expect(((await (await kms(owner, "GET", `/keys/${kept.keyId}`)).json()) as KmsKey).state).toBe("Enabled");
    // The freed alias can name a new key (with new material).
    expect((await createKey(owner, { alias: "alias/due" })).keyId).not.toBe(due.keyId);
  });

  it("destroyAccountKmsKeys crypto-erases every key of one account at once, and no other account's", async () => {
    const leaving = await createAccountWithKey("kms-leaving");
    const ids: string[] = [];
    for (const body of [{}, { alias: "alias/a" }, {}]) ids.push((await createKey(leaving, body)).keyId);
    await kms(leaving, "POST", `/keys/${ids[2]}/disable`);
    const cached = usable(await resolveKmsKey(db, ring, leaving.id, ids[0]!, REGION));
    expect(cached.keyId).toBe(ids[0]);
    const neighbour = await createKey(owner);

    expect(await destroyAccountKmsKeys(db, leaving.id)).toBe(3);
    for (const id of ids) {
      expect(await storedMaterial(id)).toBeNull();
      expect(await resolveKmsKey(db, ring, leaving.id, id, REGION)).toEqual({ ok: false, reason: "NotFound" });
    }
    expect(await resolveKmsKey(db, ring, leaving.id, "alias/a", REGION)).toEqual({ ok: false, reason: "NotFound" });
    expect(((await (await kms(leaving, "GET", "/keys")).json()) as { keys: KmsKey[] }).keys).toEqual([]);
    expect(await destroyAccountKmsKeys(db, leaving.id)).toBe(0);
    expect(usable(await resolveKmsKey(db, ring, owner.id, neighbour.keyId, REGION)).keyId).toBe(neighbour.keyId);
  });
});
