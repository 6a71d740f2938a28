// Nothing removes what Object Lock retains: the lifecycle chore leaves locked versions until their retention ends,
// and account deletion, scheduling a KMS key's deletion and the KMS deletion chore refuse to crypto-erase them
// (409 ObjectLockRetention).
import { env, SELF } from "cloudflare:test";
import { AwsClient } from "aws4fetch";
import { beforeAll, describe, expect, it } from "vitest";
import type { Env } from "../../src/env.ts";
import { base64 } from "../../src/protocol/crypto.ts";
import type { ObjectLock, ObjectRecord } from "../../src/services/object-model.ts";
import { runOnce as runBucketLifecycle } from "../../workers/cron/bucket-lifecycle.ts";
import { runOnce as runKmsDeletion } from "../../workers/cron/kms-deletion.ts";
import { admin, createAccountWithKey, EDGE, s3, xmlField, type TestAccount } from "./helpers.ts";

const e = env as unknown as Env;
const DAY = 86_400_000;
let owner: TestAccount;

beforeAll(async () => {
  owner = await createAccountWithKey("object-lock-chores");
});

async function indexOf(bucket: string) {
  const row = await e.DB.prepare("SELECT id FROM buckets WHERE name = ?").bind(bucket).first<{ id: string }>();
  return e.BUCKET_INDEX.get(e.BUCKET_INDEX.idFromName(row!.id));
}

function record(key: string, lastModified: number, lock?: ObjectLock): ObjectRecord {
  return { key, size: 1, etag: "0cc175b9c0f1b6a831c399e269772661", lastModified, headers: {}, userMetadata: {}, storageClass: "STANDARD", segments: [], ...(lock ? { lock } : {}) };
}

async function withMd5(account: TestAccount, method: string, path: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
  const md5 = base64(new Uint8Array(await crypto.subtle.digest("MD5", new TextEncoder().encode(body))));
  return s3(account, method, path, { body, headers: { "content-md5": md5, ...headers } });
}

