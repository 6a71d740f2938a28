// Bucket policies through the S3 surface: Put/Get/DeleteBucketPolicy and GetBucketPolicyStatus, and what a policy
// lets another account, an anonymous caller, or the owner do, on every kind of request (signed, presigned, form
// upload, copy source, multi-object delete), with conditions on the request's address, scheme, list parameters
// and tags.

import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { hex, hmacSha256 } from "../../src/protocol/crypto.ts";
import { deriveSigningKey, toAmzDate } from "../../src/protocol/sigv4.ts";
import { checkedS3Response, createAccountWithKey, EDGE, s3, xmlField, type TestAccount } from "./helpers.ts";

let owner: TestAccount;
let other: TestAccount;

beforeAll(async () => {
  owner = await createAccountWithKey("policy-owner");
  other = await createAccountWithKey("policy-other");
});

async function bucketWith(name: string, objects: Record<string, string> = {}): Promise<string> {
  expect((await s3(owner, "PUT", `/${name}`)).status).toBe(200);
  for (const [key, body] of Object.entries(objects)) expect((await s3(owner, "PUT", `/${name}/${key}`, { body })).status).toBe(200);
  return name;
}

async function putPolicy(bucket: string, ...statements: object[]): Promise<void> {
  const res = await s3(owner, "PUT", `/${bucket}?policy`, { body: JSON.stringify({ Version: "2012-10-17", Statement: statements }) });
  expect(res.status, await res.clone().text()).toBe(204);
}

const anonymous = (method: string, path: string, init: RequestInit = {}) => SELF.fetch(`${EDGE}${path}`, { method, ...init }).then((r) => checkedS3Response(r, `${method} ${path}`));

async function code(res: Response | Promise<Response>): Promise<string> {
  const r = await res;
  if (r.status < 300) return String(r.status);
  return `${r.status} ${xmlField(await r.text(), "Code") ?? ""}`;
}

const root = (account: TestAccount) => `arn:aws:iam::${account.id}:root`;

