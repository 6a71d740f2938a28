// ACLs through the S3 surface: canned ACLs and explicit grants on buckets and objects, set with headers or an
// AccessControlPolicy body, written back as S3 writes them, and giving another account or an anonymous caller
// exactly the access they name.

import { env, SELF } from "cloudflare:test";
import type { Env } from "../../src/env.ts";
import { bucketIndexFor } from "../../src/services/bucket-indexes.ts";
import { beforeAll, describe, expect, it } from "vitest";
import { hex, hmacSha256 } from "../../src/protocol/crypto.ts";
import { deriveSigningKey, toAmzDate } from "../../src/protocol/sigv4.ts";
import { parseXml, type XmlElement } from "../../src/s3/xml.ts";
import { checkedS3Response, createAccountWithKey, EDGE, s3, xmlField, type TestAccount } from "./helpers.ts";
import { recordedChanges } from "./access-audit-helpers.ts";

let owner: TestAccount;
let other: TestAccount;
let third: TestAccount;

beforeAll(async () => {
  owner = await createAccountWithKey("acl-owner");
  other = await createAccountWithKey("acl-other");
  third = await createAccountWithKey("acl-third");
});

const ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

const anonymous = (method: string, path: string, init: RequestInit = {}) => SELF.fetch(`${EDGE}${path}`, { method, ...init }).then((r) => checkedS3Response(r, `${method} ${path}`));

async function code(res: Response | Promise<Response>): Promise<string> {
  const r = await res;
  if (r.status < 300) return String(r.status);
  return `${r.status} ${xmlField(await r.text(), "Code") ?? ""}`;
}