async function kms(account: TestAccount, method: string, path: string, body?: unknown): Promise<Response> {
  const client = new AwsClient({ accessKeyId: account.accessKeyId, secretAccessKey: account.secretAccessKey, service: "kms", region: "us-east-1", retries: 0 });
  const signed = await client.sign(`${EDGE}/api/v1/kms${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return SELF.fetch(signed);
}

const hold = (on: boolean) => `<LegalHold><Status>${on ? "ON" : "OFF"}</Status></LegalHold>`;

describe("the lifecycle chore and Object Lock", () => {
  it("expires only what no retention or legal hold protects, and the rest once its retention is over", async () => {
    await s3(owner, "PUT", "/lock-lifecycle", { headers: { "x-amz-bucket-object-lock-enabled": "true" } });
    const now = Date.now();
    const index = await indexOf("lock-lifecycle");
    const v = async (key: string, ageDays: number, lock?: ObjectLock) => (await index.putObject(record(key, now - ageDays * DAY, lock))) as { ok: true; record: ObjectRecord };
    const compliance = await v("doc", 60, { mode: "COMPLIANCE", retainUntil: now + 10 * DAY });
    const unlocked = await v("doc", 50);
    const held = await v("doc", 40, { legalHold: true });
    const current = await v("doc", 30, { mode: "GOVERNANCE", retainUntil: now + 10 * DAY });
    const governed = await v("gov", 40, { mode: "GOVERNANCE", retainUntil: now + 5 * DAY });
    await v("gov", 30);
    await s3(owner, "PUT", "/lock-lifecycle?lifecycle", {
      body: `<LifecycleConfiguration>
        <Rule><ID>all</ID><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration></Rule>
      </LifecycleConfiguration>`,
    });
    const versionsOf = async (key: string) =>
      (await index.listVersions({ prefix: key, delimiter: "", maxKeys: 1000, keyMarker: "", versionIdMarker: "" })).versions.filter((x) => x.key === key && !x.deleteMarker).map((x) => x.versionId);

    await runBucketLifecycle(e, new Date(now));
    // The current version only gets a delete marker; of the noncurrent ones only the unlocked one is gone.
    expect((await index.getObject("doc"))).toBeNull();
    expect(await versionsOf("doc")).toEqual([current.record.versionId, held.record.versionId, compliance.record.versionId]);
    expect(await index.getVersion("doc", unlocked.record.versionId!)).toBeNull();
    // Lifecycle never uses the governance bypass.
    expect(await versionsOf("gov")).toContain(governed.record.versionId);

    // Twenty days on every retention is over: those versions expire; the legal hold still keeps its version.
    await runBucketLifecycle(e, new Date(now + 20 * DAY));
    expect(await versionsOf("doc")).toEqual([held.record.versionId]);
    expect(await versionsOf("gov")).not.toContain(governed.record.versionId);
  });
});

describe("crypto-erase refused while Object Lock retains", () => {
  it("account deletion answers 409 ObjectLockRetention and destroys nothing until the legal hold is lifted", async () => {
    const tenant = await createAccountWithKey("object-lock-tenant");
    await s3(tenant, "PUT", "/lock-account", { headers: { "x-amz-bucket-object-lock-enabled": "true" } });
    const put = await withMd5(tenant, "PUT", "/lock-account/deed.txt", "the deed", { "x-amz-object-lock-legal-hold": "ON" });
    const versionId = put.headers.get("x-amz-version-id")!;

    const refused = await admin("DELETE", `/accounts/${tenant.id}`);
    expect(refused.status).toBe(409);
    const body = (await refused.json()) as { code: string; message: string; details: { bucket: string; lockedVersions: number }[] };
    expect(body.code).toBe("ObjectLockRetention");
    expect(body.message).toContain("lock-account/deed.txt");
    expect(body.details).toEqual([{ bucket: "lock-account", lockedVersions: 1 }]);
    const read = await s3(tenant, "GET", `/lock-account/deed.txt?versionId=${versionId}`);
    expect([read.status, await read.text()]).toEqual([200, "the deed"]);

    expect((await withMd5(tenant, "PUT", `/lock-account/deed.txt?legal-hold&versionId=${versionId}`, hold(false))).status).toBe(200);
    expect((await admin("DELETE", `/accounts/${tenant.id}`)).status).toBe(200);
  });

  it("an account whose retentions are all over can be deleted", async () => {
    const tenant = await createAccountWithKey("object-lock-expired");
    await s3(tenant, "PUT", "/lock-expired", { headers: { "x-amz-bucket-object-lock-enabled": "true" } });
    const index = await indexOf("lock-expired");
    await index.putObject(record("old", Date.now() - 10 * DAY, { mode: "COMPLIANCE", retainUntil: Date.now() - DAY }));
    expect((await admin("DELETE", `/accounts/${tenant.id}`)).status).toBe(200);
  });

  it("scheduling deletion of a KMS key that locked versions are encrypted under answers 409; other keys are unaffected", async () => {
    const tenant = await createAccountWithKey("object-lock-kms");
    const used = (await (await kms(tenant, "POST", "/keys", {})).json()) as { keyId: string };
    const unused = (await (await kms(tenant, "POST", "/keys", {})).json()) as { keyId: string };
    await s3(tenant, "PUT", "/lock-kms", { headers: { "x-amz-bucket-object-lock-enabled": "true" } });
    const put = await withMd5(tenant, "PUT", "/lock-kms/secret", "kms bytes", {
      "x-amz-server-side-encryption": "aws:kms",
      "x-amz-server-side-encryption-aws-kms-key-id": used.keyId,
      "x-amz-object-lock-mode": "COMPLIANCE",
      "x-amz-object-lock-retain-until-date": new Date(Date.now() + 3 * DAY).toISOString(),
    });
    expect(put.status).toBe(200);

    const refused = await kms(tenant, "POST", `/keys/${used.keyId}/schedule-deletion`, { pendingWindowInDays: 7 });
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { code: string }).code).toBe("ObjectLockRetention");
    expect(((await (await kms(tenant, "GET", `/keys/${used.keyId}`)).json()) as { state: string }).state).toBe("Enabled");
    expect((await kms(tenant, "POST", `/keys/${unused.keyId}/schedule-deletion`, { pendingWindowInDays: 7 })).status).toBe(200);
    const read = await s3(tenant, "GET", "/lock-kms/secret");
    expect([read.status, await read.text()]).toEqual([200, "kms bytes"]);
  });

  it("the KMS deletion chore keeps a key pending while a legal hold placed during its window protects a version under it", async () => {
    const tenant = await createAccountWithKey("object-lock-kms-chore");
    const key = (await (await kms(tenant, "POST", "/keys", {})).json()) as { keyId: string };
    await s3(tenant, "PUT", "/lock-kms-chore", { headers: { "x-amz-bucket-object-lock-enabled": "true" } });
    const put = await withMd5(tenant, "PUT", "/lock-kms-chore/doc", "under the key", {
      "x-amz-server-side-encryption": "aws:kms",
      "x-amz-server-side-encryption-aws-kms-key-id": key.keyId,
    });
    const versionId = put.headers.get("x-amz-version-id")!;
    expect((await kms(tenant, "POST", `/keys/${key.keyId}/schedule-deletion`, { pendingWindowInDays: 7 })).status).toBe(200);
    expect((await withMd5(tenant, "PUT", `/lock-kms-chore/doc?legal-hold&versionId=${versionId}`, hold(true))).status).toBe(200);

    const afterWindow = new Date(Date.now() + 8 * DAY);
    const report = await runKmsDeletion(e, afterWindow);
    expect(report.heldByObjectLock).toBe(1);
    const described = await kms(tenant, "GET", `/keys/${key.keyId}`);
    expect([described.status, ((await described.json()) as { state: string }).state]).toEqual([200, "PendingDeletion"]);

    expect((await withMd5(tenant, "PUT", `/lock-kms-chore/doc?legal-hold&versionId=${versionId}`, hold(false))).status).toBe(200);
    expect((await runKmsDeletion(e, afterWindow)).heldByObjectLock).toBe(0);
    expect((await kms(tenant, "GET", `/keys/${key.keyId}`)).status).toBe(404);
    expect(xmlField(await (await s3(tenant, "GET", "/lock-kms-chore/doc")).text(), "Code")).toBeDefined();
  });
});