describe("Put/Get/DeleteBucketPolicy", () => {
  it("stores a policy as put, answers it as JSON, and deletes it; no policy is 404 NoSuchBucketPolicy", async () => {
    const b = await bucketWith("pol-crud");
    expect(await code(s3(owner, "GET", `/${b}?policy`))).toBe("404 NoSuchBucketPolicy");
    expect(await code(s3(owner, "GET", `/${b}?policyStatus`))).toBe("404 NoSuchBucketPolicy");
    const text = JSON.stringify({ Version: "2012-10-17", Statement: [{ Sid: "Read", Effect: "Allow", Principal: { AWS: root(other) }, Action: "s3:GetObject", Resource: `arn:aws:s3:::${b}/*` }] }, null, 2);
    expect((await s3(owner, "PUT", `/${b}?policy`, { body: text })).status).toBe(204);
    const got = await s3(owner, "GET", `/${b}?policy`);
    expect(got.status).toBe(200);
    expect(got.headers.get("content-type")).toBe("application/json");
    expect(await got.text()).toBe(text);
    const status = await s3(owner, "GET", `/${b}?policyStatus`);
    expect(xmlField(await status.text(), "IsPublic")).toBe("false");
    expect((await s3(owner, "DELETE", `/${b}?policy`)).status).toBe(204);
    expect(await code(s3(owner, "GET", `/${b}?policy`))).toBe("404 NoSuchBucketPolicy");
    expect((await s3(owner, "DELETE", `/${b}?policy`)).status).toBe(204);
  });

  it("reports a policy that allows everyone as public", async () => {
    const b = await bucketWith("pol-public");
    await putPolicy(b, { Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: `arn:aws:s3:::${b}/*` });
    expect(xmlField(await (await s3(owner, "GET", `/${b}?policyStatus`)).text(), "IsPublic")).toBe("true");
  });

  it("refuses malformed policies with 400 MalformedPolicy and keeps the one in force", async () => {
    const b = await bucketWith("pol-malformed");
    await putPolicy(b, { Effect: "Allow", Principal: { AWS: other.id }, Action: "s3:GetObject", Resource: `arn:aws:s3:::${b}/*` });
    const before = await (await s3(owner, "GET", `/${b}?policy`)).text();
    for (const body of [
      "not json",
      JSON.stringify({ Statement: [{ Effect: "Allow", Principal: "*", Action: "s3:Nope", Resource: `arn:aws:s3:::${b}/*` }] }),
      JSON.stringify({ Statement: [{ Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: "arn:aws:s3:::someone-else/*" }] }),
      // A principal that is no account here: S3 refuses principals that do not exist.
      JSON.stringify({ Statement: [{ Effect: "Allow", Principal: { AWS: "acc_ffffffffffffffff" }, Action: "s3:GetObject", Resource: `arn:aws:s3:::${b}/*` }] }),
    ]) {
      const res = await s3(owner, "PUT", `/${b}?policy`, { body });
      expect(res.status, body).toBe(400);
      expect(xmlField(await res.text(), "Code")).toBe("MalformedPolicy");
    }
    expect(await (await s3(owner, "GET", `/${b}?policy`)).text()).toBe(before);
  });

  it("lets only the owner's account manage the policy: 403 for others, 405 even when the policy grants it", async () => {
    const b = await bucketWith("pol-manage");
    const body = JSON.stringify({ Statement: [{ Effect: "Allow", Principal: "*", Action: "s3:*", Resource: `arn:aws:s3:::${b}` }] });
    expect(await code(s3(other, "PUT", `/${b}?policy`, { body }))).toBe("403 AccessDenied");
    expect(await code(s3(other, "GET", `/${b}?policy`))).toBe("403 AccessDenied");
    expect(await code(anonymous("GET", `/${b}?policy`))).toBe("403 AccessDenied");
    await putPolicy(b, { Effect: "Allow", Principal: { AWS: other.id }, Action: ["s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"], Resource: `arn:aws:s3:::${b}` });
    expect(await code(s3(other, "GET", `/${b}?policy`))).toBe("405 MethodNotAllowed");
    expect(await code(s3(other, "PUT", `/${b}?policy`, { body }))).toBe("405 MethodNotAllowed");
    expect(await code(s3(other, "DELETE", `/${b}?policy`))).toBe("405 MethodNotAllowed");
    expect(await (await s3(owner, "GET", `/${b}?policy`)).text()).toContain("s3:DeleteBucketPolicy");
  });

  it("answers NoSuchBucket for a bucket that does not exist", async () => {
    expect(await code(s3(owner, "PUT", "/pol-nowhere?policy", { body: "{}" }))).toBe("404 NoSuchBucket");
  });
});

