// Scoped access keys (src/s3/key-scope.ts, src/api/access-keys.ts): what a key limited to buckets or prefixes, read-only
// or read-write, may do on the S3 surface (header-signed, presigned, V2 and form uploads alike), that its expiry and
// revocation hold from the very next request whatever the key cache holds, and that it never uses the control API.

import { env, SELF } from "cloudflare:test";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { admin, createAccountWithKey, EDGE, s3, xmlField, type TestAccount } from "./helpers.ts";
import { mintKey, signedApi, type MintedKey } from "./key-helpers.ts";

let owner: TestAccount;
let stranger: TestAccount;
let readOnly: MintedKey;
let prefixWriter: MintedKey;

const code = async (res: Response) => xmlField(await res.text(), "Code");

/** Base64 HMAC-SHA1 for the V2 cases: the test's own signer. */
async function hmacSha1(secret: string, data: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-1" }, false, ["sign"]);
  return btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(data)))));
}

async function edgeNow(): Promise<number> {
  return Date.parse(((await (await admin("GET", "/clock")).json()) as { now: string }).now);
}

beforeAll(async () => {
  owner = await createAccountWithKey("scoped-owner");
  stranger = await createAccountWithKey("scoped-stranger");
  for (const bucket of ["/sk-main", "/sk-other"]) expect((await s3(owner, "PUT", bucket)).status).toBe(200);
  for (const path of ["/sk-main/pub/a.txt", "/sk-main/private/b.txt", "/sk-other/x.txt"]) {
    expect((await s3(owner, "PUT", path, { body: `bytes of ${path}` })).status).toBe(200);
  }
  readOnly = await mintKey(owner, { name: "reader", permission: "read-only", buckets: [{ bucket: "sk-main" }] });
  prefixWriter = await mintKey(owner, { name: "pub-writer", permission: "read-write", buckets: [{ bucket: "sk-main", prefix: "pub/" }] });
});

afterEach(async () => {
  await admin("DELETE", "/clock");
});