async function bucketWith(name: string, objects: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<string> {
  const res = await s3(owner, "PUT", `/${name}`, { headers });
  expect(res.status, await res.clone().text()).toBe(200);
  for (const [key, body] of Object.entries(objects)) expect((await s3(owner, "PUT", `/${name}/${key}`, { body })).status).toBe(200);
  return name;
}

/** Grants as "grantee permission" strings, grantee being the ID or the group URI. */
function grantsOf(xml: string): string[] {
  const doc = parseXml(xml)!;
  const list = doc.children.find((c) => c.name === "AccessControlList")!;
  const text = (el: XmlElement, name: string) => el.children.find((c) => c.name === name)?.text;
  return list.children.map((grant) => {
    const grantee = grant.children.find((c) => c.name === "Grantee")!;
    return `${text(grantee, "ID") ?? text(grantee, "URI")} ${text(grant, "Permission")}`;
  });
}

async function bucketGrants(bucket: string): Promise<string[]> {
  const res = await s3(owner, "GET", `/${bucket}?acl`);
  expect(res.status).toBe(200);
  return grantsOf(await res.text());
}

describe("canned ACLs", () => {
  it("stand for S3's grants on buckets", async () => {
    const b = await bucketWith("acl-canned");
    const cases: [string, string[]][] = [
      ["private", [`${owner.id} FULL_CONTROL`]],
      ["public-read", [`${owner.id} FULL_CONTROL`, `${ALL_USERS} READ`]],
      ["public-read-write", [`${owner.id} FULL_CONTROL`, `${ALL_USERS} READ`, `${ALL_USERS} WRITE`]],
      ["authenticated-read", [`${owner.id} FULL_CONTROL`, `${AUTHENTICATED_USERS} READ`]],
      // "Ignored if specified when creating a bucket" (canned ACL table): the owner's full control alone.
      ["bucket-owner-read", [`${owner.id} FULL_CONTROL`]],
      ["bucket-owner-full-control", [`${owner.id} FULL_CONTROL`]],
    ];
    for (const [canned, grants] of cases) {
      expect((await s3(owner, "PUT", `/${b}?acl`, { headers: { "x-amz-acl": canned } })).status, canned).toBe(200);
      expect(await bucketGrants(b), canned).toEqual(grants);
    }
  });

  it("public-read-write lets anyone, signed in or not, write and delete objects (its owner owns them) and list", async () => {
    const b = await bucketWith("acl-open-bucket", {}, { "x-amz-acl": "public-read-write" });
    expect((await s3(third, "PUT", `/${b}/dropped.txt`, { body: "dropped" })).status).toBe(200);
    expect(await (await s3(owner, "GET", `/${b}/dropped.txt`)).text()).toBe("dropped");
    expect(xmlField(await (await s3(owner, "GET", `/${b}/dropped.txt?acl`)).text(), "ID")).toBe(owner.id);
    expect((await anonymous("GET", `/${b}?list-type=2`)).status).toBe(200);
    // An anonymous upload, as the ACL allows: the bucket's owner owns it and reads it back.
    expect((await anonymous("PUT", `/${b}/anon.txt`, { body: "anon", headers: { "content-length": "4" } })).status).toBe(200);
    expect(await (await s3(owner, "GET", `/${b}/anon.txt`)).text()).toBe("anon");
    expect(xmlField(await (await s3(owner, "GET", `/${b}/anon.txt?acl`)).text(), "ID")).toBe(owner.id);
    // Its Content-MD5 still holds it to its bytes: a wrong one stores nothing.
    expect(await code(anonymous("PUT", `/${b}/anon.txt`, { body: "evil", headers: { "content-length": "4", "content-md5": "1B2M2Y8AsgTpgAmY7PhCfg==" } }))).toBe("400 BadDigest");
    expect(await (await s3(owner, "GET", `/${b}/anon.txt`)).text()).toBe("anon");
    expect((await s3(third, "DELETE", `/${b}/dropped.txt`)).status).toBe(204);
    expect((await s3(owner, "HEAD", `/${b}/dropped.txt`)).status).toBe(404);
    expect(await code(s3(third, "GET", `/${b}?acl`))).toBe("403 AccessDenied");
  });

  it("refuses a canned ACL S3 does not define with 400 InvalidArgument, and aws-exec-read with 501", async () => {
    const b = await bucketWith("acl-canned-bad");
    expect(await code(s3(owner, "PUT", `/${b}?acl`, { headers: { "x-amz-acl": "world-writable" } }))).toBe("400 InvalidArgument");
    expect(await code(s3(owner, "PUT", `/${b}?acl`, { headers: { "x-amz-acl": "aws-exec-read" } }))).toBe("501 NotImplemented");
    expect(await bucketGrants(b)).toEqual([`${owner.id} FULL_CONTROL`]);
  });

  it("on an object apply to that object only, and answer anonymous reads of it", async () => {
    const b = await bucketWith("acl-object-canned", { "open.txt": "open", "closed.txt": "closed" });
    expect(await code(anonymous("GET", `/${b}/open.txt`))).toBe("403 AccessDenied");
    expect((await s3(owner, "PUT", `/${b}/open.txt?acl`, { headers: { "x-amz-acl": "public-read" } })).status).toBe(200);
    expect(await (await anonymous("GET", `/${b}/open.txt`)).text()).toBe("open");
    expect(await code(anonymous("GET", `/${b}/closed.txt`))).toBe("403 AccessDenied");
    // READ on an object reads it, nothing more: no listing, no writing, no ACL.
    expect(await code(anonymous("GET", `/${b}?list-type=2`))).toBe("403 AccessDenied");
    expect(await code(anonymous("PUT", `/${b}/open.txt`, { body: "overwritten" }))).toBe("403 AccessDenied");
    expect(await code(anonymous("GET", `/${b}/open.txt?acl`))).toBe("403 AccessDenied");
    const acl = await (await s3(owner, "GET", `/${b}/open.txt?acl`)).text();
    expect(grantsOf(acl)).toEqual([`${owner.id} FULL_CONTROL`, `${ALL_USERS} READ`]);
    expect(grantsOf(await (await s3(owner, "GET", `/${b}/closed.txt?acl`)).text())).toEqual([`${owner.id} FULL_CONTROL`]);
  });

  it("set on PutObject, CopyObject and CreateMultipartUpload give the new object its ACL", async () => {
    const b = await bucketWith("acl-on-write", { source: "src" });
    expect((await s3(owner, "PUT", `/${b}/put`, { body: "p", headers: { "x-amz-acl": "authenticated-read" } })).status).toBe(200);
    expect((await s3(owner, "PUT", `/${b}/copy`, { headers: { "x-amz-copy-source": `/${b}/source`, "x-amz-acl": "public-read" } })).status).toBe(200);
    const created = await s3(owner, "POST", `/${b}/multi?uploads`, { headers: { "x-amz-acl": "public-read" } });
    const uploadId = xmlField(await created.text(), "UploadId")!;
    const part = await s3(owner, "PUT", `/${b}/multi?partNumber=1&uploadId=${uploadId}`, { body: "m" });
    const etag = part.headers.get("etag")!;
    const done = await s3(owner, "POST", `/${b}/multi?uploadId=${uploadId}`, { body: `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${etag}</ETag></Part></CompleteMultipartUpload>` });
    expect(done.status, await done.clone().text()).toBe(200);

    expect(await code(anonymous("GET", `/${b}/put`))).toBe("403 AccessDenied");
    expect(await (await s3(other, "GET", `/${b}/put`)).text()).toBe("p");
    expect(await (await anonymous("GET", `/${b}/copy`)).text()).toBe("src");
    expect(await (await anonymous("GET", `/${b}/multi`)).text()).toBe("m");
    // The copy's source keeps its own (private) ACL.
    expect(await code(anonymous("GET", `/${b}/source`))).toBe("403 AccessDenied");
  });
});

/** A browser form upload of `key` with the given extra fields, its policy (naming every field) signed by `account`. */
async function formUpload(account: TestAccount, bucket: string, key: string, extra: Record<string, string>): Promise<Response> {
  const now = new Date();
  const date = toAmzDate(now);
  const credential = `${account.accessKeyId}/${date.slice(0, 8)}/us-east-1/s3/aws4_request`;
  const fields: Record<string, string> = { key, ...extra, "x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-credential": credential, "x-amz-date": date };
  const conditions = [{ bucket }, ...Object.entries(fields).map(([name, value]) => ({ [name]: value }))];
  const policy = btoa(JSON.stringify({ expiration: new Date(now.getTime() + 300_000).toISOString(), conditions }));
  const signingKey = await deriveSigningKey(account.secretAccessKey, { accessKeyId: account.accessKeyId, date: date.slice(0, 8), region: "us-east-1", service: "s3" });
  const all = { ...fields, policy, "x-amz-signature": hex(await hmacSha256(signingKey, policy)) };
  const boundary = "----acl-test-boundary";
  const parts = Object.entries(all).map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
  parts.push(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.txt"\r\nContent-Type: text/plain\r\n\r\nform body\r\n--${boundary}--\r\n`);
  return SELF.fetch(`${EDGE}/${bucket}`, { method: "POST", body: parts.join(""), headers: { "content-type": `multipart/form-data; boundary=${boundary}` } });
}

describe("browser form uploads", () => {
  it("give the object the ACL of the form's acl and x-amz-grant-* fields", async () => {
    const b = await bucketWith("acl-form");
    expect((await formUpload(owner, b, "public.txt", { acl: "public-read" })).status).toBe(204);
    expect(await (await anonymous("GET", `/${b}/public.txt`)).text()).toBe("form body");
    expect((await formUpload(owner, b, "granted.txt", { "x-amz-grant-read": `id="${other.id}"` })).status).toBe(204);
    expect(await (await s3(other, "GET", `/${b}/granted.txt`)).text()).toBe("form body");
    expect(await code(anonymous("GET", `/${b}/granted.txt`))).toBe("403 AccessDenied");
    expect((await formUpload(owner, b, "private.txt", {})).status).toBe(204);
    expect(await code(anonymous("GET", `/${b}/private.txt`))).toBe("403 AccessDenied");
    expect(await code(formUpload(owner, b, "bad.txt", { acl: "everyone" }))).toBe("400 InvalidArgument");
  });
});

describe("explicit grants", () => {
  it("via x-amz-grant-* headers give another account exactly the permission they name", async () => {
    // With ownership controls set, objects have their own ACLs as in S3 (see the next test for buckets without).
    const b = await bucketWith("acl-grant-headers", {}, { "x-amz-object-ownership": "ObjectWriter" });
    expect((await s3(owner, "PUT", `/${b}/k.txt`, { body: "secret" })).status).toBe(200);
    const put = await s3(owner, "PUT", `/${b}?acl`, {
      headers: { "x-amz-grant-read": `id="${other.id}"`, "x-amz-grant-full-control": `id="${owner.id}"` },
    });
    expect(put.status, await put.clone().text()).toBe(200);
    expect(await bucketGrants(b)).toEqual([`${other.id} READ`, `${owner.id} FULL_CONTROL`]);
    // Bucket READ lists; it neither reads objects nor writes them nor reads the ACL.
    expect((await s3(other, "GET", `/${b}?list-type=2`)).status).toBe(200);
    expect(await code(s3(other, "GET", `/${b}/k.txt`))).toBe("403 AccessDenied");
    expect(await code(s3(other, "PUT", `/${b}/new.txt`, { body: "x" }))).toBe("403 AccessDenied");
    expect(await code(s3(other, "GET", `/${b}?acl`))).toBe("403 AccessDenied");
    // A third account has nothing.
    expect(await code(s3(third, "GET", `/${b}?list-type=2`))).toBe("403 AccessDenied");
  });

  it("in a bucket without ownership controls, objects without an ACL of their own follow the bucket's, as before object ACLs", async () => {
    const b = await bucketWith("acl-grant-legacy", { "k.txt": "shared" });
    expect((await s3(owner, "PUT", `/${b}?acl`, { headers: { "x-amz-grant-read": `id="${other.id}"` } })).status).toBe(200);
    expect(await (await s3(other, "GET", `/${b}/k.txt`)).text()).toBe("shared");
    expect(grantsOf(await (await s3(owner, "GET", `/${b}/k.txt?acl`)).text())).toEqual([`${other.id} READ`]);
    expect(await code(s3(third, "GET", `/${b}/k.txt`))).toBe("403 AccessDenied");
    // An object given its own ACL no longer follows the bucket.
    expect((await s3(owner, "PUT", `/${b}/k.txt?acl`, { headers: { "x-amz-acl": "private" } })).status).toBe(200);
    expect(await code(s3(other, "GET", `/${b}/k.txt`))).toBe("403 AccessDenied");
    expect((await s3(other, "GET", `/${b}?list-type=2`)).status).toBe(200);
  });

  it("WRITE on a bucket lets the grantee put and delete objects; READ_ACP and WRITE_ACP read and write the ACL", async () => {
    const b = await bucketWith("acl-grant-write", { "old.txt": "old" });
    expect((await s3(owner, "PUT", `/${b}?acl`, { headers: { "x-amz-grant-write": `id="${other.id}"`, "x-amz-grant-read-acp": `id="${third.id}"`, "x-amz-grant-full-control": `id="${owner.id}"` } })).status).toBe(200);
    expect((await s3(other, "PUT", `/${b}/dropped.txt`, { body: "dropped" })).status).toBe(200);
    expect((await s3(other, "DELETE", `/${b}/old.txt`)).status).toBe(204);
    expect(await code(s3(other, "GET", `/${b}?list-type=2`))).toBe("403 AccessDenied");
    expect(await (await s3(owner, "GET", `/${b}/dropped.txt`)).text()).toBe("dropped");
    expect((await s3(third, "GET", `/${b}?acl`)).status).toBe(200);
    expect(await code(s3(third, "PUT", `/${b}?acl`, { headers: { "x-amz-acl": "public-read" } }))).toBe("403 AccessDenied");
    expect(await code(s3(third, "PUT", `/${b}/x.txt`, { body: "x" }))).toBe("403 AccessDenied");

    expect((await s3(owner, "PUT", `/${b}?acl`, { headers: { "x-amz-grant-write-acp": `id="${third.id}"`, "x-amz-grant-full-control": `id="${owner.id}"` } })).status).toBe(200);
    expect((await s3(third, "PUT", `/${b}?acl`, { headers: { "x-amz-grant-full-control": `id="${owner.id}"`, "x-amz-grant-read": `uri="${ALL_USERS}"` } })).status).toBe(200);
    expect(await bucketGrants(b)).toEqual([`${ALL_USERS} READ`, `${owner.id} FULL_CONTROL`]);
    expect((await anonymous("GET", `/${b}?list-type=2`)).status).toBe(200);
  });

  it("to AuthenticatedUsers admit any signed-in account but not anonymous callers", async () => {
    const b = await bucketWith("acl-authenticated", { "k.txt": "members" });
    expect((await s3(owner, "PUT", `/${b}/k.txt?acl`, { headers: { "x-amz-grant-read": `uri="${AUTHENTICATED_USERS}"` } })).status).toBe(200);
    expect(await (await s3(third, "GET", `/${b}/k.txt`)).text()).toBe("members");
    expect(await code(anonymous("GET", `/${b}/k.txt`))).toBe("403 AccessDenied");
  });

  it("on objects: READ_ACP reads the object's ACL, WRITE_ACP replaces it, READ alone does neither", async () => {
    const b = await bucketWith("acl-object-grants", { "k.txt": "k" });
    expect((await s3(owner, "PUT", `/${b}/k.txt?acl`, { headers: { "x-amz-grant-read": `id="${other.id}"`, "x-amz-grant-read-acp": `id="${third.id}"` } })).status).toBe(200);
    expect(await (await s3(other, "GET", `/${b}/k.txt`)).text()).toBe("k");
    expect((await s3(other, "HEAD", `/${b}/k.txt`)).status).toBe(200);
    expect(await code(s3(other, "GET", `/${b}/k.txt?acl`))).toBe("403 AccessDenied");
    expect(await code(s3(third, "GET", `/${b}/k.txt`))).toBe("403 AccessDenied");
    const acl = await s3(third, "GET", `/${b}/k.txt?acl`);
    expect(acl.status).toBe(200);
    expect(grantsOf(await acl.text())).toEqual([`${other.id} READ`, `${third.id} READ_ACP`]);
    expect(await code(s3(third, "PUT", `/${b}/k.txt?acl`, { headers: { "x-amz-acl": "public-read" } }))).toBe("403 AccessDenied");
  });

  it("refuses email grantees, unknown accounts and groups, malformed lists, and canned ACLs with grants", async () => {
    const b = await bucketWith("acl-grant-bad");
    const put = (headers: Record<string, string>) => code(s3(owner, "PUT", `/${b}?acl`, { headers }));
    expect(await put({ "x-amz-grant-read": `emailAddress="someone@example.com"` })).toBe("400 UnresolvableGrantByEmailAddress");
    expect(await put({ "x-amz-grant-read": `id="acc_ffffffffffffffff"` })).toBe("400 InvalidArgument");
    expect(await put({ "x-amz-grant-read": `uri="http://acs.amazonaws.com/groups/global/Everyone"` })).toBe("400 InvalidArgument");
    expect(await put({ "x-amz-grant-read": `id=${other.id}` })).toBe("400 InvalidArgument");
    expect(await put({ "x-amz-acl": "public-read", "x-amz-grant-read": `id="${other.id}"` })).toBe("400 InvalidRequest");
    expect(await put({})).toBe("400 MissingSecurityHeader");
    expect(await bucketGrants(b)).toEqual([`${owner.id} FULL_CONTROL`]);
  });

  it("accepts several grantees in one header", async () => {
    const b = await bucketWith("acl-grant-list");
    expect((await s3(owner, "PUT", `/${b}?acl`, { headers: { "x-amz-grant-read": `id="${other.id}", uri="${ALL_USERS}" , id="${third.id}"` } })).status).toBe(200);
    expect(await bucketGrants(b)).toEqual([`${other.id} READ`, `${ALL_USERS} READ`, `${third.id} READ`]);
  });

  it("set on CreateBucket apply from the start", async () => {
    const b = await bucketWith("acl-grant-create", {}, { "x-amz-grant-read": `id="${other.id}"`, "x-amz-grant-full-control": `id="${owner.id}"` });
    expect((await s3(other, "GET", `/${b}?list-type=2`)).status).toBe(200);
    expect(await code(s3(third, "GET", `/${b}?list-type=2`))).toBe("403 AccessDenied");
  });
});

describe("AccessControlPolicy documents", () => {
  const xsi = `xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"`;
  const policy = (ownerId: string, grants: string) =>
    `<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>${ownerId}</ID></Owner><AccessControlList>${grants}</AccessControlList></AccessControlPolicy>`;
  const user = (id: string, permission: string) => `<Grant><Grantee ${xsi} xsi:type="CanonicalUser"><ID>${id}</ID></Grantee><Permission>${permission}</Permission></Grant>`;
  const group = (uri: string, permission: string) => `<Grant><Grantee ${xsi} xsi:type="Group"><URI>${uri}</URI></Grantee><Permission>${permission}</Permission></Grant>`;

  it("round-trip: what GetBucketAcl answers, PutBucketAcl takes back, with the xsi namespace declared on each Grantee", async () => {
    const b = await bucketWith("acl-xml-roundtrip");
    const put = await s3(owner, "PUT", `/${b}?acl`, { body: policy(owner.id, user(owner.id, "FULL_CONTROL") + user(other.id, "WRITE") + group(ALL_USERS, "READ")) });
    expect(put.status, await put.clone().text()).toBe(200);
    const answered = await (await s3(owner, "GET", `/${b}?acl`)).text();
    expect(grantsOf(answered)).toEqual([`${owner.id} FULL_CONTROL`, `${other.id} WRITE`, `${ALL_USERS} READ`]);
    expect(answered).toContain(`<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>${other.id}</ID><DisplayName>${other.id}</DisplayName></Grantee>`);
    expect(answered).toContain(`<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>${ALL_USERS}</URI></Grantee>`);
    expect(xmlField(answered, "ID")).toBe(owner.id);
    // The answer is itself a valid request body.
    expect((await s3(owner, "PUT", `/${b}?acl`, { body: answered })).status).toBe(200);
    expect(await (await s3(owner, "GET", `/${b}?acl`)).text()).toBe(answered);
    expect((await s3(other, "PUT", `/${b}/from-other`, { body: "x" })).status).toBe(200);
  });

  it("sets an object's ACL, and refuses documents that change the owner, are malformed, or come with grant headers", async () => {
    const b = await bucketWith("acl-xml-object", { "k.txt": "k" });
    expect((await s3(owner, "PUT", `/${b}/k.txt?acl`, { body: policy(owner.id, user(owner.id, "FULL_CONTROL") + user(other.id, "READ")) })).status).toBe(200);
    expect(await (await s3(other, "GET", `/${b}/k.txt`)).text()).toBe("k");
    expect(await code(s3(owner, "PUT", `/${b}/k.txt?acl`, { body: policy(other.id, user(other.id, "FULL_CONTROL")) }))).toBe("403 AccessDenied");
    expect(await code(s3(owner, "PUT", `/${b}/k.txt?acl`, { body: policy(owner.id, `<Grant><Grantee ${xsi} xsi:type="CanonicalUser"><ID>${other.id}</ID></Grantee><Permission>EVERYTHING</Permission></Grant>`) }))).toBe("400 MalformedACLError");
    expect(await code(s3(owner, "PUT", `/${b}/k.txt?acl`, { body: "<AccessControlPolicy><Owner>" }))).toBe("400 MalformedXML");
    expect(await code(s3(owner, "PUT", `/${b}/k.txt?acl`, { body: policy(owner.id, ""), headers: { "x-amz-acl": "private" } }))).toBe("400 UnexpectedContent");
    expect(await code(s3(owner, "PUT", `/${b}/missing?acl`, { headers: { "x-amz-acl": "private" } }))).toBe("404 NoSuchKey");
    // Nothing refused changed the ACL.
    expect(await (await s3(other, "GET", `/${b}/k.txt`)).text()).toBe("k");
  });
});

describe("buckets of earlier releases", () => {
  it("a bucket whose ACL an earlier release stored as the bare name public-read stays listable and readable by anyone", async () => {
    const b = await bucketWith("acl-legacy-public", { "k.txt": "old" });
    const e = env as unknown as Env;
    const row = await e.DB.prepare("SELECT id FROM buckets WHERE name = ?").bind(b).first<{ id: string }>();
    await bucketIndexFor(e, row!.id).setConfig("acl", "public-read");
    expect(await (await anonymous("GET", `/${b}/k.txt`)).text()).toBe("old");
    expect((await anonymous("GET", `/${b}?list-type=2`)).status).toBe(200);
    expect(await code(anonymous("PUT", `/${b}/new.txt`, { body: "x" }))).toBe("403 AccessDenied");
    expect(await bucketGrants(b)).toEqual([`${owner.id} FULL_CONTROL`, `${ALL_USERS} READ`]);
    // Changing it from there is recorded with the canned name it had.
    expect((await s3(owner, "PUT", `/${b}?acl`, { headers: { "x-amz-acl": "private" } })).status).toBe(200);
    expect(await code(anonymous("GET", `/${b}/k.txt`))).toBe("403 AccessDenied");
    const entries = await recordedChanges(owner, [`arn:aws:s3:::${b}`]);
    expect(entries.at(-1)).toMatchObject({ action: "PutBucketAcl", before: { cannedAcl: "public-read" }, after: { cannedAcl: "private" } });
  });
});

describe("ACLs and bucket policies together", () => {
  it("an explicit Deny in the policy overrides a grant", async () => {
    const b = await bucketWith("acl-deny", { "k.txt": "k" });
    expect((await s3(owner, "PUT", `/${b}/k.txt?acl`, { headers: { "x-amz-acl": "public-read" } })).status).toBe(200);
    expect(await (await anonymous("GET", `/${b}/k.txt`)).text()).toBe("k");
    const deny = { Version: "2012-10-17", Statement: [{ Effect: "Deny", Principal: "*", Action: "s3:GetObject", Resource: `arn:aws:s3:::${b}/*` }] };
    expect((await s3(owner, "PUT", `/${b}?policy`, { body: JSON.stringify(deny) })).status).toBe(204);
    expect(await code(anonymous("GET", `/${b}/k.txt`))).toBe("403 AccessDenied");
  });

  it("a version's ACL is its own: a new version starts from what its request sets", async () => {
    const b = await bucketWith("acl-versions", { "k.txt": "v1" });
    expect((await s3(owner, "PUT", `/${b}/k.txt?acl`, { headers: { "x-amz-acl": "public-read" } })).status).toBe(200);
    expect(await (await anonymous("GET", `/${b}/k.txt`)).text()).toBe("v1");
    expect((await s3(owner, "PUT", `/${b}/k.txt`, { body: "v2" })).status).toBe(200);
    expect(await code(anonymous("GET", `/${b}/k.txt`))).toBe("403 AccessDenied");
  });
});

describe("access audit", () => {
  it("records each ACL change with what was in force before", async () => {
    const b = await bucketWith("acl-audit", { "k.txt": "k" });
    expect((await s3(owner, "PUT", `/${b}?acl`, { headers: { "x-amz-grant-read": `id="${other.id}"` } })).status).toBe(200);
    expect((await s3(owner, "PUT", `/${b}/k.txt?acl`, { headers: { "x-amz-acl": "public-read" } })).status).toBe(200);
    const entries = await recordedChanges(owner, [`arn:aws:s3:::${b}`, `arn:aws:s3:::${b}/k.txt`]);
    expect(entries).toMatchObject([
      { action: "CreateBucket", before: null, after: { cannedAcl: "private" } },
      { action: "PutBucketAcl", before: { cannedAcl: "private" }, after: { grants: [{ grantee: { type: "CanonicalUser", id: other.id }, permission: "READ" }] } },
      // The object had no ACL of its own: it followed the bucket's.
      { action: "PutObjectAcl", before: { grants: [{ grantee: { type: "CanonicalUser", id: other.id }, permission: "READ" }] }, after: { cannedAcl: "public-read" } },
    ]);
  });
});