describe("another account", () => {
  it("is refused everything without a policy: read, list, write, delete, copy from, presigned", async () => {
    const b = await bucketWith("pol-closed", { "doc.txt": "owner only" });
    await bucketWith("pol-closed-other-dest");
    expect(await code(s3(other, "GET", `/${b}/doc.txt`))).toBe("403 AccessDenied");
    expect(await code(s3(other, "HEAD", `/${b}/doc.txt`))).toBe("403 ");
    expect(await code(s3(other, "GET", `/${b}?list-type=2`))).toBe("403 AccessDenied");
    expect(await code(s3(other, "GET", `/${b}?versions`))).toBe("403 AccessDenied");
    expect(await code(s3(other, "PUT", `/${b}/new.txt`, { body: "x" }))).toBe("403 AccessDenied");
    expect(await code(s3(other, "DELETE", `/${b}/doc.txt`))).toBe("403 AccessDenied");
    expect(await code(s3(other, "POST", `/${b}/big?uploads`))).toBe("403 AccessDenied");
    const presigned = (await other.s3.sign(`${EDGE}/${b}/doc.txt`, { method: "GET", aws: { signQuery: true } })).url;
    expect(await code(SELF.fetch(presigned))).toBe("403 AccessDenied");
    expect(await (await s3(owner, "GET", `/${b}/doc.txt`)).text()).toBe("owner only");
  });

  it("may do exactly what the policy allows: reads under one prefix, nothing else", async () => {
    const b = await bucketWith("pol-prefix", { "shared/a.txt": "shared a", "private/b.txt": "private b" });
    await putPolicy(b, { Effect: "Allow", Principal: { AWS: root(other) }, Action: "s3:GetObject", Resource: `arn:aws:s3:::${b}/shared/*` });
    const got = await s3(other, "GET", `/${b}/shared/a.txt`);
    expect(got.status).toBe(200);
    expect(await got.text()).toBe("shared a");
    const presigned = (await other.s3.sign(`${EDGE}/${b}/shared/a.txt`, { method: "GET", aws: { signQuery: true } })).url;
    expect(await (await SELF.fetch(presigned)).text()).toBe("shared a");
    expect(await code(s3(other, "GET", `/${b}/private/b.txt`))).toBe("403 AccessDenied");
    expect(await code(s3(other, "GET", `/${b}?list-type=2`))).toBe("403 AccessDenied");
    expect(await code(s3(other, "PUT", `/${b}/shared/c.txt`, { body: "x" }))).toBe("403 AccessDenied");
    expect(await code(s3(other, "DELETE", `/${b}/shared/a.txt`))).toBe("403 AccessDenied");
    expect(await code(s3(other, "GET", `/${b}/shared/a.txt?tagging`))).toBe("403 AccessDenied");
  });

  it("needs s3:GetObjectVersion, not s3:GetObject, to read a version by id", async () => {
    const b = await bucketWith("pol-versions");
    expect((await s3(owner, "PUT", `/${b}?versioning`, { body: "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>" })).status).toBe(200);
    const versionId = (await s3(owner, "PUT", `/${b}/v.txt`, { body: "v1" })).headers.get("x-amz-version-id")!;
    await putPolicy(b, { Effect: "Allow", Principal: { AWS: other.id }, Action: "s3:GetObject", Resource: `arn:aws:s3:::${b}/*` });
    expect((await s3(other, "GET", `/${b}/v.txt`)).status).toBe(200);
    expect(await code(s3(other, "GET", `/${b}/v.txt?versionId=${versionId}`))).toBe("403 AccessDenied");
    await putPolicy(b, { Effect: "Allow", Principal: { AWS: other.id }, Action: ["s3:GetObject", "s3:GetObjectVersion"], Resource: `arn:aws:s3:::${b}/*` });
    expect(await (await s3(other, "GET", `/${b}/v.txt?versionId=${versionId}`)).text()).toBe("v1");
  });

  it("may write when allowed, and the bucket's owner lists and reads what it wrote", async () => {
    const b = await bucketWith("pol-dropbox");
    await putPolicy(b, { Effect: "Allow", Principal: { AWS: other.id }, Action: "s3:PutObject", Resource: `arn:aws:s3:::${b}/inbox/*` });
    expect((await s3(other, "PUT", `/${b}/inbox/from-other.txt`, { body: "delivered" })).status).toBe(200);
    expect(await code(s3(other, "PUT", `/${b}/elsewhere.txt`, { body: "x" }))).toBe("403 AccessDenied");
    expect(await code(s3(other, "GET", `/${b}/inbox/from-other.txt`))).toBe("403 AccessDenied");
    const listing = await (await s3(owner, "GET", `/${b}?list-type=2&fetch-owner=true`)).text();
    expect(listing).toContain("<Key>inbox/from-other.txt</Key>");
    expect(xmlField(listing, "ID")).toBe(owner.id);
    expect(await (await s3(owner, "GET", `/${b}/inbox/from-other.txt`)).text()).toBe("delivered");
  });

  it("lists only with s3:ListBucket, and only the prefixes an s3:prefix condition allows", async () => {
    const b = await bucketWith("pol-list", { "public/a": "a", "secret/b": "b" });
    await putPolicy(b, {
      Effect: "Allow",
      Principal: { AWS: other.id },
      Action: "s3:ListBucket",
      Resource: `arn:aws:s3:::${b}`,
      Condition: { StringLike: { "s3:prefix": "public/*" }, NumericLessThanEqualsIfExists: { "s3:max-keys": "100" } },
    });
    const listed = await s3(other, "GET", `/${b}?list-type=2&prefix=public/`);
    expect(listed.status).toBe(200);
    expect(await listed.text()).toContain("<Key>public/a</Key>");
    expect(await code(s3(other, "GET", `/${b}?list-type=2&prefix=secret/`))).toBe("403 AccessDenied");
    expect(await code(s3(other, "GET", `/${b}?list-type=2`))).toBe("403 AccessDenied");
    expect(await code(s3(other, "GET", `/${b}?list-type=2&prefix=public/&max-keys=500`))).toBe("403 AccessDenied");
    expect(await code(s3(other, "GET", `/${b}?versions&prefix=public/`))).toBe("403 AccessDenied");
  });

  it("copies from another bucket only where that bucket's policy lets it read, for CopyObject and UploadPartCopy", async () => {
    const source = await bucketWith("pol-copy-src", { "open/o.txt": "copy me", "closed/c.txt": "not you" });
    expect((await s3(other, "PUT", "/pol-copy-dst")).status).toBe(200);
    const copy = (from: string) => s3(other, "PUT", "/pol-copy-dst/copied.txt", { headers: { "x-amz-copy-source": `/${source}/${from}` } });
    expect(await code(copy("open/o.txt"))).toBe("403 AccessDenied");
    await putPolicy(source, { Effect: "Allow", Principal: { AWS: other.id }, Action: "s3:GetObject", Resource: `arn:aws:s3:::${source}/open/*` });
    expect((await copy("open/o.txt")).status).toBe(200);
    expect(await (await s3(other, "GET", "/pol-copy-dst/copied.txt")).text()).toBe("copy me");
    expect(await code(copy("closed/c.txt"))).toBe("403 AccessDenied");

    const upload = xmlField(await (await s3(other, "POST", "/pol-copy-dst/parts?uploads")).text(), "UploadId")!;
    const partCopy = (from: string) => s3(other, "PUT", `/pol-copy-dst/parts?partNumber=1&uploadId=${upload}`, { headers: { "x-amz-copy-source": `/${source}/${from}` } });
    expect(await code(partCopy("closed/c.txt"))).toBe("403 AccessDenied");
    expect((await partCopy("open/o.txt")).status).toBe(200);
  });

  it("uploads through a browser form signed with its own key only where the policy allows s3:PutObject", async () => {
    const b = await bucketWith("pol-form");
    const post = async (key: string) => formPost(`/${b}`, await postPolicyFields(other, b, key));
    expect(await code(post("uploads/one.txt"))).toBe("403 AccessDenied");
    await putPolicy(b, { Effect: "Allow", Principal: { AWS: other.id }, Action: "s3:PutObject", Resource: `arn:aws:s3:::${b}/uploads/*` });
    expect((await post("uploads/one.txt")).status).toBe(204);
    expect(await (await s3(owner, "GET", `/${b}/uploads/one.txt`)).text()).toBe("form upload body");
    expect(await code(post("elsewhere.txt"))).toBe("403 AccessDenied");
  });

  it("deletes, in a multi-object delete, only the keys the policy lets it delete", async () => {
    const b = await bucketWith("pol-multidelete", { "tmp/a": "a", "keep/b": "b" });
    await putPolicy(b, { Effect: "Allow", Principal: { AWS: other.id }, Action: "s3:DeleteObject", Resource: `arn:aws:s3:::${b}/tmp/*` });
    const body = "<Delete><Object><Key>tmp/a</Key></Object><Object><Key>keep/b</Key></Object></Delete>";
    const res = await s3(other, "POST", `/${b}?delete`, { body, headers: { "content-md5": await md5Base64(body) } });
    expect(res.status).toBe(200);
    const xml = await res.text();
    expect(xml).toMatch(/<Deleted><Key>tmp\/a<\/Key>/);
    expect(xml).toMatch(/<Error><Key>keep\/b<\/Key><Code>AccessDenied<\/Code>/);
    expect((await s3(owner, "GET", `/${b}/keep/b`)).status).toBe(200);
    expect((await s3(owner, "GET", `/${b}/tmp/a`)).status).toBe(404);
  });
});