describe("a scoped key on the S3 surface", () => {
  it("does what its scope allows and is refused 403 AccessDenied for everything else", async () => {
    const copyFrom = (source: string) => ({ headers: { "x-amz-copy-source": source } });
    const cases: [MintedKey, string, string, { body?: string; headers?: Record<string, string> }, number][] = [
      // A read-only key on a whole bucket: reads and lists, nothing else.
      [readOnly, "GET", "/sk-main/pub/a.txt", {}, 200],
      [readOnly, "GET", "/sk-main/private/b.txt", {}, 200],
      [readOnly, "GET", "/sk-main?list-type=2", {}, 200],
      [readOnly, "HEAD", "/sk-main", {}, 200],
      [readOnly, "GET", "/sk-main?location", {}, 200],
      [readOnly, "PUT", "/sk-main/pub/ro-new.txt", { body: "no" }, 403],
      [readOnly, "DELETE", "/sk-main/pub/a.txt", {}, 403],
      [readOnly, "POST", "/sk-main/pub/ro-mp?uploads", {}, 403],
      [readOnly, "PUT", "/sk-main/pub/a.txt?tagging", { body: "<Tagging><TagSet/></Tagging>" }, 403],
      [readOnly, "GET", "/sk-other/x.txt", {}, 403],
      [readOnly, "GET", "/sk-other?list-type=2", {}, 403],
      [readOnly, "HEAD", "/sk-other", {}, 403],
      [readOnly, "GET", "/", {}, 403],
      [readOnly, "PUT", "/sk-brand-new", {}, 403],
      [readOnly, "GET", "/sk-main?acl", {}, 403],
      [readOnly, "PUT", "/sk-main?acl", { headers: { "x-amz-acl": "public-read" } }, 403],
      // A read-write key on one prefix: objects under it, nothing outside it, never bucket configuration.
      [prefixWriter, "PUT", "/sk-main/pub/new.txt", { body: "new" }, 200],
      [prefixWriter, "GET", "/sk-main/pub/new.txt", {}, 200],
      [prefixWriter, "GET", "/sk-main?list-type=2&prefix=pub/", {}, 200],
      [prefixWriter, "GET", "/sk-main?prefix=pub/x", {}, 200],
      [prefixWriter, "GET", "/sk-main?list-type=2", {}, 403],
      [prefixWriter, "GET", "/sk-main?list-type=2&prefix=pu", {}, 403],
      [prefixWriter, "GET", "/sk-main?versions&prefix=private/", {}, 403],
      [prefixWriter, "GET", "/sk-main/private/b.txt", {}, 403],
      [prefixWriter, "PUT", "/sk-main/private/new.txt", { body: "no" }, 403],
      [prefixWriter, "PUT", "/sk-main/pubx.txt", { body: "no" }, 403],
      [prefixWriter, "PUT", "/sk-main/pub/copy.txt", copyFrom("/sk-main/pub/a.txt"), 200],
      [prefixWriter, "PUT", "/sk-main/pub/stolen.txt", copyFrom("/sk-main/private/b.txt"), 403],
      [prefixWriter, "PUT", "/sk-main/pub/stolen2.txt", copyFrom("/sk-other/x.txt"), 403],
      [prefixWriter, "PUT", "/sk-main/pub/open.txt", { body: "no", headers: { "x-amz-acl": "public-read" } }, 403],
      [prefixWriter, "PUT", "/sk-main/pub/owner-acl.txt", { body: "ok", headers: { "x-amz-acl": "bucket-owner-full-control" } }, 200],
      [prefixWriter, "PUT", "/sk-main/pub/granted.txt", { body: "no", headers: { "x-amz-grant-read": 'uri="http://acs.amazonaws.com/groups/global/AllUsers"' } }, 403],
      [prefixWriter, "PUT", "/sk-main/pub/a.txt?acl", { headers: { "x-amz-acl": "private" } }, 403],
      [prefixWriter, "PUT", "/sk-main?cors", { body: "<CORSConfiguration/>" }, 403],
      [prefixWriter, "PUT", "/sk-main?versioning", { body: "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>" }, 403],
      [prefixWriter, "DELETE", "/sk-main", {}, 403],
      [prefixWriter, "DELETE", "/sk-main/pub/new.txt", {}, 204],
      [prefixWriter, "DELETE", "/sk-main/private/b.txt", {}, 403],
    ];
    for (const [key, method, path, init, status] of cases) {
      const res = await s3(key, method, path, init);
      const what = `${key === readOnly ? "read-only" : "prefix read-write"} ${method} ${path}`;
      expect(res.status, what).toBe(status);
      if (status === 403 && method !== "HEAD") expect(await code(res), what).toBe("AccessDenied");
    }
    // Nothing refused was written or deleted.
    for (const path of ["/sk-main/pub/ro-new.txt", "/sk-main/private/new.txt", "/sk-main/pubx.txt", "/sk-main/pub/stolen.txt", "/sk-main/pub/open.txt", "/sk-main/pub/granted.txt"]) {
      expect((await s3(owner, "HEAD", path)).status, path).toBe(404);
    }
    expect(await (await s3(owner, "GET", "/sk-main/pub/a.txt")).text()).toBe("bytes of /sk-main/pub/a.txt");
    expect(await (await s3(owner, "GET", "/sk-main/private/b.txt")).text()).toBe("bytes of /sk-main/private/b.txt");
    expect((await s3(owner, "GET", "/sk-main?cors")).status).toBe(404);
  });

  it("says in the refusal which key and what it was refused", async () => {
    const res = await s3(prefixWriter, "GET", "/sk-main/private/b.txt");
    expect(res.status).toBe(403);
    expect(xmlField(await res.text(), "Message")).toBe(`Access key ${prefixWriter.accessKeyId} is scoped: its scope does not allow reading sk-main/private/b.txt.`);
  });

  it("deletes only the keys of a DeleteObjects inside its prefix and reports the others AccessDenied", async () => {
    await s3(owner, "PUT", "/sk-main/pub/batch.txt", { body: "batch" });
    const res = await s3(prefixWriter, "POST", "/sk-main?delete", {
      body: "<Delete><Object><Key>pub/batch.txt</Key></Object><Object><Key>private/b.txt</Key></Object></Delete>",
    });
    expect(res.status).toBe(200);
    const xml = await res.text();
    expect(xml).toContain("<Deleted><Key>pub/batch.txt</Key></Deleted>");
    expect(xml).toMatch(/<Error><Key>private\/b\.txt<\/Key><Code>AccessDenied<\/Code>/);
    expect((await s3(owner, "HEAD", "/sk-main/pub/batch.txt")).status).toBe(404);
    expect((await s3(owner, "HEAD", "/sk-main/private/b.txt")).status).toBe(200);
    // A read-only key sends no DeleteObjects at all.
    const ro = await s3(readOnly, "POST", "/sk-main?delete", { body: "<Delete><Object><Key>pub/a.txt</Key></Object></Delete>" });
    expect(ro.status).toBe(403);
    expect((await s3(owner, "HEAD", "/sk-main/pub/a.txt")).status).toBe(200);
  });

  it("uploads in parts only inside its prefix", async () => {
    const refused = await s3(prefixWriter, "POST", "/sk-main/private/mp.bin?uploads");
    expect(refused.status).toBe(403);
    const created = await s3(prefixWriter, "POST", "/sk-main/pub/mp.bin?uploads");
    expect(created.status).toBe(200);
    const uploadId = xmlField(await created.text(), "UploadId")!;
    const part = await s3(prefixWriter, "PUT", `/sk-main/pub/mp.bin?partNumber=1&uploadId=${uploadId}`, { body: "part one" });
    expect(part.status).toBe(200);
    const etag = part.headers.get("etag")!;
    const done = await s3(prefixWriter, "POST", `/sk-main/pub/mp.bin?uploadId=${uploadId}`, {
      body: `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${etag}</ETag></Part></CompleteMultipartUpload>`,
    });
    expect(done.status).toBe(200);
    expect(await (await s3(owner, "GET", "/sk-main/pub/mp.bin")).text()).toBe("part one");
  });

  it("holds for presigned URLs, Signature V2 and browser form uploads signed with the key", async () => {
    const presigned = async (path: string) => (await prefixWriter.s3.sign(`${EDGE}${path}?X-Amz-Expires=60`, { method: "GET", aws: { signQuery: true } })).url;
    expect((await SELF.fetch(await presigned("/sk-main/pub/a.txt"))).status).toBe(200);
    const outside = await SELF.fetch(await presigned("/sk-main/private/b.txt"));
    expect(outside.status).toBe(403);
    expect(await code(outside)).toBe("AccessDenied");

    const v2Get = async (key: MintedKey, path: string) => {
      const date = new Date().toUTCString();
      const signature = await hmacSha1(key.secretAccessKey, `GET\n\n\n${date}\n${path}`);
      return SELF.fetch(`${EDGE}${path}`, { headers: { date, authorization: `AWS ${key.accessKeyId}:${signature}` } });
    };
    expect((await v2Get(readOnly, "/sk-main/private/b.txt")).status).toBe(200);
    expect((await v2Get(readOnly, "/sk-other/x.txt")).status).toBe(403);

    const form = async (key: MintedKey, objectKey: string) => {
      const policy = btoa(JSON.stringify({ expiration: new Date(Date.now() + 300_000).toISOString(), conditions: [{ bucket: "sk-main" }, { key: objectKey }] }));
      const fields = { key: objectKey, AWSAccessKeyId: key.accessKeyId, policy, signature: await hmacSha1(key.secretAccessKey, policy) };
      const boundary = "----scopedform7MA4YWxk";
      const parts = Object.entries(fields).map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
      parts.push(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.txt"\r\nContent-Type: text/plain\r\n\r\nform bytes\r\n--${boundary}--\r\n`);
      return SELF.fetch(`${EDGE}/sk-main`, { method: "POST", body: new TextEncoder().encode(parts.join("")), headers: { "content-type": `multipart/form-data; boundary=${boundary}` } });
    };
    expect((await form(prefixWriter, "pub/form.txt")).status).toBe(204);
    expect(await (await s3(owner, "GET", "/sk-main/pub/form.txt")).text()).toBe("form bytes");
    const outsideForm = await form(prefixWriter, "private/form.txt");
    expect(outsideForm.status).toBe(403);
    expect(await code(outsideForm)).toBe("AccessDenied");
    expect((await form(readOnly, "pub/ro-form.txt")).status).toBe(403);
    for (const path of ["/sk-main/private/form.txt", "/sk-main/pub/ro-form.txt"]) expect((await s3(owner, "HEAD", path)).status).toBe(404);
  });

  it("never reaches another account's bucket, even one its scope names", async () => {
    expect((await s3(stranger, "PUT", "/sk-stranger")).status).toBe(200);
    await s3(stranger, "PUT", "/sk-stranger/secret.txt", { body: "theirs" });
    const key = await mintKey(owner, { permission: "read-write", buckets: [{ bucket: "sk-stranger" }] });
    expect((await s3(key, "GET", "/sk-stranger/secret.txt")).status).toBe(403);
    expect((await s3(key, "PUT", "/sk-stranger/mine.txt", { body: "x" })).status).toBe(403);
  });
});

describe("expiry and revocation", () => {
  it("refuses an expired key from the next request although this isolate's cache still holds it", async () => {
    const now = await edgeNow();
    const key = await mintKey(owner, { permission: "read-only", buckets: [{ bucket: "sk-main" }], expiresAt: new Date(now + 10_000).toISOString() });
    expect((await s3(key, "GET", "/sk-main/pub/a.txt")).status).toBe(200);
    // 11 s later: within the key cache's 30 s, past the key's expiry.
    expect((await admin("POST", "/clock", { advanceSeconds: 11 })).status).toBe(200);
    const refused = await s3(key, "GET", "/sk-main/pub/a.txt");
    expect(refused.status).toBe(403);
    expect(await code(refused)).toBe("InvalidAccessKeyId");
    const listed = (await (await signedApi(owner, "GET", `/access-keys/${key.accessKeyId}`)).json()) as { status: string };
    expect(listed.status).toBe("expired");
  });

  it("refuses an unrestricted key past its expiry too", async () => {
    const now = await edgeNow();
    const key = await mintKey(owner, { expiresAt: new Date(now + 5_000).toISOString() });
    expect((await s3(key, "GET", "/sk-other/x.txt")).status).toBe(200);
    await admin("POST", "/clock", { advanceSeconds: 6 });
    expect((await s3(key, "GET", "/sk-other/x.txt")).status).toBe(403);
    expect((await signedApi(key, "GET", "/access-keys")).status).toBe(403);
  });

  it("refuses a revoked scoped key from the next request", async () => {
    const key = await mintKey(owner, { permission: "read-only", buckets: [{ bucket: "sk-main" }] });
    expect((await s3(key, "GET", "/sk-main/pub/a.txt")).status).toBe(200);
    const revoked = await signedApi(owner, "DELETE", `/access-keys/${key.accessKeyId}`);
    expect(revoked.status).toBe(200);
    expect(((await revoked.json()) as { status: string }).status).toBe("revoked");
    const refused = await s3(key, "GET", "/sk-main/pub/a.txt");
    expect(refused.status).toBe(403);
    expect(await code(refused)).toBe("InvalidAccessKeyId");
  });

  it("refuses a scoped key revoked by another isolate (straight in D1, this isolate's cache untouched) from the next request", async () => {
    const key = await mintKey(owner, { permission: "read-write", buckets: [{ bucket: "sk-main", prefix: "pub/" }] });
    expect((await s3(key, "GET", "/sk-main/pub/a.txt")).status).toBe(200);
    await env.DB.prepare("UPDATE access_keys SET status = 'revoked', revoked_at = ? WHERE access_key_id = ?").bind(Date.now(), key.accessKeyId).run();
    expect((await s3(key, "GET", "/sk-main/pub/a.txt")).status).toBe(403);
    expect((await s3(key, "PUT", "/sk-main/pub/after-revoke.txt", { body: "x" })).status).toBe(403);
    expect((await s3(owner, "HEAD", "/sk-main/pub/after-revoke.txt")).status).toBe(404);
  });
});

describe("the control API with scoped keys", () => {
  it("refuses a scoped key on every account route with a 403 JSON AccessDenied, minting nothing", async () => {
    const before = ((await (await signedApi(owner, "GET", "/access-keys")).json()) as { keys: unknown[] }).keys.length;
    const attempts: [string, string, unknown, string][] = [
      ["POST", "/access-keys", { permission: "read-write", buckets: [{ bucket: "sk-main" }] }, "iam"],
      ["POST", "/access-keys", {}, "iam"],
      ["GET", "/access-keys", undefined, "iam"],
      ["DELETE", `/access-keys/${readOnly.accessKeyId}`, undefined, "iam"],
      ["GET", "/access-audit", undefined, "iam"],
      ["POST", "/kms/keys", { alias: "alias/from-scoped" }, "kms"],
      ["GET", "/kms/keys", undefined, "kms"],
    ];
    for (const [method, path, body, service] of attempts) {
      const res = await signedApi(prefixWriter, method, path, body, service);
      expect(res.status, `${method} ${path}`).toBe(403);
      const error = (await res.json()) as { code: string; message: string };
      expect(error.code, `${method} ${path}`).toBe("AccessDenied");
      expect(error.message).toContain("scoped key");
    }
    const after = (await (await signedApi(owner, "GET", "/access-keys")).json()) as { keys: { status: string; accessKeyId: string }[] };
    expect(after.keys.length).toBe(before);
    expect(after.keys.find((k) => k.accessKeyId === readOnly.accessKeyId)?.status).toBe("active");
    expect(((await (await signedApi(owner, "GET", "/kms/keys", undefined, "kms")).json()) as { keys: unknown[] }).keys).toEqual([]);
  });
});

describe("the access-key routes", () => {
  it("lists the account's keys with their scopes and never a secret", async () => {
    const res = await signedApi(owner, "GET", "/access-keys");
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toContain(prefixWriter.secretAccessKey);
    const { keys } = JSON.parse(text) as { keys: { accessKeyId: string; scope: unknown; name: string | null; createdBy: string | null }[] };
    const writer = keys.find((k) => k.accessKeyId === prefixWriter.accessKeyId)!;
    expect(writer).toMatchObject({ name: "pub-writer", scope: { permission: "read-write", buckets: [{ bucket: "sk-main", prefix: "pub/" }] }, createdBy: owner.accessKeyId });
    expect(keys.find((k) => k.accessKeyId === owner.accessKeyId)).toMatchObject({ scope: null, createdBy: null });
    expect(keys.some((k) => k.accessKeyId === stranger.accessKeyId)).toBe(false);
  });

  it("validates what it mints", async () => {
    const now = await edgeNow();
    for (const body of [
      { permission: "read-only" },
      { buckets: [{ bucket: "sk-main" }] },
      { permission: "admin", buckets: [{ bucket: "sk-main" }] },
      { permission: "read-only", buckets: [] },
      { permission: "read-only", buckets: [{ bucket: "Not_A_Bucket" }] },
      { permission: "read-only", buckets: [{ bucket: "sk-main" }], expiresAt: new Date(now - 1000).toISOString() },
      { permission: "read-only", buckets: [{ bucket: "sk-main" }], expiresAt: "tomorrow" },
      { unknownField: true },
    ]) {
      const res = await signedApi(owner, "POST", "/access-keys", body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(((await res.json()) as { code: string }).code).toBe("ValidationError");
    }
  });

  it("answers another account's key as a missing one", async () => {
    for (const method of ["GET", "DELETE"]) {
      const res = await signedApi(stranger, method, `/access-keys/${readOnly.accessKeyId}`);
      expect(res.status).toBe(404);
      expect(((await res.json()) as { code: string }).code).toBe("NoSuchAccessKey");
    }
    expect((await s3(readOnly, "GET", "/sk-main/pub/a.txt")).status).toBe(200);
  });

  it("keeps the account's last working unrestricted key, and revokes it once there is another", async () => {
    const solo = await createAccountWithKey("scoped-solo");
    const refused = await signedApi(solo, "DELETE", `/access-keys/${solo.accessKeyId}`);
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { code: string }).code).toBe("LastUnrestrictedKey");
    const second = await mintKey(solo, { name: "second" });
    expect((await signedApi(second, "DELETE", `/access-keys/${solo.accessKeyId}`)).status).toBe(200);
    expect((await s3(solo, "GET", "/")).status).toBe(403);
    expect((await s3(second, "GET", "/")).status).toBe(200);
    // Revoking a revoked key changes nothing.
    const again = await signedApi(second, "DELETE", `/access-keys/${solo.accessKeyId}`);
    expect(again.status).toBe(200);
    expect(((await again.json()) as { status: string }).status).toBe("revoked");
  });
});
