// The access-control audit log (src/db/access-audit.ts, GET /api/v1/access-audit): every key minted or revoked and
// every bucket ACL and default-encryption change is there, with who made it and what was in force before and after,
// for its account only, a page at a time.

import { beforeAll, describe, expect, it } from "vitest";
import { createAccountWithKey, s3, type TestAccount } from "./helpers.ts";
import { mintKey, signedApi } from "./key-helpers.ts";

interface Entry {
  id: string;
  at: string;
  actor: { accountId: string; accessKeyId: string } | null;
  action: string;
  target: string;
  before: unknown;
  after: unknown;
  requestId: string | null;
}

let owner: TestAccount;
let other: TestAccount;

async function auditPage(account: TestAccount, query = ""): Promise<{ entries: Entry[]; next: string | null }> {
  const res = await signedApi(account, "GET", `/access-audit${query}`);
  expect(res.status).toBe(200);
  return (await res.json()) as { entries: Entry[]; next: string | null };
}

/** Every entry of the account, following `next` (bounded). */
async function allEntries(account: TestAccount, limit = 100): Promise<Entry[]> {
  const out: Entry[] = [];
  let after: string | null = null;
  for (let page = 0; page < 50; page++) {
    const { entries, next } = await auditPage(account, `?limit=${limit}${after === null ? "" : `&after=${after}`}`);
    out.push(...entries);
    if (next === null) return out;
    after = next;
  }
  throw new Error("the audit log did not end within 50 pages");
}

beforeAll(async () => {
  owner = await createAccountWithKey("audit-owner");
  other = await createAccountWithKey("audit-other");
});