describe("anonymous callers", () => {
  it("read what a \"Principal\": \"*\" policy allows, and nothing more", async () => {
    const b = await bucketWith("pol-anon", { "www/index.html": "<h1>hi</h1>", "drafts/x": "x" });
    expect(await code(anonymous("GET", `/${b}/www/index.html`))).toBe("403 AccessDenied");
    await putPolicy(b, { Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: `arn:aws:s3:::${b}/www/*` });
    const page = await anonymous("GET", `/${b}/www/index.html`);
    expect(page.status).toBe(200);
    expect(await page.text()).toBe("<h1>hi</h1>");
    expect(await code(anonymous("GET", `/${b}/drafts/x`))).toBe("403 AccessDenied");
    expect(await code(anonymous("GET", `/${b}?list-type=2`))).toBe("403 AccessDenied");
    expect(await code(anonymous("PUT", `/${b}/www/evil.html`, { body: "x" }))).toBe("403 AccessDenied");
  });

  it("write where a \"Principal\": \"*\" policy allows s3:PutObject, and only there; the bucket's owner owns what they wrote", async () => {
    const b = await bucketWith("pol-anon-drop");
    await putPolicy(b, { Effect: "Allow", Principal: "*", Action: "s3:PutObject", Resource: `arn:aws:s3:::${b}/inbox/*` });
    expect((await anonymous("PUT", `/${b}/inbox/report.txt`, { body: "dropped" })).status).toBe(200);
    expect(await (await s3(owner, "GET", `/${b}/inbox/report.txt`)).text()).toBe("dropped");
    expect(await code(anonymous("PUT", `/${b}/elsewhere.txt`, { body: "x" }))).toBe("403 AccessDenied");
    expect(await code(anonymous("GET", `/${b}/inbox/report.txt`))).toBe("403 AccessDenied");
    expect((await s3(owner, "HEAD", `/${b}/elsewhere.txt`)).status).toBe(404);
  });

  it("keep reading a public-read bucket without a policy, and a Deny in a policy overrides the ACL", async () => {
    expect((await s3(owner, "PUT", "/pol-acl", { headers: { "x-amz-acl": "public-read" } })).status).toBe(200);
    expect((await s3(owner, "PUT", "/pol-acl/a.txt", { body: "public" })).status).toBe(200);
    expect((await s3(owner, "PUT", "/pol-acl/hidden.txt", { body: "hidden" })).status).toBe(200);
    expect(await (await anonymous("GET", "/pol-acl/a.txt")).text()).toBe("public");
    await putPolicy("pol-acl", { Effect: "Deny", Principal: "*", Action: "s3:GetObject", Resource: "arn:aws:s3:::pol-acl/hidden.txt" });
    expect(await (await anonymous("GET", "/pol-acl/a.txt")).text()).toBe("public");
    expect(await code(anonymous("GET", "/pol-acl/hidden.txt"))).toBe("403 AccessDenied");
  });
});

describe("the owner", () => {
  it("is refused what a Deny names, but can always read, replace and delete the policy itself", async () => {
    const b = await bucketWith("pol-lockout", { "keep.txt": "precious" });
    await putPolicy(b, { Effect: "Deny", Principal: "*", Action: ["s3:DeleteObject", "s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"], Resource: [`arn:aws:s3:::${b}`, `arn:aws:s3:::${b}/*`] });
    expect(await code(s3(owner, "DELETE", `/${b}/keep.txt`))).toBe("403 AccessDenied");
    expect(await (await s3(owner, "GET", `/${b}/keep.txt`)).text()).toBe("precious");
    expect((await s3(owner, "GET", `/${b}?policy`)).status).toBe(200);
    expect((await s3(owner, "DELETE", `/${b}?policy`)).status).toBe(204);
    expect((await s3(owner, "DELETE", `/${b}/keep.txt`)).status).toBe(204);
  });
});

describe("conditions on what the edge observed", () => {
  it("decides aws:SourceIp from CF-Connecting-IP, the address Cloudflare's edge observed", async () => {
    const b = await bucketWith("pol-ip", { "o.txt": "office only" });
    await putPolicy(b, { Effect: "Deny", Principal: "*", Action: "s3:*", Resource: [`arn:aws:s3:::${b}`, `arn:aws:s3:::${b}/*`], Condition: { NotIpAddress: { "aws:SourceIp": ["198.51.100.0/24", "2001:db8::/32"] } } });
    const from = (ip: string | undefined) => s3(owner, "GET", `/${b}/o.txt`, { headers: ip ? { "cf-connecting-ip": ip } : {} });
    expect((await from("198.51.100.7")).status).toBe(200);
    expect((await from("2001:db8::42")).status).toBe(200);
    expect(await code(from("203.0.113.1"))).toBe("403 AccessDenied");
    // No observed address: NotIpAddress holds for a missing key, so the Deny applies.
    expect(await code(from(undefined))).toBe("403 AccessDenied");
    expect((await s3(owner, "DELETE", `/${b}?policy`)).status).toBe(204);
  });

  it("decides aws:SecureTransport from the scheme the request arrived with", async () => {
    const b = await bucketWith("pol-tls", { "o.txt": "tls only" });
    await putPolicy(b, { Effect: "Deny", Principal: "*", Action: "s3:GetObject", Resource: `arn:aws:s3:::${b}/*`, Condition: { Bool: { "aws:SecureTransport": "false" } } });
    expect(await code(s3(owner, "GET", `/${b}/o.txt`))).toBe("403 AccessDenied");
    const overTls = await SELF.fetch(await owner.s3.sign(`https://edge.test/${b}/o.txt`, { method: "GET" }));
    expect(overTls.status).toBe(200);
    expect(await overTls.text()).toBe("tls only");
  });

  it("tests the tags an object has and the tags a request sets", async () => {
    const b = await bucketWith("pol-tags");
    expect((await s3(owner, "PUT", `/${b}/blue.txt`, { body: "b", headers: { "x-amz-tagging": "team=blue" } })).status).toBe(200);
    expect((await s3(owner, "PUT", `/${b}/red.txt`, { body: "r", headers: { "x-amz-tagging": "team=red" } })).status).toBe(200);
    await putPolicy(
      b,
      { Effect: "Allow", Principal: { AWS: other.id }, Action: "s3:GetObject", Resource: `arn:aws:s3:::${b}/*`, Condition: { StringEquals: { "s3:ExistingObjectTag/team": "blue" } } },
      { Effect: "Allow", Principal: { AWS: other.id }, Action: ["s3:PutObject", "s3:PutObjectTagging"], Resource: `arn:aws:s3:::${b}/*`, Condition: { StringEquals: { "s3:RequestObjectTag/team": "blue" }, "ForAllValues:StringEquals": { "s3:RequestObjectTagKeys": ["team"] } } },
    );
    expect(await (await s3(other, "GET", `/${b}/blue.txt`)).text()).toBe("b");
    expect(await code(s3(other, "GET", `/${b}/red.txt`))).toBe("403 AccessDenied");
    expect((await s3(other, "PUT", `/${b}/new.txt`, { body: "n", headers: { "x-amz-tagging": "team=blue" } })).status).toBe(200);
    expect(await code(s3(other, "PUT", `/${b}/new2.txt`, { body: "n", headers: { "x-amz-tagging": "team=red" } }))).toBe("403 AccessDenied");
    expect(await code(s3(other, "PUT", `/${b}/new3.txt`, { body: "n", headers: { "x-amz-tagging": "team=blue&extra=1" } }))).toBe("403 AccessDenied");
    expect(await code(s3(other, "PUT", `/${b}/new4.txt`, { body: "n" }))).toBe("403 AccessDenied");
    const tagging = (team: string) => `<Tagging><TagSet><Tag><Key>team</Key><Value>${team}</Value></Tag></TagSet></Tagging>`;
    expect(await code(s3(other, "PUT", `/${b}/red.txt?tagging`, { body: tagging("red") }))).toBe("403 AccessDenied");
    expect((await s3(other, "PUT", `/${b}/red.txt?tagging`, { body: tagging("blue") })).status).toBe(200);
    // Now tagged blue, the object is readable.
    expect(await (await s3(other, "GET", `/${b}/red.txt`)).text()).toBe("r");
  });

  it("tests the server-side encryption a write asks for", async () => {
    const b = await bucketWith("pol-sse");
    await putPolicy(b, { Effect: "Deny", Principal: "*", Action: "s3:PutObject", Resource: `arn:aws:s3:::${b}/*`, Condition: { StringNotEquals: { "s3:x-amz-server-side-encryption": "AES256" } } });
    expect(await code(s3(owner, "PUT", `/${b}/plain.txt`, { body: "x" }))).toBe("403 AccessDenied");
    expect((await s3(owner, "PUT", `/${b}/sealed.txt`, { body: "x", headers: { "x-amz-server-side-encryption": "AES256" } })).status).toBe(200);
  });

  it("tests the Object Lock a write asks for: a cap on the retention period", async () => {
    const b = "pol-lock";
    expect((await s3(owner, "PUT", `/${b}`, { headers: { "x-amz-bucket-object-lock-enabled": "true" } })).status).toBe(200);
    await putPolicy(b, { Effect: "Deny", Principal: "*", Action: "s3:PutObject", Resource: `arn:aws:s3:::${b}/*`, Condition: { NumericGreaterThan: { "s3:object-lock-remaining-retention-days": "30" } } });
    const sha256 = btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode("x")))));
    const locked = (days: number) => ({
      body: "x",
      headers: {
        "x-amz-checksum-sha256": sha256,
        "x-amz-object-lock-mode": "GOVERNANCE",
        "x-amz-object-lock-retain-until-date": new Date(Date.now() + days * 86_400_000).toISOString(),
      },
    });
    expect((await s3(owner, "PUT", `/${b}/ten-days`, locked(10))).status).toBe(200);
    expect(await code(s3(owner, "PUT", `/${b}/sixty-days`, locked(60)))).toBe("403 AccessDenied");
    // A write without a lock of its own has no retention to test: the condition does not apply.
    expect((await s3(owner, "PUT", `/${b}/unlocked`, { body: "x", headers: { "x-amz-checksum-sha256": sha256 } })).status).toBe(200);
  });
});