describe("the access audit log", () => {
  it("records the admin minting the account's first key, with no actor", async () => {
    const [first] = await allEntries(owner);
    expect(first).toMatchObject({ actor: null, action: "CreateAccessKey", target: `access-key/${owner.accessKeyId}`, before: null });
    expect(first!.after).toMatchObject({ accessKeyId: owner.accessKeyId, scope: null, status: "active" });
  });

  it("records a scoped key's creation and revocation with who did it and the key before and after, never its secret", async () => {
    const key = await mintKey(owner, { name: "audited", permission: "read-only", buckets: [{ bucket: "audit-logs", prefix: "2026/" }] });
    expect((await signedApi(owner, "DELETE", `/access-keys/${key.accessKeyId}`)).status).toBe(200);
    const entries = (await allEntries(owner)).filter((e) => e.target === `access-key/${key.accessKeyId}`);
    expect(entries.map((e) => e.action)).toEqual(["CreateAccessKey", "RevokeAccessKey"]);
    const [created, revoked] = entries as [Entry, Entry];
    const actor = { accountId: owner.id, accessKeyId: owner.accessKeyId };
    expect(created).toMatchObject({ actor, before: null, after: { name: "audited", status: "active", scope: { permission: "read-only", buckets: [{ bucket: "audit-logs", prefix: "2026/" }] } } });
    expect(revoked).toMatchObject({ actor, before: { status: "active", revokedAt: null }, after: { status: "revoked" } });
    expect((revoked.after as { revokedAt: string }).revokedAt).toBe(revoked.at);
    expect(JSON.stringify(entries)).not.toContain(key.secretAccessKey);
  });

  it("records bucket ACLs set on creation and by PutBucketAcl, with the request id", async () => {
    expect((await s3(owner, "PUT", "/audit-acl", { headers: { "x-amz-acl": "public-read" } })).status).toBe(200);
    const put = await s3(owner, "PUT", "/audit-acl?acl", { headers: { "x-amz-acl": "private" } });
    expect(put.status).toBe(200);
    const entries = (await allEntries(owner)).filter((e) => e.target === "arn:aws:s3:::audit-acl");
    const actor = { accountId: owner.id, accessKeyId: owner.accessKeyId };
    expect(entries).toMatchObject([
      { action: "CreateBucket", actor, before: null, after: { cannedAcl: "public-read" } },
      { action: "PutBucketAcl", actor, before: { cannedAcl: "public-read" }, after: { cannedAcl: "private" }, requestId: put.headers.get("x-amz-request-id") },
    ]);
  });

  it("records a bucket's default encryption set and deleted", async () => {
    await s3(owner, "PUT", "/audit-sse");
    const config = "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>";
    expect((await s3(owner, "PUT", "/audit-sse?encryption", { body: config })).status).toBe(200);
    expect((await s3(owner, "DELETE", "/audit-sse?encryption")).status).toBe(204);
    const entries = (await allEntries(owner)).filter((e) => e.target === "arn:aws:s3:::audit-sse" && e.action !== "CreateBucket");
    expect(entries).toMatchObject([
      { action: "PutBucketEncryption", before: null, after: { algorithm: "AES256", bucketKeyEnabled: false } },
      { action: "DeleteBucketEncryption", before: { algorithm: "AES256" }, after: null },
    ]);
  });

  it("records a bucket policy put, replaced and deleted, with the documents before and after", async () => {
    await s3(owner, "PUT", "/audit-policy");
    const policy = (sid: string) => ({ Version: "2012-10-17", Statement: [{ Sid: sid, Effect: "Allow", Principal: { AWS: other.id }, Action: "s3:GetObject", Resource: "arn:aws:s3:::audit-policy/*" }] });
    expect((await s3(owner, "PUT", "/audit-policy?policy", { body: JSON.stringify(policy("first")) })).status).toBe(204);
    expect((await s3(owner, "PUT", "/audit-policy?policy", { body: JSON.stringify(policy("second")) })).status).toBe(204);
    // Another account may not touch it, and its refused attempt leaves no entry.
    expect((await s3(other, "DELETE", "/audit-policy?policy")).status).toBe(403);
    expect((await s3(owner, "DELETE", "/audit-policy?policy")).status).toBe(204);
    const entries = (await allEntries(owner)).filter((e) => e.target === "arn:aws:s3:::audit-policy" && e.action !== "CreateBucket");
    const actor = { accountId: owner.id, accessKeyId: owner.accessKeyId };
    expect(entries).toMatchObject([
      { action: "PutBucketPolicy", actor, before: null, after: policy("first") },
      { action: "PutBucketPolicy", actor, before: policy("first"), after: policy("second") },
      { action: "DeleteBucketPolicy", actor, before: policy("second"), after: null },
    ]);
  });

  it("records Object Lock changes: the bucket's configuration, a version's retention and legal hold", async () => {
    const md5 = async (body: string) => btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("MD5", new TextEncoder().encode(body)))));
    const put = async (path: string, body: string) => s3(owner, "PUT", path, { body, headers: { "content-md5": await md5(body) } });
    expect((await s3(owner, "PUT", "/audit-lock", { headers: { "x-amz-bucket-object-lock-enabled": "true" } })).status).toBe(200);
    const config = "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>1</Days></DefaultRetention></Rule></ObjectLockConfiguration>";
    expect((await put("/audit-lock?object-lock", config)).status).toBe(200);
    const written = await put("/audit-lock/doc", "kept");
    expect(written.status).toBe(200);
    const versionId = written.headers.get("x-amz-version-id")!;
    const until = new Date(Date.now() + 3 * 86_400_000);
    until.setUTCMilliseconds(0);
    expect((await put("/audit-lock/doc?retention", `<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>${until.toISOString()}</RetainUntilDate></Retention>`)).status).toBe(200);
    expect((await put("/audit-lock/doc?legal-hold", "<LegalHold><Status>ON</Status></LegalHold>")).status).toBe(200);
    const entries = (await allEntries(owner)).filter((e) => e.target.startsWith("arn:aws:s3:::audit-lock") && e.action !== "CreateBucket");
    expect(entries.map((e) => [e.action, e.target])).toEqual([
      ["PutObjectLockConfiguration", "arn:aws:s3:::audit-lock"],
      ["PutObjectRetention", "arn:aws:s3:::audit-lock/doc"],
      ["PutObjectLegalHold", "arn:aws:s3:::audit-lock/doc"],
    ]);
    const [, retention, hold] = entries as [Entry, Entry, Entry];
    expect(retention.after).toEqual({ versionId, mode: "GOVERNANCE", retainUntil: until.toISOString() });
    expect(retention.before).toMatchObject({ versionId, mode: "GOVERNANCE" });
    expect(hold).toMatchObject({ before: { versionId, legalHold: false }, after: { versionId, legalHold: true } });
  });

  it("records nothing for a change that was refused", async () => {
    const before = (await allEntries(owner)).length;
    expect((await s3(other, "PUT", "/audit-acl?acl", { headers: { "x-amz-acl": "public-read" } })).status).toBe(403);
    expect((await s3(owner, "PUT", "/audit-acl?acl", { headers: { "x-amz-acl": "aws-exec-read" } })).status).toBe(501);
    expect((await signedApi(owner, "POST", "/access-keys", { permission: "read-only" })).status).toBe(400);
    expect((await allEntries(owner)).length).toBe(before);
  });

  it("shows an account only its own entries", async () => {
    const mine = await allEntries(other);
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((e) => e.target === `access-key/${other.accessKeyId}`)).toBe(true);
  });

  it("pages oldest first with next as the cursor, every entry once", async () => {
    const all = await allEntries(owner);
    expect(all.length).toBeGreaterThanOrEqual(6);
    const paged = await allEntries(owner, 2);
    expect(paged.map((e) => e.id)).toEqual(all.map((e) => e.id));
    const ids = all.map((e) => Number(e.id));
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    const first = await auditPage(owner, "?limit=2");
    expect(first.entries.length).toBe(2);
    expect(first.next).toBe(first.entries[1]!.id);
    for (const bad of ["?limit=0", "?limit=1001", "?after=abc"]) {
      const res = await signedApi(owner, "GET", `/access-audit${bad}`);
      expect(res.status, bad).toBe(400);
      expect(((await res.json()) as { code: string }).code).toBe("ValidationError");
    }
  });
});