/** Form fields of a presigned POST for `key`, its policy signed by `account`. */
async function postPolicyFields(account: TestAccount, bucket: string, key: string): Promise<Record<string, string>> {
  const now = new Date();
  const date = toAmzDate(now);
  const credential = `${account.accessKeyId}/${date.slice(0, 8)}/us-east-1/s3/aws4_request`;
  const fields: Record<string, string> = { key, "x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-credential": credential, "x-amz-date": date };
  const conditions = [{ bucket }, ...Object.entries(fields).map(([name, value]) => ({ [name]: value }))];
  const policy = btoa(JSON.stringify({ expiration: new Date(now.getTime() + 300_000).toISOString(), conditions }));
  const signingKey = await deriveSigningKey(account.secretAccessKey, { accessKeyId: account.accessKeyId, date: date.slice(0, 8), region: "us-east-1", service: "s3" });
  return { ...fields, policy, "x-amz-signature": hex(await hmacSha256(signingKey, policy)) };
}

/** A multipart/form-data body as browsers send it (the file last, the closing delimiter ending in CRLF). */
function formPost(path: string, fields: Record<string, string>): Promise<Response> {
  const boundary = "----policy-test-boundary";
  const parts = Object.entries(fields).map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
  parts.push(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="file.txt"\r\nContent-Type: text/plain\r\n\r\nform upload body\r\n--${boundary}--\r\n`);
  return SELF.fetch(`${EDGE}${path}`, { method: "POST", body: parts.join(""), headers: { "content-type": `multipart/form-data; boundary=${boundary}` } });
}

async function md5Base64(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("MD5", new TextEncoder().encode(text));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}
